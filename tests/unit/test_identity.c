/* test_identity.c — authentication rules with an injected clock, on SQLite
 * and PostgreSQL.  Each test names the Level 3 rule it shows. */
#include "support.h"

#include "app/instance.h"
#include "core/clock.h"
#include "core/log.h"
#include "identity/identity_impl.h"
#include "keys/keys.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t fake_now;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

typedef struct {
    t_base b;
    ih_identity *id;
    ih_identity_opts o;
    bool kept; /* ih_identity_start: verified sessions kept (PostgreSQL) */
} fx;

/* Until the watch behind the kept sessions is live (or not), at most 10 s. */
static void wait_live(ih_identity *id, bool live)
{
    for (int i = 0; i < 1000 && authcache_live(id->cache) != live; i++) usleep(10000);
    assert_int_equal(authcache_live(id->cache), live);
}

static int setup(void **state, ih_store_kind kind, bool kept)
{
    fx *f = calloc(1, sizeof *f);
    fake_now = INT64_C(1790000000000);
    ih_clock_set(fake_clock, NULL);
    t_base_open(&f->b, kind, IH_SUITE_INTL, NULL, 0);
    f->o = t_identity_opts(&f->b);
    T_OK(ih_identity_new(&f->o, &f->id));
    f->kept = kept;
    if (kept) {
        T_OK(ih_identity_start(f->id));
        wait_live(f->id, true);
    }
    *state = f;
    return 0;
}

static int setup_sqlite(void **s) { return setup(s, IH_STORE_SQLITE, false); }
static int setup_pg(void **s) { return setup(s, IH_STORE_PG, false); }
static int setup_pg_kept(void **s) { return setup(s, IH_STORE_PG, true); }

static int teardown(void **state)
{
    fx *f = *state;
    ih_identity_free(f->id);
    t_base_close(&f->b);
    free(f);
    ih_clock_set(NULL, NULL);
    return 0;
}

static const ih_actor console = {.id = 0, .role = "console"};
static const uint8_t SECRET[20] = "12345678901234567890";

/* An active account with a known password, optionally enrolled in TOTP. */
static int64_t make(fx *f, const char *name, ih_role role, const char *pw, bool totp)
{
    ih_account_new n = {.username = name, .role = role, .active = true, .password = pw,
                        .totp_secret = totp ? SECRET : NULL, .totp_secret_len = totp ? sizeof SECRET : 0};
    int64_t id;
    T_OK(ih_identity_create(f->id, &console, &n, NULL, &id));
    return id;
}

static void code_now(char out[9])
{
    T_OK(ih_hotp(IH_TOTP_SHA1, SECRET, sizeof SECRET, (uint64_t)(fake_now / 1000 / 30), 6, out));
}

static ih_err login(fx *f, const char *user, const char *pw, const char *totp, const char *ip, ih_login_result *r)
{
    ih_login_req rq = {.username = user, .password = pw, .totp = totp, .ip = ip ? ip : "127.0.0.1", .request_id = "t"};
    ih_err_clear();
    return ih_identity_login(f->id, &rq, r);
}

static int64_t count_events(fx *f, const char *action, const char *outcome)
{
    ih_audit_filter q = {.actor_id = -1, .action = action, .outcome = outcome, .after_seq = -1, .limit = 10000};
    json_t *ev;
    T_OK(ih_audit_query(f->b.s, &q, &ev, NULL));
    int64_t n = (int64_t)json_array_size(ev);
    json_decref(ev);
    return n;
}

/* ---- pure rules ------------------------------------------------------------ */

