/* test_audit.c — the audit journal: the mutation suite on both backends,
 * proofs, fail-closed appends.  An attacker here has full database access
 * (triggers dropped) but neither the audit private key nor the outside
 * checkpoint file. */
#include "support.h"

#include "app/instance.h"
#include "audit/audit_impl.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "keys/keys.h"
#include "core/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS 3000
#define EVERY 500

typedef struct {
    t_base b;
    ih_signkey *pub;
} fx;

typedef struct {
    fx *f;
    int from, n;
} batch_arg;

static ih_err batch_fn(ih_tx *tx, void *arg)
{
    batch_arg *b = arg;
    for (int i = b->from; i < b->from + b->n; i++) {
        char id[16], ip[32];
        snprintf(id, sizeof id, "%d", i % 97);
        snprintf(ip, sizeof ip, "10.0.%d.%d", i % 7, i % 250);
        ih_actor who = {.id = 1 + i % 13, .role = i % 2 ? "doctor" : "nurse", .session = "abcd1234", .ip = ip,
                        .request_id = "rq"};
        ih_audit_event ev = {.action = i % 3 ? "record.read" : "record.update", .object_type = "record",
                             .object_id = id, .result = i % 11 ? IH_OK : IH_E_FORBIDDEN};
        IH_TRY(ih_audit_append(b->f->b.a, tx, &who, &ev));
    }
    return IH_OK;
}

static void append_events(fx *f, int from, int n, bool checkpoint_each)
{
    for (int done = 0; done < n; done += EVERY) {
        batch_arg b = {f, from + done, n - done < EVERY ? n - done : EVERY};
        T_OK(ih_store_write(f->b.s, batch_fn, &b));
        if (checkpoint_each) T_OK(ih_audit_checkpoint(f->b.a, NULL));
    }
}

static int setup(void **state, ih_store_kind kind, ih_suite suite)
{
    fx *f = calloc(1, sizeof *f);
    t_base_open(&f->b, kind, suite, NULL, 0);
    ih_buf pem = IH_BUF_INIT;
    T_OK(ih_sign_public_pem(f->b.key, &pem));
    T_OK(ih_sign_public_from_pem(pem.p, pem.len, &f->pub));
    ih_buf_free(&pem);
    append_events(f, 0, EVENTS, true);
    *state = f;
    return 0;
}

static int setup_sqlite_intl(void **s) { return setup(s, IH_STORE_SQLITE, IH_SUITE_INTL); }
static int setup_sqlite_gm(void **s) { return setup(s, IH_STORE_SQLITE, IH_SUITE_GM); }
static int setup_pg_intl(void **s) { return setup(s, IH_STORE_PG, IH_SUITE_INTL); }
static int setup_pg_gm(void **s) { return setup(s, IH_STORE_PG, IH_SUITE_GM); }

static int teardown(void **state)
{
    fx *f = *state;
    ih_signkey_free(f->pub);
    t_base_close(&f->b);
    free(f);
    audit_query_walk = AUDIT_QUERY_WALK; /* a test that failed midway set it small */
    return 0;
}

static ih_audit_report verify(fx *f)
{
    ih_audit_report r;
    T_OK(ih_audit_verify(f->b.s, f->b.suite, "ihos/test-instance", f->pub, f->b.cpfile, &r));
    return r;
}

/* Run raw SQL as an attacker with database access: protections off first. */
typedef struct {
    const char *const *sql;
    bool pg;
} raw_arg;

static ih_err raw_fn(ih_tx *tx, void *arg)
{
    raw_arg *r = arg;
    static const char *const unguard_sqlite[] = {
        "DROP TRIGGER IF EXISTS audit_event_no_delete", "DROP TRIGGER IF EXISTS audit_event_no_update",
        "DROP TRIGGER IF EXISTS audit_node_no_delete", "DROP TRIGGER IF EXISTS audit_checkpoint_no_update",
        "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete", "DROP TRIGGER IF EXISTS audit_tree_no_delete", NULL};
    static const char *const unguard_pg[] = {
        "ALTER TABLE audit_event DISABLE TRIGGER ALL", "ALTER TABLE audit_node DISABLE TRIGGER ALL",
        "ALTER TABLE audit_checkpoint DISABLE TRIGGER ALL", "ALTER TABLE audit_tree DISABLE TRIGGER ALL", NULL};
    for (const char *const *q = ih_tx_is_pg(tx) ? unguard_pg : unguard_sqlite; *q; q++) {
        ih_stmt *st;
        IH_TRY(ih_tx_prepare(tx, *q, &st));
        IH_TRY(ih_stmt_exec(st));
    }
    for (const char *const *q = r->sql; *q; q++) {
        ih_stmt *st;
        IH_TRY(ih_tx_prepare(tx, *q, &st));
        IH_TRY(ih_stmt_exec(st));
    }
    return IH_OK;
}

static void attack(fx *f, const char *const *sql)
{
    raw_arg r = {sql, f->b.kind == IH_STORE_PG};
    T_OK(ih_store_write(f->b.s, raw_fn, &r));
}

static void expect_event(ih_audit_report r, int64_t seq, const char *words)
{
    if (!r.problem[0]) fail_msg("tampering not detected (expected event %lld)", (long long)seq);
    if (r.bad_event != seq || !strstr(r.problem, words))
        fail_msg("expected event %lld / '%s', got: %s", (long long)seq, words, r.problem);
}

static void expect_checkpoint(ih_audit_report r, int64_t size, const char *words)
{
    if (!r.problem[0]) fail_msg("tampering not detected (expected checkpoint %lld)", (long long)size);
    if (r.bad_checkpoint != size || !strstr(r.problem, words))
        fail_msg("expected checkpoint %lld / '%s', got: %s", (long long)size, words, r.problem);
}

/* ---- tests --------------------------------------------------------------- */

