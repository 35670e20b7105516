/* sqlite.c — SQLite backend: group-committing writer thread, reader pool.
 *
 * Writes: callers queue a job and wait.  The writer thread takes up to
 * batch_max queued jobs, opens one BEGIN IMMEDIATE, runs each job inside
 * its own SAVEPOINT (rolled back alone if it fails) and COMMITs once; with
 * WAL and synchronous=FULL that is one fsync for the whole batch.  Only then
 * are the batch's callers woken.  A batch stays open for up to
 * commit_delay_us from its start: jobs queued meanwhile join it, and while
 * the queue is empty and the batch holds fewer jobs than the one before
 * it, the writer waits for them (PostgreSQL's commit_delay, bounded by the
 * load seen).  Fewer, larger commits under load: fewer fsyncs, and fewer
 * times every reader's page cache is dropped (a WAL reader discards it
 * when any commit happened since its last transaction); alone, a write
 * commits at once.  Reads take a query-only connection from a pool and run
 * inside BEGIN ... COMMIT for a consistent snapshot.
 */
#include "store/stmt_cache.h"
#include "store/store_impl.h"

#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARAMS 64

typedef struct sq_conn sq_conn;

typedef struct sq_stmt {
    struct ih_stmt base;
    sqlite3_stmt *st;
    char *sql;
    int map[MAX_PARAMS + 1]; /* $k -> sqlite parameter index (0 = unused) */
    int64_t changes;
    bool in_tx;
    bool orphan; /* replaced in the cache while in use: freed when the transaction ends */
    struct sq_stmt *next_used;
} sq_stmt;

/* Transaction control, prepared once per connection (parsing them on every
 * transaction is a measurable share of a small write). */
enum { CTL_BEGIN, CTL_BEGIN_IMMEDIATE, CTL_COMMIT, CTL_ROLLBACK, CTL_SAVEPOINT, CTL_RELEASE, CTL_ROLLBACK_TO, CTL__COUNT };
static const char *const ctl_sql[CTL__COUNT] = {"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT job",
                                                "RELEASE job", "ROLLBACK TO job"};

struct sq_conn {
    sqlite3 *db;
    stmt_cache cache;
    sq_stmt *used; /* statements touched in the current transaction */
    sqlite3_stmt *ctl[CTL__COUNT];
};

typedef struct sq_tx {
    struct ih_tx base;
    sq_conn *conn;
} sq_tx;

typedef struct job {
    ih_tx_fn fn;
    void *arg;
    tx_undo undo; /* hooks of a job that succeeded, until its batch commits */
    ih_err result;
    ih_err_text text;
    sem_t done; /* posted by the writer once result and text are set */
    struct job *next;
} job;

typedef struct sq_store {
    struct ih_store base;
    char *path;
    int batch_max;
    sq_conn writer;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* writer waits for jobs (CLOCK_MONOTONIC) */
    job *head, *tail;
    int queued;      /* jobs in head..tail */
    int gather_need; /* >0: the writer lets a batch gather; wake it at this many */
    int delay_us;    /* how long a batch stays open for more */
    bool stopping;
    sq_conn *readers;
    int nreaders;
    pthread_mutex_t rmu; /* the free readers; apart from mu, which writes queue on */
    int *free_readers;
    int nfree;
    pthread_cond_t reader_cv;
} sq_store;

static _Thread_local bool in_callback;

/* ---- errors -------------------------------------------------------------- */

static ih_err map_rc(sqlite3 *db, int rc, const char *what)
{
    ih_err e;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) e = IH_E_EXISTS;
        else if (rc == SQLITE_CONSTRAINT_TRIGGER) e = IH_E_STORAGE;
        else e = IH_E_CONFLICT;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: e = IH_E_BUSY; break;
    case SQLITE_NOMEM: e = IH_E_NOMEM; break;
    default: e = IH_E_STORAGE;
    }
    return ih_fail(e, "sqlite %s: %s (%d)", what, db ? sqlite3_errmsg(db) : "", rc);
}

/* ---- connections --------------------------------------------------------- */

