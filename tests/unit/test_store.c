/* test_store.c — the store contract, run against SQLite and PostgreSQL. */
#include "support.h"

#include "core/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const ih_migration mig[] = {
    {1, "items",
     "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BLOB, n INTEGER);",
     NULL},
    {2, "log", "CREATE TABLE event (id INTEGER PRIMARY KEY, item INTEGER NOT NULL, what TEXT NOT NULL);",
     NULL},
};

typedef struct {
    ih_store *s;
    void *ctx;
    ih_store_kind kind;
} fixture;

static int setup_sqlite(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->kind = IH_STORE_SQLITE;
    f->s = t_store_open(f->kind, mig, 2, &f->ctx);
    *state = f;
    return 0;
}

static int setup_pg(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->kind = IH_STORE_PG;
    f->s = t_store_open(f->kind, mig, 2, &f->ctx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    t_store_close(f->s, f->ctx);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

typedef struct {
    const char *name;
    const void *data;
    size_t len;
    int64_t n;
    int64_t id;
    bool fail_after;
    bool hook;      /* register a before-commit hook that logs an event row */
    bool hook_fail; /* … and fails after writing it */
    bool hook_later;  /* … written with ih_stmt_exec_later */
    bool hook_clash;  /* … at an event id already taken (fails at the server) */
    bool hook_read;   /* … then reads it back (ih_stmt_step after the sent insert) */
    bool read_fail;   /* only read, with a statement that fails at the server (PostgreSQL) */
    bool read_refuse; /* only read, then refuse */
    _Atomic int *done; /* counts the hook's done calls */
} insert_arg;

static int64_t clash_id; /* an event id that exists */

/* A before-commit hook: writes an event row for the item (so that a hook's
 * writes are seen to commit or roll back with the rest), optionally fails. */
static ih_err hook_fn(ih_tx *tx, void *arg)
{
    insert_arg *a = arg;
    ih_stmt *st;
    int64_t id;
    IH_TRY(ih_tx_next_id(tx, "event", &id));
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO event(id, item, what) VALUES ($1, $2, 'hooked')", &st));
    ih_stmt_int(st, 1, a->hook_clash ? clash_id : id);
    ih_stmt_int(st, 2, a->id);
    IH_TRY(a->hook_later ? ih_stmt_exec_later(st) : ih_stmt_exec(st));
    if (a->hook_read) {
        bool row;
        IH_TRY(ih_tx_prepare(tx, "SELECT count(*) FROM event WHERE item = $1", &st));
        ih_stmt_int(st, 1, a->id);
        IH_TRY(ih_stmt_step(st, &row));
        int64_t n = row ? ih_col_int(st, 0) : 0;
        IH_TRY(ih_stmt_exec(st));
        if (n != 1) return ih_fail(IH_E_INTERNAL, "the hook's row was not there to read (%lld)", (long long)n);
    }
    if (a->hook_fail) return ih_fail(IH_E_STORAGE, "hook refused '%s'", a->name);
    return IH_OK;
}

static void hook_done(void *arg)
{
    insert_arg *a = arg;
    if (a->done) atomic_fetch_add(a->done, 1);
}

static ih_err insert_fn(ih_tx *tx, void *arg)
{
    insert_arg *a = arg;
    if (a->read_fail || a->read_refuse) {
        ih_stmt *st;
        bool row;
        IH_TRY(ih_tx_prepare(tx, a->read_fail ? "SELECT 1 / (count(*) - count(*)) FROM item" : "SELECT count(*) FROM item",
                             &st));
        IH_TRY(ih_stmt_step(st, &row));
        return ih_reject(IH_E_INVALID, "name", "refused '%s' after reading", a->name);
    }
    if (a->hook) IH_TRY(ih_tx_before_commit(tx, hook_fn, hook_done, a));
    ih_stmt *st;
    IH_TRY(ih_tx_next_id(tx, "item", &a->id));
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO item(id, name, data, n) VALUES ($1, $2, $3, $4)", &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_text(st, 2, a->name);
    ih_stmt_blob(st, 3, a->data, a->len);
    ih_stmt_int(st, 4, a->n);
    IH_TRY(ih_stmt_exec(st));
    if (a->fail_after) return ih_reject(IH_E_INVALID, "name", "refused '%s' after inserting it", a->name);
    return IH_OK;
}

static ih_err insert(ih_store *s, const char *name, int64_t n)
{
    insert_arg a = {.name = name, .n = n};
    return ih_store_write(s, insert_fn, &a);
}

typedef struct {
    const char *sql; /* a literal: SELECT count(*) … */
    int64_t count;
} count_arg;

static ih_err count_fn(ih_tx *tx, void *arg)
{
    count_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, a->sql, &st));
    IH_TRY(ih_stmt_step(st, &row));
    a->count = row ? ih_col_int(st, 0) : -1;
    return IH_OK;
}