static void t_intact_journal_verifies(void **state)
{
    fx *f = *state;
    ih_audit_report r = verify(f);
    if (r.problem[0]) fail_msg("%s", r.problem);
    assert_int_equal(r.events, EVENTS);
    assert_int_equal(r.checkpoints, EVENTS / EVERY);
    assert_int_equal(r.file_checkpoints, EVENTS / EVERY);
    assert_int_equal(r.unsealed, 0);
}

/* A verification takes at most half the connections reads may use: on a
 * store opened with two of them, one thread checks every block. */
static void t_verify_leaves_readers(void **state)
{
    fx *f = *state;
    ih_audit_report r = verify(f);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int share = ih_store_readers(f->b.s) / 2, want = cpus < 4 ? (int)cpus : 4;
    int blocks = (EVENTS + (1 << audit_verify_block_log) - 1) >> audit_verify_block_log;
    if (want > share) want = share;
    assert_int_equal(r.threads, want < blocks ? want : blocks);
    ih_store_opts o = {.kind = f->b.kind, .pool_size = 2, .batch_max = 16};
    if (f->b.kind == IH_STORE_SQLITE) o.sqlite_path = t_store_location(f->b.ctx);
    else o.pg_conninfo = t_store_location(f->b.ctx);
    ih_store *small;
    T_OK(ih_store_open(&o, &small));
    assert_int_equal(ih_store_readers(small), f->b.kind == IH_STORE_SQLITE ? 2 : 1);
    T_OK(ih_audit_verify(small, f->b.suite, "ihos/test-instance", f->pub, f->b.cpfile, &r));
    ih_store_close(small);
    if (r.problem[0]) fail_msg("%s", r.problem);
    assert_int_equal(r.events, EVENTS);
    assert_int_equal(r.threads, 1);
}

static void t_changed_field(void **state)
{
    fx *f = *state;
    static const char *const sql[] = {"UPDATE audit_event SET action = 'record.delete' WHERE seq = 1234", NULL};
    attack(f, sql);
    expect_event(verify(f), 1234, "(edited)");
}

static void t_changed_content_with_patched_leaf(void **state)
{
    /* Replace an event's content with another's and patch its leaf hash to
     * match: the chain, the sequence number inside and the checkpoint roots
     * still give it away. */
    fx *f = *state;
    static const char *const sql[] = {
        "UPDATE audit_event SET entry = (SELECT entry FROM audit_event WHERE seq = 650), "
        "leaf_hash = (SELECT leaf_hash FROM audit_event WHERE seq = 650) WHERE seq = 700", NULL};
    attack(f, sql);
    ih_audit_report r = verify(f);
    assert_true(r.problem[0]);
    assert_int_equal(r.bad_event, 700);
}

static void t_deleted_event(void **state)
{
    fx *f = *state;
    static const char *const sql[] = {"DELETE FROM audit_event WHERE seq = 1500", NULL};
    attack(f, sql);
    expect_event(verify(f), 1500, "missing");
}

static void t_inserted_event(void **state)
{
    /* Shift events 1000.. up by one and insert a forged event at 1000 whose
     * own chain link and leaf are correct. */
    fx *f = *state;
    static const char *const sql[] = {
        "UPDATE audit_event SET seq = -seq - 1 WHERE seq >= 1000",
        "UPDATE audit_event SET seq = -seq WHERE seq < 0",
        "INSERT INTO audit_event(seq, ts, actor_id, action, object_type, object_id, outcome, entry, leaf_hash, purged) "
        "SELECT 1000, ts, actor_id, action, object_type, object_id, outcome, entry, leaf_hash, 0 "
        "FROM audit_event WHERE seq = 999",
        NULL};
    attack(f, sql);
    ih_audit_report r = verify(f);
    assert_true(r.problem[0]);
    if (r.bad_event != 1000 && r.bad_event != 1001) fail_msg("insertion reported at: %s", r.problem);
}

static void t_swapped_events(void **state)
{
    fx *f = *state;
    static const char *const sql[] = {
        "UPDATE audit_event SET seq = -1 WHERE seq = 2000",
        "UPDATE audit_event SET seq = 2000 WHERE seq = 2001",
        "UPDATE audit_event SET seq = 2001 WHERE seq = -1",
        NULL};
    attack(f, sql);
    ih_audit_report r = verify(f);
    assert_true(r.problem[0]);
    assert_int_equal(r.bad_event, 2000);
}

static void t_truncated_tail(void **state)
{
    fx *f = *state;
    static const char *const sql[] = {
        "DELETE FROM audit_event WHERE seq >= 2600",
        NULL};
    attack(f, sql);
    expect_checkpoint(verify(f), 3000, "covers more events than the database holds");
}

static void t_truncated_tail_and_db_checkpoints(void **state)
{
    /* The attacker also removes the database's own checkpoints; the outside
     * file still knows. */
    fx *f = *state;
    static const char *const sql[] = {
        "DELETE FROM audit_event WHERE seq >= 2600",
        "DELETE FROM audit_checkpoint WHERE size > 2600",
        NULL};
    attack(f, sql);
    ih_audit_report r = verify(f);
    expect_checkpoint(r, 3000, "checkpoint file");
}

static void t_replaced_checkpoint(void **state)
{
    fx *f = *state;
    static const char *const sql[] = {
        "UPDATE audit_checkpoint SET note = (SELECT note FROM audit_checkpoint WHERE size = 1000), "
        "root = (SELECT root FROM audit_checkpoint WHERE size = 1000) WHERE size = 1500",
        NULL};
    attack(f, sql);
    expect_checkpoint(verify(f), 1500, "does not match the signed note");
}

typedef struct {
    fx *f;
    ih_signkey *evil;
} resign_arg;