static void t_password_policy(void **state)
{
    (void)state;
    ih_pw_policy p = {8, 3, 5, 90};
    struct {
        const char *user, *pw, *want;
    } cases[] = {
        {"dr.wang", "Kx7#mPq2", NULL},
        {"dr.wang", "Kx7#mP", "at least 8"},
        {"dr.wang", "kx7mpqwz", "mix at least 3"},
        {"dr.wang", "Dr.Wang-77x", "username"},
        {"dr.wang", "Zz1234!xk", "sequential"},
        {"dr.wang", "Zz9876!xk", "sequential"},
        {"dr.wang", "Aaaa!7xkQ", "repeated"},
        {"dr.wang", "Qwer!7xkP", "keyboard"},
        {"dr.wang", "Password1!", "too common"},
        {"dr.wang", "Woaini1314", "too common"},
        {"dr.wang", "Iloveyou#77", "too common"},
        /* 15. keyboard walks down a column, a place or a company with digits
         * and symbols, substitutions undone, code points repeated, a piece
         * repeated */
        {"dr.wang", "1qaz@WSX", "keyboard"},
        {"dr.wang", "Zaq1#mKx7", "keyboard"},
        {"dr.wang", "Huawei@123", "too common"},
        {"dr.wang", "Tianjin2026!", "too common"},
        {"dr.wang", "Tian-jin-71", "too common"},
        {"dr.wang", "2026Beijing#", "too common"},
        {"dr.wang", "P@ssw0rd2026", "too common"},
        {"dr.wang", "Aa1\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "repeated"},
        {"dr.wang", "Ab1!Ab1!", "repeated"},
        {"dr.wang", "Huang-Mei-Lin-71", NULL},
        {"dr.wang", "\xe5\x8c\xbb\xe9\x99\xa2Kx7#mPq", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ih_err_clear();
        ih_err e = ih_password_check(&p, cases[i].user, cases[i].pw, "password");
        if (!cases[i].want) {
            if (e != IH_OK) fail_msg("'%s' refused: %s", cases[i].pw, ih_err_public());
        } else {
            if (e != IH_E_WEAK_PASSWORD) fail_msg("'%s' accepted, expected '%s'", cases[i].pw, cases[i].want);
            if (!strstr(ih_err_public(), cases[i].want))
                fail_msg("'%s': message '%s' lacks '%s'", cases[i].pw, ih_err_public(), cases[i].want);
        }
    }
    char gen[20];
    for (int i = 0; i < 50; i++) {
        T_OK(ih_password_generate(gen, 16));
        ih_pw_policy strict = {12, 4, 5, 90};
        T_OK(ih_password_check(&strict, "someone", gen, "password"));
    }
}

static void t_totp_vectors(void **state)
{
    (void)state;
    /* RFC 6238 appendix B (8 digits) for SHA-1 and SHA-256; SM3 vectors were
     * computed independently with Python's hmac and the openssl CLI. */
    static const int64_t times[] = {59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000};
    static const char *sha1[] = {"94287082", "07081804", "14050471", "89005924", "69279037", "65353130"};
    static const char *sha256[] = {"46119246", "68084774", "67062674", "91819424", "90698825", "77737706"};
    static const char *sm3[] = {"70252643", "03087309", "68947295", "39678463", "78318009", "53139997"};
    const uint8_t *k20 = (const uint8_t *)"12345678901234567890";
    const uint8_t *k32 = (const uint8_t *)"12345678901234567890123456789012";
    for (int i = 0; i < 6; i++) {
        char c[9];
        uint64_t t = (uint64_t)(times[i] / 30);
        T_OK(ih_hotp(IH_TOTP_SHA1, k20, 20, t, 8, c));
        assert_string_equal(c, sha1[i]);
        T_OK(ih_hotp(IH_TOTP_SHA256, k32, 32, t, 8, c));
        assert_string_equal(c, sha256[i]);
        T_OK(ih_hotp(IH_TOTP_SM3, k32, 32, t, 8, c));
        assert_string_equal(c, sm3[i]);
    }
    /* Window of one step each side; replay refused. */
    char c[9];
    int64_t step, now = 1234567890;
    T_OK(ih_hotp(IH_TOTP_SHA1, k20, 20, (uint64_t)(now / 30 - 1), 6, c));
    T_OK(ih_totp_check(IH_TOTP_SHA1, k20, 20, 6, c, now, 0, &step));
    assert_int_equal(step, now / 30 - 1);
    assert_int_equal(ih_totp_check(IH_TOTP_SHA1, k20, 20, 6, c, now, step, &step), IH_E_AUTH_FAILED);
    T_OK(ih_hotp(IH_TOTP_SHA1, k20, 20, (uint64_t)(now / 30 - 2), 6, c));
    assert_int_equal(ih_totp_check(IH_TOTP_SHA1, k20, 20, 6, c, now, 0, &step), IH_E_AUTH_FAILED);
    /* base32 and the URI */
    char b32[64], uri[256];
    uint8_t back[32];
    ih_base32_encode(k20, 20, b32, sizeof b32);
    assert_string_equal(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_int_equal(ih_base32_decode("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", back, sizeof back), 20);
    assert_memory_equal(back, k20, 20);
    T_OK(ih_totp_uri(IH_TOTP_SM3, k20, 20, 6, "ihos demo", "dr.wang", uri, sizeof uri));
    assert_string_equal(uri, "otpauth://totp/ihos%20demo:dr.wang?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer="
                             "ihos%20demo&algorithm=SM3&digits=6&period=30");
}

/* ---- login, sessions ------------------------------------------------------- */

static void t_first_login_is_restricted_until_setup(void **state)
{
    fx *f = *state;
    ih_account_new n = {.username = "dr.li", .role = IH_ROLE_DOCTOR, .active = true, .must_change = true};
    char otp[32];
    int64_t aid;
    T_OK(ih_identity_create(f->id, &console, &n, otp, &aid));
    ih_login_result r;
    T_OK(login(f, "dr.li", otp, NULL, NULL, &r));
    assert_true(r.p.restricted && r.p.must_change_password && r.p.must_enrol_totp);
    ih_actor who = {.id = aid, .role = "doctor"};
    T_OK(ih_identity_change_password(f->id, &r.p, &who, otp, "Fresh-Start-71x"));
    ih_principal p;
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    assert_false(p.must_change_password);
    assert_true(p.restricted && p.must_enrol_totp);
    char uri[300];
    /* enrolling needs the password even in the first-login session */
    assert_int_equal(ih_identity_totp_begin(f->id, &p, &who, NULL, NULL, uri, sizeof uri), IH_E_AUTH_FAILED);
    T_OK(ih_identity_totp_begin(f->id, &p, &who, "Fresh-Start-71x", NULL, uri, sizeof uri));
    char *s = strstr(uri, "secret=");
    assert_non_null(s);
    char b32[64];
    size_t len = strcspn(s + 7, "&");
    memcpy(b32, s + 7, len);
    b32[len] = '\0';
    uint8_t sec[32];
    long sl = ih_base32_decode(b32, sec, sizeof sec);
    assert_int_equal(sl, 20);
    char code[9];
    T_OK(ih_hotp(IH_TOTP_SHA1, sec, (size_t)sl, (uint64_t)(fake_now / 30000), 6, code));
    assert_int_equal(ih_identity_totp_confirm(f->id, &p, &who, "000000"), IH_E_INVALID);
    T_OK(ih_identity_totp_confirm(f->id, &p, &who, code));
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    assert_false(p.restricted);
    /* The next login needs both factors. */
    fake_now += 60000;
    assert_int_equal(login(f, "dr.li", "Fresh-Start-71x", NULL, NULL, &r), IH_E_AUTH_FAILED);
    T_OK(ih_hotp(IH_TOTP_SHA1, sec, (size_t)sl, (uint64_t)(fake_now / 30000), 6, code));
    T_OK(login(f, "dr.li", "Fresh-Start-71x", code, NULL, &r));
    assert_false(r.p.restricted);

    /* 8. A session alone cannot replace the second factor: the password and a
     * current code are asked, and guessing counts towards the lock. */
    fake_now += 60000;
    assert_int_equal(ih_identity_totp_begin(f->id, &r.p, &who, NULL, NULL, uri, sizeof uri), IH_E_AUTH_FAILED);
    assert_string_equal(ih_err_field(), "password");
    assert_int_equal(ih_identity_totp_begin(f->id, &r.p, &who, "Fresh-Start-71x", NULL, uri, sizeof uri),
                     IH_E_AUTH_FAILED);
    assert_string_equal(ih_err_field(), "totp");
    assert_int_equal(ih_identity_totp_begin(f->id, &r.p, &who, "Fresh-Start-71x", "123456", uri, sizeof uri),
                     IH_E_AUTH_FAILED);
    T_OK(ih_hotp(IH_TOTP_SHA1, sec, (size_t)sl, (uint64_t)(fake_now / 30000), 6, code));
    T_OK(ih_identity_totp_begin(f->id, &r.p, &who, "Fresh-Start-71x", code, uri, sizeof uri));
    /* two more wrong passwords make five failures: locked, and the session ends */
    assert_int_equal(ih_identity_totp_begin(f->id, &r.p, &who, "guess-1", NULL, uri, sizeof uri), IH_E_AUTH_FAILED);
    assert_int_equal(ih_identity_totp_begin(f->id, &r.p, &who, "guess-2", NULL, uri, sizeof uri), IH_E_AUTH_FAILED);
    assert_int_not_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p), IH_OK);
}

static void t_same_answer_for_every_failure(void **state)
{
    fx *f = *state;
    make(f, "nurse.zhao", IH_ROLE_NURSE, "Ward-Four-39x", true);
    make(f, "locked.one", IH_ROLE_NURSE, "Ward-Four-39x", true);
    ih_login_result r;
    char code[9];
    for (int i = 0; i < 5; i++) login(f, "locked.one", "bad-Pass-00", NULL, NULL, &r);
    code_now(code);
    struct {
        const char *user, *pw, *code;
    } kinds[] = {{"no.such.user", "Ward-Four-39x", code},
                 {"nurse.zhao", "Wrong-Pass-11", code},
                 {"nurse.zhao", "Ward-Four-39x", "123456"},
                 {"locked.one", "Ward-Four-39x", code}};
    for (int i = 0; i < 4; i++) {
        ih_err e = login(f, kinds[i].user, kinds[i].pw, kinds[i].code, NULL, &r);
        assert_int_equal(e, IH_E_AUTH_FAILED);
        assert_string_equal(ih_err_public(), ""); /* nothing tells them apart */
        assert_string_equal(ih_err_field(), "");
    }
    assert_true(count_events(f, "auth.login", "failure") >= 9);
}

static void t_lockout_at_exactly_five(void **state)
{
    fx *f = *state;
    int64_t aid = make(f, "ph.qian", IH_ROLE_PHARMACIST, "Dispense-55x", true);
    ih_login_result r;
    char code[9];
    for (int i = 0; i < 4; i++) assert_int_equal(login(f, "ph.qian", "nope-Nope-1", NULL, NULL, &r), IH_E_AUTH_FAILED);
    code_now(code);
    T_OK(login(f, "ph.qian", "Dispense-55x", code, NULL, &r)); /* 4 failures: still open, and reset */
    for (int i = 0; i < 5; i++) assert_int_equal(login(f, "ph.qian", "nope-Nope-1", NULL, NULL, &r), IH_E_AUTH_FAILED);
    fake_now += 31000;
    code_now(code);
    assert_int_equal(login(f, "ph.qian", "Dispense-55x", code, NULL, &r), IH_E_AUTH_FAILED); /* locked */
    assert_int_equal(count_events(f, "account.lock", NULL), 1);
    fake_now += 29 * 60000;
    code_now(code);
    assert_int_equal(login(f, "ph.qian", "Dispense-55x", code, NULL, &r), IH_E_AUTH_FAILED);
    fake_now += 2 * 60000; /* 31 minutes after locking */
    code_now(code);
    T_OK(login(f, "ph.qian", "Dispense-55x", code, NULL, &r));
    /* An unlock by the security administrator opens it at once. */
    for (int i = 0; i < 5; i++) login(f, "ph.qian", "nope-Nope-1", NULL, NULL, &r);
    ih_actor sec = {.id = 999, .role = "secadmin"};
    T_OK(ih_identity_unlock(f->id, &sec, aid));
    fake_now += 31000;
    code_now(code);
    T_OK(login(f, "ph.qian", "Dispense-55x", code, NULL, &r));
    assert_int_equal(count_events(f, "account.unlock", NULL), 1);
}

static void t_code_used_once(void **state)
{
    fx *f = *state;
    make(f, "dr.sun", IH_ROLE_DOCTOR, "Clinic-Hours-8", true);
    ih_login_result r;
    char code[9];
    code_now(code);
    T_OK(login(f, "dr.sun", "Clinic-Hours-8", code, NULL, &r));
    assert_int_equal(login(f, "dr.sun", "Clinic-Hours-8", code, NULL, &r), IH_E_AUTH_FAILED);
}

static void t_idle_and_absolute_timeouts(void **state)
{
    fx *f = *state;
    make(f, "dr.zhou", IH_ROLE_DOCTOR, "Rounds-At-7am", true);
    ih_login_result r;
    ih_principal p;
    char code[9];
    code_now(code);
    T_OK(login(f, "dr.zhou", "Rounds-At-7am", code, NULL, &r));
    fake_now += 14 * 60000;
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p)); /* touches */
    fake_now += 14 * 60000;
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    fake_now += 15 * 60000 + 1000;
    assert_int_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p), IH_E_SESSION_EXPIRED);
    /* ...and stays dead. */
    assert_int_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p), IH_E_UNAUTHENTICATED);
    assert_int_equal(count_events(f, "auth.session_expired", NULL), 1);
    /* Absolute lifetime: active every 10 minutes, gone after 12 hours. */
    fake_now += 60000;
    code_now(code);
    T_OK(login(f, "dr.zhou", "Rounds-At-7am", code, NULL, &r));
    int64_t start = fake_now;
    while (fake_now - start < 12 * 3600000LL - 10 * 60000) {
        fake_now += 10 * 60000;
        T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    }
    fake_now = start + 12 * 3600000LL;
    assert_int_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p), IH_E_SESSION_EXPIRED);
}

