/* session.c — sessions: create, authenticate, list, revoke (see identity.h).
 * L3 8.1.4.1b (idle timeout, end of session), 8.1.4.10 (server-side logout). */
#include "identity/identity_impl.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "crypto/protect.h"

#include <stdio.h>
#include <string.h>

#define TOUCH_EVERY_MS 30000

static ih_err token_hash(ih_identity *id, const char *token, uint8_t out[IH_HASH_LEN])
{
    return ih_digest(ih_suite_md(ih_keyring_suite(id->o.keys)), token, strlen(token), out);
}

/* A session row as the MAC sees it.  last_seen and revoked_at are covered
 * too: editing the database can neither revive a revoked session nor keep
 * an idle one alive. */
typedef struct {
    int64_t sid, account_id, created, last_seen, expires, factors, revoked_at; /* revoked_at 0: live */
    int64_t rv; /* version; 0: written before versions, not in the MAC */
    uint8_t th[IH_HASH_LEN];
} sess_row;

static ih_err session_mac(ih_identity *id, const sess_row *r, uint8_t mac[IH_MAC_LEN])
{
    ih_canon c = {0};
    ih_canon_blob(&c, r->th, IH_HASH_LEN);
    ih_canon_int(&c, r->account_id);
    ih_canon_int(&c, r->created);
    ih_canon_int(&c, r->expires);
    ih_canon_int(&c, r->factors);
    ih_canon_int(&c, r->last_seen);
    ih_canon_int(&c, r->revoked_at);
    if (r->rv > 0) {
        ih_canon_text(&c, "rv");
        ih_canon_int(&c, r->rv);
    }
    ih_err e = ih_row_mac(id->o.keys, "session", r->sid, &c, mac);
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
    sess_row r = {.sid = sid, .account_id = a->id, .created = now, .last_seen = now, .expires = expires,
                  .factors = factors, .rv = 1};
    memcpy(r.th, th, sizeof r.th);
    IH_TRY(session_mac(id, &r, mac));
    principal_fill(id, a, factors, now, &out->p);
    out->p.session_id = sid;
    ih_b64url_encode(csrf, sizeof csrf, out->p.csrf);
    ih_hex_encode(th, 8, out->p.session_tag, 0);
    out->expires_at = expires;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO session(id, token_hash, account_id, created_at, last_seen, expires_at, csrf, "
                             "factors, ip, rv, mac) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, 1, $9)",
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
    IH_TRY(ih_stmt_exec(st));
    ih_tx_note_row(tx, "session", sid, 1);
    return IH_OK;
}

/* Every reader of session rows selects these, in this order, so that
 * sess_read() can take the row and check its MAC in one place. */
#define SESS_COLS                                                                                         \
    "id, token_hash, account_id, created_at, last_seen, expires_at, factors, revoked_at, rv, mac, "        \
    IH_AUDIT_KNOWN_RV("session")
#define SESS_NCOLS 11

/* The current row of st (selected with SESS_COLS first) into r; *intact:
 * its MAC verifies and it is not older than the journal knows (a revoked
 * session's earlier copy, put back, is not intact). */
static ih_err sess_read(ih_identity *id, ih_stmt *st, sess_row *r, bool *intact)
{
    size_t tn, mn;
    const uint8_t *th = ih_col_blob(st, 1, &tn), *mac = ih_col_blob(st, 9, &mn);
    *r = (sess_row){.sid = ih_col_int(st, 0), .account_id = ih_col_int(st, 2), .created = ih_col_int(st, 3),
                    .last_seen = ih_col_int(st, 4), .expires = ih_col_int(st, 5), .factors = ih_col_int(st, 6),
                    .revoked_at = ih_col_null(st, 7) ? 0 : ih_col_int(st, 7), .rv = ih_col_int(st, 8)};
    *intact = false;
    if (!th || tn != IH_HASH_LEN) return IH_OK;
    memcpy(r->th, th, IH_HASH_LEN);
    uint8_t want[IH_MAC_LEN];
    IH_TRY(session_mac(id, r, want));
    *intact = mac && mn == IH_MAC_LEN && ih_ct_equal(mac, want, IH_MAC_LEN);
    if (!*intact) return IH_OK;
    ih_err e = ih_audit_version_known("session", r->sid, r->rv, ih_col_int(st, 10));
    if (e == IH_E_INTEGRITY) {
        *intact = false;
        ih_err_clear();
        return IH_OK;
    }
    return e;
}

/* Load session sid into r; *found false when there is none. */
static ih_err session_load(ih_identity *id, ih_tx *tx, int64_t sid, sess_row *r, bool *found, bool *intact)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT " SESS_COLS " FROM session WHERE id = $1", &st));
    ih_stmt_int(st, 1, sid);
    IH_TRY(ih_stmt_step(st, found));
    *intact = false;
    if (!*found) return IH_OK;
    IH_TRY(sess_read(id, st, r, intact));
    return ih_stmt_exec(st);
}

