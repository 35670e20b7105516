/* identity.c — the service, account rows and administration (see identity.h).
 * L3 8.1.4.2a (accounts per user), 8.1.4.2b/c (no defaults; expiry,
 * disabling), 8.1.4.2d (administrators keep to their own accounts),
 * 8.1.4.7b / GB/T 39786 8.4b (account rows carry a MAC). */
#include "identity/identity_impl.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "crypto/protect.h"
#include "keys/keys.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ih_err ih_identity_new(const ih_identity_opts *o, ih_identity **out)
{
    ih_identity *id = calloc(1, sizeof *id);
    IH_CHECK_ALLOC(id);
    id->o = *o;
    id->issuer = strdup(o->issuer ? o->issuer : "ihos");
    id->o.issuer = id->issuer;
    id->throttle = ih_throttle_new(o->ip_failures_per_minute > 0 ? o->ip_failures_per_minute : 30, o->store, "login");
    ih_err e = (!id->issuer || !id->throttle) ? ih_fail(IH_E_NOMEM, "identity") : IH_OK;
    if (e == IH_OK) {
        id->admin_anywhere = !o->admin_allow || !*o->admin_allow;
        if (!id->admin_anywhere) e = ih_cidr_parse(o->admin_allow, &id->admin_allow);
    }
    if (e == IH_OK) e = ih_hashpool_new(o->hash_threads > 0 ? o->hash_threads : 2, o->hash_queue > 0 ? o->hash_queue : 64,
                                        &id->pool);
    /* A hash with the live parameters, so unknown users cost a real verify. */
    char dummy_pw[24];
    if (e == IH_OK) e = ih_password_generate(dummy_pw, 16);
    if (e == IH_OK) e = ih_password_hash(&o->hash, dummy_pw, id->dummy_hash);
    ih_wipe(dummy_pw, sizeof dummy_pw);
    if (e != IH_OK) {
        ih_identity_free(id);
        return e;
    }
    *out = id;
    return IH_OK;
}

ih_err ih_identity_start(ih_identity *id)
{
    if (id->cache || ih_store_kind_of(id->o.store) != IH_STORE_PG) return IH_OK;
    return authcache_start(id->o.store, &id->cache);
}

void ih_identity_kept_info(ih_identity *id, ih_identity_kept *out)
{
    *out = (ih_identity_kept){.started = id->cache != NULL, .live = authcache_live(id->cache),
                              .answered = atomic_load(&id->kept_answers)};
}

void ih_identity_free(ih_identity *id)
{
    if (!id) return;
    authcache_stop(id->cache);
    ih_hashpool_free(id->pool);
    ih_throttle_free(id->throttle);
    free(id->issuer);
    free(id);
}

struct ih_hashpool *ih_identity_pool(ih_identity *id) { return id->pool; }

int username_normalize(const char *in, char out[65])
{
    size_t n = strlen(in);
    if (n < 3 || n > 64 || !isalnum((unsigned char)in[0])) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-' && c != '@') return -1;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return 0;
}

/* ---- rows ---------------------------------------------------------------- */

static void acct_canon(const account *a, ih_canon *c)
{
    ih_canon_text(c, a->username);
    ih_canon_text(c, a->username_lc);
    ih_canon_text(c, ih_role_name(a->role));
    ih_canon_text(c, a->status);
    ih_canon_text(c, a->pw_hash);
    ih_canon_int(c, a->pw_changed_at);
    ih_canon_int(c, a->must_change);
    ih_canon_blob(c, a->totp_len ? a->totp : NULL, a->totp_len);
    ih_canon_text(c, a->totp_alg);
    ih_canon_int(c, a->totp_digits);
    ih_canon_blob(c, a->pending_len ? a->pending : NULL, a->pending_len);
    ih_canon_text(c, a->pending_alg);
    ih_canon_int(c, a->totp_last_step);
    ih_canon_int(c, a->failed_count);
    ih_canon_int(c, a->locked_until);
    ih_canon_int(c, a->expires_at);
    ih_canon_int(c, a->last_login_at);
    ih_canon_int(c, a->created_at);
    ih_canon_int(c, a->created_by);
    ih_canon_text(c, a->disabled_reason);
    if (a->note_len) { /* added in migration 14: covered when present, named */
        ih_canon_text(c, "disabled_note");
        ih_canon_blob(c, a->note, a->note_len);
    }
    if (a->rv > 0) { /* rows from before versions were MAC'd without one */
        ih_canon_text(c, "rv");
        ih_canon_int(c, a->rv);
    }
}