/* An open event stream re-checks its session passively: that is not the
 * user's activity, so it never keeps an idle session alive, and it learns
 * when the session will end. */
static void t_passive_check_is_not_activity(void **state)
{
    fx *f = *state;
    make(f, "dr.tang", IH_ROLE_DOCTOR, "Ward-Round-Nine", true);
    ih_login_result r;
    ih_principal p;
    char code[9];
    code_now(code);
    T_OK(login(f, "dr.tang", "Ward-Round-Nine", code, NULL, &r));
    int64_t t0 = fake_now;
    for (int i = 0; i < 14; i++) {
        fake_now += 60000;
        T_OK(ih_identity_authenticate_passive(f->id, r.token, false, "127.0.0.1", &p));
        assert_int_equal(p.ends_at, t0 + 15 * 60000);
    }
    fake_now = t0 + 15 * 60000 + 1000;
    assert_int_equal(ih_identity_authenticate_passive(f->id, r.token, false, "127.0.0.1", &p), IH_E_SESSION_EXPIRED);
    assert_int_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p), IH_E_UNAUTHENTICATED);
    /* an active check moves the end */
    code_now(code);
    T_OK(login(f, "dr.tang", "Ward-Round-Nine", code, NULL, &r));
    fake_now += 10 * 60000;
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    assert_int_equal(p.ends_at, fake_now + 15 * 60000);
}