static ih_err resign_fn(ih_tx *tx, void *arg)
{
    resign_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT root FROM audit_checkpoint WHERE size = 2000", &st));
    IH_TRY(ih_stmt_step(st, &row));
    size_t n;
    uint8_t root[32];
    memcpy(root, ih_col_blob(st, 0, &n), 32);
    IH_TRY(ih_stmt_exec(st));
    ih_buf note = IH_BUF_INIT;
    IH_TRY(note_sign(a->evil, a->f->b.suite, "ihos/test-instance", 2000, root, &note));
    IH_TRY(ih_tx_prepare(tx, "UPDATE audit_checkpoint SET note = $1 WHERE size = 2000", &st));
    ih_stmt_text(st, 1, note.p);
    ih_err e = ih_stmt_exec(st);
    ih_buf_free(&note);
    return e;
}

static void t_resigned_with_another_key(void **state)
{
    fx *f = *state;
    static const char *const nothing[] = {NULL};
    attack(f, nothing); /* drop the guards */
    resign_arg a = {f, NULL};
    T_OK(ih_sign_generate(f->b.suite, &a.evil));
    T_OK(ih_store_write(f->b.s, resign_fn, &a));
    ih_signkey_free(a.evil);
    expect_checkpoint(verify(f), 2000, "no signature by the audit key");
}

static void t_rolled_back_database(void **state)
{
    /* The database is put back to its state at 2000 events (as restoring an
     * older copy would); the outside checkpoint file remains. */
    fx *f = *state;
    static const char *const sql[] = {
        "DELETE FROM audit_event WHERE seq >= 2000",
        "DELETE FROM audit_checkpoint WHERE size > 2000",
        "DELETE FROM audit_node WHERE (idx + 1) * (CAST(1 AS BIGINT) << CAST(lvl AS INTEGER)) > 2000",
        NULL};
    attack(f, sql);
    ih_audit_report r = verify(f);
    expect_checkpoint(r, 2500, "rolled back");
}

/* 6. The check ihosd runs before serving: a database rolled back behind a
 * signed checkpoint kept outside it is refused, even when the local file was
 * cut back too, as long as an anchor holds the newer one. */
static void t_rollback_refused_at_start(void **state)
{
    fx *f = *state;
    char problem[512];
    const char *files[] = {f->b.cpfile, NULL};
    T_OK(ih_audit_rollback_check(f->b.s, f->b.suite, "ihos/test-instance", f->pub, files, 1, problem, sizeof problem));
    /* the anchor: a copy of the checkpoint file kept elsewhere */
    char anchor[700];
    snprintf(anchor, sizeof anchor, "%s/anchor.checkpoints", f->b.dir);
    ih_buf b = IH_BUF_INIT;
    T_OK(ih_file_read(f->b.cpfile, 1 << 24, &b));
    T_OK(ih_file_create(anchor, b.p, b.len, 0600));
    /* the whole database put back to 2000 events, the local file cut to match */
    static const char *const sql[] = {
        "DELETE FROM audit_event WHERE seq >= 2000",
        "DELETE FROM audit_checkpoint WHERE size > 2000",
        "DELETE FROM audit_node WHERE (idx + 1) * (CAST(1 AS BIGINT) << CAST(lvl AS INTEGER)) > 2000",
        NULL};
    attack(f, sql);
    const char *nl = b.p;
    for (int lines = 0; lines < 4; lines++) nl = strchr(nl, '\n') + 1; /* checkpoints at 500..2000 */
    T_OK(ih_file_replace(f->b.cpfile, b.p, (size_t)(nl - b.p), 0600));
    ih_buf_free(&b);
    T_OK(ih_audit_rollback_check(f->b.s, f->b.suite, "ihos/test-instance", f->pub, files, 1, problem, sizeof problem));
    files[1] = anchor;
    assert_int_equal(ih_audit_rollback_check(f->b.s, f->b.suite, "ihos/test-instance", f->pub, files, 2, problem,
                                             sizeof problem),
                     IH_E_INTEGRITY);
    assert_non_null(strstr(problem, "rolled back"));
    /* an anchor line not signed by the audit key is not believed */
    static const char forged[] = "{\"size\":1,\"note\":\"forged\"}\n";
    T_OK(ih_file_append(anchor, forged, sizeof forged - 1, 0600));
    assert_int_equal(ih_audit_rollback_check(f->b.s, f->b.suite, "ihos/test-instance", f->pub, files + 1, 1, problem,
                                             sizeof problem),
                     IH_E_INTEGRITY);
    assert_non_null(strstr(problem, "not a checkpoint signed"));
}

static void t_unsealed_tail_then_sealed(void **state)
{
    /* Events committed but not yet checkpointed (a kill -9 in between looks
     * like this): verify passes and reports them; the next checkpoint covers
     * them. */
    fx *f = *state;
    append_events(f, EVENTS, 37, false);
    ih_audit_report r = verify(f);
    if (r.problem[0]) fail_msg("%s", r.problem);
    assert_int_equal(r.unsealed, 37);
    bool made;
    T_OK(ih_audit_checkpoint(f->b.a, &made));
    assert_true(made);
    T_OK(ih_audit_checkpoint(f->b.a, &made));
    assert_false(made);
    r = verify(f);
    assert_int_equal(r.unsealed, 0);
    assert_int_equal(r.events, EVENTS + 37);
}

static void t_proofs(void **state)
{
    fx *f = *state;
    for (uint64_t seq = 0; seq < EVENTS; seq += 437) {
        ih_buf b = IH_BUF_INIT;
        T_OK(ih_audit_prove(f->b.s, f->b.suite, seq, &b));
        char msg[512];
        T_OK(ih_audit_check_proof(b.p, b.len, f->pub, msg, sizeof msg));
        assert_non_null(strstr(msg, "OK: event"));
        /* A changed field in the bundle no longer proves. */
        char *p = strstr(b.p, "\"record.");
        assert_non_null(p);
        p[8] = p[8] == 'r' ? 'u' : 'r';
        assert_int_equal(ih_audit_check_proof(b.p, b.len, f->pub, msg, sizeof msg), IH_E_INTEGRITY);
        ih_buf_free(&b);
    }
    /* Another key does not vouch for this journal. */
    ih_signkey *other;
    T_OK(ih_sign_generate(f->b.suite, &other));
    ih_buf b = IH_BUF_INIT;
    T_OK(ih_audit_prove(f->b.s, f->b.suite, 5, &b));
    char msg[512];
    assert_int_equal(ih_audit_check_proof(b.p, b.len, other, msg, sizeof msg), IH_E_INTEGRITY);
    ih_buf_free(&b);
    ih_signkey_free(other);
    /* An event beyond the last checkpoint cannot be proven yet. */
    append_events(f, EVENTS, 1, false);
    ih_buf b2 = IH_BUF_INIT;
    assert_int_equal(ih_audit_prove(f->b.s, f->b.suite, EVENTS, &b2), IH_E_STATE);
    ih_buf_free(&b2);
}