static int64_t count_items(ih_store *s)
{
    count_arg a = {.sql = "SELECT count(*) FROM item"};
    T_OK(ih_store_read(s, count_fn, &a));
    return a.count;
}

static int64_t count_hooked(ih_store *s)
{
    count_arg a = {.sql = "SELECT count(*) FROM event WHERE what = 'hooked'"};
    T_OK(ih_store_read(s, count_fn, &a));
    return a.count;
}

/* ---- tests --------------------------------------------------------------- */

static void t_migrations_idempotent(void **state)
{
    fixture *f = *state;
    int v = 0;
    T_OK(ih_store_version(f->s, &v));
    assert_int_equal(v, 2);
    T_OK(ih_store_migrate(f->s, mig, 2)); /* nothing to do the second time */
    T_OK(ih_store_version(f->s, &v));
    assert_int_equal(v, 2);
}

static void t_commit_visible(void **state)
{
    fixture *f = *state;
    int64_t before = count_items(f->s);
    T_OK(insert(f->s, "commit-visible", 1));
    assert_int_equal(count_items(f->s), before + 1);
}

/* A scan reads what a read reads; on SQLite it maps the file only while it
 * runs (the next read on the same connection finds no mapping). */
static void t_scan_reads_then_unmaps(void **state)
{
    fixture *f = *state;
    T_OK(insert(f->s, "scanned", 1));
    count_arg a = {.sql = "SELECT count(*) FROM item"};
    T_OK(ih_store_scan(f->s, count_fn, &a));
    assert_int_equal(a.count, count_items(f->s));
    if (f->kind != IH_STORE_SQLITE) return;
    count_arg m = {.sql = "PRAGMA mmap_size"};
    T_OK(ih_store_scan(f->s, count_fn, &m));
    assert_true(m.count > 0);
    T_OK(ih_store_read(f->s, count_fn, &m)); /* the reader just given back is taken again */
    assert_int_equal(m.count, 0);
}

static void t_callback_error_rolls_back(void **state)
{
    fixture *f = *state;
    int64_t before = count_items(f->s);
    insert_arg a = {.name = "rolled-back", .fail_after = true};
    ih_err_clear();
    ih_err e = ih_store_write(f->s, insert_fn, &a);
    assert_int_equal(e, IH_E_INVALID);
    /* The message set inside the callback reaches the caller's thread. */
    assert_string_equal(ih_err_field(), "name");
    assert_non_null(strstr(ih_err_public(), "rolled-back"));
    assert_int_equal(count_items(f->s), before);
}

static ih_err dup_then_continue(ih_tx *tx, void *arg)
{
    (void)arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO item(id, name) VALUES ($1, $2)", &st));
    ih_stmt_int(st, 1, 900001);
    ih_stmt_text(st, 2, "poison-first");
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO item(id, name) VALUES ($1, $2)", &st));
    ih_stmt_int(st, 1, 900002);
    ih_stmt_text(st, 2, "poison-first"); /* unique violation */
    ih_err e = ih_stmt_exec(st);
    assert_int_equal(e, IH_E_EXISTS);
    /* Ignoring the error does not help: the transaction is poisoned. */
    ih_err e2 = ih_tx_prepare(tx, "SELECT 1", &st);
    assert_int_equal(e2, IH_E_EXISTS);
    return IH_OK;
}

static void t_failed_statement_poisons_tx(void **state)
{
    fixture *f = *state;
    int64_t before = count_items(f->s);
    ih_err e = ih_store_write(f->s, dup_then_continue, NULL);
    assert_int_equal(e, IH_E_EXISTS);
    assert_int_equal(count_items(f->s), before); /* the first insert is gone too */
}