static ih_err conn_open(sq_conn *c, const char *path, bool reader)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_EXRESCODE;
    memset(c, 0, sizeof *c);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        ih_err e = map_rc(c->db, rc, "open");
        sqlite3_close_v2(c->db);
        c->db = NULL;
        return e;
    }
    sqlite3_busy_timeout(c->db, 10000);
    /* secure_delete: freed pages are zeroed (residual information, L3 8.1.4.10). */
    const char *pragmas = reader ? "PRAGMA query_only = ON; PRAGMA trusted_schema = OFF;"
                                 : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                   "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA cache_size = -16384;"
                                   "PRAGMA trusted_schema = OFF;";
    char *msg = NULL;
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        ih_err e = ih_fail(IH_E_STORAGE, "sqlite pragmas: %s", msg ? msg : "");
        sqlite3_free(msg);
        sqlite3_close_v2(c->db);
        c->db = NULL;
        return e;
    }
    return IH_OK;
}

static void conn_close(sq_conn *c)
{
    for (size_t i = 0; i < c->cache.cap; i++) {
        sq_stmt *s = c->cache.slots[i].val;
        if (!c->cache.slots[i].key || !s) continue;
        sqlite3_finalize(s->st);
        free(s->sql);
        free(s);
    }
    free(c->cache.slots);
    for (int i = 0; i < CTL__COUNT; i++) sqlite3_finalize(c->ctl[i]);
    if (c->db) sqlite3_close_v2(c->db);
    memset(c, 0, sizeof *c);
}

/* Reset every statement the transaction used, so no read stays open. */
static void conn_end_tx(sq_conn *c)
{
    for (sq_stmt *s = c->used; s;) {
        sq_stmt *n = s->next_used;
        sqlite3_reset(s->st);
        sqlite3_clear_bindings(s->st);
        s->in_tx = false;
        s->next_used = NULL;
        if (s->orphan) {
            sqlite3_finalize(s->st);
            free(s->sql);
            free(s);
        }
        s = n;
    }
    c->used = NULL;
}

static ih_err conn_exec(sq_conn *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        ih_err e = map_rc(c->db, rc, sql);
        sqlite3_free(msg);
        return e;
    }
    return IH_OK;
}

static ih_err conn_ctl(sq_conn *c, int which)
{
    if (!c->ctl[which]) {
        int rc = sqlite3_prepare_v3(c->db, ctl_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &c->ctl[which], NULL);
        if (rc != SQLITE_OK) return map_rc(c->db, rc, ctl_sql[which]);
    }
    int rc = sqlite3_step(c->ctl[which]);
    sqlite3_reset(c->ctl[which]);
    if (rc != SQLITE_DONE) return map_rc(c->db, sqlite3_extended_errcode(c->db), ctl_sql[which]);
    return IH_OK;
}

/* ---- statements ---------------------------------------------------------- */

static ih_err sq_prepare(ih_tx *tx, const char *sql, ih_stmt **out)
{
    sq_conn *c = ((sq_tx *)tx)->conn;
    sq_stmt *s = stmt_cache_get(&c->cache, sql);
    if (!s) {
        s = calloc(1, sizeof *s);
        IH_CHECK_ALLOC(s);
        s->sql = strdup(sql);
        if (!s->sql) {
            free(s);
            return ih_fail(IH_E_NOMEM, "strdup");
        }
        int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL);
        if (rc != SQLITE_OK) {
            ih_err e = map_rc(c->db, rc, "prepare");
            free(s->sql);
            free(s);
            return e;
        }
        int n = sqlite3_bind_parameter_count(s->st);
        for (int i = 1; i <= n; i++) {
            const char *name = sqlite3_bind_parameter_name(s->st, i);
            int k = name && name[0] == '$' ? atoi(name + 1) : 0;
            if (k < 1 || k > MAX_PARAMS) {
                sqlite3_finalize(s->st);
                free(s->sql);
                free(s);
                return ih_fail(IH_E_INTERNAL, "SQL must use $1..$%d placeholders: %.60s", MAX_PARAMS, sql);
            }
            s->map[k] = i;
        }
        void *old = NULL;
        int rc_put = stmt_cache_put(&c->cache, sql, s->sql, s, &old);
        if (old && ((sq_stmt *)old)->in_tx) ((sq_stmt *)old)->orphan = true;
        else if (old) {
            sqlite3_finalize(((sq_stmt *)old)->st);
            free(((sq_stmt *)old)->sql);
            free(old);
        }
        if (rc_put != 0) {
            sqlite3_finalize(s->st);
            free(s->sql);
            free(s);
            return ih_fail(IH_E_NOMEM, "statement cache");
        }
    } else {
        sqlite3_reset(s->st);
        sqlite3_clear_bindings(s->st);
    }
    s->base.tx = tx;
    s->changes = 0;
    if (!s->in_tx) {
        s->in_tx = true;
        s->next_used = c->used;
        c->used = s;
    }
    *out = &s->base;
    return IH_OK;
}