typedef struct {
    fx *f;
} biz_arg;

static ih_err business_fn(ih_tx *tx, void *arg)
{
    biz_arg *b = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO instance_meta(key, value) VALUES ('business', 'change')", &st));
    IH_TRY(ih_stmt_exec(st));
    ih_audit_event ev = {.action = "meta.write", .object_type = "instance_meta", .object_id = "business"};
    return ih_audit_append(b->f->b.a, tx, &ih_system_actor, &ev);
}

static ih_err count_meta(ih_tx *tx, void *arg)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT count(*) FROM instance_meta WHERE key = 'business'", &st));
    IH_TRY(ih_stmt_step(st, &row));
    *(int64_t *)arg = ih_col_int(st, 0);
    return IH_OK;
}

static void t_failed_append_fails_the_change(void **state)
{
    fx *f = *state;
    static const char *const sqlite_break[] = {
        "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'disk says no'); END", NULL};
    static const char *const pg_break[] = {
        "CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk says no'; END $$",
        "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION audit_broken()", NULL};
    attack(f, f->b.kind == IH_STORE_PG ? pg_break : sqlite_break);
    biz_arg b = {f};
    assert_int_equal(ih_store_write(f->b.s, business_fn, &b), IH_E_AUDIT);
    int64_t n = -1;
    T_OK(ih_store_read(f->b.s, count_meta, &n));
    assert_int_equal(n, 0); /* no trace of the change */
}

/* An event appended by a transaction that then rolls back is gone with it;
 * the next event takes its number.  Before, the appender's cached tail ran
 * ahead of the database: the gap stopped every later checkpoint and made
 * verification fail for good (six anonymous registrations did it). */
static ih_err append_then_fail(ih_tx *tx, void *arg)
{
    IH_TRY(business_fn(tx, arg));
    return ih_reject(IH_E_EXISTS, "cert_no", "already registered");
}

static void expect_sealed_and_clean(fx *f, uint64_t events)
{
    bool made;
    T_OK(ih_audit_checkpoint(f->b.a, &made));
    assert_true(made);
    ih_audit_report r = verify(f);
    if (r.problem[0]) fail_msg("%s", r.problem);
    assert_int_equal(r.events, events);
    assert_int_equal(r.unsealed, 0);
}

static void t_rolled_back_append_leaves_no_gap(void **state)
{
    fx *f = *state;
    biz_arg b = {f};
    for (int i = 0; i < 5; i++) assert_int_equal(ih_store_write(f->b.s, append_then_fail, &b), IH_E_EXISTS);
    append_events(f, EVENTS, 1, false);
    expect_sealed_and_clean(f, EVENTS + 1);
}

/* An event appended from a before-commit hook that runs after the one that
 * wrote the transaction's earlier events (PostgreSQL: the journal's appends
 * are such a hook) is journaled too — it used to join the list already
 * written, and was lost without an error. */
static ih_err late_append(ih_tx *tx, void *arg)
{
    biz_arg *b = arg;
    ih_audit_event ev = {.action = "meta.write", .object_type = "instance_meta", .object_id = "late"};
    return ih_audit_append(b->f->b.a, tx, &ih_system_actor, &ev);
}

static ih_err early_then_late(ih_tx *tx, void *arg)
{
    biz_arg *b = arg;
    ih_audit_event ev = {.action = "meta.write", .object_type = "instance_meta", .object_id = "early"};
    IH_TRY(ih_audit_append(b->f->b.a, tx, &ih_system_actor, &ev));
    return ih_tx_before_commit(tx, late_append, NULL, b);
}

static void t_append_from_a_later_hook(void **state)
{
    fx *f = *state;
    biz_arg b = {f};
    for (int i = 0; i < 3; i++) T_OK(ih_store_write(f->b.s, early_then_late, &b));
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM audit_event WHERE object_id = 'early'"), 3);
    assert_int_equal(t_sql_int(f->b.s, "SELECT count(*) FROM audit_event WHERE object_id = 'late'"), 3);
    expect_sealed_and_clean(f, (uint64_t)t_sql_int(f->b.s, "SELECT count(*) FROM audit_event"));
}

/* The same when the failure is the database running out of room (SQLite:
 * a page limit; PostgreSQL: the statement after the append fails). */
static ih_err fill_disk(ih_tx *tx, void *arg)
{
    (void)arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT page_count FROM pragma_page_count()", &st));
    bool row;
    IH_TRY(ih_stmt_step(st, &row));
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)ih_col_int(st, 0));
    IH_TRY(ih_stmt_exec(st));
    return ih_tx_prepare(tx, sql, &st) == IH_OK ? ih_stmt_exec(st) : IH_E_STORAGE;
}

static ih_err append_then_big_write(ih_tx *tx, void *arg)
{
    biz_arg *b = arg;
    ih_audit_event ev = {.action = "meta.write", .object_type = "instance_meta", .object_id = "big"};
    IH_TRY(ih_audit_append(b->f->b.a, tx, &ih_system_actor, &ev));
    static char big[256 * 1024];
    memset(big, 'x', sizeof big - 1);
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO instance_meta(key, value) VALUES ('big', $1)", &st));
    ih_stmt_text(st, 1, big);
    return ih_stmt_exec(st);
}

