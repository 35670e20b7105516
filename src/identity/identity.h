/* identity.h — accounts, login, sessions, second factor.
 *
 * Every state change runs in one store transaction together with its audit
 * event.  Account rows carry a MAC over their security-relevant content
 * (password hash, role, status, lock state, second factor); a row whose MAC
 * does not verify is refused with IH_E_INTEGRITY, recorded and alerted.
 *
 * Login (L3 8.1.4.1a–d): unknown user, wrong password, wrong code, locked,
 * disabled, expired or not-allowed-from-here all fail with the same
 * IH_E_AUTH_FAILED and similar timing (a dummy Argon2id runs for unknown
 * users).  `lockout_threshold` consecutive failures lock the account for
 * `lockout_minutes`; per-source-address failures are throttled too.
 * Argon2id runs on the hash pool, never on request workers.
 *
 * Sessions: 256-bit random tokens stored only as hashes; idle and absolute
 * timeouts; a session whose owner must still change the password or enrol
 * the second factor is *restricted* (only IH_PERM_SELF routes).
 */
#ifndef IH_IDENTITY_IDENTITY_H
#define IH_IDENTITY_IDENTITY_H

#include "audit/audit.h"
#include "crypto/keyring.h"
#include "identity/password.h"
#include "identity/totp.h"
#include "policy/perm.h"
#include "store/store.h"

#include <jansson.h>

typedef struct ih_identity ih_identity;

typedef struct ih_identity_opts {
    ih_store *store;
    ih_keyring *keys;
    ih_audit *audit;
    ih_pw_policy pw;
    ih_pw_params hash;
    int hash_threads, hash_queue;
    int lockout_threshold, lockout_minutes;
    int ip_failures_per_minute;
    int session_idle_minutes, session_max_hours;
    int inactive_days;
    ih_totp_alg totp_alg;
    const char *issuer;      /* shown in authenticator apps */
    const char *admin_allow; /* CIDR list from which administrators may log in; "" = anywhere */
} ih_identity_opts;

typedef struct ih_principal {
    int64_t account_id, session_id;
    ih_role role;
    char username[65];
    bool must_change_password;
    bool must_enrol_totp;
    bool restricted; /* either of the above: only IH_PERM_SELF routes */
    bool via_cookie;
    char csrf[48];
    char session_tag[17]; /* short hash of the token, for the audit journal */
    int64_t ends_at;      /* when the session ends unless used again (idle) or for good (lifetime), ms */
} ih_principal;

ih_err ih_identity_new(const ih_identity_opts *o, ih_identity **out);
/* ihosd: on PostgreSQL, keep the sessions this node verified and hear of
 * their changes (identity/authcache.h); nothing on SQLite. */
ih_err ih_identity_start(ih_identity *id);
/* For /metrics: whether this node keeps sessions at all, whether kept copies
 * are in use now (its watch listens on the primary), and how many session
 * checks a kept copy answered without a read. */
typedef struct ih_identity_kept {
    bool started, live;
    uint64_t answered;
} ih_identity_kept;
void ih_identity_kept_info(ih_identity *id, ih_identity_kept *out);
void ih_identity_free(ih_identity *id);

/* ---- login and sessions ---------------------------------------------------- */

typedef struct ih_login_req {
    const char *username, *password, *totp;
    const char *ip, *request_id;
} ih_login_req;

typedef struct ih_login_result {
    char token[64];
    int64_t expires_at;
    ih_principal p;
} ih_login_result;

ih_err ih_identity_login(ih_identity *id, const ih_login_req *rq, ih_login_result *out);
/* Check a token and fill the principal; touches the session's last use. */
ih_err ih_identity_authenticate(ih_identity *id, const char *token, bool via_cookie, const char *ip, ih_principal *out);
/* The same check without counting as the user's activity (an open event
 * stream re-checking its session): the idle clock is not reset. */
ih_err ih_identity_authenticate_passive(ih_identity *id, const char *token, bool via_cookie, const char *ip,
                                        ih_principal *out);
