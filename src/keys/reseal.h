/* reseal.h — moving sealed fields to the current key version, then retiring
 * the old versions (key rotation without downtime, L3 8.1.4.8b).
 *
 * Each module lists its sealed columns: a scan query (a literal
 * "SELECT id, <column> FROM <table> WHERE id > $1 ORDER BY id LIMIT $2") and
 * a callback that re-seals one row under the current key, refreshing any
 * row MAC that covers the column.  ih_reseal_pass() walks every column,
 * re-seals rows whose ciphertext names an older version, and retires a
 * purpose's old versions once a whole pass found none left — but only when
 * that pass started at least `grace_ms` after the newest version was made,
 * so writers that still held the old key (other processes reload keys every
 * few seconds) have long switched.
 */
#ifndef IH_KEYS_RESEAL_H
#define IH_KEYS_RESEAL_H

#include "audit/audit.h"
#include "crypto/keyring.h"
#include "store/store.h"

typedef struct ih_sealed_column {
    const char *name;     /* "account.totp_enc", for logs and audit */
    ih_key_purpose purpose;
    const char *scan_sql;
    ih_err (*reseal)(void *ctx, ih_tx *tx, int64_t id);
    void *ctx;
} ih_sealed_column;

typedef struct ih_reseal_report {
    uint64_t resealed;
    uint64_t remaining; /* rows still under an old version after the pass */
    int retired;        /* key versions retired */
} ih_reseal_report;

ih_err ih_reseal_pass(ih_store *s, ih_keyring *k, ih_audit *a, const ih_sealed_column *cols, size_t n, int64_t grace_ms,
                      ih_reseal_report *r);

/* Sealed columns owned by the keys module (signing_key.private_enc). */
size_t ih_keys_sealed_columns(ih_keyring *k, ih_sealed_column *out, size_t cap);

#endif