static ih_err unfill_disk(ih_tx *tx, void *arg)
{
    (void)arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "PRAGMA max_page_count = 1073741823", &st));
    return ih_stmt_exec(st);
}

static void t_full_disk_leaves_no_gap(void **state)
{
    fx *f = *state;
    biz_arg b = {f};
    if (f->b.kind == IH_STORE_SQLITE) {
        T_OK(ih_store_write(f->b.s, fill_disk, NULL));
        assert_int_equal(ih_store_write(f->b.s, append_then_big_write, &b), IH_E_STORAGE);
        T_OK(ih_store_write(f->b.s, unfill_disk, NULL));
    } else {
        static const char *const full[] = {
            "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION USING ERRCODE = 'disk_full', MESSAGE = 'could not extend file'; END $$",
            "CREATE TRIGGER disk_full BEFORE INSERT ON instance_meta FOR EACH ROW EXECUTE FUNCTION disk_full()", NULL};
        attack(f, full);
        assert_int_not_equal(ih_store_write(f->b.s, append_then_big_write, &b), IH_OK);
        static const char *const room[] = {"DROP TRIGGER disk_full ON instance_meta", NULL};
        attack(f, room);
    }
    append_events(f, EVENTS, 1, false);
    expect_sealed_and_clean(f, EVENTS + 1);
}

/* A checkpoint that cannot be made is an alert, not silence. */
static void t_checkpoint_failure_alerts(void **state)
{
    fx *f = *state;
    append_events(f, EVENTS, 5, false);
    char del[96];
    snprintf(del, sizeof del, "DELETE FROM audit_event WHERE seq = %d", EVENTS + 2);
    const char *const sql[] = {del, NULL};
    attack(f, sql);
    t_stderr_begin();
    ih_err e = ih_audit_checkpoint(f->b.a, NULL);
    char *log = t_stderr_end();
    assert_int_equal(e, IH_E_INTEGRITY);
    assert_non_null(strstr(log, "\"event\":\"audit.checkpoint_failed\""));
    assert_non_null(strstr(log, "\"alert\":\"true\""));
    assert_non_null(strstr(log, "is missing"));
    free(log);
    ih_audit_health_info h;
    ih_audit_health(f->b.a, &h);
    assert_int_equal(h.checkpoint_failures, 1);
    assert_true(h.unsealed >= 5);
}

static ih_err try_delete(ih_tx *tx, void *arg)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, (const char *)arg, &st));
    return ih_stmt_exec(st);
}

static void t_changed_indexed_column(void **state)
{
    /* The columns queries filter on are checked against the hashed entry. */
    fx *f = *state;
    static const char *const sql[] = {"UPDATE audit_event SET actor_id = 999 WHERE seq = 42", NULL};
    attack(f, sql);
    expect_event(verify(f), 42, "indexed columns do not match");
}

/* Many writers at once, each change with its event: on PostgreSQL they are
 * group-committed and their events appended just before the commit.  The
 * journal has every event once, in order, without holes, with times that
 * follow the sequence, and verifies. */
typedef struct {
    fx *f;
    int thread, ok;
} conc_arg;

static ih_err one_event_fn(ih_tx *tx, void *arg)
{
    conc_arg *c = arg;
    char id[32];
    snprintf(id, sizeof id, "c%d", c->thread);
    ih_actor who = {.id = 100 + c->thread, .role = "doctor", .session = "abcd1234", .ip = "10.1.2.3",
                    .request_id = "rq"};
    ih_audit_event ev = {.action = "record.read", .object_type = "record", .object_id = id, .result = IH_OK};
    return ih_audit_append(c->f->b.a, tx, &who, &ev);
}

static void *conc_thread(void *p)
{
    conc_arg *c = p;
    for (int i = 0; i < 40; i++)
        if (ih_store_write(c->f->b.s, one_event_fn, c) == IH_OK) c->ok++;
    return NULL;
}

static ih_err times_in_order_fn(ih_tx *tx, void *arg)
{
    int64_t *bad = arg, prev_ts = 0, prev_seq = -1;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT seq, ts FROM audit_event ORDER BY seq", &st));
    *bad = -1;
    while (ih_stmt_step(st, &row) == IH_OK && row) {
        int64_t seq = ih_col_int(st, 0), ts = ih_col_int(st, 1);
        if ((seq != prev_seq + 1 || ts < prev_ts) && *bad < 0) *bad = seq;
        prev_seq = seq;
        prev_ts = ts;
    }
    return IH_OK;
}

static void t_concurrent_appends(void **state)
{
    fx *f = *state;
    ih_audit_report r0 = verify(f);
    pthread_t th[16];
    conc_arg c[16];
    for (int t = 0; t < 16; t++) {
        c[t] = (conc_arg){.f = f, .thread = t};
        pthread_create(&th[t], NULL, conc_thread, &c[t]);
    }
    int ok = 0;
    for (int t = 0; t < 16; t++) {
        pthread_join(th[t], NULL);
        ok += c[t].ok;
    }
    assert_int_equal(ok, 16 * 40);
    int64_t bad;
    T_OK(ih_store_read(f->b.s, times_in_order_fn, &bad));
    assert_int_equal(bad, -1);
    expect_sealed_and_clean(f, r0.events + 16 * 40);
}

static void t_database_refuses_edits(void **state)
{
    /* With the guards in place, the application's own connection cannot
     * edit or delete events, nodes or checkpoints. */
    fx *f = *state;
    const char *q[] = {"DELETE FROM audit_event WHERE seq = 3", "UPDATE audit_event SET action = 'x' WHERE seq = 3",
                       "DELETE FROM audit_checkpoint WHERE size = 500", "UPDATE audit_checkpoint SET note = 'x'",
                       "DELETE FROM audit_node WHERE lvl = 1"};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        assert_int_not_equal(ih_store_write(f->b.s, try_delete, (void *)q[i]), IH_OK);
    ih_audit_report r = verify(f);
    if (r.problem[0]) fail_msg("%s", r.problem);
}