typedef struct {
    int64_t id;
    uint8_t blob[300];
    size_t bloblen;
    char text[64];
    int64_t n;
    bool data_null;
} fetch_arg;

static ih_err fetch_fn(ih_tx *tx, void *arg)
{
    fetch_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT name, data, n FROM item WHERE id = $1", &st));
    ih_stmt_int(st, 1, a->id);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_fail(IH_E_NOT_FOUND, "item %lld", (long long)a->id);
    snprintf(a->text, sizeof a->text, "%s", ih_col_text(st, 0));
    a->data_null = ih_col_null(st, 1);
    const uint8_t *b = ih_col_blob(st, 1, &a->bloblen);
    if (b && a->bloblen <= sizeof a->blob) memcpy(a->blob, b, a->bloblen);
    a->n = ih_col_int(st, 2);
    IH_TRY(ih_stmt_step(st, &row));
    assert_false(row);
    return IH_OK;
}

static void t_value_roundtrip(void **state)
{
    fixture *f = *state;
    uint8_t blob[256];
    for (int i = 0; i < 256; i++) blob[i] = (uint8_t)i; /* includes NUL and 0xff */
    insert_arg a = {.name = "张三 roundtrip \xe2\x9c\x93", .data = blob, .len = sizeof blob,
                    .n = INT64_C(-9007199254740993)};
    T_OK(ih_store_write(f->s, insert_fn, &a));
    fetch_arg r = {.id = a.id};
    T_OK(ih_store_read(f->s, fetch_fn, &r));
    assert_string_equal(r.text, a.name);
    assert_int_equal(r.bloblen, sizeof blob);
    assert_memory_equal(r.blob, blob, sizeof blob);
    assert_true(r.n == a.n);

    insert_arg nul = {.name = "null-blob", .n = 0};
    T_OK(ih_store_write(f->s, insert_fn, &nul));
    fetch_arg r2 = {.id = nul.id};
    T_OK(ih_store_read(f->s, fetch_fn, &r2));
    assert_true(r2.data_null);
    assert_int_equal(r2.bloblen, 0);
}

static void t_ids_increase(void **state)
{
    fixture *f = *state;
    insert_arg a = {.name = "id-a"}, b = {.name = "id-b"};
    T_OK(ih_store_write(f->s, insert_fn, &a));
    T_OK(ih_store_write(f->s, insert_fn, &b));
    assert_true(b.id > a.id);
}

typedef struct {
    int64_t changed;
} upd_arg;

static ih_err update_fn(ih_tx *tx, void *arg)
{
    upd_arg *a = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE item SET n = n + 1 WHERE name LIKE $1", &st));
    ih_stmt_text(st, 1, "chg-%");
    IH_TRY(ih_stmt_exec(st));
    a->changed = ih_stmt_changes(st);
    return IH_OK;
}

static void t_changes_counted(void **state)
{
    fixture *f = *state;
    T_OK(insert(f->s, "chg-1", 0));
    T_OK(insert(f->s, "chg-2", 0));
    T_OK(insert(f->s, "chg-3", 0));
    upd_arg a = {0};
    T_OK(ih_store_write(f->s, update_fn, &a));
    assert_int_equal(a.changed, 3);
}

static ih_err nested_fn(ih_tx *tx, void *arg)
{
    (void)tx;
    fixture *f = arg;
    assert_int_equal(ih_store_write(f->s, count_fn, &(count_arg){0}), IH_E_INTERNAL);
    return IH_OK;
}

static void t_nested_refused(void **state)
{
    fixture *f = *state;
    T_OK(ih_store_write(f->s, nested_fn, f));
}

typedef struct {
    ih_store *s;
    const char *prefix;
    int thread;
    int per_thread;
    int failures_wanted; /* every k-th write fails on purpose (0 = none) */
    bool in_hook;        /* … in its before-commit hook rather than in the callback */
    bool later;          /* … the hook writing with ih_stmt_exec_later, failing at the server */
    _Atomic int *done;
    int ok, failed;
} worker_arg;