static void copy_text(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

ih_err acct_from_row(ih_identity *id, ih_stmt *st, int col0, account *a)
{
    memset(a, 0, sizeof *a);
    a->id = ih_col_int(st, col0);
    copy_text(a->username, sizeof a->username, ih_col_text(st, col0 + 1));
    copy_text(a->username_lc, sizeof a->username_lc, ih_col_text(st, col0 + 2));
    a->role = ih_role_parse(ih_col_text(st, col0 + 3));
    copy_text(a->status, sizeof a->status, ih_col_text(st, col0 + 4));
    copy_text(a->pw_hash, sizeof a->pw_hash, ih_col_text(st, col0 + 5));
    a->pw_changed_at = ih_col_int(st, col0 + 6);
    a->must_change = ih_col_int(st, col0 + 7);
    size_t n;
    const uint8_t *b = ih_col_blob(st, col0 + 8, &n);
    if (b && n <= SEALED_MAX) {
        memcpy(a->totp, b, n);
        a->totp_len = n;
    }
    copy_text(a->totp_alg, sizeof a->totp_alg, ih_col_text(st, col0 + 9));
    a->totp_digits = ih_col_int(st, col0 + 10);
    b = ih_col_blob(st, col0 + 11, &n);
    if (b && n <= SEALED_MAX) {
        memcpy(a->pending, b, n);
        a->pending_len = n;
    }
    copy_text(a->pending_alg, sizeof a->pending_alg, ih_col_text(st, col0 + 12));
    a->totp_last_step = ih_col_int(st, col0 + 13);
    a->failed_count = ih_col_int(st, col0 + 14);
    a->locked_until = ih_col_int(st, col0 + 15);
    a->expires_at = ih_col_int(st, col0 + 16);
    a->last_login_at = ih_col_int(st, col0 + 17);
    a->created_at = ih_col_int(st, col0 + 18);
    a->created_by = ih_col_int(st, col0 + 19);
    copy_text(a->disabled_reason, sizeof a->disabled_reason, ih_col_text(st, col0 + 20));
    b = ih_col_blob(st, col0 + 21, &n);
    if (b && n <= NOTE_MAX) {
        memcpy(a->note, b, n);
        a->note_len = n;
    }
    a->rv = ih_col_int(st, col0 + 22);
    const uint8_t *mac = ih_col_blob(st, col0 + 23, &n);
    ih_canon c = {0};
    acct_canon(a, &c);
    ih_err e = ih_row_mac_check(id->o.keys, "account", a->id, &c, mac, mac ? n : 0);
    ih_canon_free(&c);
    /* valid, but older than the journal knows: a disabled account enabled
     * again, an old password put back */
    if (e == IH_OK) e = ih_audit_version_known("account", a->id, a->rv, ih_col_int(st, col0 + 24));
    return e;
}

ih_err acct_load(ih_identity *id, ih_tx *tx, int64_t account_id, account *a, bool *found)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, ih_tx_is_pg(tx) && ih_tx_is_write(tx)
                                 ? "SELECT " ACCOUNT_SELECT " FROM account WHERE id = $1 FOR UPDATE"
                                 : "SELECT " ACCOUNT_SELECT " FROM account WHERE id = $1",
                         &st));
    ih_stmt_int(st, 1, account_id);
    IH_TRY(ih_stmt_step(st, &row));
    *found = row;
    return row ? acct_from_row(id, st, 0, a) : IH_OK;
}

ih_err acct_load_name(ih_identity *id, ih_tx *tx, const char *name_lc, account *a, bool *found)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, ih_tx_is_pg(tx) && ih_tx_is_write(tx)
                                 ? "SELECT " ACCOUNT_SELECT " FROM account WHERE username_lc = $1 FOR UPDATE"
                                 : "SELECT " ACCOUNT_SELECT " FROM account WHERE username_lc = $1",
                         &st));
    ih_stmt_text(st, 1, name_lc);
    IH_TRY(ih_stmt_step(st, &row));
    *found = row;
    return row ? acct_from_row(id, st, 0, a) : IH_OK;
}