typedef struct {
    int64_t sid, rv, last_seen;
} sess_seen;

static ih_err sess_seen_fn(ih_tx *tx, void *arg)
{
    sess_seen *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT rv, last_seen FROM session WHERE id = $1", &st));
    ih_stmt_int(st, 1, a->sid);
    IH_TRY(ih_stmt_step(st, &row));
    assert_true(row);
    a->rv = ih_col_int(st, 0);
    a->last_seen = ih_col_int(st, 1);
    return ih_stmt_exec(st);
}

typedef struct {
    fx *f;
    const char *token;
    _Atomic int *go;
    ih_err e;
} touch_req;

static void *touch_thread(void *arg)
{
    touch_req *q = arg;
    while (!atomic_load(q->go)) {
    }
    ih_principal p;
    q->e = ih_identity_authenticate(q->f->id, q->token, false, "127.0.0.1", &p);
    return NULL;
}

/* Requests that all find the session's last activity older than the touch
 * period ask for one touch each; the first is enough: the session row is
 * written once (one version more), not once per request. */
static void t_concurrent_requests_touch_once(void **state)
{
    fx *f = *state;
    make(f, "dr.xu", IH_ROLE_DOCTOR, "Night-Shift-Four", true);
    ih_login_result r;
    ih_principal p;
    char code[9];
    code_now(code);
    T_OK(login(f, "dr.xu", "Night-Shift-Four", code, NULL, &r));
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p)); /* within the period: no touch */
    sess_seen before = {.sid = p.session_id};
    T_OK(ih_store_read(f->b.s, sess_seen_fn, &before));
    fake_now += 5 * 60000;
    enum { N = 16 };
    pthread_t th[N];
    touch_req q[N];
    _Atomic int go = 0;
    for (int i = 0; i < N; i++) {
        q[i] = (touch_req){f, r.token, &go, IH_OK};
        assert_int_equal(pthread_create(&th[i], NULL, touch_thread, &q[i]), 0);
    }
    atomic_store(&go, 1);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        T_OK(q[i].e);
    }
    sess_seen after = {.sid = p.session_id};
    T_OK(ih_store_read(f->b.s, sess_seen_fn, &after));
    assert_int_equal(after.last_seen, fake_now);
    assert_int_equal(after.rv, before.rv + 1);
}

static void t_logout_and_password_change_end_sessions(void **state)
{
    fx *f = *state;
    int64_t aid = make(f, "dr.wu", IH_ROLE_DOCTOR, "Night-Shift-22", true);
    fake_now += 86400000LL; /* past the password's minimum age */
    ih_login_result a, b;
    ih_principal p;
    char code[9];
    code_now(code);
    T_OK(login(f, "dr.wu", "Night-Shift-22", code, NULL, &a));
    fake_now += 30000;
    code_now(code);
    T_OK(login(f, "dr.wu", "Night-Shift-22", code, NULL, &b));
    ih_actor who = {.id = aid, .role = "doctor"};
    T_OK(ih_identity_change_password(f->id, &b.p, &who, "Night-Shift-22", "Day-Shift-33x"));
    assert_int_equal(ih_identity_authenticate(f->id, a.token, false, "127.0.0.1", &p), IH_E_UNAUTHENTICATED);
    T_OK(ih_identity_authenticate(f->id, b.token, false, "127.0.0.1", &p));
    T_OK(ih_identity_logout(f->id, &p, &who));
    assert_int_equal(ih_identity_authenticate(f->id, b.token, false, "127.0.0.1", &p), IH_E_UNAUTHENTICATED);
}