static void *writer_thread(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < w->per_thread; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%d-%d", w->prefix, w->thread, i);
        bool fail = w->failures_wanted && i % w->failures_wanted == 0;
        insert_arg a = {.name = name, .n = i, .fail_after = fail && !w->in_hook, .hook = w->in_hook,
                        .hook_fail = fail && w->in_hook && !w->later, .hook_later = w->later,
                        .hook_clash = fail && w->later, .done = w->done};
        ih_err e = ih_store_write(w->s, insert_fn, &a);
        if (e == IH_OK) w->ok++;
        else w->failed++;
    }
    return NULL;
}

static void run_concurrent_later(fixture *f, const char *prefix, int threads, int per, int fail_every,
                                 bool in_hook, bool later, _Atomic int *done, int *ok, int *failed)
{
    pthread_t th[64];
    worker_arg w[64];
    for (int t = 0; t < threads; t++) {
        w[t] = (worker_arg){.s = f->s, .prefix = prefix, .thread = t, .per_thread = per, .failures_wanted = fail_every,
                            .in_hook = in_hook, .later = later, .done = done};
        pthread_create(&th[t], NULL, writer_thread, &w[t]);
    }
    *ok = *failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        *ok += w[t].ok;
        *failed += w[t].failed;
    }
}

static void run_concurrent_hooked(fixture *f, const char *prefix, int threads, int per, int fail_every,
                                  bool in_hook, _Atomic int *done, int *ok, int *failed)
{
    run_concurrent_later(f, prefix, threads, per, fail_every, in_hook, false, done, ok, failed);
}

static void run_concurrent(fixture *f, const char *prefix, int threads, int per, int fail_every, int *ok,
                           int *failed)
{
    run_concurrent_hooked(f, prefix, threads, per, fail_every, false, NULL, ok, failed);
}

static void t_concurrent_writes_group_commit(void **state)
{
    fixture *f = *state;
    int64_t before = count_items(f->s);
    ih_store_stats s0, s1;
    ih_store_get_stats(f->s, &s0);
    int ok, failed;
    run_concurrent(f, "conc", 64, 20, 0, &ok, &failed);
    ih_store_get_stats(f->s, &s1);
    assert_int_equal(ok, 64 * 20);
    assert_int_equal(failed, 0);
    assert_int_equal(count_items(f->s), before + 64 * 20);
    /* 1280 durable writes from 64 threads must share commits (both
     * backends group-commit). */
    uint64_t commits = s1.batches - s0.batches;
    print_message("      %s: %d writes in %llu commits\n", f->kind == IH_STORE_PG ? "pg" : "sqlite", ok,
                  (unsigned long long)commits);
    assert_true(commits < (uint64_t)ok);
}

/* Before-commit hooks: they run in the transaction (their writes commit
 * with it), a failing one fails its own transaction only — also when it
 * shares a group commit with others — and each hook's done runs exactly
 * once, whatever happened. */
static void t_before_commit_hooks(void **state)
{
    fixture *f = *state;
    int64_t items = count_items(f->s), hooked = count_hooked(f->s);
    _Atomic int done = 0;
    insert_arg a = {.name = "hooked-alone", .hook = true, .done = &done};
    T_OK(ih_store_write(f->s, insert_fn, &a));
    assert_int_equal(atomic_load(&done), 1);
    assert_int_equal(count_items(f->s), items + 1);
    assert_int_equal(count_hooked(f->s), hooked + 1);

    insert_arg b = {.name = "hook-refuses", .hook = true, .hook_fail = true, .done = &done};
    assert_int_not_equal(ih_store_write(f->s, insert_fn, &b), IH_OK);
    assert_true(atomic_load(&done) >= 2); /* once per attempt */
    assert_int_equal(count_items(f->s), items + 1);
    assert_int_equal(count_hooked(f->s), hooked + 1);

    insert_arg c = {.name = "callback-refuses", .hook = true, .fail_after = true, .done = &done};
    int before = atomic_load(&done);
    assert_int_equal(ih_store_write(f->s, insert_fn, &c), IH_E_INVALID);
    assert_int_equal(atomic_load(&done), before + 1); /* the hook never ran; done did */

    /* 32 threads, every 3rd write's hook fails: exactly those fail */
    atomic_store(&done, 0);
    int ok, failed;
    run_concurrent_hooked(f, "hookmates", 32, 12, 3, true, &done, &ok, &failed);
    assert_int_equal(failed, 32 * 4);
    assert_int_equal(ok, 32 * 8);
    assert_int_equal(count_items(f->s), items + 1 + ok);
    assert_int_equal(count_hooked(f->s), hooked + 1 + ok);
    assert_true(atomic_load(&done) >= 32 * 12);
}

