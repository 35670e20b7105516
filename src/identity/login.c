/* login.c — login, password change, second-factor enrolment (see identity.h).
 * L3 8.1.4.1a (policy, history), 8.1.4.1b (lockout, throttling),
 * 8.1.4.1d (two factors, one cryptographic: TOTP over HMAC),
 * 8.1.4.2c (expired and inactive accounts), 8.1.4.4c (admin addresses),
 * 8.1.4.3a (every success and failure is an audit event). */
#include "identity/identity_impl.h"

#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

static const ih_actor system_actor = {.id = 0, .role = "system"};

typedef struct {
    const char *hash;
    const char *pw;
    const ih_pw_params *params;
    bool ok, rehash;
    char new_hash[IH_PW_HASH_MAX];
    ih_err e;
} verify_job;

static void verify_run(void *arg)
{
    verify_job *j = arg;
    j->ok = ih_password_verify(j->hash, j->pw);
    if (j->ok && ih_password_needs_rehash(j->params, j->hash)) {
        j->e = ih_password_hash(j->params, j->pw, j->new_hash);
        j->rehash = j->e == IH_OK;
    }
}

typedef struct {
    ih_identity *id;
    char name[65];
    bool found, integrity_failed;
    account a;
} lookup_arg;

static ih_err lookup_fn(ih_tx *tx, void *arg)
{
    lookup_arg *l = arg;
    ih_err e = acct_load_name(l->id, tx, l->name, &l->a, &l->found);
    if (e == IH_E_INTEGRITY) l->integrity_failed = true;
    return e;
}

typedef struct {
    ih_identity *id;
    const ih_login_req *rq;
    const char *name;
    bool pw_ok;
    const char *rehash;
    int64_t now;
    ih_login_result *out;
    ih_err outcome;
    const char *why;
    int64_t account_id;
    bool integrity_failed;
} login_arg;

static ih_err fail_count(login_arg *l, ih_tx *tx, account *a, const ih_actor *who)
{
    a->failed_count++;
    if (a->failed_count >= l->id->o.lockout_threshold) {
        a->failed_count = 0;
        a->locked_until = l->now + (int64_t)l->id->o.lockout_minutes * 60000LL;
        char oid[24];
        snprintf(oid, sizeof oid, "%lld", (long long)a->id);
        ih_audit_event ev = {.action = "account.lock", .object_type = "account", .object_id = oid,
                             .reason = "too many failed logins"};
        IH_TRY(ih_audit_append(l->id->o.audit, tx, who, &ev));
        /* many of these in a short time are a lockout storm (compliance/incident.h) */
        ih_log(IH_LOG_WARN, "auth.account_locked", "account", oid, NULL);
    }
    return IH_OK;
}

