/* session.c — sessions: create, authenticate, list, revoke (see identity.h).
 * L3 8.1.4.1b (idle timeout, end of session), 8.1.4.10 (server-side logout). */
#include "identity/identity_impl.h"

#include "core/buf.h"
#include "core/clock.h"
#include "crypto/protect.h"

#include <stdio.h>
#include <string.h>

#define TOUCH_EVERY_MS 30000

static ih_err token_hash(ih_identity *id, const char *token, uint8_t out[IH_HASH_LEN])
{
    return ih_digest(ih_suite_md(ih_keyring_suite(id->o.keys)), token, strlen(token), out);
}

static ih_err session_mac(ih_identity *id, int64_t sid, const uint8_t *th, int64_t account_id, int64_t created,
                          int64_t expires, int64_t factors, uint8_t mac[IH_MAC_LEN])
{
    ih_canon c = {0};
    ih_canon_blob(&c, th, IH_HASH_LEN);
    ih_canon_int(&c, account_id);
    ih_canon_int(&c, created);
    ih_canon_int(&c, expires);
    ih_canon_int(&c, factors);
    ih_err e = ih_row_mac(id->o.keys, "session", sid, &c, mac);
    ih_canon_free(&c);
    return e;
}

void principal_fill(ih_identity *id, const account *a, int factors, int64_t now, ih_principal *p)
{
    memset(p, 0, sizeof *p);
    p->account_id = a->id;
    p->role = a->role;
    snprintf(p->username, sizeof p->username, "%s", a->username);
    int64_t max_age = (int64_t)id->o.pw.max_age_days * 86400000LL;
    p->must_change_password = a->must_change || now - a->pw_changed_at > max_age;
    bool totp_required = a->role != IH_ROLE_PATIENT || a->totp_len > 0;
    p->must_enrol_totp = a->role != IH_ROLE_PATIENT && a->totp_len == 0;
    p->restricted = p->must_change_password || p->must_enrol_totp || (totp_required && factors < 2);
}

ih_err session_create(ih_identity *id, ih_tx *tx, const account *a, int factors, const char *ip, int64_t now,
                      ih_login_result *out)
{
    uint8_t raw[32], csrf[18], th[IH_HASH_LEN], mac[IH_MAC_LEN];
    IH_TRY(ih_random(raw, sizeof raw));
    IH_TRY(ih_random(csrf, sizeof csrf));
    ih_b64url_encode(raw, sizeof raw, out->token);
    ih_wipe(raw, sizeof raw);
    IH_TRY(token_hash(id, out->token, th));
    int64_t sid, expires = now + (int64_t)id->o.session_max_hours * 3600000LL;
    IH_TRY(ih_tx_next_id(tx, "session", &sid));
    IH_TRY(session_mac(id, sid, th, a->id, now, expires, factors, mac));
    principal_fill(id, a, factors, now, &out->p);
    out->p.session_id = sid;
    ih_b64url_encode(csrf, sizeof csrf, out->p.csrf);
    ih_hex_encode(th, 8, out->p.session_tag, 0);
    out->expires_at = expires;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO session(id, token_hash, account_id, created_at, last_seen, expires_at, csrf, "
                             "factors, ip, mac) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9)",
                         &st));
    ih_stmt_int(st, 1, sid);
    ih_stmt_blob(st, 2, th, sizeof th);
    ih_stmt_int(st, 3, a->id);
    ih_stmt_int(st, 4, now);
    ih_stmt_int(st, 5, expires);
    ih_stmt_text(st, 6, out->p.csrf);
    ih_stmt_int(st, 7, factors);
    ih_stmt_text(st, 8, ip);
    ih_stmt_blob(st, 9, mac, sizeof mac);
    return ih_stmt_exec(st);
}

ih_err session_revoke_all(ih_tx *tx, int64_t account_id, int64_t except_session, const char *reason, int64_t now)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE session SET revoked_at = $3, revoke_reason = $4 "
                             "WHERE account_id = $1 AND id <> $2 AND revoked_at IS NULL",
                         &st));
    ih_stmt_int(st, 1, account_id);
    ih_stmt_int(st, 2, except_session);
    ih_stmt_int(st, 3, now);
    ih_stmt_text(st, 4, reason);
    return ih_stmt_exec(st);
}