/* A hook's statements sent without waiting (ih_stmt_exec_later: during a
 * PostgreSQL group commit answered together with the COMMIT) commit with
 * their write; one that fails at the server (a taken key) fails its own
 * write only: its batch is rolled back and each callback runs again alone,
 * so the batch-mates commit, and nothing of the failed ones stays. */
static void t_hook_statements_sent_later(void **state)
{
    fixture *f = *state;
    int64_t items = count_items(f->s), hooked = count_hooked(f->s);
    _Atomic int done = 0;
    insert_arg a = {.name = "later-alone", .hook = true, .hook_later = true, .done = &done};
    T_OK(ih_store_write(f->s, insert_fn, &a));
    assert_int_equal(count_hooked(f->s), hooked + 1);
    count_arg c = {.sql = "SELECT max(id) FROM event"};
    T_OK(ih_store_read(f->s, count_fn, &c));
    clash_id = c.count;
    int ok, failed;
    run_concurrent_later(f, "later", 32, 12, 3, true, true, &done, &ok, &failed);
    assert_int_equal(failed, 32 * 4);
    assert_int_equal(ok, 32 * 8);
    assert_int_equal(count_items(f->s), items + 1 + ok);
    assert_int_equal(count_hooked(f->s), hooked + 1 + ok);
}

/* A statement that needs its answer, after ones sent without waiting, goes
 * out in their round trip (PostgreSQL) and runs after them: it reads their
 * row; their error is its error, and the write fails whole. */
static void t_hook_reads_after_sent(void **state)
{
    fixture *f = *state;
    int64_t items = count_items(f->s), hooked = count_hooked(f->s);
    insert_arg a = {.name = "read-after", .hook = true, .hook_later = true, .hook_read = true};
    T_OK(ih_store_write(f->s, insert_fn, &a));
    assert_int_equal(count_hooked(f->s), hooked + 1);
    count_arg c = {.sql = "SELECT max(id) FROM event"};
    T_OK(ih_store_read(f->s, count_fn, &c));
    clash_id = c.count;
    insert_arg b = {.name = "read-after-clash", .hook = true, .hook_later = true, .hook_read = true, .hook_clash = true};
    ih_err e = ih_store_write(f->s, insert_fn, &b);
    assert_true(e != IH_OK && e != IH_E_INTERNAL); /* the insert's error, not the read's finding */
    assert_int_equal(count_items(f->s), items + 1);
    assert_int_equal(count_hooked(f->s), hooked + 1);
}

static void t_failing_batch_mates_are_isolated(void **state)
{
    fixture *f = *state;
    int64_t before = count_items(f->s);
    int ok, failed;
    /* Every 3rd write fails after inserting; its batch-mates must commit. */
    run_concurrent(f, "mates", 32, 12, 3, &ok, &failed);
    assert_int_equal(failed, 32 * 4);
    assert_int_equal(ok, 32 * 8);
    assert_int_equal(count_items(f->s), before + ok);
}

static int64_t count_sql(ih_store *s, const char *sql)
{
    count_arg a = {.sql = sql};
    T_OK(ih_store_read(s, count_fn, &a));
    return a.count;
}

/* Ids in group commits: a callback that fails gives its ids back (on
 * PostgreSQL a batch counts them in memory and writes the counter once),
 * so what committed is one run without holes, and the counter row ends at
 * its last id — also when some callbacks, and some whole batches (a failing
 * hook), roll back. */
static void t_ids_without_holes(void **state)
{
    fixture *f = *state;
    int64_t first = count_sql(f->s, "SELECT value + 1 FROM ih_seq WHERE name = 'item'");
    int ok, failed;
    run_concurrent(f, "holes", 32, 12, 4, &ok, &failed);
    assert_int_equal(failed, 32 * 3);
    _Atomic int done = 0;
    int hok, hfailed;
    run_concurrent_hooked(f, "holes-hooked", 16, 6, 5, true, &done, &hok, &hfailed);
    assert_int_equal(hfailed, 16 * 2);
    int64_t n = count_sql(f->s, "SELECT count(*) FROM item WHERE name LIKE 'holes%'");
    int64_t last = count_sql(f->s, "SELECT max(id) FROM item");
    assert_int_equal(n, ok + hok);
    assert_int_equal(last - first + 1, n);
    assert_int_equal(count_sql(f->s, "SELECT value FROM ih_seq WHERE name = 'item'"), last);
    assert_int_equal(count_sql(f->s, "SELECT value FROM ih_seq WHERE name = 'event'"),
                     count_sql(f->s, "SELECT max(id) FROM event"));
}