static int64_t fake_ms;
static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_ms;
}

static int64_t utc(const char *iso)
{
    int64_t ms;
    assert_int_equal(ih_time_parse_iso(iso, &ms), 0);
    return ms;
}

/* Archiving takes an old *prefix* of the journal and never skips over newer
 * events: here the fixture's 3000 events (logged now) come first, so older-
 * stamped events appended after them stay online. */
static void t_archive_takes_only_an_old_prefix(void **state)
{
    fx *f = *state;
    ih_clock_set(fake_clock, NULL);
    fake_ms = utc("2026-01-10T08:00:00Z");
    append_events(f, EVENTS, 300, false);
    T_OK(ih_audit_checkpoint(f->b.a, NULL));
    char dir[700];
    snprintf(dir, sizeof dir, "%s/archive", f->b.dir);
    ih_archive_report rep;
    fake_ms = utc("2026-08-10T00:00:00Z");
    T_OK(ih_audit_archive(f->b.a, dir, 180, fake_ms, &rep));
    ih_clock_set(NULL, NULL);
    assert_int_equal(rep.files, 0);
    ih_audit_report r = verify(f);
    assert_int_equal(r.purged, 0);
}

static int setup_old(void **state, ih_store_kind kind, ih_suite suite)
{
    /* Like setup(), but the journal starts in January 2026. */
    ih_clock_set(fake_clock, NULL);
    fake_ms = utc("2026-01-10T08:00:00Z");
    fx *f = calloc(1, sizeof *f);
    t_base_open(&f->b, kind, suite, NULL, 0);
    ih_buf pem = IH_BUF_INIT;
    T_OK(ih_sign_public_pem(f->b.key, &pem));
    T_OK(ih_sign_public_from_pem(pem.p, pem.len, &f->pub));
    ih_buf_free(&pem);
    *state = f;
    return 0;
}

static int setup_old_sqlite(void **s) { return setup_old(s, IH_STORE_SQLITE, IH_SUITE_INTL); }
static int setup_old_pg_gm(void **s) { return setup_old(s, IH_STORE_PG, IH_SUITE_GM); }

static void t_archive_months(void **state)
{
    fx *f = *state;
    fake_ms = utc("2026-01-10T08:00:00Z");
    append_events(f, 0, 300, false);
    fake_ms = utc("2026-02-15T08:00:00Z");
    append_events(f, 300, 200, false);
    fake_ms = utc("2026-03-20T08:00:00Z");
    append_events(f, 500, 100, false);
    T_OK(ih_audit_checkpoint(f->b.a, NULL));
    char dir[700];
    snprintf(dir, sizeof dir, "%s/archive", f->b.dir);
    ih_archive_report rep;
    /* Retention cannot go below 180 days. */
    assert_int_equal(ih_audit_archive(f->b.a, dir, 179, utc("2026-08-10T00:00:00Z"), &rep), IH_E_CONFIG);
    /* 10 August - 180 days = 11 February: January is whole and older. */
    fake_ms = utc("2026-08-10T00:00:00Z");
    T_OK(ih_audit_archive(f->b.a, dir, 180, fake_ms, &rep));
    assert_int_equal(rep.files, 1);
    assert_int_equal(rep.events, 300);
    assert_non_null(strstr(rep.last_file, "2026-01-0-299.ihosa.zst"));
    char msg[512];
    T_OK(ih_audit_check_archive(rep.last_file, f->pub, msg, sizeof msg));
    assert_non_null(strstr(msg, "OK: 300 events 0..299 (2026-01)"));
    /* The journal still verifies: leaf hashes of archived events remain. */
    ih_audit_report r = verify(f);
    if (r.problem[0]) fail_msg("%s", r.problem);
    assert_int_equal(r.purged, 300);
    /* Archived payloads are gone from the database; queries say so. */
    ih_audit_filter q = {.actor_id = -1, .after_seq = -1, .limit = 5};
    json_t *ev;
    T_OK(ih_audit_query(f->b.s, &q, &ev, NULL));
    assert_true(json_is_true(json_object_get(json_array_get(ev, 0), "archived")));
    assert_null(json_object_get(json_array_get(ev, 0), "action"));
    json_decref(ev);
    ih_buf b = IH_BUF_INIT;
    assert_int_equal(ih_audit_prove(f->b.s, f->b.suite, 5, &b), IH_E_STATE);
    T_OK(ih_audit_prove(f->b.s, f->b.suite, 450, &b));
    ih_buf_free(&b);
    /* Running again archives nothing new; a month later, February goes. */
    T_OK(ih_audit_archive(f->b.a, dir, 180, fake_ms, &rep));
    assert_int_equal(rep.files, 0);
    fake_ms = utc("2026-09-10T00:00:00Z");
    T_OK(ih_audit_archive(f->b.a, dir, 180, fake_ms, &rep));
    assert_int_equal(rep.files, 1);
    assert_int_equal(rep.events, 200);
    r = verify(f);
    if (r.problem[0]) fail_msg("%s", r.problem);
    /* Another key does not vouch for the archive; a changed byte breaks it. */
    ih_signkey *other;
    T_OK(ih_sign_generate(f->b.suite, &other));
    assert_int_equal(ih_audit_check_archive(rep.last_file, other, msg, sizeof msg), IH_E_INTEGRITY);
    ih_signkey_free(other);
    ih_buf raw = IH_BUF_INIT;
    T_OK(ih_file_read(rep.last_file, 1 << 24, &raw));
    raw.p[raw.len / 2] ^= 0x20;
    char bad[800];
    snprintf(bad, sizeof bad, "%s/tampered.ihosa.zst", f->b.dir);
    T_OK(ih_file_create(bad, raw.p, raw.len, 0600));
    assert_int_equal(ih_audit_check_archive(bad, f->pub, msg, sizeof msg), IH_E_INTEGRITY);
    ih_buf_free(&raw);
    ih_clock_set(NULL, NULL);
}