typedef struct {
    ih_identity *id;
    uint8_t th[IH_HASH_LEN];
    int64_t now;
    ih_principal *p;
    bool touch, idle_expired, integrity_failed;
    int64_t bad_table_row;
    const char *bad_table;
    ih_err result;
} auth_arg;

static ih_err auth_fn(ih_tx *tx, void *arg)
{
    auth_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id, account_id, created_at, last_seen, expires_at, factors, csrf, revoked_at, mac "
                             "FROM session WHERE token_hash = $1",
                         &st));
    ih_stmt_blob(st, 1, a->th, sizeof a->th);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return a->result = ih_fail(IH_E_UNAUTHENTICATED, "no such session"), IH_OK;
    int64_t sid = ih_col_int(st, 0), account_id = ih_col_int(st, 1), created = ih_col_int(st, 2),
            last_seen = ih_col_int(st, 3), expires = ih_col_int(st, 4), factors = ih_col_int(st, 5);
    a->p->session_id = sid;
    a->p->account_id = account_id;
    char csrf[48];
    snprintf(csrf, sizeof csrf, "%s", ih_col_text(st, 6));
    bool revoked = !ih_col_null(st, 7);
    size_t n;
    const uint8_t *mac = ih_col_blob(st, 8, &n);
    uint8_t want[IH_MAC_LEN];
    IH_TRY(session_mac(a->id, sid, a->th, account_id, created, expires, factors, want));
    if (!mac || n != IH_MAC_LEN || !ih_ct_equal(mac, want, IH_MAC_LEN)) {
        a->integrity_failed = true;
        a->bad_table = "session";
        a->bad_table_row = sid;
        return a->result = ih_fail(IH_E_INTEGRITY, "session %lld fails its integrity check", (long long)sid), IH_OK;
    }
    IH_TRY(ih_stmt_exec(st));
    if (revoked) return a->result = ih_fail(IH_E_UNAUTHENTICATED, "session revoked"), IH_OK;
    if (a->now >= expires) return a->result = ih_fail(IH_E_SESSION_EXPIRED, "session past its lifetime"), IH_OK;
    if (a->now - last_seen > (int64_t)a->id->o.session_idle_minutes * 60000LL) {
        a->idle_expired = true;
        return a->result = ih_fail(IH_E_SESSION_EXPIRED, "session idle too long"), IH_OK;
    }
    account acc;
    bool found;
    ih_err e = acct_load(a->id, tx, account_id, &acc, &found);
    if (e == IH_E_INTEGRITY) {
        a->integrity_failed = true;
        a->bad_table = "account";
        a->bad_table_row = account_id;
        return a->result = e, IH_OK;
    }
    IH_TRY(e);
    if (!found || strcmp(acc.status, "active"))
        return a->result = ih_fail(IH_E_UNAUTHENTICATED, "account no longer active"), IH_OK;
    if (acc.expires_at && a->now >= acc.expires_at)
        return a->result = ih_fail(IH_E_UNAUTHENTICATED, "account expired"), IH_OK;
    principal_fill(a->id, &acc, (int)factors, a->now, a->p);
    a->p->session_id = sid;
    memcpy(a->p->csrf, csrf, sizeof a->p->csrf);
    ih_hex_encode(a->th, 8, a->p->session_tag, 0);
    a->touch = a->now - last_seen > TOUCH_EVERY_MS;
    a->result = IH_OK;
    return IH_OK;
}

typedef struct {
    int64_t sid, now;
    const char *reason;
    ih_identity *id;
    const ih_actor *who;
} touch_arg;

static ih_err touch_fn(ih_tx *tx, void *arg)
{
    touch_arg *t = arg;
    ih_stmt *st;
    if (t->reason) {
        IH_TRY(ih_tx_prepare(tx, "UPDATE session SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL", &st));
        ih_stmt_int(st, 1, t->sid);
        ih_stmt_int(st, 2, t->now);
        ih_stmt_text(st, 3, t->reason);
        IH_TRY(ih_stmt_exec(st));
        if (ih_stmt_changes(st) == 0) return IH_OK;
        char sid[24];
        snprintf(sid, sizeof sid, "%lld", (long long)t->sid);
        ih_audit_event ev = {.action = "auth.session_expired", .object_type = "session", .object_id = sid,
                             .reason = t->reason};
        return ih_audit_append(t->id->o.audit, tx, t->who, &ev);
    } else {
        IH_TRY(ih_tx_prepare(tx, "UPDATE session SET last_seen = $2 WHERE id = $1", &st));
        ih_stmt_int(st, 1, t->sid);
        ih_stmt_int(st, 2, t->now);
    }
    return ih_stmt_exec(st);
}