static int pidx(ih_stmt *st, int idx)
{
    sq_stmt *s = (sq_stmt *)st;
    return (idx >= 1 && idx <= MAX_PARAMS) ? s->map[idx] : 0;
}

static void sq_bind_int(ih_stmt *st, int idx, int64_t v)
{
    int i = pidx(st, idx);
    if (i) sqlite3_bind_int64(((sq_stmt *)st)->st, i, v);
}

static void sq_bind_text(ih_stmt *st, int idx, const char *v, size_t n)
{
    int i = pidx(st, idx);
    if (i) sqlite3_bind_text64(((sq_stmt *)st)->st, i, v, n, SQLITE_TRANSIENT, SQLITE_UTF8);
}

static void sq_bind_blob(ih_stmt *st, int idx, const void *p, size_t n)
{
    int i = pidx(st, idx);
    if (i) sqlite3_bind_blob64(((sq_stmt *)st)->st, i, n ? p : "", n, SQLITE_TRANSIENT);
}

static void sq_bind_null(ih_stmt *st, int idx)
{
    int i = pidx(st, idx);
    if (i) sqlite3_bind_null(((sq_stmt *)st)->st, i);
}

static ih_err sq_step(ih_stmt *st, bool *row)
{
    sq_stmt *s = (sq_stmt *)st;
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW) {
        *row = true;
        return IH_OK;
    }
    *row = false;
    sqlite3 *db = sqlite3_db_handle(s->st);
    if (rc == SQLITE_DONE) {
        s->changes = sqlite3_changes64(db);
        return IH_OK;
    }
    rc = sqlite3_extended_errcode(db);
    ih_err e = map_rc(db, rc, "step");
    sqlite3_reset(s->st);
    return e;
}

static int64_t sq_changes(ih_stmt *st) { return ((sq_stmt *)st)->changes; }
static bool sq_col_null(ih_stmt *st, int col) { return sqlite3_column_type(((sq_stmt *)st)->st, col) == SQLITE_NULL; }
static int64_t sq_col_int(ih_stmt *st, int col) { return sqlite3_column_int64(((sq_stmt *)st)->st, col); }

static const char *sq_col_text(ih_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(((sq_stmt *)st)->st, col);
    return t ? (const char *)t : "";
}

static const char *sq_col_textn(ih_stmt *st, int col, size_t *n)
{
    sqlite3_stmt *s = ((sq_stmt *)st)->st;
    const unsigned char *t = sqlite3_column_text(s, col);
    *n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
    return (const char *)t;
}

static const uint8_t *sq_col_blob(ih_stmt *st, int col, size_t *n)
{
    sqlite3_stmt *s = ((sq_stmt *)st)->st;
    const uint8_t *p = sqlite3_column_blob(s, col);
    *n = (size_t)sqlite3_column_bytes(s, col);
    return p;
}

static ih_err sq_exec_script(ih_tx *tx, const char *sql) { return conn_exec(((sq_tx *)tx)->conn, sql); }

/* ---- writer -------------------------------------------------------------- */

static void run_job(sq_store *s, job *j)
{
    sq_tx tx = {.base = {.store = &s->base, .write = true}, .conn = &s->writer};
    ih_err e = conn_ctl(&s->writer, CTL_SAVEPOINT);
    if (e == IH_OK) {
        ih_err_clear();
        in_callback = true;
        e = j->fn(&tx.base, j->arg);
        in_callback = false;
        if (e == IH_OK && tx.base.failed) e = tx.base.fail_code;
        if (e == IH_OK) e = store_precommit_run(&tx.base);
        store_precommit_done(&tx.base.pre);
        ih_err_save(&j->text);
        conn_end_tx(&s->writer);
        if (e != IH_OK) conn_ctl(&s->writer, CTL_ROLLBACK_TO);
        if (conn_ctl(&s->writer, CTL_RELEASE) != IH_OK && e == IH_OK) e = IH_E_STORAGE;
        if (e != IH_OK) store_undo_run(&tx.base.undo); /* its savepoint is gone */
        else j->undo = tx.base.undo;                   /* until the batch commits */
    } else {
        ih_err_save(&j->text);
    }
    j->result = e;
}