static ih_err bind_row(ih_identity *id, ih_stmt *st, const account *a)
{
    ih_canon c = {0};
    acct_canon(a, &c);
    uint8_t mac[IH_MAC_LEN];
    ih_err e = ih_row_mac(id->o.keys, "account", a->id, &c, mac);
    ih_canon_free(&c);
    IH_TRY(e);
    ih_stmt_int(st, 1, a->id);
    ih_stmt_text(st, 2, a->username);
    ih_stmt_text(st, 3, a->username_lc);
    ih_stmt_text(st, 4, ih_role_name(a->role));
    ih_stmt_text(st, 5, a->status);
    ih_stmt_text(st, 6, a->pw_hash);
    ih_stmt_int(st, 7, a->pw_changed_at);
    ih_stmt_int(st, 8, a->must_change);
    ih_stmt_blob(st, 9, a->totp_len ? a->totp : NULL, a->totp_len);
    ih_stmt_text(st, 10, a->totp_alg);
    ih_stmt_int(st, 11, a->totp_digits);
    ih_stmt_blob(st, 12, a->pending_len ? a->pending : NULL, a->pending_len);
    ih_stmt_text(st, 13, a->pending_alg);
    ih_stmt_int(st, 14, a->totp_last_step);
    ih_stmt_int(st, 15, a->failed_count);
    ih_stmt_int(st, 16, a->locked_until);
    ih_stmt_int(st, 17, a->expires_at);
    ih_stmt_int(st, 18, a->last_login_at);
    ih_stmt_int(st, 19, a->created_at);
    ih_stmt_int(st, 20, a->created_by);
    ih_stmt_text(st, 21, a->disabled_reason);
    ih_stmt_blob(st, 22, a->note_len ? a->note : NULL, a->note_len);
    ih_stmt_int(st, 23, a->rv);
    ih_stmt_blob(st, 24, mac, sizeof mac);
    return IH_OK;
}

ih_err acct_insert(ih_identity *id, ih_tx *tx, account *a)
{
    ih_stmt *st;
    a->rv = 1;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO account(" ACCOUNT_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                             "$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
                         &st));
    IH_TRY(bind_row(id, st, a));
    IH_TRY(ih_stmt_exec(st));
    ih_tx_note_row(tx, "account", a->id, a->rv);
    return IH_OK;
}

ih_err acct_save(ih_identity *id, ih_tx *tx, account *a)
{
    ih_stmt *st;
    int64_t old = a->rv;
    a->rv = old + 1;
    authcache_forget(id->cache, "account", a->id);
    ih_err e = ih_tx_prepare(tx, "UPDATE account SET username = $2, username_lc = $3, role = $4, status = $5, "
                                 "pw_hash = $6, pw_changed_at = $7, must_change = $8, totp_enc = $9, totp_alg = $10, "
                                 "totp_digits = $11, totp_pending = $12, pending_alg = $13, totp_last_step = $14, "
                                 "failed_count = $15, locked_until = $16, expires_at = $17, last_login_at = $18, "
                                 "created_at = $19, created_by = $20, disabled_reason = $21, disabled_note_enc = $22, "
                                 "rv = $23, mac = $24 WHERE id = $1 AND rv = $25",
                             &st);
    if (e == IH_OK) e = bind_row(id, st, a);
    if (e == IH_OK) {
        ih_stmt_int(st, 25, old);
        e = ih_stmt_exec(st);
    }
    if (e == IH_OK && ih_stmt_changes(st) != 1)
        e = ih_fail(IH_E_BUSY, "account %lld changed since it was read", (long long)a->id);
    if (e != IH_OK) {
        a->rv = old;
        return e;
    }
    ih_tx_note_row(tx, "account", a->id, a->rv);
    return IH_OK;
}

json_t *acct_json(const account *a, int64_t now)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:b, s:b, s:b, s:I, s:o, s:o, s:o, s:o}", "id", (json_int_t)a->id,
                     "username", a->username, "role", ih_role_name(a->role), "status", a->status,
                     "must_change_password", a->must_change != 0, "totp_enrolled", a->totp_len > 0, "locked",
                     a->locked_until > now, "failed_logins", (json_int_t)a->failed_count, "expires_at",
                     ih_json_time(a->expires_at), "last_login_at", ih_json_time(a->last_login_at), "created_at",
                     ih_json_time(a->created_at), "disabled_reason",
                     a->disabled_reason[0] ? json_string(a->disabled_reason) : json_null());
}

typedef struct {
    ih_identity *id;
    const ih_actor *who;
    const char *table;
    char row[24];
} alarm_arg;

static ih_err alarm_fn(ih_tx *tx, void *arg)
{
    alarm_arg *a = arg;
    ih_audit_event ev = {.action = "integrity.violation", .object_type = a->table, .object_id = a->row,
                         .result = IH_E_INTEGRITY};
    return ih_audit_append(a->id->o.audit, tx, a->who, &ev);
}

void acct_integrity_alarm(ih_identity *id, const char *table, int64_t row, const ih_actor *who)
{
    alarm_arg a = {id, who, table, ""};
    snprintf(a.row, sizeof a.row, "%lld", (long long)row);
    ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", table, "row", a.row, NULL);
    if (ih_store_write(id->o.store, alarm_fn, &a) != IH_OK)
        ih_log(IH_LOG_ERROR, "integrity.audit_failed", "alert", "true", "table", table, "row", a.row, NULL);
}