static void t_password_history_and_age(void **state)
{
    fx *f = *state;
    int64_t aid = make(f, "nurse.he", IH_ROLE_NURSE, "Start-Pass-01", true);
    ih_actor who = {.id = aid, .role = "nurse"};
    ih_login_result r;
    char code[9];
    code_now(code);
    T_OK(login(f, "nurse.he", "Start-Pass-01", code, NULL, &r));
    const char *seq[] = {"Second-Pw-02x", "Third-Pw-03x", "Fourth-Pw-04x", "Fifth-Pw-05x"};
    const char *cur = "Start-Pass-01";
    /* 15. A password stays a day before its owner may change it again. */
    assert_int_equal(ih_identity_change_password(f->id, &r.p, &who, cur, seq[0]), IH_E_STATE);
    for (int i = 0; i < 4; i++) {
        fake_now += 86400000LL;
        code_now(code);
        T_OK(login(f, "nurse.he", cur, code, NULL, &r));
        T_OK(ih_identity_change_password(f->id, &r.p, &who, cur, seq[i]));
        cur = seq[i];
    }
    assert_int_equal(ih_identity_change_password(f->id, &r.p, &who, cur, "Sixth-Pw-06x"), IH_E_STATE);
    fake_now += 86400000LL;
    code_now(code);
    T_OK(login(f, "nurse.he", cur, code, NULL, &r));
    /* Each of the last five is refused. */
    assert_int_equal(ih_identity_change_password(f->id, &r.p, &who, cur, "Start-Pass-01"), IH_E_WEAK_PASSWORD);
    assert_int_equal(ih_identity_change_password(f->id, &r.p, &who, cur, "Third-Pw-03x"), IH_E_WEAK_PASSWORD);
    assert_int_equal(ih_identity_change_password(f->id, &r.p, &who, "wrong-Old-99", "Sixth-Pw-06x"), IH_E_AUTH_FAILED);
    /* After 90 days the password must change (a login at day 89 keeps the
     * account from being disabled as inactive). */
    fake_now += 89LL * 86400000;
    code_now(code);
    T_OK(login(f, "nurse.he", cur, code, NULL, &r));
    assert_false(r.p.must_change_password);
    fake_now += 2LL * 86400000;
    code_now(code);
    T_OK(login(f, "nurse.he", cur, code, NULL, &r));
    assert_true(r.p.must_change_password && r.p.restricted);
}

static void t_inactive_and_expired_accounts(void **state)
{
    fx *f = *state;
    make(f, "dr.idle", IH_ROLE_DOCTOR, "Long-Leave-66", true);
    make(f, "patient.idle", IH_ROLE_PATIENT, "Chronic-Care-7", false);
    ih_login_result r;
    fake_now += 91LL * 86400000;
    char code[9];
    code_now(code);
    assert_int_equal(login(f, "dr.idle", "Long-Leave-66", code, NULL, &r), IH_E_AUTH_FAILED);
    assert_int_equal(count_events(f, "account.disable", NULL), 1);
    T_OK(login(f, "patient.idle", "Chronic-Care-7", NULL, NULL, &r)); /* patients are not disabled */
    assert_false(r.p.must_enrol_totp);                                 /* TOTP is optional for patients */
    assert_true(r.p.must_change_password);                             /* but the 91-day-old password expired */
    ih_account_new n = {.username = "locum.doc", .role = IH_ROLE_DOCTOR, .active = true, .password = "Locum-Week-51",
                        .totp_secret = SECRET, .totp_secret_len = 20, .expires_at = fake_now + 3600000};
    int64_t aid;
    T_OK(ih_identity_create(f->id, &console, &n, NULL, &aid));
    code_now(code);
    T_OK(login(f, "locum.doc", "Locum-Week-51", code, NULL, &r));
    fake_now += 3600000;
    code_now(code);
    assert_int_equal(login(f, "locum.doc", "Locum-Week-51", code, NULL, &r), IH_E_AUTH_FAILED);
}

static void t_admin_login_address(void **state)
{
    fx *f = *state;
    make(f, "sec.lead", IH_ROLE_SECADMIN, "Guard-Rail-44", true);
    ih_login_result r;
    char code[9];
    code_now(code);
    assert_int_equal(login(f, "sec.lead", "Guard-Rail-44", code, "203.0.113.9", &r), IH_E_AUTH_FAILED);
    T_OK(login(f, "sec.lead", "Guard-Rail-44", code, "127.0.0.1", &r));
}

typedef struct {
    const char *sql;
} raw_arg;

static ih_err raw_fn(ih_tx *tx, void *arg)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, ((raw_arg *)arg)->sql, &st));
    return ih_stmt_exec(st);
}

/* A change by hand to session or account rows.  With kept sessions, the
 * next check must see it once the trigger's notification is heard: wait
 * for that (at most 10 s), and fail when it never comes. */
static void raw_auth_rows(fx *f, raw_arg *a)
{
    uint64_t before = authcache_epoch(f->id->cache);
    T_OK(ih_store_write(f->b.s, raw_fn, a));
    if (!f->kept) return;
    for (int i = 0; i < 1000 && authcache_epoch(f->id->cache) == before; i++) usleep(10000);
    assert_true(authcache_epoch(f->id->cache) != before);
}

static void t_tampered_rows_detected(void **state)
{
    fx *f = *state;
    make(f, "dr.tamper", IH_ROLE_DOCTOR, "Honest-Doc-12", true);
    make(f, "nurse.tamper", IH_ROLE_NURSE, "Honest-Nurse-3", true);
    ih_login_result r;
    char code[9];
    code_now(code);
    T_OK(login(f, "nurse.tamper", "Honest-Nurse-3", code, NULL, &r));
    /* Someone with database access makes the doctor a sysadmin... */
    raw_arg a = {"UPDATE account SET role = 'sysadmin' WHERE username_lc = 'dr.tamper'"};
    raw_auth_rows(f, &a);
    fake_now += 31000;
    code_now(code);
    assert_int_equal(login(f, "dr.tamper", "Honest-Doc-12", code, NULL, &r), IH_E_INTEGRITY);
    /* ...or copies a password hash over another's. */
    raw_arg b = {"UPDATE account SET pw_hash = (SELECT pw_hash FROM account WHERE username_lc = 'dr.tamper') "
                 "WHERE username_lc = 'nurse.tamper'"};
    raw_auth_rows(f, &b);
    assert_int_equal(login(f, "nurse.tamper", "Honest-Doc-12", code, NULL, &r), IH_E_INTEGRITY);
    assert_true(count_events(f, "integrity.violation", "failure") >= 2);
}

