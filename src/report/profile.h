/* profile.h — what differs between provincial platforms, behind one table
 * of functions: which method a fact goes to, how a fact maps to the
 * platform's record, how a batch is encrypted, encoded and signed, and how
 * a response is read.  A new province (or the vendor's older
 * HMAC-SHA256/AES-ECB/Base64 variant) is a new profile, not a fork:
 * docs/supervision.md says how to add one. */
#ifndef IH_REPORT_PROFILE_H
#define IH_REPORT_PROFILE_H

#include "core/buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    IH_UP_OK,         /* accepted */
    IH_UP_RETRY,      /* try again later (busy, expired timestamp, 5xx, transport) */
    IH_UP_DATA_ERROR, /* the records are wrong: park them for a person */
    IH_UP_UNKNOWN,    /* sent, and no readable answer: they may have been stored */
} ih_upload_outcome;

typedef struct ih_profile_ctx {
    const char *app_key;
    const uint8_t *app_secret; /* raw bytes */
    size_t app_secret_len;
    const char *organ_id, *unit_id, *organ_name;
    int utc_offset_minutes;
} ih_profile_ctx;

typedef struct ih_profile {
    const char *name;
    /* The platform method for a fact kind; NULL: this profile does not report it. */
    const char *(*method)(const char *kind);
    /* May a record of this kind be sent again after a change? */
    bool (*updatable)(const char *kind);
    /* The platform record for a fact (an object); IH_E_INVALID names what is missing. */
    ih_err (*map)(const char *kind, json_t *fact, const ih_profile_ctx *ctx, json_t **record);
    /* The HTTP body and headers ("Name: value" lines) for a batch: json is
     * the UTF-8 array of records; now_ms and nonce are the call's. */
    ih_err (*encode)(const ih_profile_ctx *ctx, const char *method, const char *json, size_t n, int64_t now_ms,
                     const char *nonce, ih_buf *body, ih_buf *headers);
    /* Read a response; msg gets the platform's words. */
    ih_upload_outcome (*classify)(long http_status, const char *body, size_t n, char *msg, size_t msgn);
    /* What kind of personal data a record's key holds (an ih_field_kind of
     * policy/mask.h), or -1 for none: operator views mask by it. */
    int (*personal)(const char *key);
} ih_profile;

/* The profile called name, or NULL. */
const ih_profile *ih_profile_find(const char *name);

extern const ih_profile ih_profile_tianjin;

#endif