ih_err note_seal(ih_identity *id, account *a, const char *text)
{
    a->note_len = 0;
    if (!text || !*text) return IH_OK;
    ih_buf b = IH_BUF_INIT;
    ih_err e = ih_field_seal_str(id->o.keys, IH_KP_PERSONAL, "account", "disabled_note", a->id, text, &b);
    if (e == IH_OK && b.len > NOTE_MAX) e = ih_reject(IH_E_INVALID, "reason", "The reason is too long.");
    if (e == IH_OK) {
        memcpy(a->note, b.p, b.len);
        a->note_len = b.len;
    }
    ih_buf_free(&b);
    return e;
}

ih_err note_open(ih_identity *id, ih_tx *tx, const account *a, ih_buf *out)
{
    if (!a->note_len) return IH_OK;
    return ih_keys_field_open(tx, id->o.keys, IH_KP_PERSONAL, "account", "disabled_note", a->id, a->note, a->note_len,
                              out);
}

ih_err totp_seal(ih_identity *id, int64_t account_id, const char *column, const uint8_t *secret, size_t n,
                 uint8_t *out, size_t *outlen)
{
    ih_buf b = IH_BUF_INIT;
    ih_err e = ih_field_seal(id->o.keys, IH_KP_TOTP, "account", column, account_id, secret, n, &b);
    if (e == IH_OK && b.len > SEALED_MAX) e = ih_fail(IH_E_INTERNAL, "sealed secret too long");
    if (e == IH_OK) {
        memcpy(out, b.p, b.len);
        *outlen = b.len;
    }
    ih_buf_free(&b);
    return e;
}

ih_err totp_open(ih_identity *id, ih_tx *tx, int64_t account_id, const char *column, const uint8_t *sealed, size_t n,
                 uint8_t *secret, size_t cap, size_t *len)
{
    ih_buf b = IH_BUF_INIT;
    ih_err e = ih_keys_field_open(tx, id->o.keys, IH_KP_TOTP, "account", column, account_id, sealed, n, &b);
    if (e == IH_OK && b.len > cap) e = ih_fail(IH_E_INTEGRITY, "secret too long");
    if (e == IH_OK) {
        memcpy(secret, b.p, b.len);
        *len = b.len;
    }
    ih_buf_wipe(&b);
    return e;
}

/* ---- administration -------------------------------------------------------- */

static ih_err audit_acct(ih_identity *id, ih_tx *tx, const ih_actor *who, const char *action, int64_t account_id,
                         const char *reason)
{
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)account_id);
    ih_audit_event ev = {.action = action, .object_type = "account", .object_id = oid, .reason = reason};
    return ih_audit_append(id->o.audit, tx, who, &ev);
}

typedef struct {
    const ih_pw_params *p;
    const char *pw;
    char *out;
    ih_err e;
} hash_job;

static void hash_run(void *arg)
{
    hash_job *j = arg;
    j->e = ih_password_hash(j->p, j->pw, j->out);
}

ih_err ih_identity_prepare(ih_identity *id, const ih_account_new *n, char *otp, ih_account_prep *out)
{
    memset(out, 0, sizeof *out);
    if (!n->username || username_normalize(n->username, out->username) != 0)
        return ih_reject(IH_E_INVALID, "username",
                         "Field 'username' must be 3 to 64 letters, digits or . _ - @, starting with a letter or digit.");
    if (n->role == IH_ROLE_NONE) return ih_reject(IH_E_INVALID, "role", "Field 'role' is not a known role.");
    if (n->totp_secret && n->totp_secret_len > sizeof out->totp) return ih_fail(IH_E_INVALID, "TOTP secret too long");
    out->n = *n;
    snprintf(out->username, sizeof out->username, "%s", n->username);
    out->n.username = out->username;
    out->n.password = NULL;
    if (n->totp_secret) {
        memcpy(out->totp, n->totp_secret, n->totp_secret_len);
        out->n.totp_secret = out->totp;
    }
    char pw[IH_PW_MAX_LEN + 1];
    if (n->password) {
        IH_TRY(ih_password_check(&id->o.pw, n->username, n->password, "password"));
        snprintf(pw, sizeof pw, "%s", n->password);
    } else {
        IH_TRY(ih_password_generate(pw, 16));
        if (otp) memcpy(otp, pw, 17); /* 16 characters and the NUL */
    }
    hash_job j = {&id->o.hash, pw, out->hash, IH_OK};
    ih_err e = ih_hashpool_run(id->pool, hash_run, &j);
    ih_wipe(pw, sizeof pw);
    IH_TRY(e);
    return j.e;
}