static bool token_shape(const char *t)
{
    size_t n = strlen(t);
    if (n != 43) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

ih_err ih_identity_authenticate(ih_identity *id, const char *token, bool via_cookie, const char *ip, ih_principal *out)
{
    if (!token || !token_shape(token)) return ih_fail(IH_E_UNAUTHENTICATED, "malformed token");
    auth_arg a = {.id = id, .now = ih_now_ms(), .p = out};
    IH_TRY(token_hash(id, token, a.th));
    IH_TRY(ih_store_read(id->o.store, auth_fn, &a));
    ih_actor who = {.id = out->account_id, .role = ih_role_name(out->role), .ip = ip};
    if (a.integrity_failed) acct_integrity_alarm(id, a.bad_table, a.bad_table_row, &who);
    if (a.result != IH_OK) {
        if (a.idle_expired) {
            /* Close it for good, and say so in the journal. */
            ih_err_text saved;
            ih_err_save(&saved);
            touch_arg t = {out->session_id, a.now, "idle timeout", id, &who};
            ih_store_write(id->o.store, touch_fn, &t);
            ih_err_load(&saved);
        }
        return a.result;
    }
    out->via_cookie = via_cookie;
    if (a.touch) {
        touch_arg t = {out->session_id, a.now, NULL, id, NULL};
        IH_TRY(ih_store_write(id->o.store, touch_fn, &t));
    }
    return IH_OK;
}

typedef struct {
    ih_identity *id;
    const ih_principal *p;
    const ih_actor *who;
    int64_t sid;
    json_t *out;
} own_arg;

static ih_err logout_fn(ih_tx *tx, void *arg)
{
    own_arg *o = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE session SET revoked_at = $3, revoke_reason = $4 "
                             "WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
                         &st));
    ih_stmt_int(st, 1, o->sid);
    ih_stmt_int(st, 2, o->p->account_id);
    ih_stmt_int(st, 3, ih_now_ms());
    ih_stmt_text(st, 4, o->sid == o->p->session_id ? "logout" : "revoked by owner");
    IH_TRY(ih_stmt_exec(st));
    if (ih_stmt_changes(st) != 1) return ih_reject(IH_E_NOT_FOUND, NULL, "No such active session of yours.");
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)o->sid);
    ih_audit_event ev = {.action = o->sid == o->p->session_id ? "auth.logout" : "auth.session_revoke",
                         .object_type = "session", .object_id = sid};
    return ih_audit_append(o->id->o.audit, tx, o->who, &ev);
}

ih_err ih_identity_logout(ih_identity *id, const ih_principal *p, const ih_actor *who)
{
    own_arg o = {id, p, who, p->session_id, NULL};
    return ih_store_write(id->o.store, logout_fn, &o);
}

ih_err ih_identity_revoke(ih_identity *id, const ih_principal *p, const ih_actor *who, int64_t session_id)
{
    own_arg o = {id, p, who, session_id, NULL};
    return ih_store_write(id->o.store, logout_fn, &o);
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    own_arg *o = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    int64_t now = ih_now_ms();
    IH_TRY(ih_tx_prepare(tx, "SELECT id, created_at, last_seen, expires_at, ip FROM session WHERE account_id = $1 "
                             "AND revoked_at IS NULL AND expires_at > $2 AND last_seen > $3 ORDER BY id",
                         &st));
    ih_stmt_int(st, 1, o->p->account_id);
    ih_stmt_int(st, 2, now);
    ih_stmt_int(st, 3, now - (int64_t)o->id->o.session_idle_minutes * 60000LL);
    o->out = json_array();
    IH_CHECK_ALLOC(o->out);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        int64_t sid = ih_col_int(st, 0);
        json_array_append_new(o->out, json_pack("{s:I, s:I, s:I, s:I, s:s, s:b}", "id", (json_int_t)sid, "created_at",
                                                (json_int_t)ih_col_int(st, 1), "last_seen",
                                                (json_int_t)ih_col_int(st, 2), "expires_at",
                                                (json_int_t)ih_col_int(st, 3), "ip", ih_col_text(st, 4), "current",
                                                sid == o->p->session_id));
    }
    return e;
}