static ih_err login_fn(ih_tx *tx, void *arg)
{
    login_arg *l = arg;
    ih_identity *id = l->id;
    account a;
    bool found = false;
    l->outcome = IH_E_AUTH_FAILED;
    l->why = "unknown user";
    if (l->name) {
        ih_err e = acct_load_name(id, tx, l->name, &a, &found);
        if (e == IH_E_INTEGRITY) {
            l->integrity_failed = true;
            l->outcome = IH_E_INTEGRITY;
            return IH_OK;
        }
        IH_TRY(e);
    }
    ih_actor who = {.id = found ? a.id : 0, .role = found ? ih_role_name(a.role) : "anonymous", .ip = l->rq->ip,
                    .request_id = l->rq->request_id};
    bool dirty = false;
    int factors = 1;
    if (!found) {
        /* nothing to count against */
    } else if (strcmp(a.status, "active")) {
        l->why = !strcmp(a.status, "pending") ? "account pending activation" : "account disabled";
    } else if (a.expires_at && l->now >= a.expires_at) {
        l->why = "account expired";
    } else if (a.role != IH_ROLE_PATIENT && id->o.inactive_days > 0 &&
               l->now - (a.last_login_at ? a.last_login_at : a.created_at) > (int64_t)id->o.inactive_days * 86400000LL) {
        /* L3 8.1.4.2c: surplus accounts are disabled, not left open. */
        snprintf(a.status, sizeof a.status, "disabled");
        snprintf(a.disabled_reason, sizeof a.disabled_reason, "inactive");
        IH_TRY(session_revoke_all(id, tx, a.id, 0, "account disabled", l->now));
        char oid[24];
        snprintf(oid, sizeof oid, "%lld", (long long)a.id);
        ih_audit_event ev = {.action = "account.disable", .object_type = "account", .object_id = oid,
                             .reason = "inactive"};
        IH_TRY(ih_audit_append(id->o.audit, tx, &system_actor, &ev));
        dirty = true;
        l->why = "account disabled (inactive)";
    } else if (a.locked_until > l->now) {
        l->why = "account locked";
    } else if (ih_role_is_admin(a.role) && !id->admin_anywhere && !ih_cidr_match(&id->admin_allow, l->rq->ip ? l->rq->ip : "")) {
        l->why = "administrator login from an address not allowed";
    } else if (!l->pw_ok) {
        l->why = "wrong password";
        IH_TRY(fail_count(l, tx, &a, &who));
        dirty = true;
    } else if (a.totp_len > 0) {
        uint8_t secret[64];
        size_t slen;
        ih_totp_alg alg = IH_TOTP_SHA1;
        ih_totp_alg_parse(a.totp_alg, &alg);
        IH_TRY(totp_open(id, tx, a.id, "totp", a.totp, a.totp_len, secret, sizeof secret, &slen));
        int64_t step;
        ih_err te = ih_totp_check(alg, secret, slen, (int)a.totp_digits, l->rq->totp, l->now / 1000, a.totp_last_step,
                                  &step);
        ih_wipe(secret, sizeof secret);
        if (te != IH_OK) {
            l->why = l->rq->totp && *l->rq->totp ? "wrong second-factor code" : "second-factor code missing";
            IH_TRY(fail_count(l, tx, &a, &who));
            dirty = true;
        } else {
            a.totp_last_step = step;
            factors = 2;
            l->outcome = IH_OK;
        }
    } else {
        l->outcome = IH_OK; /* password only: full for patients, restricted for staff until enrolled */
    }
    if (l->outcome == IH_OK) {
        a.failed_count = 0;
        a.last_login_at = l->now;
        if (l->rehash) memcpy(a.pw_hash, l->rehash, sizeof a.pw_hash);
        dirty = true;
        IH_TRY(session_create(id, tx, &a, factors, l->rq->ip, l->now, l->out));
        l->account_id = a.id;
    }
    if (dirty) IH_TRY(acct_save(id, tx, &a));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a.id);
    ih_actor w = who;
    if (l->outcome == IH_OK) w.session = l->out->p.session_tag;
    ih_audit_event ev = {.action = "auth.login", .object_type = "account", .object_id = found ? oid : NULL,
                         .result = l->outcome, .reason = l->outcome == IH_OK ? (factors == 2 ? "password+totp" : "password") : l->why};
    return ih_audit_append(id->o.audit, tx, &w, &ev);
}

ih_err ih_identity_login(ih_identity *id, const ih_login_req *rq, ih_login_result *out)
{
    int64_t now = ih_now_ms();
    memset(out, 0, sizeof *out);
    if (ih_throttle_blocked(id->throttle, rq->ip, now)) {
        ih_actor who = {.id = 0, .role = "anonymous", .ip = rq->ip, .request_id = rq->request_id};
        ih_audit_event ev = {.action = "auth.login", .object_type = "account", .result = IH_E_RATE_LIMITED,
                             .reason = "too many failures from this address"};
        IH_TRY(ih_audit_record(id->o.audit, &who, &ev));
        return ih_fail(IH_E_RATE_LIMITED, "login throttled for %s", rq->ip ? rq->ip : "?");
    }
    lookup_arg lk = {.id = id};
    bool valid_name = rq->username && username_normalize(rq->username, lk.name) == 0;
    const char *pw = rq->password ? rq->password : "";
    if (strlen(pw) > IH_PW_MAX_LEN) pw = "";
    if (valid_name) {
        ih_err e = ih_store_read(id->o.store, lookup_fn, &lk);
        if (lk.integrity_failed) {
            acct_integrity_alarm(id, "account", lk.a.id, NULL);
            return ih_fail(IH_E_INTEGRITY, "account row fails its integrity check");
        }
        IH_TRY(e);
    }
    /* Always one Argon2id verification: unknown users cost the same. */
    verify_job j = {.hash = lk.found ? lk.a.pw_hash : id->dummy_hash, .pw = pw, .params = &id->o.hash};
    IH_TRY(ih_hashpool_run(id->pool, verify_run, &j));
    login_arg l = {.id = id, .rq = rq, .name = valid_name ? lk.name : NULL, .pw_ok = lk.found && j.ok && *pw,
                   .rehash = j.rehash ? j.new_hash : NULL, .now = now, .out = out};
    ih_err e = ih_store_write(id->o.store, login_fn, &l);
    ih_wipe(&j, sizeof j);
    ih_wipe(&lk, sizeof lk);
    if (l.integrity_failed) acct_integrity_alarm(id, "account", 0, NULL);
    IH_TRY(e);
    if (l.outcome != IH_OK) {
        ih_throttle_failure(id->throttle, rq->ip, now);
        ih_err_clear(); /* the same answer whatever went wrong */
        return ih_fail(l.outcome, "login failed: %s", l.why);
    }
    return IH_OK;
}