/* Jobs from..until (exclusive) shared a transaction that is gone: each that
 * had succeeded fails with e after all, and forgets what it did. */
static void fail_segment(job *from, job *until, ih_err e, const ih_err_text *t)
{
    for (job *j = from; j != until; j = j->next)
        if (j->result == IH_OK) {
            store_undo_run(&j->undo);
            j->result = e;
            j->text = *t;
        }
}

/* Under s->mu: detach up to max queued jobs; *n grows by their count. */
static job *take(sq_store *s, int max, int *n)
{
    job *first = s->head, *last = first;
    int k = 1;
    while (last->next && k < max) {
        last = last->next;
        k++;
    }
    s->head = last->next;
    if (!s->head) s->tail = NULL;
    last->next = NULL;
    s->queued -= k;
    *n += k;
    return first;
}

/* More jobs for an open batch of *n, while its window (until) lasts: what
 * is queued; when nothing is and the batch is still smaller than want (the
 * batch before it), what arrives until want are queued or the window ends.
 * NULL once the window is over, the batch full, or nothing came. */
static job *top_up(sq_store *s, const struct timespec *until, int *n, int want)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (*n >= s->batch_max || now.tv_sec > until->tv_sec ||
        (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec))
        return NULL;
    pthread_mutex_lock(&s->mu);
    if (!s->head && *n < want) {
        s->gather_need = want - *n;
        while (s->queued < s->gather_need && !s->stopping)
            if (pthread_cond_timedwait(&s->cv, &s->mu, until) == ETIMEDOUT) break;
        s->gather_need = 0;
    }
    job *more = s->head ? take(s, s->batch_max - *n, n) : NULL;
    pthread_mutex_unlock(&s->mu);
    return more;
}

/* One group commit, open until `until`: jobs queued meanwhile join it.
 * SQLite rolls a whole transaction back by itself on some errors
 * (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM): the jobs before the one that
 * hit it are then undone, and the rest of the batch goes on in a new
 * transaction rather than in autocommit mode.  Returns how many jobs the
 * batch (the list from `batch`) holds in the end. */
static int run_batch(sq_store *s, job *batch, int n, const struct timespec *until, int want)
{
    job *seg = batch; /* first job of the current transaction */
    while (seg) {
        ih_err begin = conn_ctl(&s->writer, CTL_BEGIN_IMMEDIATE);
        if (begin != IH_OK) {
            ih_err_text t;
            ih_err_save(&t);
            for (job *j = seg; j; j = j->next) {
                j->result = begin;
                j->text = t;
            }
            return n;
        }
        job *j = seg, *last = NULL;
        bool lost = false;
        for (;;) {
            for (; j; j = j->next) {
                last = j;
                run_job(s, j);
                if (sqlite3_get_autocommit(s->writer.db)) { /* the transaction is gone */
                    lost = true;
                    break;
                }
            }
            if (lost || !(j = top_up(s, until, &n, want))) break;
            last->next = j;
        }
        if (lost) {
            ih_err e = j->result != IH_OK ? j->result : IH_E_STORAGE;
            ih_err_text t = j->text;
            fail_segment(seg, j->next, e, &t);
            ih_log(IH_LOG_ERROR, "store.batch_rolled_back", "detail", t.detail, NULL);
            seg = j->next;
            continue;
        }
        ih_err c = conn_ctl(&s->writer, CTL_COMMIT);
        if (c != IH_OK) {
            ih_err_text t;
            ih_err_save(&t);
            conn_ctl(&s->writer, CTL_ROLLBACK);
            fail_segment(seg, NULL, c, &t);
            ih_log(IH_LOG_ERROR, "store.commit_failed", "detail", t.detail, NULL);
        }
        return n;
    }
    return n;
}