/* The auditor's queries give exactly what a walk through every event would,
 * whichever filters are given (each goes into the statement only when set,
 * and `from` starts the walk at the least seq since then) — also where the
 * times are out of order: events appended after the fixture's but stamped
 * months before it, and a later batch stamped before an earlier one.  And
 * page by page, each walk cut short (audit_query_walk): following next_after
 * to its end gives every matching event once, in order. */
static bool picked(const json_t *ev, const ih_audit_filter *q)
{
    int64_t ms;
    if (ih_time_parse_iso(json_string_value(json_object_get(ev, "time")), &ms) != 0) return false;
    const char *oid = json_string_value(json_object_get(ev, "object_id")),
               *out = json_string_value(json_object_get(ev, "outcome")),
               *act = json_string_value(json_object_get(ev, "action"));
    return json_integer_value(json_object_get(ev, "seq")) > q->after_seq && (!q->from_ms || ms >= q->from_ms) &&
           (!q->to_ms || ms < q->to_ms) && (q->actor_id < 0 || json_integer_value(json_object_get(ev, "actor_id")) == q->actor_id) &&
           (!q->object_id || !strcmp(oid, q->object_id)) && (!q->outcome || !strcmp(out, q->outcome)) &&
           (!q->action || !strcmp(act, q->action));
}

/* Every page of q (oldest or newest first) to the end, against every event
 * filtered by hand; the pages that stopped short of the limit. */
static int paged_query(fx *f, const ih_audit_filter *q0, bool newest, json_t *every, size_t k)
{
    ih_audit_filter q = *q0;
    q.newest_first = newest;
    json_t *all_got = json_array();
    int short_pages = 0;
    for (int page = 0; page < 1000; page++) {
        json_t *got;
        int64_t next;
        T_OK(ih_audit_query(f->b.s, &q, &got, &next));
        if (next >= 0 && json_array_size(got) < (size_t)q.limit) short_pages++;
        json_array_extend(all_got, got);
        json_decref(got);
        if (next < 0) break;
        if (newest) { /* always onwards */
            assert_true(!q.before_seq || next < q.before_seq);
            q.before_seq = next;
        } else {
            assert_true(next > q.after_seq);
            q.after_seq = next;
        }
    }
    size_t i, n = 0, total = json_array_size(all_got);
    json_t *ev;
    json_array_foreach(every, i, ev)
    {
        if (!picked(ev, q0)) continue;
        json_t *g = json_array_get(all_got, newest ? total - 1 - n : n); /* newest first: from the end */
        n++;
        if (n > total || json_integer_value(json_object_get(g, "seq")) != json_integer_value(json_object_get(ev, "seq")))
            fail_msg("paged query %zu (%s first): event %lld missing or out of place", k, newest ? "newest" : "oldest",
                     (long long)json_integer_value(json_object_get(ev, "seq")));
    }
    if (total != n) fail_msg("paged query %zu (%s first): %zu events, expected %zu", k, newest ? "newest" : "oldest", total, n);
    json_decref(all_got);
    return short_pages;
}

static void t_query_filters(void **state)
{
    fx *f = *state;
    ih_clock_set(fake_clock, NULL);
    const char *months[] = {"2026-01-10T08:00:00Z", "2026-03-01T08:00:00Z", "2026-02-01T08:00:00Z"};
    for (int m = 0; m < 3; m++) {
        fake_ms = utc(months[m]);
        append_events(f, EVENTS + 100 * m, 100, false);
    }
    ih_clock_set(NULL, NULL);
    ih_audit_filter all = {.actor_id = -1, .after_seq = -1, .limit = 10000};
    json_t *every;
    T_OK(ih_audit_query(f->b.s, &all, &every, NULL));
    assert_int_equal(json_array_size(every), EVENTS + 300);
    ih_audit_filter qs[] = {
        {.from_ms = utc("2026-02-01T00:00:00Z"), .actor_id = -1, .after_seq = -1, .limit = 10000},
        {.from_ms = utc("2026-02-15T00:00:00Z"), .to_ms = utc("2026-03-15T00:00:00Z"), .actor_id = -1, .after_seq = -1,
         .limit = 10000},
        {.to_ms = utc("2026-02-15T00:00:00Z"), .actor_id = -1, .after_seq = -1, .limit = 10000},
        {.from_ms = utc("2026-01-01T00:00:00Z"), .actor_id = -1, .object_type = "record", .object_id = "5",
         .after_seq = -1, .limit = 10000},
        {.actor_id = 3, .outcome = "failure", .after_seq = 100, .limit = 10000},
        {.from_ms = utc("2026-01-01T00:00:00Z"), .actor_id = 4, .action = "record.update", .after_seq = 3050,
         .limit = 7},
        {.from_ms = utc("2027-01-01T00:00:00Z"), .actor_id = -1, .after_seq = -1, .limit = 10000}, /* nothing since */
    };
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        json_t *got;
        T_OK(ih_audit_query(f->b.s, &qs[k], &got, NULL));
        size_t i, n = 0;
        json_t *ev;
        json_array_foreach(every, i, ev)
        {
            if (!picked(ev, &qs[k]) || (int)n >= qs[k].limit) continue;
            json_t *g = json_array_get(got, n++);
            if (!g || json_integer_value(json_object_get(g, "seq")) != json_integer_value(json_object_get(ev, "seq")))
                fail_msg("query %zu: event %lld missing or out of place", k,
                         (long long)json_integer_value(json_object_get(ev, "seq")));
        }
        if (json_array_size(got) != n) fail_msg("query %zu: %zu events, expected %zu", k, json_array_size(got), n);
        if (k < 6 && !n) fail_msg("query %zu matches nothing: a test that cannot fail", k);
        json_decref(got);
    }
    int short_pages = 0;
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) /* whole walks: no page short */
        for (int newest = 0; newest < 2; newest++) assert_int_equal(paged_query(f, &qs[k], newest, every, k), 0);
    audit_query_walk = 97;
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++)
        for (int newest = 0; newest < 2; newest++) short_pages += paged_query(f, &qs[k], newest, every, k);
    audit_query_walk = AUDIT_QUERY_WALK;
    assert_true(short_pages > 0); /* some walks did stop before their page was full */
    json_decref(every);
}