ih_err ih_identity_create_prepared(ih_identity *id, ih_tx *tx, const ih_actor *who, const ih_account_prep *p,
                                   int64_t *account_id)
{
    const ih_account_new *n = &p->n;
    account a;
    memset(&a, 0, sizeof a);
    if (username_normalize(p->username, a.username_lc) != 0) return ih_fail(IH_E_INVALID, "username");
    IH_TRY(ih_tx_next_id(tx, "account", &a.id));
    int64_t now = ih_now_ms();
    snprintf(a.username, sizeof a.username, "%s", p->username);
    a.role = n->role;
    snprintf(a.status, sizeof a.status, "%s", n->active ? "active" : "pending");
    memcpy(a.pw_hash, p->hash, sizeof a.pw_hash);
    a.pw_changed_at = now;
    a.must_change = n->must_change;
    a.expires_at = n->expires_at;
    a.created_at = now;
    a.created_by = who ? who->id : 0;
    if (n->totp_secret) {
        IH_TRY(totp_seal(id, a.id, "totp", n->totp_secret, n->totp_secret_len, a.totp, &a.totp_len));
        snprintf(a.totp_alg, sizeof a.totp_alg, "%s", ih_totp_alg_name(id->o.totp_alg));
        a.totp_digits = 6;
    }
    ih_err e = acct_insert(id, tx, &a);
    if (e == IH_E_EXISTS) return ih_reject(IH_E_EXISTS, "username", "That username is taken.");
    IH_TRY(e);
    IH_TRY(pw_history_add(tx, &a, now));
    *account_id = a.id;
    return audit_acct(id, tx, who, "account.create", a.id, ih_role_name(a.role));
}

ih_err ih_identity_prep_hashed(const char *username, ih_role role, const char *hash, ih_account_prep *out)
{
    memset(out, 0, sizeof *out);
    char lc[65];
    if (!username || username_normalize(username, lc) != 0)
        return ih_reject(IH_E_INVALID, "username",
                         "Field 'username' must be 3 to 64 letters, digits or . _ - @, starting with a letter or digit.");
    if (strlen(hash) >= sizeof out->hash) return ih_fail(IH_E_INVALID, "password hash too long");
    snprintf(out->username, sizeof out->username, "%s", username);
    snprintf(out->hash, sizeof out->hash, "%s", hash);
    out->n = (ih_account_new){.username = out->username, .role = role, .active = true};
    return IH_OK;
}

ih_err ih_identity_username_taken(ih_identity *id, ih_tx *tx, const char *username, bool *taken)
{
    (void)id;
    char lc[65];
    *taken = false;
    if (username_normalize(username, lc) != 0)
        return ih_reject(IH_E_INVALID, "username",
                         "Field 'username' must be 3 to 64 letters, digits or . _ - @, starting with a letter or digit.");
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM account WHERE username_lc = $1", &st));
    ih_stmt_text(st, 1, lc);
    IH_TRY(ih_stmt_step(st, taken));
    return ih_stmt_exec(st);
}

typedef struct {
    const char *lc;
    int64_t id;
} lookup_arg;

static ih_err lookup_fn(ih_tx *tx, void *arg)
{
    lookup_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM account WHERE username_lc = $1", &st));
    ih_stmt_text(st, 1, a->lc);
    IH_TRY(ih_stmt_step(st, &row));
    a->id = row ? ih_col_int(st, 0) : 0;
    return ih_stmt_exec(st);
}

ih_err ih_identity_account_id(ih_identity *id, const char *username, int64_t *account_id)
{
    char lc[65];
    *account_id = 0;
    if (username_normalize(username, lc) != 0) return IH_OK; /* no such account can exist */
    lookup_arg a = {.lc = lc};
    IH_TRY(ih_store_read(id->o.store, lookup_fn, &a));
    *account_id = a.id;
    return IH_OK;
}

ih_err pw_history_add(ih_tx *tx, const account *a, int64_t now)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO password_history(account_id, pw_hash, changed_at) VALUES ($1, $2, $3)", &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_text(st, 2, a->pw_hash);
    ih_stmt_int(st, 3, now);
    return ih_stmt_exec(st);
}

typedef struct {
    ih_identity *id;
    const ih_actor *who;
    const ih_account_prep *p;
    int64_t account_id;
} create_arg;

static ih_err create_fn(ih_tx *tx, void *arg)
{
    create_arg *c = arg;
    return ih_identity_create_prepared(c->id, tx, c->who, c->p, &c->account_id);
}

ih_err ih_identity_create(ih_identity *id, const ih_actor *who, const ih_account_new *a, char *otp, int64_t *account_id)
{
    ih_account_prep *p = malloc(sizeof *p);
    IH_CHECK_ALLOC(p);
    ih_err e = ih_identity_prepare(id, a, otp, p);
    create_arg c = {id, who, p, 0};
    if (e == IH_OK) e = ih_store_write(id->o.store, create_fn, &c);
    ih_wipe(p, sizeof *p);
    free(p);
    if (e == IH_OK) *account_id = c.account_id;
    return e;
}