static void *writer_main(void *arg)
{
    sq_store *s = arg;
    int last_n = 0; /* jobs in the batch before */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->head && !s->stopping) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->head && s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        int n = 0;
        job *batch = take(s, s->batch_max, &n);
        pthread_mutex_unlock(&s->mu);

        struct timespec until; /* the batch stays open for delay_us */
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)s->delay_us * 1000;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        last_n = run_batch(s, batch, n, &until, last_n);
        atomic_fetch_add(&s->base.batches, 1);
        /* Each caller sleeps on its own semaphore, not on s->mu: waking
         * a whole batch must not make them queue for one lock. */
        for (job *j = batch; j;) {
            job *next = j->next; /* j lives on its caller's stack */
            atomic_fetch_add(j->result == IH_OK ? &s->base.write_txns : &s->base.write_failed, 1);
            sem_post(&j->done);
            j = next;
        }
    }
    return NULL;
}

static ih_err sq_write(ih_store *base, ih_tx_fn fn, void *arg)
{
    sq_store *s = (sq_store *)base;
    if (in_callback) return ih_fail(IH_E_INTERNAL, "nested store transaction");
    job j = {.fn = fn, .arg = arg};
    sem_init(&j.done, 0, 0);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        sem_destroy(&j.done);
        return ih_fail(IH_E_UNAVAILABLE, "store is closing");
    }
    if (s->tail) s->tail->next = &j;
    else s->head = &j;
    s->tail = &j;
    s->queued++;
    if (!s->gather_need || s->queued >= s->gather_need) pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    while (sem_wait(&j.done) != 0) continue; /* EINTR */
    sem_destroy(&j.done);
    ih_err_load(&j.text);
    return j.result;
}

/* ---- readers ------------------------------------------------------------- */

static int reader_take(sq_store *s)
{
    pthread_mutex_lock(&s->rmu);
    while (s->nfree == 0) pthread_cond_wait(&s->reader_cv, &s->rmu);
    int idx = s->free_readers[--s->nfree];
    pthread_mutex_unlock(&s->rmu);
    return idx;
}

static void reader_give(sq_store *s, int idx)
{
    pthread_mutex_lock(&s->rmu);
    s->free_readers[s->nfree++] = idx;
    pthread_cond_signal(&s->reader_cv);
    pthread_mutex_unlock(&s->rmu);
}

/* scan: the connection memory-maps the database file for this transaction
 * (pages read in place instead of copied by pread), then unmaps it, so the
 * mapping never adds a large file's pages to the server's resident size. */
#define SCAN_MMAP "2147418112" /* SQLite's default upper bound */

static ih_err reader_run(ih_store *base, ih_tx_fn fn, void *arg, bool scan)
{
    sq_store *s = (sq_store *)base;
    if (in_callback) return ih_fail(IH_E_INTERNAL, "nested store transaction");
    int idx = reader_take(s);

    sq_conn *c = &s->readers[idx];
    sq_tx tx = {.base = {.store = base, .write = false}, .conn = c};
    ih_err e = scan ? conn_exec(c, "PRAGMA mmap_size = " SCAN_MMAP) : IH_OK;
    if (e == IH_OK) e = conn_ctl(c, CTL_BEGIN);
    if (e == IH_OK) {
        in_callback = true;
        e = fn(&tx.base, arg);
        in_callback = false;
        if (e == IH_OK && tx.base.failed) e = tx.base.fail_code;
        store_precommit_done(&tx.base.pre); /* nothing is written in a read */
        ih_err_text t;
        ih_err_save(&t);
        conn_end_tx(c);
        conn_ctl(c, CTL_COMMIT);
        ih_err_load(&t);
    }
    if (scan) {
        ih_err_text t;
        ih_err_save(&t);
        conn_exec(c, "PRAGMA mmap_size = 0");
        ih_err_load(&t);
    }
    atomic_fetch_add(&s->base.read_txns, 1);
    reader_give(s, idx);
    return e;
}

static ih_err sq_read(ih_store *base, ih_tx_fn fn, void *arg) { return reader_run(base, fn, arg, false); }
static ih_err sq_scan(ih_store *base, ih_tx_fn fn, void *arg) { return reader_run(base, fn, arg, true); }

/* ---- snapshot ------------------------------------------------------------ */