/* Two statements where one was promised. */
static ih_err two_fn(ih_tx *tx, void *arg)
{
    IH_TRY(count_fn(tx, arg));
    count_arg second = {.sql = "SELECT 2"};
    return count_fn(tx, &second);
}

/* A read of one statement answers what a read answers; on PostgreSQL it
 * runs with no transaction around it (the server's default isolation, not
 * a read's repeatable read), and a second statement fails it without
 * harming the connection. */
static void t_read_one(void **state)
{
    fixture *f = *state;
    T_OK(insert(f->s, "read-one", 1));
    count_arg a = {.sql = "SELECT count(*) FROM item"};
    T_OK(ih_store_read_one(f->s, count_fn, &a));
    assert_int_equal(a.count, count_items(f->s));
    if (f->kind == IH_STORE_SQLITE) return;
    count_arg iso = {.sql = "SELECT CASE current_setting('transaction_isolation') WHEN 'repeatable read' THEN 1 "
                            "ELSE 0 END"};
    T_OK(ih_store_read(f->s, count_fn, &iso));
    assert_int_equal(iso.count, 1);
    T_OK(ih_store_read_one(f->s, count_fn, &iso));
    assert_int_equal(iso.count, 0);
    count_arg two = {.sql = "SELECT 1"};
    for (int i = 0; i < 8; i++) /* more than the pool: every connection it took still works */
        assert_int_equal(ih_store_read_one(f->s, two_fn, &two), IH_E_INTERNAL);
    T_OK(ih_store_read(f->s, count_fn, &a));
    assert_int_equal(a.count, count_items(f->s));
}

typedef struct {
    ih_store *s;
    int thread, ok, failed;
} reader_mix_arg;

/* Of every three writes: one only reads and fails at the server, one only
 * reads and refuses, one inserts. */
static void *reader_mix_thread(void *p)
{
    reader_mix_arg *w = p;
    for (int i = 0; i < 12; i++) {
        char name[64];
        snprintf(name, sizeof name, "readmix-%d-%d", w->thread, i);
        insert_arg a = {.name = name, .n = i, .read_fail = i % 3 == 0, .read_refuse = i % 3 == 1};
        if (ih_store_write(w->s, insert_fn, &a) == IH_OK) w->ok++;
        else w->failed++;
    }
    return NULL;
}

/* A group commit's callbacks that only read take no savepoint (PostgreSQL):
 * one that refuses leaves its batch going; one whose statement fails at
 * the server ends the batch's transaction, and its batch-mates run again
 * alone.  Either way each write that succeeded is there, once. */
static void t_reading_batch_mates(void **state)
{
    fixture *f = *state;
    int64_t before = count_items(f->s);
    pthread_t th[32];
    reader_mix_arg w[32];
    for (int t = 0; t < 32; t++) {
        w[t] = (reader_mix_arg){.s = f->s, .thread = t};
        pthread_create(&th[t], NULL, reader_mix_thread, &w[t]);
    }
    int ok = 0, failed = 0;
    for (int t = 0; t < 32; t++) {
        pthread_join(th[t], NULL);
        ok += w[t].ok;
        failed += w[t].failed;
    }
    assert_int_equal(ok, 32 * 4);
    assert_int_equal(failed, 32 * 8);
    assert_int_equal(count_items(f->s), before + ok);
    assert_int_equal(count_sql(f->s, "SELECT count(DISTINCT name) FROM item WHERE name LIKE 'readmix-%'"), ok);
}