static void t_session_row_tampering_detected(void **state)
{
    fx *f = *state;
    make(f, "nurse.sess", IH_ROLE_NURSE, "Sess-Check-81", true);
    int64_t admin = make(f, "sys.victim", IH_ROLE_SYSADMIN, "Sys-Victim-82x", true);
    ih_login_result r;
    ih_principal p;
    char code[9], sql[160];
    code_now(code);
    T_OK(login(f, "nurse.sess", "Sess-Check-81", code, NULL, &r));
    snprintf(sql, sizeof sql, "UPDATE session SET account_id = %lld", (long long)admin);
    raw_arg a = {sql};
    raw_auth_rows(f, &a);
    assert_int_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p), IH_E_INTEGRITY);
}

/* A revoked session cannot be revived, nor an idle one kept alive, by
 * editing the database; honest touches and revocations keep rows intact. */
static void t_session_state_is_sealed(void **state)
{
    fx *f = *state;
    make(f, "nurse.live", IH_ROLE_NURSE, "Live-Check-81", true);
    ih_login_result r, r2;
    ih_principal p;
    char code[9];
    code_now(code);
    T_OK(login(f, "nurse.live", "Live-Check-81", code, NULL, &r));
    /* touched (last_seen re-sealed) and still good */
    fake_now += 31000;
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    fake_now += 31000;
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    /* logged out, then revived in the database: refused as tampered */
    ih_actor who = {.id = p.account_id, .role = "nurse", .ip = "127.0.0.1"};
    T_OK(ih_identity_logout(f->id, &p, &who));
    assert_int_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p), IH_E_UNAUTHENTICATED);
    raw_arg revive = {"UPDATE session SET revoked_at = NULL, revoke_reason = NULL"};
    raw_auth_rows(f, &revive);
    assert_int_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p), IH_E_INTEGRITY);
    /* a fresh session left idle, then "seen" in the database: refused too */
    fake_now += 31000;
    code_now(code);
    T_OK(login(f, "nurse.live", "Live-Check-81", code, NULL, &r2));
    fake_now += (int64_t)20 * 60000 * 60; /* far past any idle limit */
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE session SET last_seen = %lld WHERE revoked_at IS NULL", (long long)fake_now);
    raw_arg seen = {sql};
    raw_auth_rows(f, &seen);
    assert_int_equal(ih_identity_authenticate(f->id, r2.token, false, "127.0.0.1", &p), IH_E_INTEGRITY);
}

static void t_administrators_keep_to_their_own(void **state)
{
    fx *f = *state;
    int64_t sys = make(f, "sys.a", IH_ROLE_SYSADMIN, "Sys-Admin-91x", true);
    int64_t sec = make(f, "sec.a", IH_ROLE_SECADMIN, "Sec-Admin-92x", true);
    int64_t aud = make(f, "aud.a", IH_ROLE_AUDITADMIN, "Aud-Admin-93x", true);
    int64_t doc = make(f, "doc.a", IH_ROLE_DOCTOR, "Doc-Staff-94x", true);
    ih_actor s = {.id = sys, .role = "sysadmin"}, c = {.id = sec, .role = "secadmin"};
    /* sysadmin cannot disable the auditor or the security administrator... */
    assert_int_equal(ih_identity_set_enabled(f->id, &s, IH_ROLE_SYSADMIN, aud, false, NULL), IH_E_FORBIDDEN);
    assert_int_equal(ih_identity_set_enabled(f->id, &s, IH_ROLE_SYSADMIN, sec, false, NULL), IH_E_FORBIDDEN);
    T_OK(ih_identity_set_enabled(f->id, &s, IH_ROLE_SYSADMIN, doc, false, "left the hospital"));
    /* ...secadmin manages administrators but never itself, nor clinicians. */
    assert_int_equal(ih_identity_set_enabled(f->id, &c, IH_ROLE_SECADMIN, sec, false, NULL), IH_E_FORBIDDEN);
    assert_int_equal(ih_identity_set_enabled(f->id, &c, IH_ROLE_SECADMIN, doc, true, NULL), IH_E_FORBIDDEN);
    T_OK(ih_identity_set_enabled(f->id, &c, IH_ROLE_SECADMIN, aud, false, "rotation"));
    /* Roles change only among clinical roles: nobody becomes an administrator. */
    json_t *prop = NULL;
    assert_int_equal(ih_identity_propose_role(f->id, &c, doc, IH_ROLE_AUDITADMIN, &prop), IH_E_STATE);
    assert_int_equal(ih_identity_propose_role(f->id, &c, sys, IH_ROLE_DOCTOR, &prop), IH_E_STATE);
    /* 13. ...and a clinical role change takes a second administrator. */
    T_OK(ih_identity_propose_role(f->id, &c, doc, IH_ROLE_NURSE, &prop));
    int64_t pid = json_integer_value(json_object_get(prop, "id"));
    assert_string_equal(json_string_value(json_object_get(prop, "state")), "pending");
    json_decref(prop);
    ih_role role;
    T_OK(ih_identity_role_of(f->id, doc, &role));
    assert_int_equal(role, IH_ROLE_DOCTOR); /* not yet */
    json_t *dec = NULL;
    assert_int_equal(ih_identity_decide(f->id, &c, IH_ROLE_SECADMIN, pid, true, &dec, NULL), IH_E_FORBIDDEN);
    ih_actor aud_actor = {.id = aud, .role = "auditadmin"};
    T_OK(ih_identity_decide(f->id, &s, IH_ROLE_SYSADMIN, pid, true, &dec, NULL));
    json_decref(dec);
    assert_int_equal(ih_identity_decide(f->id, &aud_actor, IH_ROLE_AUDITADMIN, pid, true, &dec, NULL), IH_E_STATE);
    T_OK(ih_identity_role_of(f->id, doc, &role));
    assert_int_equal(role, IH_ROLE_NURSE);
    /* widening personal-data access, narrowing the auditor: proposals too */
    assert_true(ih_perm_needs_second(IH_PERM_PATIENT_READ, IH_ROLE_SECADMIN, true));
    assert_true(ih_perm_needs_second(IH_PERM_AUDIT_EXPORT, IH_ROLE_AUDITADMIN, false));
    assert_false(ih_perm_needs_second(IH_PERM_METRICS_READ, IH_ROLE_SYSADMIN, true));
    T_OK(ih_identity_propose_grant(f->id, &c, IH_ROLE_SECADMIN, IH_PERM_PATIENT_READ, true, &prop));
    pid = json_integer_value(json_object_get(prop, "id"));
    json_decref(prop);
    ih_approved_grant g;
    T_OK(ih_identity_decide(f->id, &aud_actor, IH_ROLE_AUDITADMIN, pid, false, &dec, &g)); /* rejected */
    json_decref(dec);
    assert_false(g.applied);
    /* A pending account waits for secadmin. */
    ih_account_new n = {.username = "new.aud", .role = IH_ROLE_AUDITADMIN, .must_change = true};
    char otp[32];
    int64_t pend;
    T_OK(ih_identity_create(f->id, &s, &n, otp, &pend));
    ih_login_result r;
    assert_int_equal(login(f, "new.aud", otp, NULL, NULL, &r), IH_E_AUTH_FAILED);
    T_OK(ih_identity_activate(f->id, &c, pend));
    T_OK(login(f, "new.aud", otp, NULL, NULL, &r));
    assert_true(r.p.restricted);
}