static ih_err sq_snapshot(ih_store *base, const char *path)
{
    sq_store *s = (sq_store *)base;
    int idx = reader_take(s);
    sqlite3 *dst = NULL;
    ih_err e = IH_OK;
    int rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE, NULL);
    if (rc != SQLITE_OK) e = map_rc(dst, rc, "snapshot open");
    if (e == IH_OK) {
        /* One step copies every page inside one read transaction: a
         * consistent snapshot even while the writer keeps committing. */
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", s->readers[idx].db, "main");
        if (!b) e = map_rc(dst, sqlite3_errcode(dst), "backup init");
        else {
            rc = sqlite3_backup_step(b, -1);
            if (rc != SQLITE_DONE) e = map_rc(dst, rc, "backup step");
            rc = sqlite3_backup_finish(b);
            if (e == IH_OK && rc != SQLITE_OK) e = map_rc(dst, rc, "backup finish");
        }
    }
    if (dst) sqlite3_close_v2(dst);
    reader_give(s, idx);
    if (e != IH_OK) unlink(path);
    return e;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void sq_close(ih_store *base)
{
    sq_store *s = (sq_store *)base;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < s->nreaders; i++) conn_close(&s->readers[i]);
    conn_close(&s->writer);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->reader_cv);
    free(s->readers);
    free(s->free_readers);
    free(s->path);
    free(s);
}

static const store_ops sqlite_ops = {
    .write = sq_write,
    .read = sq_read,
    .read_one = sq_read, /* a read transaction costs no round trip here */
    .scan = sq_scan,
    .close = sq_close,
    .prepare = sq_prepare,
    .bind_int = sq_bind_int,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .changes = sq_changes,
    .col_null = sq_col_null,
    .col_int = sq_col_int,
    .col_text = sq_col_text,
    .col_textn = sq_col_textn,
    .col_blob = sq_col_blob,
    .exec_script = sq_exec_script,
    .next_id = store_next_id_upsert,
    .snapshot = sq_snapshot,
};

/* No memory statistics: with them every allocation by every connection takes
 * one process-wide mutex, which the workers' reads queued on.  Must come
 * before SQLite initializes; if something used SQLite first it is refused,
 * harmlessly. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_config(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

ih_err store_sqlite_open(const ih_store_opts *o, ih_store **out)
{
    if (!o->sqlite_path || !*o->sqlite_path) return ih_fail(IH_E_CONFIG, "sqlite path missing");
    if (sqlite3_threadsafe() == 0) return ih_fail(IH_E_INTERNAL, "SQLite built without threads");
    pthread_once(&global_once, global_config);
    sq_store *s = calloc(1, sizeof *s);
    IH_CHECK_ALLOC(s);
    s->base.ops = &sqlite_ops;
    s->base.kind = IH_STORE_SQLITE;
    s->batch_max = o->batch_max > 0 ? o->batch_max : 256;
    s->nreaders = o->pool_size > 0 ? o->pool_size : 4;
    s->delay_us = o->commit_delay_us > 0 ? o->commit_delay_us : 0;
    s->base.readers = s->nreaders;
    s->path = strdup(o->sqlite_path);
    s->readers = calloc((size_t)s->nreaders, sizeof *s->readers);
    s->free_readers = calloc((size_t)s->nreaders, sizeof *s->free_readers);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->reader_cv, NULL);
    ih_err e = IH_OK;
    if (!s->path || !s->readers || !s->free_readers) e = ih_fail(IH_E_NOMEM, "sqlite store");
    /* The writer opens first: it creates the file and switches it to WAL. */
    if (e == IH_OK) e = conn_open(&s->writer, s->path, false);
    for (int i = 0; e == IH_OK && i < s->nreaders; i++) {
        e = conn_open(&s->readers[i], s->path, true);
        s->free_readers[s->nfree++] = i;
    }
    if (e == IH_OK && pthread_create(&s->thread, NULL, writer_main, s) != 0)
        e = ih_fail(IH_E_INTERNAL, "cannot start the writer thread");
    if (e != IH_OK) {
        for (int i = 0; i < s->nreaders; i++) conn_close(&s->readers[i]);
        conn_close(&s->writer);
        free(s->readers);
        free(s->free_readers);
        free(s->path);
        free(s);
        return e;
    }
    *out = &s->base;
    return IH_OK;
}