ih_err ih_identity_sessions(ih_identity *id, const ih_principal *p, json_t **out)
{
    own_arg o = {id, p, NULL, 0, NULL};
    ih_err e = ih_store_read(id->o.store, list_fn, &o);
    if (e == IH_OK) *out = o.out;
    else json_decref(o.out);
    return e;
}

/* Upgrade the current session to two factors (after TOTP enrolment). */
ih_err session_set_factors(ih_identity *id, ih_tx *tx, int64_t sid, int factors)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT token_hash, account_id, created_at, expires_at FROM session WHERE id = $1", &st));
    ih_stmt_int(st, 1, sid);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_fail(IH_E_NOT_FOUND, "session %lld", (long long)sid);
    size_t n;
    uint8_t th[IH_HASH_LEN], mac[IH_MAC_LEN];
    const uint8_t *p = ih_col_blob(st, 0, &n);
    if (!p || n != IH_HASH_LEN) return ih_fail(IH_E_INTEGRITY, "session %lld", (long long)sid);
    memcpy(th, p, IH_HASH_LEN);
    int64_t owner = ih_col_int(st, 1), created = ih_col_int(st, 2), expires = ih_col_int(st, 3);
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(session_mac(id, sid, th, owner, created, expires, factors, mac));
    IH_TRY(ih_tx_prepare(tx, "UPDATE session SET factors = $2, mac = $3 WHERE id = $1", &st));
    ih_stmt_int(st, 1, sid);
    ih_stmt_int(st, 2, factors);
    ih_stmt_blob(st, 3, mac, sizeof mac);
    return ih_stmt_exec(st);
}

/* Integrity scan of session rows (maintenance.c). */
ih_err session_scan(ih_identity *id, ih_tx *tx, int64_t after, int limit, int64_t *last, int *count,
                    void (*bad)(void *ctx, int64_t row), void *ctx)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id, token_hash, account_id, created_at, expires_at, factors, mac FROM session "
                             "WHERE id > $1 ORDER BY id LIMIT $2",
                         &st));
    ih_stmt_int(st, 1, after);
    ih_stmt_int(st, 2, limit);
    *count = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        int64_t sid = ih_col_int(st, 0);
        size_t tn, mn;
        const uint8_t *th = ih_col_blob(st, 1, &tn);
        const uint8_t *mac = ih_col_blob(st, 6, &mn);
        uint8_t want[IH_MAC_LEN];
        (*count)++;
        *last = sid;
        if (!th || tn != IH_HASH_LEN ||
            session_mac(id, sid, th, ih_col_int(st, 2), ih_col_int(st, 3), ih_col_int(st, 4), ih_col_int(st, 5), want) != IH_OK ||
            !mac || mn != IH_MAC_LEN || !ih_ct_equal(mac, want, IH_MAC_LEN))
            bad(ctx, sid);
    }
    return e;
}

typedef struct {
    ih_identity *id;
    int64_t account, sid;
    const ih_actor *who;
    const char *reason;
} end_arg;

static ih_err end_fn(ih_tx *tx, void *arg)
{
    end_arg *a = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE session SET revoked_at = $3, revoke_reason = $4 "
                             "WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
                         &st));
    ih_stmt_int(st, 1, a->sid);
    ih_stmt_int(st, 2, a->account);
    ih_stmt_int(st, 3, ih_now_ms());
    ih_stmt_text(st, 4, a->reason);
    IH_TRY(ih_stmt_exec(st));
    if (ih_stmt_changes(st) != 1) return IH_OK; /* already ended */
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)a->sid);
    ih_audit_event ev = {.action = "auth.session_blocked", .object_type = "session", .object_id = sid,
                         .reason = a->reason};
    return ih_audit_append(a->id->o.audit, tx, a->who, &ev);
}

ih_err ih_identity_end_session(ih_identity *id, int64_t account_id, int64_t session_id, const ih_actor *who,
                               const char *reason)
{
    end_arg a = {id, account_id, session_id, who, reason};
    return ih_store_write(id->o.store, end_fn, &a);
}
