/* identity_impl.h — shared inside src/identity: the service and account rows. */
#ifndef IH_IDENTITY_IMPL_H
#define IH_IDENTITY_IMPL_H

#include "identity/authcache.h"
#include "identity/hashpool.h"
#include "identity/identity.h"
#include "identity/throttle.h"
#include "net/cidr.h"

#include <stdatomic.h>

#define SEALED_MAX 192
#define NOTE_MAX 1024

struct ih_identity {
    ih_identity_opts o;
    char *issuer;
    ih_hashpool *pool;
    ih_throttle *throttle;
    ih_cidr_list admin_allow;
    bool admin_anywhere;
    char dummy_hash[IH_PW_HASH_MAX]; /* verified against for unknown users */
    authcache *cache; /* ihosd on PostgreSQL (ih_identity_start); NULL otherwise */
    _Atomic uint64_t kept_answers; /* session checks a kept copy answered */
};

/* One account row, as stored. */
typedef struct account {
    int64_t id;
    char username[65], username_lc[65];
    ih_role role;
    char status[12]; /* pending | active | disabled */
    char pw_hash[IH_PW_HASH_MAX];
    int64_t pw_changed_at;
    int64_t must_change;
    uint8_t totp[SEALED_MAX];
    size_t totp_len; /* 0 = not enrolled */
    char totp_alg[8];
    int64_t totp_digits;
    uint8_t pending[SEALED_MAX];
    size_t pending_len; /* 0 = no enrolment in progress */
    char pending_alg[8];
    int64_t totp_last_step, failed_count, locked_until, expires_at, last_login_at, created_at, created_by;
    char disabled_reason[32]; /* a code: "by administrator", "inactive" */
    uint8_t note[NOTE_MAX];   /* the administrator's words on disabling, sealed (migration 14) */
    size_t note_len;
    int64_t rv; /* version: the MAC covers it; the journal knows the audited ones */
} account;

#define ACCOUNT_COLUMNS                                                                                   \
    "id, username, username_lc, role, status, pw_hash, pw_changed_at, must_change, totp_enc, totp_alg, "   \
    "totp_digits, totp_pending, pending_alg, totp_last_step, failed_count, locked_until, expires_at, "     \
    "last_login_at, created_at, created_by, disabled_reason, disabled_note_enc, rv, mac"
/* A read's columns: the row, then the newest version the journal knows. */
#define ACCOUNT_SELECT ACCOUNT_COLUMNS ", " IH_AUDIT_KNOWN_RV("account")

/* Seal / open an administrator's note on the account (personal key). */
ih_err note_seal(ih_identity *id, account *a, const char *text);
ih_err note_open(ih_identity *id, ih_tx *tx, const account *a, ih_buf *out);

/* Load by id or by lower-case name; *found false if none.  IH_E_INTEGRITY
 * if the row's MAC does not verify. */
ih_err acct_load(ih_identity *id, ih_tx *tx, int64_t account_id, account *a, bool *found);
ih_err acct_load_name(ih_identity *id, ih_tx *tx, const char *name_lc, account *a, bool *found);
/* The account a statement selected (ACCOUNT_SELECT) from its column col0 on,
 * checked like acct_load's (for a query that joins it to another row). */
ih_err acct_from_row(ih_identity *id, ih_stmt *st, int col0, account *a);
/* Both write a new version of the row (a->rv) and note it for the journal;
 * save applies only to the version loaded. */
ih_err acct_insert(ih_identity *id, ih_tx *tx, account *a);
ih_err acct_save(ih_identity *id, ih_tx *tx, account *a);
json_t *acct_json(const account *a, int64_t now);
/* Record an integrity violation of a row (own transaction) and alert. */
void acct_integrity_alarm(ih_identity *id, const char *table, int64_t row, const ih_actor *who);

/* Seal / open a TOTP secret bound to the account row. */
ih_err totp_seal(ih_identity *id, int64_t account_id, const char *column, const uint8_t *secret, size_t n,
                 uint8_t *out, size_t *outlen);
ih_err totp_open(ih_identity *id, ih_tx *tx, int64_t account_id, const char *column, const uint8_t *sealed, size_t n,
                 uint8_t *secret, size_t cap, size_t *len);

/* Sessions (session.c). */
ih_err session_create(ih_identity *id, ih_tx *tx, const account *a, int factors, const char *ip, int64_t now,
                      ih_login_result *out);
/* Remember a's current password hash (set at `now`) for the history rule. */
ih_err pw_history_add(ih_tx *tx, const account *a, int64_t now);
ih_err session_revoke_all(ih_identity *id, ih_tx *tx, int64_t account_id, int64_t except_session, const char *reason,
                          int64_t now);
void principal_fill(ih_identity *id, const account *a, int factors, int64_t now, ih_principal *p);
ih_err session_set_factors(ih_identity *id, ih_tx *tx, int64_t sid, int factors);
ih_err session_scan(ih_identity *id, ih_tx *tx, int64_t after, int limit, int64_t *last, int *count,
                    void (*bad)(void *ctx, int64_t row), void *ctx);

/* Check every approval row (approval.c): an ih_mac_scan. */
ih_err approval_scan(void *ctx, uint64_t *rows, uint64_t *bad);

/* Lower-case copy of a username into out (65 bytes); -1 if invalid. */
int username_normalize(const char *in, char out[65]);

#endif