/* Write r's state back with a fresh MAC (a row that failed its check is
 * only ever revoked, keeping the MAC that shows it was tampered with). */
static ih_err session_store(ih_identity *id, ih_tx *tx, sess_row *r, const char *reason, bool intact)
{
    uint8_t mac[IH_MAC_LEN];
    ih_stmt *st;
    authcache_forget(id->cache, "session", r->sid);
    if (intact) {
        r->rv++;
        IH_TRY(session_mac(id, r, mac));
        IH_TRY(ih_tx_prepare(tx, "UPDATE session SET last_seen = $2, factors = $3, revoked_at = $4, "
                                 "revoke_reason = COALESCE($5, revoke_reason), rv = $7, mac = $6 WHERE id = $1",
                             &st));
        ih_stmt_blob(st, 6, mac, sizeof mac);
        ih_stmt_int(st, 7, r->rv);
        ih_tx_note_row(tx, "session", r->sid, r->rv);
    } else {
        IH_TRY(ih_tx_prepare(tx, "UPDATE session SET last_seen = $2, factors = $3, revoked_at = $4, "
                                 "revoke_reason = COALESCE($5, revoke_reason) WHERE id = $1",
                             &st));
    }
    ih_stmt_int(st, 1, r->sid);
    ih_stmt_int(st, 2, r->last_seen);
    ih_stmt_int(st, 3, r->factors);
    if (r->revoked_at) ih_stmt_int(st, 4, r->revoked_at);
    else ih_stmt_null(st, 4);
    if (reason) ih_stmt_text(st, 5, reason);
    else ih_stmt_null(st, 5);
    return ih_stmt_exec(st);
}

/* Revoke session sid (of account `owner`, when owner > 0) at now; *done false
 * when there is no such live session. */
static ih_err session_revoke(ih_identity *id, ih_tx *tx, int64_t sid, int64_t owner, const char *reason, int64_t now,
                             bool *done)
{
    sess_row r;
    bool found, intact;
    *done = false;
    IH_TRY(session_load(id, tx, sid, &r, &found, &intact));
    if (!found || r.revoked_at || (owner > 0 && r.account_id != owner)) return IH_OK;
    r.revoked_at = now;
    *done = true;
    return session_store(id, tx, &r, reason, intact);
}

ih_err ih_identity_end_sessions_tx(ih_identity *id, ih_tx *tx, int64_t account_id, const char *reason)
{
    return session_revoke_all(id, tx, account_id, 0, reason, ih_now_ms());
}

ih_err session_revoke_all(ih_identity *id, ih_tx *tx, int64_t account_id, int64_t except_session, const char *reason,
                          int64_t now)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM session WHERE account_id = $1 AND id <> $2 AND revoked_at IS NULL "
                             "ORDER BY id",
                         &st));
    ih_stmt_int(st, 1, account_id);
    ih_stmt_int(st, 2, except_session);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        if (n == cap) {
            size_t c = cap ? cap * 2 : 16;
            int64_t *p = realloc(ids, c * sizeof *p);
            if (!p) {
                e = ih_fail(IH_E_NOMEM, "sessions");
                ih_stmt_exec(st);
                break;
            }
            ids = p;
            cap = c;
        }
        ids[n++] = ih_col_int(st, 0);
    }
    bool done;
    for (size_t i = 0; e == IH_OK && i < n; i++) e = session_revoke(id, tx, ids[i], account_id, reason, now, &done);
    free(ids);
    return e;
}

typedef struct {
    ih_identity *id;
    uint8_t th[IH_HASH_LEN];
    int64_t now;
    ih_principal *p;
    bool passive; /* an event stream's check: not the user's activity */
    bool touch, idle_expired, integrity_failed;
    int64_t bad_table_row;
    const char *bad_table;
    auth_seen seen; /* what a successful check verified */
    ih_err result;
} auth_arg;

/* The session and its account in one statement (ih_store_read_one: on
 * PostgreSQL one round trip, no transaction around it). */
#define AUTH_SQL                                                                                          \
    "SELECT s.*, a.* FROM (SELECT " SESS_COLS ", csrf FROM session WHERE token_hash = $1) s "            \
    "LEFT JOIN (SELECT " ACCOUNT_SELECT " FROM account) a ON a.id = s.account_id"
#define AUTH_ACCOUNT_COL (SESS_NCOLS + 1)

/* The principal of a verified, live session of an active account: the same
 * for a session just read and for one kept (authcache.h). */