/* ---- password change ------------------------------------------------------- */

typedef struct {
    ih_identity *id;
    int64_t account_id;
    char hashes[25][IH_PW_HASH_MAX];
    int nhist;
    account a;
    bool found, integrity_failed;
} hist_arg;

static ih_err hist_fn(ih_tx *tx, void *arg)
{
    hist_arg *h = arg;
    ih_err e = acct_load(h->id, tx, h->account_id, &h->a, &h->found);
    if (e == IH_E_INTEGRITY) h->integrity_failed = true;
    IH_TRY(e);
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT pw_hash FROM password_history WHERE account_id = $1 ORDER BY changed_at DESC LIMIT $2",
                         &st));
    ih_stmt_int(st, 1, h->account_id);
    ih_stmt_int(st, 2, h->id->o.pw.history < 25 ? h->id->o.pw.history : 25);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && h->nhist < 25)
        snprintf(h->hashes[h->nhist++], IH_PW_HASH_MAX, "%s", ih_col_text(st, 0));
    return e;
}

typedef struct {
    hist_arg *h;
    const char *old_pw, *new_pw;
    const ih_pw_params *params;
    bool old_ok, reused;
    char new_hash[IH_PW_HASH_MAX];
    ih_err e;
} change_job;

static void change_run(void *arg)
{
    change_job *j = arg;
    j->old_ok = ih_password_verify(j->h->a.pw_hash, j->old_pw);
    if (!j->old_ok) return;
    for (int i = 0; i < j->h->nhist && !j->reused; i++) j->reused = ih_password_verify(j->h->hashes[i], j->new_pw);
    if (!j->reused) j->e = ih_password_hash(j->params, j->new_pw, j->new_hash);
}

typedef struct {
    ih_identity *id;
    const ih_principal *p;
    const ih_actor *who;
    change_job *j;
    ih_err outcome;
} pwchange_arg;

static ih_err pwchange_fn(ih_tx *tx, void *arg)
{
    pwchange_arg *c = arg;
    account a;
    bool found;
    IH_TRY(acct_load(c->id, tx, c->p->account_id, &a, &found));
    if (!found) return ih_fail(IH_E_NOT_FOUND, "account");
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a.id);
    int64_t now = ih_now_ms();
    if (!c->j->old_ok) {
        login_arg l = {.id = c->id, .now = now};
        IH_TRY(fail_count(&l, tx, &a, c->who));
        IH_TRY(acct_save(c->id, tx, &a));
        c->outcome = ih_reject(IH_E_AUTH_FAILED, "old_password", "The current password is wrong.");
        ih_audit_event ev = {.action = "auth.password_change", .object_type = "account", .object_id = oid,
                             .result = IH_E_AUTH_FAILED, .reason = "wrong current password"};
        return ih_audit_append(c->id->o.audit, tx, c->who, &ev);
    }
    memcpy(a.pw_hash, c->j->new_hash, sizeof a.pw_hash);
    a.pw_changed_at = now;
    a.must_change = 0;
    a.failed_count = 0;
    IH_TRY(acct_save(c->id, tx, &a));
    IH_TRY(pw_history_add(tx, &a, now));
    /* Other sessions end; this one, which just proved the old password, stays. */
    IH_TRY(session_revoke_all(c->id, tx, a.id, c->p->session_id, "password changed", now));
    c->outcome = IH_OK;
    ih_audit_event ev = {.action = "auth.password_change", .object_type = "account", .object_id = oid};
    return ih_audit_append(c->id->o.audit, tx, c->who, &ev);
}

