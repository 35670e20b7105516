/* store_bench.c — durable small inserts from 64 threads on SQLite:
 *   group commit (the store as ihosd runs it), the same store committing
 *   every transaction alone (batch_max = 1), and bare SQLite doing the same
 *   inserts one transaction each (WAL, synchronous=FULL).
 * Usage: store_bench DIR SECONDS */
#include "core/log.h"
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 64

static const ih_migration mig[] = {
    {1, "msg", "CREATE TABLE msg (id INTEGER PRIMARY KEY, body BLOB NOT NULL, at INTEGER NOT NULL);", NULL},
};

static _Atomic bool stop;
static _Atomic long done;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static ih_err insert_fn(ih_tx *tx, void *arg)
{
    (void)arg;
    int64_t id;
    ih_stmt *st;
    IH_TRY(ih_tx_next_id(tx, "msg", &id));
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO msg(id, body, at) VALUES ($1, $2, $3)", &st));
    static const char body[100] = "a small message of about a hundred bytes, as a chat line would be";
    ih_stmt_int(st, 1, id);
    ih_stmt_blob(st, 2, body, sizeof body);
    ih_stmt_int(st, 3, (int64_t)time(NULL));
    return ih_stmt_exec(st);
}

static void *store_worker(void *arg)
{
    ih_store *s = arg;
    while (!atomic_load(&stop)) {
        if (ih_store_write(s, insert_fn, NULL) != IH_OK) {
            fprintf(stderr, "write failed: %s\n", ih_err_detail());
            exit(1);
        }
        atomic_fetch_add(&done, 1);
    }
    return NULL;
}

static double run_store(const char *dir, int batch_max, double secs, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.db", dir, name);
    ih_store_opts o = {.kind = IH_STORE_SQLITE, .sqlite_path = path, .pool_size = 2, .batch_max = batch_max};
    ih_store *s;
    if (ih_store_open(&o, &s) != IH_OK || ih_store_migrate(s, mig, 1) != IH_OK) {
        fprintf(stderr, "store: %s\n", ih_err_detail());
        exit(1);
    }
    atomic_store(&stop, false);
    atomic_store(&done, 0);
    pthread_t th[THREADS];
    double t0 = now();
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, store_worker, s);
    usleep((useconds_t)(secs * 1e6));
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    double rate = (double)atomic_load(&done) / (now() - t0);
    ih_store_stats st;
    ih_store_get_stats(s, &st);
    printf("  %-44s %9.0f inserts/s  (%llu commits for %llu inserts)\n", name, rate,
           (unsigned long long)st.batches, (unsigned long long)st.write_txns);
    ih_store_close(s);
    return rate;
}

typedef struct {
    const char *path;
} bare_arg;

static void *bare_worker(void *arg)
{
    bare_arg *a = arg;
    sqlite3 *db;
    sqlite3_open(a->path, &db);
    sqlite3_busy_timeout(db, 60000);
    sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO msg(body, at) VALUES (?1, ?2)", -1, &st, NULL);
    static const char body[100] = "a small message of about a hundred bytes, as a chat line would be";
    while (!atomic_load(&stop)) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_bind_blob(st, 1, body, sizeof body, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
        sqlite3_step(st);
        sqlite3_reset(st);
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) atomic_fetch_add(&done, 1);
        else sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

static double run_bare(const char *dir, double secs)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/bare.db", dir);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA journal_mode = WAL; CREATE TABLE msg (id INTEGER PRIMARY KEY, body BLOB, at INTEGER);",
                 NULL, NULL, NULL);
    sqlite3_close(db);
    atomic_store(&stop, false);
    atomic_store(&done, 0);
    pthread_t th[THREADS];
    bare_arg a = {path};
    double t0 = now();
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, bare_worker, &a);
    usleep((useconds_t)(secs * 1e6));
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    double rate = (double)atomic_load(&done) / (now() - t0);
    printf("  %-44s %9.0f inserts/s\n", "bare SQLite, one transaction each", rate);
    return rate;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: store_bench DIR SECONDS\n");
        return 2;
    }
    double secs = atof(argv[2]);
    ih_log_setup("stderr", IH_LOG_WARN, "store_bench");
    printf("store: %d threads, durable 100-byte inserts (WAL, synchronous=FULL), %.0fs each\n", THREADS, secs);
    double group = run_store(argv[1], 256, secs, "ihos store, group commit");
    double single = run_store(argv[1], 1, secs, "ihos store, one transaction per commit");
    run_bare(argv[1], secs);
    printf("  group commit / one transaction each: %.1fx (target >= 3x)\n", group / single);
    return 0;
}