/* A change to one account: load (MAC-checked), apply, save, audit. */
typedef ih_err (*change_fn)(ih_identity *id, ih_tx *tx, account *a, void *ctx, const char **action,
                            const char **reason);

typedef struct {
    ih_identity *id;
    const ih_actor *who;
    int64_t account_id;
    change_fn fn;
    void *ctx;
    bool integrity_failed;
} change_arg;

static ih_err change_tx(ih_tx *tx, void *arg)
{
    change_arg *c = arg;
    account a;
    bool found;
    ih_err e = acct_load(c->id, tx, c->account_id, &a, &found);
    if (e == IH_E_INTEGRITY) c->integrity_failed = true;
    IH_TRY(e);
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No account %lld.", (long long)c->account_id);
    const char *action = NULL, *reason = NULL;
    IH_TRY(c->fn(c->id, tx, &a, c->ctx, &action, &reason));
    IH_TRY(acct_save(c->id, tx, &a));
    return audit_acct(c->id, tx, c->who, action, a.id, reason);
}

static ih_err change(ih_identity *id, const ih_actor *who, int64_t account_id, change_fn fn, void *ctx)
{
    change_arg c = {id, who, account_id, fn, ctx, false};
    ih_err e = ih_store_write(id->o.store, change_tx, &c);
    if (c.integrity_failed) acct_integrity_alarm(id, "account", account_id, who);
    return e;
}

static ih_err do_activate(ih_identity *id, ih_tx *tx, account *a, void *ctx, const char **action, const char **reason)
{
    (void)id;
    (void)tx;
    const ih_actor *who = ctx;
    if (strcmp(a->status, "pending"))
        return ih_reject(IH_E_STATE, NULL, "Only a pending account can be activated (this one is %s).", a->status);
    if (who && who->id == a->id) return ih_reject(IH_E_FORBIDDEN, NULL, "You cannot activate your own account.");
    snprintf(a->status, sizeof a->status, "active");
    *action = "account.activate";
    *reason = ih_role_name(a->role);
    return IH_OK;
}

ih_err ih_identity_activate(ih_identity *id, const ih_actor *who, int64_t account_id)
{
    return change(id, who, account_id, do_activate, (void *)who);
}

typedef struct {
    ih_role caller;
    int64_t caller_id;
    bool enabled;
    const char *reason;
    int64_t expires_at;
    char *otp;
    char hash[IH_PW_HASH_MAX];
} manage_ctx;

/* sysadmin manages everyone but administrators; secadmin manages the
 * administrators, never itself. */
static ih_err may_manage(const manage_ctx *m, const account *a)
{
    if (a->id == m->caller_id) return ih_reject(IH_E_FORBIDDEN, NULL, "You cannot do this to your own account.");
    if (m->caller == IH_ROLE_SYSADMIN && !ih_role_is_admin(a->role)) return IH_OK;
    if (m->caller == IH_ROLE_SECADMIN && ih_role_is_admin(a->role)) return IH_OK;
    return ih_reject(IH_E_FORBIDDEN, NULL,
                     "Administrator accounts are managed by the security administrator, all others by the system "
                     "administrator.");
}

static ih_err do_enable(ih_identity *id, ih_tx *tx, account *a, void *ctx, const char **action, const char **reason)
{
    (void)id;
    manage_ctx *m = ctx;
    IH_TRY(may_manage(m, a));
    if (m->enabled) {
        if (strcmp(a->status, "disabled")) return ih_reject(IH_E_STATE, NULL, "The account is not disabled.");
        snprintf(a->status, sizeof a->status, "active");
        a->disabled_reason[0] = '\0';
        a->note_len = 0;
        a->last_login_at = ih_now_ms(); /* restart the inactivity clock */
        *action = "account.enable";
    } else {
        if (!strcmp(a->status, "disabled")) return ih_reject(IH_E_STATE, NULL, "The account is already disabled.");
        snprintf(a->status, sizeof a->status, "disabled");
        snprintf(a->disabled_reason, sizeof a->disabled_reason, "by administrator");
        IH_TRY(note_seal(id, a, m->reason)); /* the words, sealed; the journal names the account only */
        *action = "account.disable";
        IH_TRY(session_revoke_all(id, tx, a->id, 0, "account disabled", ih_now_ms()));
    }
    *reason = NULL;
    return IH_OK;
}