ih_err ih_identity_change_password(ih_identity *id, const ih_principal *p, const ih_actor *who, const char *old_pw,
                                   const char *new_pw)
{
    IH_TRY(ih_password_check(&id->o.pw, p->username, new_pw, "new_password"));
    if (!strcmp(old_pw, new_pw)) return ih_reject(IH_E_WEAK_PASSWORD, "new_password", "The new password must differ from the current one.");
    hist_arg *h = calloc(1, sizeof *h);
    IH_CHECK_ALLOC(h);
    h->id = id;
    h->account_id = p->account_id;
    ih_err e = ih_store_read(id->o.store, hist_fn, h);
    if (h->integrity_failed) acct_integrity_alarm(id, "account", p->account_id, who);
    /* A minimum age, or the history could be cycled through in a minute;
     * a password the owner must change (one-time, expired) is exempt. */
    int64_t min_age = (int64_t)id->o.pw.min_age_days * 86400000LL;
    if (e == IH_OK && h->found && !h->a.must_change && ih_now_ms() - h->a.pw_changed_at < min_age)
        e = ih_reject(IH_E_STATE, "new_password", "The password was changed less than %d day%s ago; try again later.",
                      id->o.pw.min_age_days, id->o.pw.min_age_days == 1 ? "" : "s");
    change_job j = {.h = h, .old_pw = old_pw, .new_pw = new_pw, .params = &id->o.hash};
    if (e == IH_OK) e = ih_hashpool_run(id->pool, change_run, &j);
    if (e == IH_OK && j.e != IH_OK) e = j.e;
    if (e == IH_OK && j.old_ok && j.reused)
        e = ih_reject(IH_E_WEAK_PASSWORD, "new_password", "The new password must not be one of your last %d.",
                      id->o.pw.history);
    if (e == IH_OK) {
        pwchange_arg c = {id, p, who, &j, IH_OK};
        e = ih_store_write(id->o.store, pwchange_fn, &c);
        if (e == IH_OK) e = c.outcome;
    }
    ih_wipe(h, sizeof *h);
    free(h);
    ih_wipe(&j, sizeof j);
    return e;
}

/* ---- a patient's own reset ------------------------------------------------- */

typedef struct {
    hist_arg *h;
    const char *new_pw;
    const ih_pw_params *params;
    bool reused;
    char *hash;
    ih_err e;
} reset_job;

static void reset_run(void *arg)
{
    reset_job *j = arg;
    j->reused = ih_password_verify(j->h->a.pw_hash, j->new_pw);
    for (int i = 0; i < j->h->nhist && !j->reused; i++) j->reused = ih_password_verify(j->h->hashes[i], j->new_pw);
    if (!j->reused) j->e = ih_password_hash(j->params, j->new_pw, j->hash);
}

ih_err ih_identity_reset_prepare(ih_identity *id, int64_t account_id, const char *new_pw, ih_pw_reset *out)
{
    memset(out, 0, sizeof *out);
    hist_arg *h = calloc(1, sizeof *h);
    IH_CHECK_ALLOC(h);
    h->id = id;
    h->account_id = account_id;
    ih_err e = ih_store_read(id->o.store, hist_fn, h);
    if (h->integrity_failed) acct_integrity_alarm(id, "account", account_id, NULL);
    if (e == IH_OK && (!h->found || h->a.role != IH_ROLE_PATIENT || strcmp(h->a.status, "active")))
        e = ih_reject(IH_E_STATE, NULL, "This account cannot reset its password this way; please contact the hospital.");
    if (e == IH_OK) e = ih_password_check(&id->o.pw, h->a.username, new_pw, "new_password");
    reset_job j = {.h = h, .new_pw = new_pw, .params = &id->o.hash, .hash = out->hash};
    if (e == IH_OK) e = ih_hashpool_run(id->pool, reset_run, &j);
    if (e == IH_OK && j.e != IH_OK) e = j.e;
    if (e == IH_OK && j.reused)
        e = ih_reject(IH_E_WEAK_PASSWORD, "new_password", "The new password must not be the current one or one of your last %d.",
                      id->o.pw.history);
    if (e == IH_OK) out->account_id = account_id;
    ih_wipe(h, sizeof *h);
    free(h);
    if (e != IH_OK) ih_wipe(out, sizeof *out);
    return e;
}