ih_err ih_identity_logout(ih_identity *id, const ih_principal *p, const ih_actor *who);
/* The caller's own sessions as a JSON array. */
ih_err ih_identity_sessions(ih_identity *id, const ih_principal *p, json_t **out);
ih_err ih_identity_revoke(ih_identity *id, const ih_principal *p, const ih_actor *who, int64_t session_id);
/* End an account's session on the system's initiative (a detector's block);
 * audited as auth.session_blocked with the reason. */
ih_err ih_identity_end_session(ih_identity *id, int64_t account_id, int64_t session_id, const ih_actor *who,
                               const char *reason);
/* End every live session of an account inside the caller's transaction
 * (the change that takes the account's authority away). */
ih_err ih_identity_end_sessions_tx(ih_identity *id, ih_tx *tx, int64_t account_id, const char *reason);

/* ---- self-service ---------------------------------------------------------- */

ih_err ih_identity_change_password(ih_identity *id, const ih_principal *p, const ih_actor *who, const char *old_pw,
                                   const char *new_pw);
/* A patient's own password reset, once the caller has proved the phone
 * the patient registered (clinic: an SMS code).  Prepare outside any
 * transaction: the account must be an active patient's; the policy, the
 * current password and the history are checked and the hash made.  Apply
 * inside the caller's transaction (which consumes the proof): the password
 * set, lock and failures cleared, every session ended, audited as
 * auth.password_reset_self. */
typedef struct ih_pw_reset {
    int64_t account_id;
    char hash[IH_PW_HASH_MAX];
} ih_pw_reset;
ih_err ih_identity_reset_prepare(ih_identity *id, int64_t account_id, const char *new_pw, ih_pw_reset *out);
ih_err ih_identity_reset_apply(ih_identity *id, ih_tx *tx, const ih_actor *who, const ih_pw_reset *r);
/* Start second-factor enrolment: a fresh secret, returned as an otpauth URI.
 * The owner re-authenticates: the password always, and a code from the
 * current authenticator when one is enrolled (a stolen session alone cannot
 * replace it).  A failure is IH_E_AUTH_FAILED naming the field, counted
 * like a failed login (a lock also ends the account's sessions). */
ih_err ih_identity_totp_begin(ih_identity *id, const ih_principal *p, const ih_actor *who, const char *password,
                              const char *code, char *uri, size_t n);
/* Confirm enrolment with a code from the new secret; the session becomes full. */
ih_err ih_identity_totp_confirm(ih_identity *id, const ih_principal *p, const ih_actor *who, const char *code);

/* ---- administration (callers hold the permission; rules are checked here) -- */

typedef struct ih_account_new {
    const char *username;
    ih_role role;
    int64_t expires_at; /* 0 = none */
    bool active;        /* init and demo seeding only: skip secadmin activation */
    const char *password; /* NULL = generate a one-time password */
    const uint8_t *totp_secret; /* demo seeding only: pre-enrolled secret */
    size_t totp_secret_len;
    bool must_change;   /* force a password change at first login */
} ih_account_new;

/* Create (status `pending` unless a->active); the one-time password is
 * returned in otp (>= 32 bytes) when generated. */
ih_err ih_identity_create(ih_identity *id, const ih_actor *who, const ih_account_new *a, char *otp, int64_t *account_id);

/* The same in two steps, for callers that create more rows in the same
 * transaction (patient registration): prepare outside any transaction (the
 * policy check and the slow hash run here), then create inside one. */
typedef struct ih_account_prep {
    ih_account_new n; /* pointers below point into this struct */
    char username[65];
    char hash[IH_PW_HASH_MAX];
    uint8_t totp[32];
} ih_account_prep;
ih_err ih_identity_prepare(ih_identity *id, const ih_account_new *a, char *otp, ih_account_prep *out);
ih_err ih_identity_create_prepared(ih_identity *id, ih_tx *tx, const ih_actor *who, const ih_account_prep *p,
                                   int64_t *account_id);
/* A prepared active account from a password hash made earlier (a
 * registration that waited for its SMS code). */
ih_err ih_identity_prep_hashed(const char *username, ih_role role, const char *hash, ih_account_prep *out);
/* Whether a username (any role) is taken, inside the caller's transaction:
 * asked only once the asker has proved a phone (self-registration). */