static void t_ddl_translation(void **state)
{
    (void)state;
    extern char *store_translate_ddl(const char *sql);
    char *t = store_translate_ddl("CREATE TABLE x (id INTEGER PRIMARY KEY, b BLOB, s TEXT DEFAULT "
                                  "'INTEGER BLOB') WITHOUT ROWID;");
    assert_string_equal(t, "CREATE TABLE x (id BIGINT PRIMARY KEY, b BYTEA, s TEXT DEFAULT "
                           "'INTEGER BLOB') ;");
    free(t);
}

/* SQLite's open batch (commit_delay_us): writers that keep coming share
 * commits, a batch waits only for as many as the one before it held, and a
 * lone writer is never held by the window. */
typedef struct {
    ih_store *s;
    int per;
} window_arg;

static void *window_writer(void *p)
{
    static _Atomic int seq;
    window_arg *w = p;
    for (int i = 0; i < w->per; i++) {
        char name[64];
        snprintf(name, sizeof name, "window-%d", atomic_fetch_add(&seq, 1));
        insert_arg a = {.name = name, .n = i};
        T_OK(ih_store_write(w->s, insert_fn, &a));
    }
    return NULL;
}

static uint64_t window_commits(ih_store *s, int threads, int per)
{
    ih_store_stats s0, s1;
    ih_store_get_stats(s, &s0);
    pthread_t th[8];
    window_arg w = {.s = s, .per = per};
    for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, window_writer, &w);
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    ih_store_get_stats(s, &s1);
    assert_int_equal(s1.write_txns - s0.write_txns, (uint64_t)threads * per);
    return s1.batches - s0.batches;
}

static void t_open_batch_window(void **state)
{
    (void)state;
    char *dir = t_tempdir(), path[600];
    snprintf(path, sizeof path, "%s/window.db", dir);
    ih_store_opts o = {.kind = IH_STORE_SQLITE, .sqlite_path = path, .pool_size = 2, .batch_max = 256,
                       .commit_delay_us = 200000};
    ih_store *s;
    T_OK(ih_store_open(&o, &s));
    T_OK(ih_store_migrate(s, mig, 2));
    /* eight writers, each waiting for its commit before the next write:
     * once a batch held all eight, the next waits for all eight (without
     * the window: about twice as many commits on the test machine) */
    uint64_t shared = window_commits(s, 8, 40);
    print_message("      8 x 40 writes in %llu commits\n", (unsigned long long)shared);
    assert_true(shared <= 320 / 8 + 8);
    /* one writer: after the first write (the batch before held eight) no
     * batch waits — fifty writes take far less than fifty windows */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t alone = window_commits(s, 1, 50);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("      1 x 50 writes in %llu commits, %.0f ms\n", (unsigned long long)alone, ms);
    assert_int_equal(alone, 50);
    assert_true(ms < 25 * 200);
    ih_store_close(s);
    t_rmtree(dir);
    free(dir);
}

/* Durability: a child process writes and reports each acknowledged id on
 * its stdout; we SIGKILL it mid-stream; every acknowledged row must be
 * there afterwards.  The child is this binary re-executed, so it has its own
 * store (and writer thread) rather than a forked copy of ours. */
static int durability_child(const char *kind, const char *where)
{
    ih_store_opts o = {.pool_size = 2, .batch_max = 64};
    o.kind = strcmp(kind, "pg") ? IH_STORE_SQLITE : IH_STORE_PG;
    if (o.kind == IH_STORE_PG) o.pg_conninfo = where;
    else o.sqlite_path = where;
    ih_store *s;
    if (ih_store_open(&o, &s) != IH_OK) return 3;
    for (int i = 0;; i++) {
        char name[64];
        snprintf(name, sizeof name, "durable-%d-%d", (int)getpid(), i);
        insert_arg a = {.name = name, .n = i};
        if (ih_store_write(s, insert_fn, &a) != IH_OK) return 4;
        if (write(1, &a.id, sizeof a.id) != sizeof a.id) return 5;
    }
}