ih_err ih_identity_reset_apply(ih_identity *id, ih_tx *tx, const ih_actor *who, const ih_pw_reset *r)
{
    account a;
    bool found;
    ih_err e = acct_load(id, tx, r->account_id, &a, &found);
    if (e == IH_E_INTEGRITY) acct_integrity_alarm(id, "account", r->account_id, who);
    IH_TRY(e);
    if (!found || a.role != IH_ROLE_PATIENT || strcmp(a.status, "active"))
        return ih_reject(IH_E_STATE, NULL, "This account cannot reset its password this way; please contact the hospital.");
    int64_t now = ih_now_ms();
    memcpy(a.pw_hash, r->hash, sizeof a.pw_hash);
    a.pw_changed_at = now;
    a.must_change = 0;
    a.failed_count = 0;
    a.locked_until = 0;
    IH_TRY(acct_save(id, tx, &a));
    IH_TRY(pw_history_add(tx, &a, now));
    IH_TRY(session_revoke_all(id, tx, a.id, 0, "password reset", now));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a.id);
    ih_audit_event ev = {.action = "auth.password_reset_self", .object_type = "account", .object_id = oid};
    ih_wipe(&a, sizeof a);
    return ih_audit_append(id->o.audit, tx, who, &ev);
}

/* ---- second factor --------------------------------------------------------- */

typedef struct {
    ih_identity *id;
    const ih_principal *p;
    const ih_actor *who;
    char *uri;
    size_t n;
    const char *code;
    /* enrolment: the owner proves it is them, not just their session */
    const char *password;
    bool pw_ok;
    ih_err outcome;
} totp_arg;

/* Re-authentication inside an enrolment: the password, and the current code
 * when a second factor is enrolled.  A failure counts like a failed login;
 * the lock it may set also ends the account's sessions (someone holding a
 * session is guessing).  *ok false with t->outcome set on failure. */
static ih_err reauth(totp_arg *t, ih_tx *tx, account *a, bool *ok)
{
    int64_t now = ih_now_ms();
    const char *field = NULL;
    if (!t->pw_ok) field = "password";
    else if (a->totp_len) {
        uint8_t secret[64];
        size_t slen;
        ih_totp_alg alg = IH_TOTP_SHA1;
        ih_totp_alg_parse(a->totp_alg, &alg);
        IH_TRY(totp_open(t->id, tx, a->id, "totp", a->totp, a->totp_len, secret, sizeof secret, &slen));
        int64_t step;
        ih_err te = ih_totp_check(alg, secret, slen, (int)a->totp_digits, t->code, now / 1000, a->totp_last_step, &step);
        ih_wipe(secret, sizeof secret);
        if (te == IH_OK) a->totp_last_step = step;
        else field = "totp";
    }
    *ok = field == NULL;
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a->id);
    if (*ok) return IH_OK;
    login_arg l = {.id = t->id, .now = now};
    IH_TRY(fail_count(&l, tx, a, t->who));
    if (a->locked_until > now) IH_TRY(session_revoke_all(t->id, tx, a->id, 0, "re-authentication failed", now));
    IH_TRY(acct_save(t->id, tx, a));
    t->outcome = ih_reject(IH_E_AUTH_FAILED, field,
                           a->totp_len ? "Changing the second factor needs your password and a code from your current "
                                         "authenticator."
                                       : "Enrolling a second factor needs your password.");
    ih_audit_event ev = {.action = "auth.totp_enrol_start", .object_type = "account", .object_id = oid,
                         .result = IH_E_AUTH_FAILED, .reason = field};
    return ih_audit_append(t->id->o.audit, tx, t->who, &ev);
}

static ih_err totp_begin_fn(ih_tx *tx, void *arg)
{
    totp_arg *t = arg;
    account a;
    bool found, ok;
    t->outcome = IH_OK;
    IH_TRY(acct_load(t->id, tx, t->p->account_id, &a, &found));
    if (!found) return ih_fail(IH_E_NOT_FOUND, "account");
    IH_TRY(reauth(t, tx, &a, &ok));
    if (!ok) return IH_OK; /* the failure is recorded; the caller answers it */
    ih_totp_alg alg = t->id->o.totp_alg;
    uint8_t secret[32];
    size_t len = ih_totp_secret_len(alg);
    IH_TRY(ih_random(secret, len));
    ih_err e = totp_seal(t->id, a.id, "totp_pending", secret, len, a.pending, &a.pending_len);
    if (e == IH_OK) e = ih_totp_uri(alg, secret, len, 6, t->id->issuer, a.username, t->uri, t->n);
    ih_wipe(secret, sizeof secret);
    IH_TRY(e);
    snprintf(a.pending_alg, sizeof a.pending_alg, "%s", ih_totp_alg_name(alg));
    IH_TRY(acct_save(t->id, tx, &a));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a.id);
    ih_audit_event ev = {.action = "auth.totp_enrol_start", .object_type = "account", .object_id = oid,
                         .reason = a.pending_alg};
    return ih_audit_append(t->id->o.audit, tx, t->who, &ev);
}