ih_err ih_identity_set_enabled(ih_identity *id, const ih_actor *who, ih_role caller, int64_t account_id, bool enabled,
                               const char *reason)
{
    manage_ctx m = {.caller = caller, .caller_id = who ? who->id : 0, .enabled = enabled, .reason = reason};
    return change(id, who, account_id, do_enable, &m);
}

static ih_err do_expiry(ih_identity *id, ih_tx *tx, account *a, void *ctx, const char **action, const char **reason)
{
    (void)id;
    (void)tx;
    manage_ctx *m = ctx;
    IH_TRY(may_manage(m, a));
    a->expires_at = m->expires_at;
    *action = "account.expiry";
    *reason = NULL;
    return IH_OK;
}

ih_err ih_identity_set_expiry(ih_identity *id, const ih_actor *who, int64_t account_id, int64_t expires_at)
{
    manage_ctx m = {.caller = IH_ROLE_SYSADMIN, .caller_id = who ? who->id : 0, .expires_at = expires_at};
    return change(id, who, account_id, do_expiry, &m);
}

static ih_err do_unlock(ih_identity *id, ih_tx *tx, account *a, void *ctx, const char **action, const char **reason)
{
    (void)id;
    (void)tx;
    (void)ctx;
    a->failed_count = 0;
    a->locked_until = 0;
    *action = "account.unlock";
    *reason = NULL;
    return IH_OK;
}

ih_err ih_identity_unlock(ih_identity *id, const ih_actor *who, int64_t account_id)
{
    return change(id, who, account_id, do_unlock, NULL);
}

static ih_err do_reset_pw(ih_identity *id, ih_tx *tx, account *a, void *ctx, const char **action, const char **reason)
{
    (void)id;
    manage_ctx *m = ctx;
    IH_TRY(may_manage(m, a));
    /* A patient has no second factor: a password an administrator was
     * handed would be the whole account.  Patients reset their own,
     * through the phone they registered (ih_identity_reset_prepare). */
    if (a->role == IH_ROLE_PATIENT)
        return ih_reject(IH_E_FORBIDDEN, NULL,
                         "A patient's password is reset by the patient, with a code sent to the phone they registered.");
    memcpy(a->pw_hash, m->hash, sizeof a->pw_hash);
    a->pw_changed_at = ih_now_ms();
    a->must_change = 1;
    a->failed_count = 0;
    a->locked_until = 0;
    *action = "account.password_reset";
    *reason = NULL;
    return session_revoke_all(id, tx, a->id, 0, "password reset", ih_now_ms());
}

ih_err ih_identity_reset_password(ih_identity *id, const ih_actor *who, int64_t account_id, char *otp)
{
    manage_ctx m = {.caller = IH_ROLE_SYSADMIN, .caller_id = who ? who->id : 0};
    char pw[24];
    IH_TRY(ih_password_generate(pw, 16));
    hash_job j = {&id->o.hash, pw, m.hash, IH_OK};
    ih_err e = ih_hashpool_run(id->pool, hash_run, &j);
    if (e == IH_OK) e = j.e;
    if (e == IH_OK) e = change(id, who, account_id, do_reset_pw, &m);
    if (e == IH_OK) memcpy(otp, pw, 17);
    ih_wipe(pw, sizeof pw);
    return e;
}

static ih_err do_reset_totp(ih_identity *id, ih_tx *tx, account *a, void *ctx, const char **action, const char **reason)
{
    (void)id;
    const ih_actor *who = ctx;
    if (who && who->id == a->id) return ih_reject(IH_E_FORBIDDEN, NULL, "You cannot reset your own second factor.");
    a->totp_len = 0;
    a->pending_len = 0;
    a->totp_alg[0] = a->pending_alg[0] = '\0';
    a->totp_digits = 0;
    *action = "account.totp_reset";
    *reason = NULL;
    return session_revoke_all(id, tx, a->id, 0, "second factor reset", ih_now_ms());
}

ih_err ih_identity_reset_totp(ih_identity *id, const ih_actor *who, int64_t account_id)
{
    return change(id, who, account_id, do_reset_totp, (void *)who);
}

typedef struct {
    ih_identity *id;
    int64_t account_id;
    json_t *out;
    bool integrity_failed;
    ih_role role;
    const ih_account_filter *f; /* list */
} read_arg;

static ih_err get_fn(ih_tx *tx, void *arg)
{
    read_arg *r = arg;
    account a;
    bool found;
    ih_err e = acct_load(r->id, tx, r->account_id, &a, &found);
    if (e == IH_E_INTEGRITY) r->integrity_failed = true;
    IH_TRY(e);
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No account %lld.", (long long)r->account_id);
    r->out = acct_json(&a, ih_now_ms());
    r->role = a.role;
    ih_buf note = IH_BUF_INIT;
    e = note_open(r->id, tx, &a, &note);
    if (e == IH_OK && note.len) json_object_set_new(r->out, "disabled_note", json_stringn(note.p, note.len));
    ih_buf_wipe(&note);
    return e;
}