#define MUTATIONS(s)                                                                                                  \
    cmocka_unit_test_setup_teardown(t_intact_journal_verifies, s, teardown),                                          \
        cmocka_unit_test_setup_teardown(t_changed_field, s, teardown),                                                \
        cmocka_unit_test_setup_teardown(t_changed_content_with_patched_leaf, s, teardown),                         \
        cmocka_unit_test_setup_teardown(t_deleted_event, s, teardown),                                                \
        cmocka_unit_test_setup_teardown(t_inserted_event, s, teardown),                                               \
        cmocka_unit_test_setup_teardown(t_swapped_events, s, teardown),                                               \
        cmocka_unit_test_setup_teardown(t_truncated_tail, s, teardown),                                               \
        cmocka_unit_test_setup_teardown(t_truncated_tail_and_db_checkpoints, s, teardown),                            \
        cmocka_unit_test_setup_teardown(t_replaced_checkpoint, s, teardown),                                          \
        cmocka_unit_test_setup_teardown(t_resigned_with_another_key, s, teardown),                                    \
        cmocka_unit_test_setup_teardown(t_rolled_back_database, s, teardown),                                         \
        cmocka_unit_test_setup_teardown(t_unsealed_tail_then_sealed, s, teardown),                                    \
        cmocka_unit_test_setup_teardown(t_proofs, s, teardown),                                                       \
        cmocka_unit_test_setup_teardown(t_failed_append_fails_the_change, s, teardown),                               \
        cmocka_unit_test_setup_teardown(t_database_refuses_edits, s, teardown),                                       \
        cmocka_unit_test_setup_teardown(t_changed_indexed_column, s, teardown),                                       \
        cmocka_unit_test_setup_teardown(t_rolled_back_append_leaves_no_gap, s, teardown),                             \
        cmocka_unit_test_setup_teardown(t_append_from_a_later_hook, s, teardown),                                     \
        cmocka_unit_test_setup_teardown(t_full_disk_leaves_no_gap, s, teardown),                                      \
        cmocka_unit_test_setup_teardown(t_checkpoint_failure_alerts, s, teardown),                                    \
        cmocka_unit_test_setup_teardown(t_concurrent_appends, s, teardown),                                           \
        cmocka_unit_test_setup_teardown(t_rollback_refused_at_start, s, teardown),                                    \
        cmocka_unit_test_setup_teardown(t_verify_leaves_readers, s, teardown),                                        \
        cmocka_unit_test_setup_teardown(t_query_filters, s, teardown)

static int small_blocks(void **state)
{
    (void)state;
    audit_verify_block_log = 3;
    return 0;
}

static int default_blocks(void **state)
{
    (void)state;
    audit_verify_block_log = 16;
    return 0;
}

int main(void)
{
    ih_log_setup("stderr", IH_LOG_ERROR, "test");
    if (ih_crypto_init() != IH_OK) return 1;
    const struct CMUnitTest si[] = {MUTATIONS(setup_sqlite_intl)};
    const struct CMUnitTest sg[] = {MUTATIONS(setup_sqlite_gm)};
    const struct CMUnitTest pi[] = {MUTATIONS(setup_pg_intl)};
    const struct CMUnitTest pgm[] = {cmocka_unit_test_setup_teardown(t_intact_journal_verifies, setup_pg_gm, teardown),
                                     cmocka_unit_test_setup_teardown(t_changed_field, setup_pg_gm, teardown),
                                     cmocka_unit_test_setup_teardown(t_proofs, setup_pg_gm, teardown)};
    const struct CMUnitTest ar[] = {cmocka_unit_test_setup_teardown(t_archive_months, setup_old_sqlite, teardown),
                                    cmocka_unit_test_setup_teardown(t_archive_months, setup_old_pg_gm, teardown),
                                    cmocka_unit_test_setup_teardown(t_archive_takes_only_an_old_prefix,
                                                                    setup_sqlite_intl, teardown)};
    int rc = cmocka_run_group_tests_name("audit/retention", ar, NULL, NULL);
    rc += cmocka_run_group_tests_name("audit/sqlite/intl", si, NULL, NULL);
    /* Verification in blocks of 8 events, several threads: the same journal
     * spans 375 blocks, checkpoints fall inside blocks (500) and at their
     * ends (1000), and mutations at a block's first event (1000, 2000). */
    rc += cmocka_run_group_tests_name("audit/sqlite/intl, verified in blocks of 8", si, small_blocks, default_blocks);
    const struct CMUnitTest pib[] = {cmocka_unit_test_setup_teardown(t_intact_journal_verifies, setup_pg_intl, teardown),
                                     cmocka_unit_test_setup_teardown(t_swapped_events, setup_pg_intl, teardown),
                                     cmocka_unit_test_setup_teardown(t_deleted_event, setup_pg_intl, teardown),
                                     cmocka_unit_test_setup_teardown(t_replaced_checkpoint, setup_pg_intl, teardown),
                                     cmocka_unit_test_setup_teardown(t_archive_months, setup_old_sqlite, teardown)};
    rc += cmocka_run_group_tests_name("audit/postgres/intl and archives, verified in blocks of 8", pib, small_blocks,
                                      default_blocks);
    rc += cmocka_run_group_tests_name("audit/sqlite/gm", sg, NULL, NULL);
    rc += cmocka_run_group_tests_name("audit/postgres/intl", pi, NULL, NULL);
    rc += cmocka_run_group_tests_name("audit/postgres/gm", pgm, NULL, NULL);
    return rc;
}