typedef struct {
    ih_identity *id;
    int64_t account_id;
    char hash[IH_PW_HASH_MAX];
} pwhash_arg;

static ih_err pwhash_fn(ih_tx *tx, void *arg)
{
    pwhash_arg *h = arg;
    account a;
    bool found;
    IH_TRY(acct_load(h->id, tx, h->account_id, &a, &found));
    if (!found) return ih_fail(IH_E_NOT_FOUND, "account");
    memcpy(h->hash, a.pw_hash, sizeof h->hash);
    ih_wipe(&a, sizeof a);
    return IH_OK;
}

ih_err ih_identity_totp_begin(ih_identity *id, const ih_principal *p, const ih_actor *who, const char *password,
                              const char *code, char *uri, size_t n)
{
    totp_arg t = {id, p, who, uri, n, code, password, false, IH_OK};
    if (password && *password) {
        pwhash_arg h = {.id = id, .account_id = p->account_id};
        ih_err e = ih_store_read(id->o.store, pwhash_fn, &h);
        if (e == IH_E_INTEGRITY) acct_integrity_alarm(id, "account", p->account_id, who);
        IH_TRY(e);
        verify_job j = {.hash = h.hash, .pw = password, .params = &id->o.hash};
        e = ih_hashpool_run(id->pool, verify_run, &j);
        ih_wipe(&h, sizeof h);
        ih_wipe(j.new_hash, sizeof j.new_hash); /* a rehash waits for the next login */
        IH_TRY(e);
        t.pw_ok = j.ok;
    }
    IH_TRY(ih_store_write(id->o.store, totp_begin_fn, &t));
    return t.outcome;
}

static ih_err totp_confirm_fn(ih_tx *tx, void *arg)
{
    totp_arg *t = arg;
    account a;
    bool found;
    IH_TRY(acct_load(t->id, tx, t->p->account_id, &a, &found));
    if (!found) return ih_fail(IH_E_NOT_FOUND, "account");
    if (!a.pending_len) return ih_reject(IH_E_STATE, NULL, "Start enrolment first (POST /api/v1/me/totp).");
    uint8_t secret[64];
    size_t len;
    ih_totp_alg alg = IH_TOTP_SHA1;
    ih_totp_alg_parse(a.pending_alg, &alg);
    IH_TRY(totp_open(t->id, tx, a.id, "totp_pending", a.pending, a.pending_len, secret, sizeof secret, &len));
    int64_t step;
    ih_err e = ih_totp_check(alg, secret, len, 6, t->code, ih_now_ms() / 1000, 0, &step);
    if (e != IH_OK) {
        ih_wipe(secret, sizeof secret);
        return ih_reject(IH_E_INVALID, "code", "The code does not match the new secret; check the device's clock.");
    }
    /* Re-seal under the final column name (the AD binds the column). */
    e = totp_seal(t->id, a.id, "totp", secret, len, a.totp, &a.totp_len);
    ih_wipe(secret, sizeof secret);
    IH_TRY(e);
    snprintf(a.totp_alg, sizeof a.totp_alg, "%s", a.pending_alg);
    a.totp_digits = 6;
    a.totp_last_step = step;
    a.pending_len = 0;
    a.pending_alg[0] = '\0';
    IH_TRY(acct_save(t->id, tx, &a));
    IH_TRY(session_set_factors(t->id, tx, t->p->session_id, 2));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)a.id);
    ih_audit_event ev = {.action = "auth.totp_enrol", .object_type = "account", .object_id = oid, .reason = a.totp_alg};
    return ih_audit_append(t->id->o.audit, tx, t->who, &ev);
}

ih_err ih_identity_totp_confirm(ih_identity *id, const ih_principal *p, const ih_actor *who, const char *code)
{
    totp_arg t = {id, p, who, NULL, 0, code};
    return ih_store_write(id->o.store, totp_confirm_fn, &t);
}