static void t_acknowledged_writes_survive_kill(void **state)
{
    fixture *f = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/proc/self/exe", "test_store", "--durability-child",
              f->kind == IH_STORE_PG ? "pg" : "sqlite", t_store_location(f->ctx), (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    static int64_t acked[100000];
    int n = 0;
    while (n < 300 && read(fds[0], &acked[n], sizeof acked[0]) == sizeof acked[0]) n++;
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    /* Acknowledgements already in the pipe were acknowledged before the kill. */
    while (n < 100000 && read(fds[0], &acked[n], sizeof acked[0]) == sizeof acked[0]) n++;
    close(fds[0]);
    assert_true(WIFSIGNALED(st));
    assert_true(n >= 300);
    for (int i = 0; i < n; i++) {
        fetch_arg r = {.id = acked[i]};
        T_OK(ih_store_read(f->s, fetch_fn, &r));
    }
    print_message("      %d acknowledged writes all present after SIGKILL\n", n);
}

#define STORE_TESTS                                                                                \
    cmocka_unit_test(t_migrations_idempotent), cmocka_unit_test(t_commit_visible),                 \
        cmocka_unit_test(t_scan_reads_then_unmaps),                                                 \
        cmocka_unit_test(t_callback_error_rolls_back), cmocka_unit_test(t_failed_statement_poisons_tx), \
        cmocka_unit_test(t_value_roundtrip), cmocka_unit_test(t_ids_increase),                      \
        cmocka_unit_test(t_changes_counted), cmocka_unit_test(t_nested_refused),                    \
        cmocka_unit_test(t_concurrent_writes_group_commit),                                         \
        cmocka_unit_test(t_failing_batch_mates_are_isolated),                                       \
        cmocka_unit_test(t_hook_statements_sent_later), cmocka_unit_test(t_hook_reads_after_sent),   \
        cmocka_unit_test(t_ids_without_holes), cmocka_unit_test(t_read_one),                        \
        cmocka_unit_test(t_reading_batch_mates),                                                    \
        cmocka_unit_test(t_before_commit_hooks),                                                    \
        cmocka_unit_test(t_acknowledged_writes_survive_kill)

static bool env_has(char **env, const char *entry)
{
    for (; *env; env++)
        if (!strcmp(*env, entry)) return true;
    return false;
}

/* pg_dump and pg_restore get the password in their environment only. */
static void t_tool_conn_keeps_password_out_of_arguments(void **state)
{
    (void)state;
    setenv("PGPASSWORD", "inherited", 1);
    ih_pg_tool_conn t;
    T_OK(ih_pg_tool_conn_make("host=/tmp/pg port=5433 user=alice password='s3 cr\\'et' dbname=his", &t));
    assert_null(strstr(t.arg.p, "s3"));
    assert_string_equal(t.arg.p, "user='alice' dbname='his' host='/tmp/pg' port='5433'"); /* libpq's order */
    assert_true(env_has(t.env, "PGPASSWORD=s3 cr'et"));
    assert_false(env_has(t.env, "PGPASSWORD=inherited"));
    ih_pg_tool_conn_free(&t);
    /* the URI form; a quote in a value stays quoted */
    T_OK(ih_pg_tool_conn_make("postgresql://bob:pw%40x@db.example:5432/o'k", &t));
    assert_null(strstr(t.arg.p, "pw"));
    assert_string_equal(t.arg.p, "user='bob' dbname='o\\'k' host='db.example' port='5432'");
    assert_true(env_has(t.env, "PGPASSWORD=pw@x"));
    ih_pg_tool_conn_free(&t);
    /* without a password the inherited one is left alone */
    T_OK(ih_pg_tool_conn_make("dbname=x", &t));
    assert_true(env_has(t.env, "PGPASSWORD=inherited"));
    ih_pg_tool_conn_free(&t);
    unsetenv("PGPASSWORD");
    assert_int_equal(ih_pg_tool_conn_make("host=", &t) == IH_OK ? 0 : 1, 0);
    ih_pg_tool_conn_free(&t);
    assert_int_equal(ih_pg_tool_conn_make("nonsense", &t), IH_E_CONFIG);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--durability-child")) return durability_child(argv[2], argv[3]);
    const struct CMUnitTest sqlite_tests[] = {STORE_TESTS, cmocka_unit_test(t_ddl_translation),
                                              cmocka_unit_test(t_open_batch_window),
                                              cmocka_unit_test(t_tool_conn_keeps_password_out_of_arguments)};
    const struct CMUnitTest pg_tests[] = {STORE_TESTS};
    int rc = cmocka_run_group_tests_name("store/sqlite", sqlite_tests, setup_sqlite, teardown);
    rc += cmocka_run_group_tests_name("store/postgres", pg_tests, setup_pg, teardown);
    return rc;
}