typedef struct {
    ih_keyring *k;
    ih_role r;
    ih_perm p;
    bool granted;
} grant_arg;

static ih_err grant_fn(ih_tx *tx, void *arg)
{
    grant_arg *g = arg;
    return ih_policy_set(tx, g->k, g->r, g->p, g->granted, 1, ih_now_ms());
}

static void t_permission_bounds(void **state)
{
    fx *f = *state;
    ih_policy *pol;
    T_OK(ih_policy_new(&pol));
    assert_true(ih_policy_allows(pol, IH_ROLE_AUDITADMIN, IH_PERM_AUDIT_READ));
    for (int r = IH_ROLE_PATIENT; r < IH_ROLE__COUNT; r++) {
        if (r == IH_ROLE_AUDITADMIN) continue;
        for (int p = IH_PERM_AUDIT_READ; p <= IH_PERM_AUDIT_EXPORT; p++) {
            assert_false(ih_policy_allows(pol, (ih_role)r, (ih_perm)p));
            assert_false(ih_perm_in_bounds((ih_perm)p, (ih_role)r));
        }
    }
    /* No administrator holds another's permissions. */
    assert_false(ih_policy_allows(pol, IH_ROLE_SYSADMIN, IH_PERM_ROLE_ASSIGN));
    assert_false(ih_policy_allows(pol, IH_ROLE_SECADMIN, IH_PERM_ACCOUNT_CREATE));
    assert_false(ih_policy_allows(pol, IH_ROLE_AUDITADMIN, IH_PERM_ACCOUNT_MANAGE));
    /* Grants: out of bounds and non-optional are refused, in bounds works. */
    grant_arg out_of_bounds = {f->b.kr, IH_ROLE_SYSADMIN, IH_PERM_AUDIT_EXPORT, true};
    grant_arg not_optional = {f->b.kr, IH_ROLE_SECADMIN, IH_PERM_ACCOUNT_CREATE, true};
    grant_arg revoke_metrics = {f->b.kr, IH_ROLE_SYSADMIN, IH_PERM_METRICS_READ, false};
    assert_int_equal(ih_store_write(f->b.s, grant_fn, &out_of_bounds), IH_E_FORBIDDEN);
    assert_int_equal(ih_store_write(f->b.s, grant_fn, &not_optional), IH_E_FORBIDDEN);
    T_OK(ih_store_write(f->b.s, grant_fn, &revoke_metrics));
    T_OK(ih_policy_load(pol, f->b.s, f->b.kr));
    assert_false(ih_policy_allows(pol, IH_ROLE_SYSADMIN, IH_PERM_METRICS_READ));
    /* Even a forced in-memory change cannot cross the bounds. */
    ih_policy_apply(pol, IH_ROLE_SYSADMIN, IH_PERM_AUDIT_EXPORT, true);
    assert_false(ih_policy_allows(pol, IH_ROLE_SYSADMIN, IH_PERM_AUDIT_EXPORT));
    /* A grant row edited in the database stops the load. */
    raw_arg a = {"UPDATE role_grant SET granted = 1"};
    T_OK(ih_store_write(f->b.s, raw_fn, &a));
    ih_policy *fresh;
    T_OK(ih_policy_new(&fresh));
    assert_int_equal(ih_policy_load(fresh, f->b.s, f->b.kr), IH_E_INTEGRITY);
    ih_policy_free(fresh);
    ih_policy_free(pol);
}

/* ---- sessions kept by a node (PostgreSQL) ------------------------------------ */

static uint64_t reads(fx *f)
{
    ih_store_stats st;
    ih_store_get_stats(f->b.s, &st);
    return st.read_txns;
}

/* Check token until a check is answered without a read: the notifications
 * of the login's own writes may still be arriving and forget the first
 * copies (at most 10 s).  The principal of that check goes to p. */
static void until_kept(fx *f, const char *token, ih_principal *p)
{
    for (int i = 0; i < 1000; i++) {
        uint64_t n = reads(f);
        T_OK(ih_identity_authenticate(f->id, token, false, "127.0.0.1", p));
        if (reads(f) == n) return;
        usleep(10000);
    }
    fail_msg("never answered from a kept copy");
}

/* A node answers a session's next request from what it verified, and stops
 * when another node revokes it: heard through the database, not told. */