static void seen_principal(ih_identity *id, const auth_seen *v, int64_t now, bool passive, ih_principal *p)
{
    account acc = {.id = v->account_id, .role = v->role, .must_change = v->must_change,
                   .pw_changed_at = v->pw_changed_at, .totp_len = v->totp_enrolled};
    snprintf(acc.username, sizeof acc.username, "%s", v->username);
    principal_fill(id, &acc, (int)v->factors, now, p);
    p->session_id = v->sid;
    memcpy(p->csrf, v->csrf, sizeof p->csrf);
    ih_hex_encode(v->th, 8, p->session_tag, 0);
    int64_t idle_end = (passive ? v->last_seen : now) + (int64_t)id->o.session_idle_minutes * 60000LL;
    p->ends_at = idle_end < v->expires ? idle_end : v->expires;
}

static ih_err auth_fn(ih_tx *tx, void *arg)
{
    auth_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, AUTH_SQL, &st));
    ih_stmt_blob(st, 1, a->th, sizeof a->th);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return a->result = ih_fail(IH_E_UNAUTHENTICATED, "no such session"), IH_OK;
    sess_row r;
    bool intact;
    IH_TRY(sess_read(a->id, st, &r, &intact));
    int64_t sid = r.sid, account_id = r.account_id, last_seen = r.last_seen, expires = r.expires;
    a->p->session_id = sid;
    a->p->account_id = account_id;
    bool revoked = r.revoked_at != 0;
    if (!intact) {
        a->integrity_failed = true;
        a->bad_table = "session";
        a->bad_table_row = sid;
        return a->result = ih_fail(IH_E_INTEGRITY, "session %lld fails its integrity check", (long long)sid), IH_OK;
    }
    if (revoked) return a->result = ih_fail(IH_E_UNAUTHENTICATED, "session revoked"), IH_OK;
    if (a->now >= expires) return a->result = ih_fail(IH_E_SESSION_EXPIRED, "session past its lifetime"), IH_OK;
    if (a->now - last_seen > (int64_t)a->id->o.session_idle_minutes * 60000LL) {
        a->idle_expired = true;
        return a->result = ih_fail(IH_E_SESSION_EXPIRED, "session idle too long"), IH_OK;
    }
    account acc;
    bool found = !ih_col_null(st, AUTH_ACCOUNT_COL);
    ih_err e = found ? acct_from_row(a->id, st, AUTH_ACCOUNT_COL, &acc) : IH_OK;
    if (e == IH_E_INTEGRITY) {
        a->integrity_failed = true;
        a->bad_table = "account";
        a->bad_table_row = account_id;
        return a->result = e, IH_OK;
    }
    IH_TRY(e);
    auth_seen *v = &a->seen;
    *v = (auth_seen){.sid = sid, .account_id = account_id, .expires = expires, .last_seen = last_seen,
                     .factors = r.factors};
    memcpy(v->th, a->th, sizeof v->th);
    snprintf(v->csrf, sizeof v->csrf, "%s", ih_col_text(st, SESS_NCOLS));
    IH_TRY(ih_stmt_exec(st));
    if (!found || strcmp(acc.status, "active")) {
        ih_wipe(&acc, sizeof acc);
        return a->result = ih_fail(IH_E_UNAUTHENTICATED, "account no longer active"), IH_OK;
    }
    if (acc.expires_at && a->now >= acc.expires_at) {
        ih_wipe(&acc, sizeof acc);
        return a->result = ih_fail(IH_E_UNAUTHENTICATED, "account expired"), IH_OK;
    }
    v->role = acc.role;
    snprintf(v->username, sizeof v->username, "%s", acc.username);
    v->must_change = acc.must_change;
    v->pw_changed_at = acc.pw_changed_at;
    v->account_expires = acc.expires_at;
    v->totp_enrolled = acc.totp_len > 0;
    ih_wipe(&acc, sizeof acc);
    seen_principal(a->id, v, a->now, a->passive, a->p);
    a->touch = !a->passive && a->now - last_seen > TOUCH_EVERY_MS;
    a->result = IH_OK;
    return IH_OK;
}

/* A kept copy answers when every rule that depends on the time still lets
 * it through and nothing needs writing (the idle clock's touch); otherwise
 * the session is read, and the read decides. */