ih_err ih_identity_get(ih_identity *id, int64_t account_id, json_t **out)
{
    read_arg r = {.id = id, .account_id = account_id};
    ih_err e = ih_store_read(id->o.store, get_fn, &r);
    if (r.integrity_failed) acct_integrity_alarm(id, "account", account_id, NULL);
    if (e == IH_OK) *out = r.out;
    return e;
}

ih_err ih_identity_account_tx(ih_identity *id, ih_tx *tx, int64_t account_id, ih_role *role, bool *active)
{
    account a;
    bool found;
    IH_TRY(acct_load(id, tx, account_id, &a, &found)); /* MAC-checked */
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No account %lld.", (long long)account_id);
    *role = a.role;
    if (active) *active = !strcmp(a.status, "active");
    ih_wipe(&a, sizeof a);
    return IH_OK;
}

ih_err ih_identity_role_of(ih_identity *id, int64_t account_id, ih_role *role)
{
    read_arg r = {.id = id, .account_id = account_id};
    ih_err e = ih_store_read(id->o.store, get_fn, &r);
    json_decref(r.out);
    if (e == IH_OK) *role = r.role;
    return e;
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    read_arg *r = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    const ih_account_filter *f = r->f;
#define LIST_WHERE "($3 = '' OR status = $3) AND ($4 = '' OR role IN ($4, $5, $6)) AND "
    IH_TRY(ih_tx_prepare(tx, f->newest_first ? "SELECT " ACCOUNT_SELECT " FROM account WHERE " LIST_WHERE
                                               "id < $1 ORDER BY id DESC LIMIT $2"
                                             : "SELECT " ACCOUNT_SELECT " FROM account WHERE " LIST_WHERE
                                               "id > $1 ORDER BY id LIMIT $2",
                         &st));
#undef LIST_WHERE
    ih_stmt_int(st, 1, f->newest_first ? (f->before > 0 ? f->before : INT64_MAX) : f->after);
    ih_stmt_int(st, 2, f->limit);
    ih_stmt_text(st, 3, f->status ? f->status : "");
    for (int i = 0; i < 3; i++) /* the unused places repeat the first role (or stay empty) */
        ih_stmt_text(st, 4 + i, f->roles[i] ? f->roles[i] : f->roles[0] ? f->roles[0] : "");
    r->out = json_array();
    IH_CHECK_ALLOC(r->out);
    int64_t now = ih_now_ms();
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        account a;
        ih_err me = acct_from_row(r->id, st, 0, &a);
        json_t *j = acct_json(&a, now);
        if (me != IH_OK) { /* listed, flagged, not trusted */
            json_object_set_new(j, "integrity_error", json_true());
            r->integrity_failed = true;
            r->account_id = a.id;
        }
        json_array_append_new(r->out, j);
    }
    return e;
}

ih_err ih_identity_list(ih_identity *id, const ih_account_filter *f, json_t **out)
{
    read_arg r = {.id = id, .f = f};
    ih_err e = ih_store_read(id->o.store, list_fn, &r);
    if (r.integrity_failed) acct_integrity_alarm(id, "account", r.account_id, NULL);
    if (e == IH_OK) *out = r.out;
    else json_decref(r.out);
    return e;
}

typedef struct {
    ih_identity *id;
    json_t *events;
} names_arg;

static ih_err names_fn(ih_tx *tx, void *arg)
{
    names_arg *a = arg;
    json_t *known = json_object(); /* id -> username, or null */
    IH_CHECK_ALLOC(known);
    size_t i;
    json_t *ev;
    ih_err e = IH_OK;
    json_array_foreach(a->events, i, ev)
    {
        json_t *actor = json_object_get(ev, "actor_id");
        if (!json_is_integer(actor) || json_integer_value(actor) <= 0) continue;
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(actor));
        json_t *name = json_object_get(known, key);
        if (!name) {
            account acc;
            bool found;
            ih_err le = acct_load(a->id, tx, json_integer_value(actor), &acc, &found);
            if (le == IH_E_INTEGRITY) {
                ih_err_clear();
                found = false;
            } else if (le != IH_OK) {
                e = le;
                break;
            }
            name = found ? json_string(acc.username) : json_null();
            json_object_set_new(known, key, name);
        }
        if (json_is_string(name)) json_object_set(ev, "actor_username", name);
    }
    json_decref(known);
    return e;
}

ih_err ih_identity_name_actors(ih_identity *id, json_t *events)
{
    names_arg a = {id, events};
    return ih_store_read(id->o.store, names_fn, &a);
}