static void t_kept_session_and_another_nodes_logout(void **state)
{
    fx *f = *state;
    int64_t aid = make(f, "dr.kept", IH_ROLE_DOCTOR, "Kept-Copy-Ward7", true);
    ih_login_result r;
    ih_principal p, q;
    char code[9];
    code_now(code);
    T_OK(login(f, "dr.kept", "Kept-Copy-Ward7", code, NULL, &r));
    uint64_t n0 = reads(f);
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    assert_true(reads(f) > n0); /* read and verified */
    until_kept(f, r.token, &q);
    assert_int_equal(q.session_id, p.session_id);
    assert_int_equal(q.account_id, aid);
    assert_int_equal(q.role, IH_ROLE_DOCTOR);
    assert_string_equal(q.username, p.username);
    assert_string_equal(q.csrf, p.csrf);
    assert_string_equal(q.session_tag, p.session_tag);
    assert_int_equal(q.ends_at, p.ends_at);
    assert_int_equal(q.restricted, p.restricted);
    /* Time still counts for a kept session: idle too long is idle. */
    fake_now += 15 * 60000 + 1000;
    assert_int_equal(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &q), IH_E_SESSION_EXPIRED);
    fake_now += 60000;
    code_now(code);
    T_OK(login(f, "dr.kept", "Kept-Copy-Ward7", code, NULL, &r));
    until_kept(f, r.token, &p);
    /* The other node: an identity of its own, nothing kept, not started. */
    ih_identity *other;
    T_OK(ih_identity_new(&f->o, &other));
    ih_actor who = {.id = aid, .role = "doctor"};
    T_OK(ih_identity_logout(other, &p, &who));
    ih_identity_free(other);
    ih_err e = IH_OK;
    for (int i = 0; i < 1000 && (e = ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &q)) == IH_OK; i++)
        usleep(10000);
    assert_int_equal(e, IH_E_UNAUTHENTICATED);
}

/* While the watch cannot hear, nothing kept is used: what changed meanwhile
 * is unknown.  It listens again by itself. */
static void t_kept_sessions_forgotten_when_deaf(void **state)
{
    fx *f = *state;
    make(f, "dr.deaf", IH_ROLE_DOCTOR, "Deaf-Watch-Ward8", true);
    ih_login_result r;
    ih_principal p;
    char code[9];
    code_now(code);
    T_OK(login(f, "dr.deaf", "Deaf-Watch-Ward8", code, NULL, &r));
    until_kept(f, r.token, &p);
    assert_true(t_sql_int(f->b.s, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE application_name = 'ihos-watch'") >= 1);
    wait_live(f->id, false);
    uint64_t n = reads(f);
    T_OK(ih_identity_authenticate(f->id, r.token, false, "127.0.0.1", &p));
    assert_true(reads(f) > n);
    wait_live(f->id, true);
    until_kept(f, r.token, &p);
}

#define CASES(s)                                                                                                      \
    cmocka_unit_test_setup_teardown(t_first_login_is_restricted_until_setup, s, teardown),                            \
        cmocka_unit_test_setup_teardown(t_same_answer_for_every_failure, s, teardown),                                \
        cmocka_unit_test_setup_teardown(t_lockout_at_exactly_five, s, teardown),                                      \
        cmocka_unit_test_setup_teardown(t_code_used_once, s, teardown),                                               \
        cmocka_unit_test_setup_teardown(t_passive_check_is_not_activity, s, teardown),                                \
        cmocka_unit_test_setup_teardown(t_concurrent_requests_touch_once, s, teardown),                               \
        cmocka_unit_test_setup_teardown(t_idle_and_absolute_timeouts, s, teardown),                                   \
        cmocka_unit_test_setup_teardown(t_logout_and_password_change_end_sessions, s, teardown),                      \
        cmocka_unit_test_setup_teardown(t_password_history_and_age, s, teardown),                                     \
        cmocka_unit_test_setup_teardown(t_inactive_and_expired_accounts, s, teardown),                                \
        cmocka_unit_test_setup_teardown(t_admin_login_address, s, teardown),                                          \
        cmocka_unit_test_setup_teardown(t_tampered_rows_detected, s, teardown),                                       \
        cmocka_unit_test_setup_teardown(t_session_row_tampering_detected, s, teardown),                               \
        cmocka_unit_test_setup_teardown(t_session_state_is_sealed, s, teardown),                               \
        cmocka_unit_test_setup_teardown(t_administrators_keep_to_their_own, s, teardown),                             \
        cmocka_unit_test_setup_teardown(t_permission_bounds, s, teardown)

int main(void)
{
    ih_log_setup("stderr", IH_LOG_ERROR + 1, "test");
    if (ih_crypto_init() != IH_OK) return 1;
    const struct CMUnitTest pure[] = {cmocka_unit_test(t_password_policy), cmocka_unit_test(t_totp_vectors)};
    const struct CMUnitTest sq[] = {CASES(setup_sqlite)};
    const struct CMUnitTest pg[] = {CASES(setup_pg)};
    /* Every rule again with the sessions a node verified kept (ihosd on
     * PostgreSQL), and what only a kept session can get wrong. */
    const struct CMUnitTest kept[] = {
        CASES(setup_pg_kept),
        cmocka_unit_test_setup_teardown(t_kept_session_and_another_nodes_logout, setup_pg_kept, teardown),
        cmocka_unit_test_setup_teardown(t_kept_sessions_forgotten_when_deaf, setup_pg_kept, teardown)};
    int rc = cmocka_run_group_tests_name("identity/rules", pure, NULL, NULL);
    rc += cmocka_run_group_tests_name("identity/sqlite", sq, NULL, NULL);
    rc += cmocka_run_group_tests_name("identity/postgres", pg, NULL, NULL);
    rc += cmocka_run_group_tests_name("identity/postgres-kept", kept, NULL, NULL);
    return rc;
}