static bool auth_kept(ih_identity *id, const uint8_t th[IH_HASH_LEN], int64_t now, bool passive, ih_principal *out)
{
    auth_seen v;
    if (!authcache_get(id->cache, th, &v)) return false;
    bool usable = now < v.expires && now - v.last_seen <= (int64_t)id->o.session_idle_minutes * 60000LL &&
                  !(v.account_expires && now >= v.account_expires) &&
                  (passive || now - v.last_seen <= TOUCH_EVERY_MS);
    if (usable) seen_principal(id, &v, now, passive, out);
    ih_wipe(&v, sizeof v);
    return usable;
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
    if (t->reason) {
        bool done;
        IH_TRY(session_revoke(t->id, tx, t->sid, 0, t->reason, t->now, &done));
        if (!done) return IH_OK;
        char sid[24];
        snprintf(sid, sizeof sid, "%lld", (long long)t->sid);
        ih_audit_event ev = {.action = "auth.session_expired", .object_type = "session", .object_id = sid,
                             .reason = t->reason};
        return ih_audit_append(t->id->o.audit, tx, t->who, &ev);
    }
    sess_row r;
    bool found, intact;
    IH_TRY(session_load(t->id, tx, t->sid, &r, &found, &intact));
    if (!found || r.revoked_at) return IH_OK;
    if (!intact) return ih_fail(IH_E_INTEGRITY, "session %lld fails its integrity check", (long long)t->sid);
    /* Every request that read the session before the first touch of the
     * period committed asks for one: the first is enough (the others would
     * queue on the row, and in one group commit update it from one savepoint
     * after another). */
    if (t->now - r.last_seen <= TOUCH_EVERY_MS) return IH_OK;
    r.last_seen = t->now;
    return session_store(t->id, tx, &r, NULL, true);
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

static ih_err authenticate(ih_identity *id, const char *token, bool via_cookie, bool passive, const char *ip,
                           ih_principal *out)
{
    if (!token || !token_shape(token)) return ih_fail(IH_E_UNAUTHENTICATED, "malformed token");
    auth_arg a = {.id = id, .now = ih_now_ms(), .p = out, .passive = passive};
    IH_TRY(token_hash(id, token, a.th));
    if (auth_kept(id, a.th, a.now, passive, out)) {
        atomic_fetch_add(&id->kept_answers, 1);
        out->via_cookie = via_cookie;
        return IH_OK;
    }
    uint64_t epoch = authcache_epoch(id->cache);
    ih_err e = ih_store_read_one(id->o.store, auth_fn, &a);
    if (e == IH_OK && a.result == IH_OK && !a.touch) authcache_put(id->cache, epoch, &a.seen);
    ih_wipe(&a.seen, sizeof a.seen);
    IH_TRY(e);
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

ih_err ih_identity_authenticate(ih_identity *id, const char *token, bool via_cookie, const char *ip, ih_principal *out)
{
    return authenticate(id, token, via_cookie, false, ip, out);
}

ih_err ih_identity_authenticate_passive(ih_identity *id, const char *token, bool via_cookie, const char *ip,
                                        ih_principal *out)
{
    return authenticate(id, token, via_cookie, true, ip, out);
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
    bool done;
    IH_TRY(session_revoke(o->id, tx, o->sid, o->p->account_id, o->sid == o->p->session_id ? "logout" : "revoked by owner",
                          ih_now_ms(), &done));
    if (!done) return ih_reject(IH_E_NOT_FOUND, NULL, "No such active session of yours.");
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
        json_array_append_new(o->out, json_pack("{s:I, s:o, s:o, s:o, s:s, s:b}", "id", (json_int_t)sid, "created_at",
                                                ih_json_time(ih_col_int(st, 1)), "last_seen_at",
                                                ih_json_time(ih_col_int(st, 2)), "expires_at",
                                                ih_json_time(ih_col_int(st, 3)), "ip", ih_col_text(st, 4), "current",
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
    sess_row r;
    bool found, intact;
    IH_TRY(session_load(id, tx, sid, &r, &found, &intact));
    if (!found) return ih_fail(IH_E_NOT_FOUND, "session %lld", (long long)sid);
    if (!intact) return ih_fail(IH_E_INTEGRITY, "session %lld fails its integrity check", (long long)sid);
    r.factors = factors;
    return session_store(id, tx, &r, NULL, true);
}

/* Integrity scan of session rows (maintenance.c). */
ih_err session_scan(ih_identity *id, ih_tx *tx, int64_t after, int limit, int64_t *last, int *count,
                    void (*bad)(void *ctx, int64_t row), void *ctx)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT " SESS_COLS " FROM session WHERE id > $1 ORDER BY id LIMIT $2", &st));
    ih_stmt_int(st, 1, after);
    ih_stmt_int(st, 2, limit);
    *count = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        sess_row r;
        bool intact;
        if ((e = sess_read(id, st, &r, &intact)) != IH_OK) {
            ih_stmt_exec(st);
            break;
        }
        (*count)++;
        *last = r.sid;
        if (!intact) bad(ctx, r.sid);
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
    bool done;
    IH_TRY(session_revoke(a->id, tx, a->sid, a->account, a->reason, ih_now_ms(), &done));
    if (!done) return IH_OK; /* already ended */
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