ih_err ih_identity_username_taken(ih_identity *id, ih_tx *tx, const char *username, bool *taken);
/* The id of the account called username (any case), 0 when there is none. */
ih_err ih_identity_account_id(ih_identity *id, const char *username, int64_t *account_id);
ih_err ih_identity_activate(ih_identity *id, const ih_actor *who, int64_t account_id);
/* ---- changes that take a second administrator (approval.c) --------------------
 * A clinical account's role, and a grant that widens access to personal data
 * or narrows the auditor (ih_perm_needs_second), are only proposed here:
 * they take effect when an administrator of another role than the proposer
 * (the system administrator or the auditor) approves them.  *out gets the
 * proposal {id, kind, state: "pending", …}. */
ih_err ih_identity_propose_role(ih_identity *id, const ih_actor *who, int64_t account_id, ih_role role, json_t **out);
ih_err ih_identity_propose_grant(ih_identity *id, const ih_actor *who, ih_role role, ih_perm perm, bool granted,
                                 json_t **out);
/* What an approved grant changed (the caller applies it to its in-memory policy). */
typedef struct ih_approved_grant {
    bool applied;
    ih_role role;
    ih_perm perm;
    bool granted;
} ih_approved_grant;
/* Approve (applying the change in the same transaction) or reject; never
 * by the proposer, never by the security administrator. */
ih_err ih_identity_decide(ih_identity *id, const ih_actor *who, ih_role who_role, int64_t approval_id, bool approve,
                          json_t **out, ih_approved_grant *grant);
ih_err ih_identity_approvals(ih_identity *id, bool pending, json_t **out);
/* Disable or enable.  by_secadmin selects which accounts the caller may touch. */
ih_err ih_identity_set_enabled(ih_identity *id, const ih_actor *who, ih_role caller, int64_t account_id, bool enabled,
                               const char *reason);
ih_err ih_identity_set_expiry(ih_identity *id, const ih_actor *who, int64_t account_id, int64_t expires_at);
ih_err ih_identity_unlock(ih_identity *id, const ih_actor *who, int64_t account_id);
ih_err ih_identity_reset_password(ih_identity *id, const ih_actor *who, int64_t account_id, char *otp);
ih_err ih_identity_reset_totp(ih_identity *id, const ih_actor *who, int64_t account_id);
ih_err ih_identity_get(ih_identity *id, int64_t account_id, json_t **out);
/* Accounts, optionally in one state and of up to three roles; oldest first
 * from after the id `after`, or newest first below `before` (0: from the
 * newest).  A staff registrar looks for the clinical accounts just made among
 * thousands of patients' this way. */
typedef struct ih_account_filter {
    const char *status;   /* "pending", "active", "disabled"; NULL or "" for any */
    const char *roles[3]; /* role names; none for any */
    bool newest_first;
    int64_t after, before;
    int limit;
} ih_account_filter;
ih_err ih_identity_list(ih_identity *id, const ih_account_filter *f, json_t **out);
/* Each event of a JSON array that names an actor ("actor_id") gets its
 * "actor_username" (from the verified account row; absent for the system,
 * for accounts not found and for rows that fail their MAC). */
ih_err ih_identity_name_actors(ih_identity *id, json_t *events);
/* The role of an account (IH_E_NOT_FOUND if none). */
ih_err ih_identity_role_of(ih_identity *id, int64_t account_id, ih_role *role);
/* The same inside the caller's transaction, with whether it is active
 * (active may be NULL).  The row's MAC is checked. */
ih_err ih_identity_account_tx(ih_identity *id, ih_tx *tx, int64_t account_id, ih_role *role, bool *active);

/* Account and session rows for key rotation and integrity scans
 * (keys/protected.h); each MAC failure is recorded as integrity.violation. */
struct ih_sealed_column;
struct ih_mac_scan;
size_t ih_identity_sealed_columns(ih_identity *id, struct ih_sealed_column *out, size_t cap);
size_t ih_identity_mac_scans(ih_identity *id, struct ih_mac_scan *out, size_t cap);

/* Accounts written by an earlier release, brought up to this one (an
 * administrator's disable reason sealed); idempotent. */
ih_err ih_identity_upgrade(ih_identity *id);

/* The pool that runs slow hashing (also for callers hashing elsewhere). */
struct ih_hashpool *ih_identity_pool(ih_identity *id);

#endif
