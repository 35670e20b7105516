/* pg.c — PostgreSQL backend: a pool of libpq connections.
 *
 * Each transaction takes a connection for its duration (BEGIN ... COMMIT);
 * its BEGIN goes out with its first statement, in one round trip.
 * Statements are prepared once per connection (named s1, s2, ...) and run
 * with PQexecPrepared: integers and text are sent as text, blobs in binary
 * format; results come back as text (bytea in hex, decoded on access).
 * Serialization failures and deadlocks retry the whole callback (up to 5
 * times), which is why callbacks must not have outside side effects.
 *
 * Writes are group-committed, as on SQLite: callers queue their callbacks;
 * a few writer threads each take a batch, run every callback in its own
 * SAVEPOINT on one connection (a failing one rolls back alone), run the
 * before-commit hooks (the audit appends, which hold the journal's lock
 * from there to the end) and COMMIT once.  With synchronous replication a
 * commit waits for the standby; one wait per batch instead of per request
 * is what lets a cluster's writes keep up.  A callback that hit a deadlock
 * or serialization failure, and every callback of a batch whose hooks
 * failed, runs again alone (run_tx); a lost connection fails the batch's
 * callbacks with IH_E_UNAVAILABLE (nothing of theirs committed).
 */
#include "store/stmt_cache.h"
#include "store/store_impl.h"

#include "core/buf.h"
#include "core/log.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#define MAX_PARAMS 64

typedef struct pg_conn pg_conn;

typedef struct pg_blob {
    uint8_t *p;
    size_t cap, n;
    int row;
} pg_blob;

typedef struct pg_stmt {
    struct ih_stmt base;
    pg_conn *conn;
    char *sql;
    char name[16];
    int nparams;
    char *vals[MAX_PARAMS];
    int lens[MAX_PARAMS];
    int fmts[MAX_PARAMS];
    char numbuf[MAX_PARAMS][24];
    PGresult *res;
    int row, nrows;
    int64_t changes;
    struct pg_blob *blobs; /* per column read as bytea: decoded, of row `row` */
    int nblobs;
    bool in_tx;
    bool writes; /* not a SELECT: it may change rows (a group commit's savepoint first) */
    bool orphan; /* replaced in the cache while in use: freed when the transaction ends */
    struct pg_stmt *next_used;
} pg_stmt;

/* A counter (ih_seq) a group commit holds: the last id it handed out. */
#define PG_SEQS 8
typedef struct pg_seq {
    char name[32];
    int64_t last;
} pg_seq;

struct pg_conn {
    PGconn *c;
    stmt_cache cache;
    int next_name;
    pg_stmt *used;
    unsigned epoch; /* the store's epoch when this connection was made */
    /* run_tx's BEGIN, sent with the transaction's first statement (NULL once
     * sent); begin_failed: it failed; broken: the connection's state is
     * unknown (a pipeline that did not finish), dropped when pooled again */
    const char *begin;
    bool begin_failed, broken;
    /* ih_store_read_one: no transaction around it, and one statement only
     * (ran: that statement went out) */
    bool one, ran;
    /* while a group commit runs on it: the counters it holds (pg_next_id) */
    bool batch;
    /* a group commit's callbacks: each one's savepoint is taken before its
     * first statement that may change rows (sp_lazy), so a callback that
     * only reads costs none; sp_open: the running callback has taken it;
     * sp_held: a savepoint "job" exists (released before the next);
     * redo: a callback without one failed at the server, which ended the
     * transaction: its batch-mates run again alone */
    bool sp_lazy, sp_open, sp_held, redo;
    /* during its before-commit hooks: statements sent by exec_later whose
     * answers are still to be read (the connection is in pipeline mode
     * while there are any) */
    bool hooks;
    int queued;
    pg_seq seq[PG_SEQS];
    int nseq;
};

typedef struct pg_tx {
    struct ih_tx base;
    pg_conn *conn;
} pg_tx;

/* A queued write: its caller sleeps on `done` until a writer has set
 * result and text. */
typedef struct pg_job {
    ih_tx_fn fn;
    void *arg;
    pg_tx tx;     /* kept until the batch ends: undo and before-commit hooks */
    ih_err result;
    bool alone;   /* run again in a transaction of its own */
    ih_err_text text;
    sem_t done;
    struct pg_job *next;
} pg_job;

#define PG_WRITERS_MAX 4

typedef struct pg_store {
    struct ih_store base;
    char *conninfo;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pg_conn **free_conns;
    int nfree, ntotal, max;
    /* the write queue and its writers */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    pg_job *head, *tail;
    bool stopping;
    int batch_max, nwriters;
    pthread_t writers[PG_WRITERS_MAX];
    /* Bumped when a connection is found lost (the server died, a failover):
     * every pooled connection made before is dropped, not tried one failed
     * request at a time.  With a multi-host conninfo and
     * target_session_attrs=read-write, the new ones find the new primary. */
    _Atomic unsigned epoch;
} pg_store;

static _Thread_local bool in_callback;
static _Atomic uint64_t physical_seq; /* ih_tx_physical */

static ih_err map_result(PGconn *c, PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    ih_err e = IH_E_STORAGE;
    if (state) {
        if (!strcmp(state, "23505")) e = IH_E_EXISTS;
        else if (!strncmp(state, "23", 2)) e = IH_E_CONFLICT;
        else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")) e = IH_E_BUSY;
        /* connection lost, server shutting down or starting, or a server
         * that is a standby now (a failover demoted it) */
        else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strcmp(state, "25006"))
            e = IH_E_UNAVAILABLE;
        else if (!strcmp(state, "57014")) e = IH_E_TIMEOUT;
    } else if (PQstatus(c) != CONNECTION_OK) {
        e = IH_E_UNAVAILABLE;
    }
    size_t n = msg ? strlen(msg) : 0;
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
    return ih_fail(e, "postgres %s: [%s] %.*s", what, state ? state : "-", (int)n, msg ? msg : "");
}

/* ---- statements sent without waiting (ih_stmt_exec_later) -----------------
 *
 * A group commit's before-commit hooks run in the journal's serial lane: every
 * round trip there is paid by every writer of the cluster.  So the hooks'
 * inserts are only sent (libpq pipeline mode), and their answers are read in
 * one go with the COMMIT's.  Anything that needs an answer first collects
 * the outstanding ones (pipe_drain). */

/* The answers to what was sent, with a last statement sent after them in
 * the same round trip: final_sql (the COMMIT), or the prepared statement
 * fin, whose result goes to *fin_res (a statement that needs its answer
 * after inserts that do not: the journal's lock and tail after the hooks'
 * rows).  The first error among them, or IH_OK; after an error the later
 * statements were skipped (aborted) and *fin_res is NULL.  Leaves pipeline
 * mode. */
static ih_err pipe_drain_then(pg_conn *pc, const char *final_sql, pg_stmt *fin, PGresult **fin_res)
{
    PGconn *c = pc->c;
    int expect = pc->queued + (final_sql || fin ? 1 : 0);
    pc->queued = 0;
    ih_err e = IH_OK;
    bool synced = false, sent = true;
    if (final_sql) sent = PQsendQueryParams(c, final_sql, 0, NULL, NULL, NULL, NULL, 0);
    if (fin) sent = PQsendQueryPrepared(c, fin->name, fin->nparams, (const char *const *)fin->vals, fin->lens,
                                        fin->fmts, 0);
    if (sent && PQpipelineSync(c)) {
        /* each statement's result and a NULL, then the sync's */
        int q = 0;
        for (int guard = 0; guard < 2 * expect + 8 && !synced; guard++) {
            PGresult *r = PQgetResult(c);
            if (!r) {
                if (PQstatus(c) != CONNECTION_OK) break;
                q++;
                continue;
            }
            ExecStatusType rs = PQresultStatus(r);
            if (rs == PGRES_PIPELINE_SYNC) synced = true;
            else if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK && rs != PGRES_PIPELINE_ABORTED && e == IH_OK)
                e = map_result(c, r, "pipelined statement"); /* the later ones were skipped: aborted */
            else if (fin && q == expect - 1 && e == IH_OK) /* fin's own (none was aborted: no error) */
                *fin_res = r, r = NULL;
            PQclear(r);
        }
    }
    if (!synced || !PQexitPipelineMode(c)) {
        pc->broken = true;
        if (e == IH_OK) e = map_result(c, NULL, "pipeline");
    }
    if (e != IH_OK && fin_res && *fin_res) {
        PQclear(*fin_res);
        *fin_res = NULL;
    }
    return e;
}

static ih_err pipe_drain(pg_conn *pc, const char *final_sql) { return pipe_drain_then(pc, final_sql, NULL, NULL); }

/* Before a statement that waits for its answer: the sent ones' answers. */
static ih_err pipe_settle(pg_conn *pc) { return pc->queued ? pipe_drain(pc, NULL) : IH_OK; }

static ih_err conn_exec(pg_conn *pc, const char *sql)
{
    ih_err d = pipe_settle(pc);
    PGresult *r = PQexec(pc->c, sql);
    ExecStatusType st = PQresultStatus(r);
    ih_err e = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? IH_OK : map_result(pc->c, r, "exec");
    PQclear(r);
    return d != IH_OK ? d : e;
}

static void stmt_clear_result(pg_stmt *s)
{
    if (s->res) PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    s->nrows = 0;
}

static void stmt_clear_params(pg_stmt *s)
{
    for (int i = 0; i < s->nparams; i++) {
        if (s->vals[i] && s->vals[i] != s->numbuf[i]) free(s->vals[i]);
        s->vals[i] = NULL;
        s->lens[i] = 0;
        s->fmts[i] = 0;
    }
}

static void stmt_free(pg_stmt *s)
{
    stmt_clear_result(s);
    stmt_clear_params(s);
    for (int i = 0; i < s->nblobs; i++) free(s->blobs[i].p);
    free(s->blobs);
    free(s->sql);
    free(s);
}

/* A statement no longer in the cache: its server-side twin goes too. */
static void stmt_drop(pg_conn *pc, pg_stmt *s)
{
    char sql[40];
    snprintf(sql, sizeof sql, "DEALLOCATE %s", s->name);
    if (pc->queued && PQsendQueryParams(pc->c, sql, 0, NULL, NULL, NULL, NULL, 0)) pc->queued++; /* in turn */
    else if (!pc->queued) PQclear(PQexec(pc->c, sql));
    stmt_free(s);
}

static void conn_free(pg_conn *pc)
{
    for (size_t i = 0; i < pc->cache.cap; i++)
        if (pc->cache.slots[i].key) stmt_free(pc->cache.slots[i].val);
    free(pc->cache.slots);
    if (pc->c) PQfinish(pc->c);
    free(pc);
}

static void conn_end_tx(pg_conn *pc)
{
    for (pg_stmt *s = pc->used; s;) {
        pg_stmt *n = s->next_used;
        stmt_clear_result(s);
        stmt_clear_params(s);
        s->in_tx = false;
        s->next_used = NULL;
        if (s->orphan) stmt_drop(pc, s);
        s = n;
    }
    pc->used = NULL;
}

static ih_err conn_new(const char *conninfo, pg_conn **out)
{
    pg_conn *pc = calloc(1, sizeof *pc);
    IH_CHECK_ALLOC(pc);
    pc->c = PQconnectdb(conninfo);
    if (PQstatus(pc->c) != CONNECTION_OK) {
        ih_err e = ih_fail(IH_E_UNAVAILABLE, "postgres connect: %s", PQerrorMessage(pc->c));
        conn_free(pc);
        return e;
    }
    ih_err e = conn_exec(pc, "SET client_encoding = 'UTF8'; SET bytea_output = 'hex';"
                             "SET TIME ZONE 'UTC'; SET synchronous_commit = on;"
                             "SET client_min_messages = warning;");
    if (e != IH_OK) {
        conn_free(pc);
        return e;
    }
    *out = pc;
    return IH_OK;
}

static ih_err pool_get(pg_store *s, pg_conn **out)
{
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->nfree > 0) {
            *out = s->free_conns[--s->nfree];
            pthread_mutex_unlock(&s->mu);
            if (PQstatus((*out)->c) != CONNECTION_OK || (*out)->broken || (*out)->epoch != atomic_load(&s->epoch)) {
                /* Server restarted or link dropped: start this slot afresh. */
                conn_free(*out);
                ih_err e = conn_new(s->conninfo, out);
                if (e == IH_OK) (*out)->epoch = atomic_load(&s->epoch);
                if (e != IH_OK) {
                    pthread_mutex_lock(&s->mu);
                    s->ntotal--;
                    pthread_cond_signal(&s->cv);
                    pthread_mutex_unlock(&s->mu);
                }
                return e;
            }
            return IH_OK;
        }
        if (s->ntotal < s->max) {
            s->ntotal++;
            pthread_mutex_unlock(&s->mu);
            ih_err e = conn_new(s->conninfo, out);
            if (e == IH_OK) (*out)->epoch = atomic_load(&s->epoch);
            if (e != IH_OK) {
                pthread_mutex_lock(&s->mu);
                s->ntotal--;
                pthread_cond_signal(&s->cv);
                pthread_mutex_unlock(&s->mu);
            }
            return e;
        }
        pthread_cond_wait(&s->cv, &s->mu);
    }
}

static void pool_put(pg_store *s, pg_conn *pc)
{
    pthread_mutex_lock(&s->mu);
    s->free_conns[s->nfree++] = pc;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- statements ---------------------------------------------------------- */

static ih_err pg_prepare(ih_tx *tx, const char *sql, ih_stmt **out)
{
    pg_conn *pc = ((pg_tx *)tx)->conn;
    pg_stmt *s = stmt_cache_get(&pc->cache, sql);
    if (!s) {
        s = calloc(1, sizeof *s);
        IH_CHECK_ALLOC(s);
        s->sql = strdup(sql);
        if (!s->sql) {
            free(s);
            return ih_fail(IH_E_NOMEM, "strdup");
        }
        s->conn = pc;
        s->row = -1;
        s->writes = strncasecmp(sql + strspn(sql, " \t\n"), "SELECT", 6) != 0;
        snprintf(s->name, sizeof s->name, "s%d", ++pc->next_name);
        ih_err e = pipe_settle(pc);
        if (e != IH_OK) {
            stmt_free(s);
            return e;
        }
        PGresult *r = PQprepare(pc->c, s->name, sql, 0, NULL);
        e = PQresultStatus(r) == PGRES_COMMAND_OK ? IH_OK : map_result(pc->c, r, "prepare");
        PQclear(r);
        if (e == IH_OK) {
            r = PQdescribePrepared(pc->c, s->name);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) e = map_result(pc->c, r, "describe");
            else s->nparams = PQnparams(r);
            PQclear(r);
        }
        if (e == IH_OK && s->nparams > MAX_PARAMS) e = ih_fail(IH_E_INTERNAL, "too many parameters");
        void *old = NULL;
        if (e == IH_OK && stmt_cache_put(&pc->cache, sql, s->sql, s, &old) != 0)
            e = ih_fail(IH_E_NOMEM, "statement cache");
        if (old && ((pg_stmt *)old)->in_tx) ((pg_stmt *)old)->orphan = true;
        else if (old) stmt_drop(pc, old);
        if (e != IH_OK) {
            stmt_free(s);
            return e;
        }
    } else {
        stmt_clear_result(s);
        stmt_clear_params(s);
    }
    s->base.tx = tx;
    s->changes = 0;
    for (int i = 0; i < s->nblobs; i++) s->blobs[i].row = -1;
    if (!s->in_tx) {
        s->in_tx = true;
        s->next_used = pc->used;
        pc->used = s;
    }
    *out = &s->base;
    return IH_OK;
}

static pg_stmt *param(ih_stmt *st, int idx)
{
    pg_stmt *s = (pg_stmt *)st;
    if (idx < 1 || idx > s->nparams) return NULL;
    int i = idx - 1;
    if (s->vals[i] && s->vals[i] != s->numbuf[i]) free(s->vals[i]);
    s->vals[i] = NULL;
    s->lens[i] = 0;
    s->fmts[i] = 0;
    return s;
}

static void pg_bind_int(ih_stmt *st, int idx, int64_t v)
{
    pg_stmt *s = param(st, idx);
    if (!s) return;
    snprintf(s->numbuf[idx - 1], sizeof s->numbuf[0], "%" PRId64, v);
    s->vals[idx - 1] = s->numbuf[idx - 1];
}

static void pg_bind_text(ih_stmt *st, int idx, const char *v, size_t n)
{
    pg_stmt *s = param(st, idx);
    if (!s) return;
    char *c = malloc(n + 1);
    if (!c) { /* leaves NULL bound: the statement will fail its constraints */
        store_tx_fail(st->tx, ih_fail(IH_E_NOMEM, "bind"));
        return;
    }
    memcpy(c, v, n);
    c[n] = '\0';
    s->vals[idx - 1] = c;
}

static void pg_bind_blob(ih_stmt *st, int idx, const void *p, size_t n)
{
    pg_stmt *s = param(st, idx);
    if (!s) return;
    char *c = malloc(n ? n : 1);
    if (!c) {
        store_tx_fail(st->tx, ih_fail(IH_E_NOMEM, "bind"));
        return;
    }
    if (n) memcpy(c, p, n);
    s->vals[idx - 1] = c;
    s->lens[idx - 1] = (int)n;
    s->fmts[idx - 1] = 1;
}

static void pg_bind_null(ih_stmt *st, int idx) { (void)param(st, idx); }

/* A transaction's BEGIN and its first statement in one round trip (libpq's
 * pipeline mode): the statement's result, or BEGIN's error (then
 * begin_failed is set, for run_tx to try a fresh connection). */
static PGresult *exec_with_begin(pg_stmt *s)
{
    pg_conn *pc = s->conn;
    PGconn *c = pc->c;
    const char *begin = pc->begin;
    pc->begin = NULL;
    const char *const *vals = (const char *const *)s->vals;
    PGresult *res = NULL, *begin_err = NULL;
    bool synced = false;
    /* a connection between transactions is idle: when it will not enter
     * pipeline mode, it is in no state to be used */
    if (PQenterPipelineMode(c) && PQsendQueryParams(c, begin, 0, NULL, NULL, NULL, NULL, 0) &&
        PQsendQueryPrepared(c, s->name, s->nparams, vals, s->lens, s->fmts, 0) && PQpipelineSync(c)) {
        /* BEGIN's result, NULL, the statement's, NULL, the sync */
        int q = 0;
        for (int guard = 0; guard < 16 && !synced; guard++) {
            PGresult *r = PQgetResult(c);
            if (!r) {
                if (PQstatus(c) != CONNECTION_OK) break;
                q++;
                continue;
            }
            ExecStatusType rs = PQresultStatus(r);
            if (rs == PGRES_PIPELINE_SYNC) synced = true;
            else if (q == 0 && rs != PGRES_COMMAND_OK && !begin_err) begin_err = r, r = NULL;
            else if (q == 1 && !res) res = r, r = NULL;
            PQclear(r);
        }
    }
    if (!synced || !PQexitPipelineMode(c)) pc->broken = true; /* also when it never entered */
    if (begin_err || !res) {
        pc->begin_failed = true;
        PQclear(res);
        return begin_err; /* NULL: map_result reports the connection's error */
    }
    return res;
}

/* A group commit's callback about to change rows: its savepoint, so that
 * its failure undoes only its own changes (the one before it released). */
static ih_err job_savepoint(pg_conn *pc)
{
    if (!pc->sp_lazy || pc->sp_open) return IH_OK;
    IH_TRY(conn_exec(pc, pc->sp_held ? "RELEASE SAVEPOINT job; SAVEPOINT job" : "SAVEPOINT job"));
    pc->sp_open = pc->sp_held = true;
    return IH_OK;
}

static ih_err pg_step(ih_stmt *st, bool *row)
{
    pg_stmt *s = (pg_stmt *)st;
    if (!s->res) {
        if (s->conn->one && s->conn->ran)
            return store_tx_fail(st->tx, ih_fail(IH_E_INTERNAL, "a read of one statement ran a second"));
        s->conn->ran = true;
        if (s->writes) {
            ih_err e = job_savepoint(s->conn);
            if (e != IH_OK) return store_tx_fail(st->tx, e);
        }
        if (s->conn->queued) {
            /* after the sent ones, in their round trip (they run first) */
            IH_TRY(pipe_drain_then(s->conn, NULL, s, &s->res));
        } else if (s->conn->begin) {
            s->res = exec_with_begin(s);
        } else {
            s->res = PQexecPrepared(s->conn->c, s->name, s->nparams, (const char *const *)s->vals, s->lens,
                                    s->fmts, 0);
        }
        ExecStatusType rs = PQresultStatus(s->res);
        if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
            s->nrows = rs == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
            const char *ct = PQcmdTuples(s->res);
            s->changes = (ct && *ct) ? strtoll(ct, NULL, 10) : 0;
            s->row = -1;
        } else {
            ih_err e = map_result(s->conn->c, s->res, "step");
            stmt_clear_result(s);
            return e;
        }
    }
    if (s->row + 1 < s->nrows) {
        s->row++;
        *row = true;
    } else {
        s->row = s->nrows;
        *row = false;
    }
    return IH_OK;
}

/* During a group commit's hooks: sent, its answer read with the COMMIT's
 * (at most PIPE_MAX outstanding, so that neither side's socket buffer fills
 * while the other waits); elsewhere run at once. */
#define PIPE_MAX 64
static ih_err pg_exec_later(ih_stmt *st)
{
    pg_stmt *s = (pg_stmt *)st;
    pg_conn *pc = s->conn;
    if (!pc->hooks || pc->begin) return ih_stmt_exec(st);
    if (pc->queued >= PIPE_MAX) IH_TRY(pipe_drain(pc, NULL));
    stmt_clear_result(s);
    if (!pc->queued && !PQenterPipelineMode(pc->c)) {
        pc->broken = true;
        return map_result(pc->c, NULL, "pipeline");
    }
    if (!PQsendQueryPrepared(pc->c, s->name, s->nparams, (const char *const *)s->vals, s->lens, s->fmts, 0)) {
        ih_err e = map_result(pc->c, NULL, "send");
        pipe_drain(pc, NULL); /* leaves pipeline mode; the connection is not used again */
        pc->broken = true;
        return e;
    }
    pc->queued++;
    s->changes = 0; /* not known here: exec_later is for statements whose count nobody reads */
    return IH_OK;
}

static int64_t pg_changes(ih_stmt *st) { return ((pg_stmt *)st)->changes; }

static bool valid_cell(pg_stmt *s, int col)
{
    return s->res && s->row >= 0 && s->row < s->nrows && col >= 0 && col < PQnfields(s->res);
}

static bool pg_col_null(ih_stmt *st, int col)
{
    pg_stmt *s = (pg_stmt *)st;
    return !valid_cell(s, col) || PQgetisnull(s->res, s->row, col);
}

static int64_t pg_col_int(ih_stmt *st, int col)
{
    pg_stmt *s = (pg_stmt *)st;
    if (pg_col_null(st, col)) return 0;
    const char *v = PQgetvalue(s->res, s->row, col);
    if (v[0] == 't' && !v[1]) return 1;
    if (v[0] == 'f' && !v[1]) return 0;
    return strtoll(v, NULL, 10);
}

static const char *pg_col_text(ih_stmt *st, int col)
{
    pg_stmt *s = (pg_stmt *)st;
    if (pg_col_null(st, col)) return "";
    return PQgetvalue(s->res, s->row, col);
}

static const char *pg_col_textn(ih_stmt *st, int col, size_t *n)
{
    pg_stmt *s = (pg_stmt *)st;
    *n = 0;
    if (pg_col_null(st, col)) return NULL;
    *n = (size_t)PQgetlength(s->res, s->row, col);
    return PQgetvalue(s->res, s->row, col);
}

static const uint8_t *pg_col_blob(ih_stmt *st, int col, size_t *n)
{
    pg_stmt *s = (pg_stmt *)st;
    *n = 0;
    if (pg_col_null(st, col)) return NULL;
    if (col >= s->nblobs) { /* sized to the statement's columns, once */
        int nf = PQnfields(s->res);
        pg_blob *b = realloc(s->blobs, (size_t)nf * sizeof *b);
        if (!b) return NULL;
        for (int i = s->nblobs; i < nf; i++) b[i] = (pg_blob){.row = -1};
        s->blobs = b;
        s->nblobs = nf;
    }
    pg_blob *b = &s->blobs[col];
    if (b->row == s->row) {
        *n = b->n;
        return b->p;
    }
    const char *v = PQgetvalue(s->res, s->row, col);
    size_t len = (size_t)PQgetlength(s->res, s->row, col);
    if (len < 2 || v[0] != '\\' || v[1] != 'x') return NULL;
    size_t out = (len - 2) / 2;
    if (out + 1 > b->cap) {
        uint8_t *p = realloc(b->p, out + 1);
        if (!p) return NULL;
        b->p = p;
        b->cap = out + 1;
    }
    if (ih_hex_decode(v + 2, len - 2, b->p, b->cap, NULL) != 0) return NULL;
    b->row = s->row;
    b->n = out;
    *n = out;
    return b->p;
}

static ih_err pg_exec_script(ih_tx *tx, const char *sql)
{
    pg_conn *pc = ((pg_tx *)tx)->conn;
    if (pc->begin) {
        const char *begin = pc->begin;
        pc->begin = NULL;
        ih_err e = conn_exec(pc, begin);
        if (e != IH_OK) {
            pc->begin_failed = true;
            return e;
        }
    }
    IH_TRY(job_savepoint(pc));
    return conn_exec(pc, sql);
}

/* ---- transactions -------------------------------------------------------- */

static ih_err run_tx(pg_store *s, bool write, bool one, ih_tx_fn fn, void *arg)
{
    if (in_callback) return ih_fail(IH_E_INTERNAL, "nested store transaction");
    ih_err e = IH_OK;
    for (int attempt = 0; attempt < 5; attempt++) {
        pg_conn *pc;
        e = pool_get(s, &pc);
        if (e != IH_OK) {
            /* no server to be had right now (a failover under way): say so
             * at once, the caller's client retries */
            atomic_fetch_add(&s->epoch, 1);
            return e;
        }
        pg_tx tx = {.base = {.store = &s->base, .write = write, .physical = atomic_fetch_add(&physical_seq, 1) + 1},
                    .conn = pc};
        /* BEGIN goes out with the first statement (exec_with_begin) */
        pc->begin = one ? NULL : write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        pc->begin_failed = false;
        pc->one = one;
        pc->ran = false;
        ih_err_clear();
        in_callback = true;
        e = fn(&tx.base, arg);
        in_callback = false;
        if (e == IH_OK && tx.base.failed) e = tx.base.fail_code;
        if (e == IH_OK && write) e = store_precommit_run(&tx.base);
        store_precommit_done(&tx.base.pre);
        ih_err_text t;
        ih_err_save(&t);
        conn_end_tx(pc);
        /* begun: a transaction is open (no statement ran: none to end) */
        bool begun = !one && !pc->begin && !pc->begin_failed;
        pc->begin = NULL;
        pc->one = false;
        if (begun && e == IH_OK) {
            e = conn_exec(pc, "COMMIT");
            if (e != IH_OK) ih_err_save(&t);
        } else if (begun) {
            conn_exec(pc, "ROLLBACK");
        }
        if (e != IH_OK) store_undo_run(&tx.base.undo);
        ih_err_load(&t);
        if (e == IH_E_UNAVAILABLE || PQstatus(pc->c) != CONNECTION_OK) atomic_fetch_add(&s->epoch, 1);
        pool_put(s, pc);
        /* A connection that failed before anything was done (its server
         * died since it was pooled: the BEGIN, or a statement's prepare
         * before it, failed) is retried with a fresh one; a failure
         * after the work began is the caller's (never applied twice, never
         * half: the transaction rolled back, or its commit is unknown). */
        if (!begun && e == IH_E_UNAVAILABLE) continue;
        if (e != IH_E_BUSY) break;
        struct timespec ts = {0, (long)(1 + attempt * 3) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (write) atomic_fetch_add(e == IH_OK ? &s->base.write_txns : &s->base.write_failed, 1);
    if (write && e == IH_OK) atomic_fetch_add(&s->base.batches, 1);
    if (!write) atomic_fetch_add(&s->base.read_txns, 1);
    return e;
}

static ih_err pg_read(ih_store *base, ih_tx_fn fn, void *arg) { return run_tx((pg_store *)base, false, false, fn, arg); }
static ih_err pg_read_one(ih_store *base, ih_tx_fn fn, void *arg)
{
    return run_tx((pg_store *)base, false, true, fn, arg);
}

/* ---- ids in a group commit ------------------------------------------------
 *
 * A counter row (ih_seq) stays locked from a transaction's first id to its
 * commit, so that ids follow commit order.  In a group commit each callback
 * runs in a savepoint, a subtransaction of its own: updating the same row
 * once per callback, each time from another subtransaction, while the other
 * writers (this node's and the other's) queue on its lock, makes PostgreSQL
 * walk ever more row versions, each with a MultiXact to resolve
 * (GetMultiXactIdMembers was a fifth of the server's CPU under the cluster
 * bench; 200 ids in four concurrent batches took 7x as long as when locked
 * once).  So a batch locks each counter once (SELECT ... FOR UPDATE, in the
 * first callback that needs it), counts in memory, and writes the final
 * value once just before its COMMIT (seq_flush).  A callback that is rolled
 * back gives its ids back: batch_job restores the counts it started with,
 * and a lock taken in its savepoint went with the savepoint. */
static ih_err pg_next_id(ih_tx *tx, const char *name, int64_t *id)
{
    pg_conn *pc = ((pg_tx *)tx)->conn;
    if (!pc->batch) return store_next_id_upsert(tx, name, id);
    for (int i = 0; i < pc->nseq; i++)
        if (!strcmp(pc->seq[i].name, name)) {
            *id = ++pc->seq[i].last;
            return IH_OK;
        }
    if (pc->nseq == PG_SEQS || strlen(name) >= sizeof pc->seq[0].name) return store_next_id_upsert(tx, name, id);
    ih_stmt *st;
    bool row;
    for (int attempt = 0; attempt < 2; attempt++) {
        IH_TRY(ih_tx_prepare(tx, "SELECT value FROM ih_seq WHERE name = $1 FOR UPDATE", &st));
        ih_stmt_text(st, 1, name);
        IH_TRY(ih_stmt_step(st, &row));
        if (row) {
            pg_seq *q = &pc->seq[pc->nseq++];
            snprintf(q->name, sizeof q->name, "%s", name);
            q->last = ih_col_int(st, 0) + 1;
            *id = q->last;
            return ih_stmt_exec(st);
        }
        /* the first id ever of this name */
        IH_TRY(ih_tx_prepare(tx, "INSERT INTO ih_seq(name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", &st));
        ih_stmt_text(st, 1, name);
        IH_TRY(ih_stmt_exec(st));
    }
    return store_tx_fail(tx, ih_fail(IH_E_STORAGE, "id allocation found no counter row"));
}

/* Just before a batch's COMMIT: the counters' final values. */
static ih_err seq_flush(pg_store *s, pg_conn *pc, uint64_t physical)
{
    pg_tx tx = {.base = {.store = &s->base, .write = true, .physical = physical}, .conn = pc};
    ih_err e = IH_OK;
    for (int i = 0; e == IH_OK && i < pc->nseq; i++) {
        ih_stmt *st;
        e = ih_tx_prepare(&tx.base, "UPDATE ih_seq SET value = $2 WHERE name = $1", &st);
        if (e == IH_OK) {
            ih_stmt_text(st, 1, pc->seq[i].name);
            ih_stmt_int(st, 2, pc->seq[i].last);
            e = ih_stmt_exec_later(st);
        }
    }
    conn_end_tx(pc);
    return e;
}

/* ---- group commit -------------------------------------------------------- */

/* Run one queued callback inside the batch's transaction.  Its savepoint
 * "job" is taken before its first statement that may change rows
 * (job_savepoint: a callback that only reads — a message's, whose row goes
 * in from a before-commit hook — takes none, a statement and a round trip
 * fewer each), releasing the one before it in the same round trip; the last
 * one stays open to the commit (which commits it).  A callback that failed
 * rolls back to its savepoint, which leaves it open for the next; one that
 * had none changed nothing, unless a statement of its failed at the server,
 * which ends the transaction (redo).  false: the connection or the
 * transaction is gone (the batch is over). */
static bool batch_job(pg_store *s, pg_conn *pc, uint64_t physical, pg_job *j)
{
    j->tx = (pg_tx){.base = {.store = &s->base, .write = true, .physical = physical}, .conn = pc};
    pg_seq seq[PG_SEQS]; /* the counts before it, given back if it fails */
    int nseq = pc->nseq;
    memcpy(seq, pc->seq, sizeof seq);
    ih_err_clear();
    pc->sp_open = false;
    in_callback = true;
    ih_err e = j->fn(&j->tx.base, j->arg);
    in_callback = false;
    if (e == IH_OK && j->tx.base.failed) e = j->tx.base.fail_code;
    ih_err_save(&j->text);
    conn_end_tx(pc);
    bool alive = true;
    if (e != IH_OK) {
        if (pc->sp_open) alive = conn_exec(pc, "ROLLBACK TO SAVEPOINT job") == IH_OK;
        else if (PQtransactionStatus(pc->c) != PQTRANS_INTRANS) alive = false, pc->redo = true;
        memcpy(pc->seq, seq, sizeof seq);
        pc->nseq = nseq;
        store_undo_run(&j->tx.base.undo);
        store_precommit_done(&j->tx.base.pre);
        j->alone = e == IH_E_BUSY; /* a deadlock or serialization failure: again, alone */
    }
    j->result = e;
    return alive && PQstatus(pc->c) == CONNECTION_OK;
}

/* The batch's transaction is gone: each callback that had succeeded forgets
 * what it did and fails with e, or runs again alone. */
static void batch_fail(pg_job *batch, ih_err e, const ih_err_text *t, bool again)
{
    for (pg_job *j = batch; j; j = j->next) {
        if (j->result != IH_OK) continue;
        store_undo_run(&j->tx.base.undo);
        store_precommit_done(&j->tx.base.pre);
        j->result = e;
        j->text = *t;
        j->alone = again;
    }
}

static void run_batch(pg_store *s, pg_job *batch)
{
    pg_conn *pc = NULL;
    ih_err e = IH_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        e = pool_get(s, &pc);
        if (e != IH_OK) {
            atomic_fetch_add(&s->epoch, 1);
            pc = NULL;
            break;
        }
        e = conn_exec(pc, "BEGIN");
        if (e == IH_OK) break;
        /* a pooled connection whose server died since: once more, afresh */
        atomic_fetch_add(&s->epoch, 1);
        pool_put(s, pc);
        pc = NULL;
        if (e != IH_E_UNAVAILABLE) break;
    }
    if (!pc) {
        ih_err_text t;
        ih_err_save(&t);
        for (pg_job *j = batch; j; j = j->next) {
            j->result = e;
            j->text = t;
        }
        return;
    }
    uint64_t physical = atomic_fetch_add(&physical_seq, 1) + 1;
    pc->batch = true;
    pc->nseq = 0;
    pc->sp_lazy = true;
    pc->sp_held = pc->redo = false;
    bool alive = true;
    pg_job *j = batch;
    for (; j && alive; j = j->next) alive = batch_job(s, pc, physical, j);
    pc->sp_lazy = false;
    for (; j; j = j->next) { /* never ran: the connection went first, or the transaction (again, alone) */
        j->result = IH_E_UNAVAILABLE;
        j->alone = pc->redo;
        ih_fail(IH_E_UNAVAILABLE, "postgres: connection lost");
        ih_err_save(&j->text);
    }
    ih_err_text t;
    if (!alive) {
        ih_fail(IH_E_UNAVAILABLE, "postgres: connection lost during the transaction");
        ih_err_save(&t);
        batch_fail(batch, IH_E_UNAVAILABLE, &t, pc->redo);
        conn_exec(pc, "ROLLBACK");
    } else {
        /* the hooks, in the callbacks' order; then the one commit, sent
         * with what the hooks sent without waiting (ih_stmt_exec_later) */
        ih_err h = IH_OK;
        pc->hooks = true;
        for (j = batch; j && h == IH_OK; j = j->next) {
            if (j->result != IH_OK) continue;
            ih_err_clear();
            h = store_precommit_run(&j->tx.base);
            conn_end_tx(pc);
        }
        if (h == IH_OK) h = seq_flush(s, pc, physical);
        if (h == IH_OK) h = pc->queued ? pipe_drain(pc, "COMMIT") : conn_exec(pc, "COMMIT");
        pc->hooks = false;
        if (h != IH_OK) {
            ih_err_save(&t);
            conn_exec(pc, "ROLLBACK");
            /* a hook's own failure or a deadlock: each callback again, alone,
             * so that only the one at fault fails; a lost server: 503 */
            bool again = h != IH_E_UNAVAILABLE && PQstatus(pc->c) == CONNECTION_OK;
            batch_fail(batch, h, &t, again);
            ih_log(IH_LOG_WARN, "store.batch_rolled_back", "detail", t.detail, NULL);
        }
    }
    for (j = batch; j; j = j->next) store_precommit_done(&j->tx.base.pre);
    pc->batch = false;
    pc->nseq = 0;
    if (PQstatus(pc->c) != CONNECTION_OK) atomic_fetch_add(&s->epoch, 1);
    pool_put(s, pc);
}

static void *writer_main(void *arg)
{
    pg_store *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        while (!s->head && !s->stopping) pthread_cond_wait(&s->qcv, &s->qmu);
        if (!s->head) {
            pthread_mutex_unlock(&s->qmu);
            break;
        }
        pg_job *batch = s->head, *last = batch;
        for (int n = 1; last->next && n < s->batch_max; n++) last = last->next;
        s->head = last->next;
        if (!s->head) s->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->qmu);

        run_batch(s, batch);
        atomic_fetch_add(&s->base.batches, 1);
        for (pg_job *j = batch; j;) {
            pg_job *next = j->next; /* j lives on its caller's stack */
            sem_post(&j->done);
            j = next;
        }
    }
    return NULL;
}

static ih_err pg_write(ih_store *base, ih_tx_fn fn, void *arg)
{
    pg_store *s = (pg_store *)base;
    if (in_callback) return ih_fail(IH_E_INTERNAL, "nested store transaction");
    pg_job j = {.fn = fn, .arg = arg};
    sem_init(&j.done, 0, 0);
    pthread_mutex_lock(&s->qmu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->qmu);
        sem_destroy(&j.done);
        return ih_fail(IH_E_UNAVAILABLE, "store is closing");
    }
    if (s->tail) s->tail->next = &j;
    else s->head = &j;
    s->tail = &j;
    pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    while (sem_wait(&j.done) != 0) continue; /* EINTR */
    sem_destroy(&j.done);
    if (j.alone) return run_tx(s, true, false, fn, arg);
    atomic_fetch_add(j.result == IH_OK ? &s->base.write_txns : &s->base.write_failed, 1);
    ih_err_load(&j.text);
    return j.result;
}

static void pg_close(ih_store *base)
{
    pg_store *s = (pg_store *)base;
    pthread_mutex_lock(&s->qmu);
    s->stopping = true;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    for (int i = 0; i < s->nwriters; i++) pthread_join(s->writers[i], NULL);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    pthread_mutex_lock(&s->mu);
    while (s->nfree < s->ntotal) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nfree; i++) conn_free(s->free_conns[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->free_conns);
    free(s->conninfo);
    free(s);
}

void ih_pg_tool_conn_free(ih_pg_tool_conn *t)
{
    ih_buf_free(&t->arg);
    if (t->password) {
        OPENSSL_cleanse(t->password, strlen(t->password));
        free(t->password);
    }
    free(t->env); /* the inherited strings belong to environ */
    memset(t, 0, sizeof *t);
}

ih_err ih_pg_tool_conn_make(const char *conninfo, ih_pg_tool_conn *t)
{
    memset(t, 0, sizeof *t);
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    PQfreemem(perr); /* may quote the string, password and all */
    if (!opts) return ih_fail(IH_E_CONFIG, "the PostgreSQL connection string does not parse");
    ih_err e = IH_OK;
    for (PQconninfoOption *o = opts; e == IH_OK && o->keyword; o++) {
        if (!o->val || !*o->val) continue;
        if (!strcmp(o->keyword, "password")) {
            size_t n = strlen(o->val);
            t->password = malloc(sizeof "PGPASSWORD=" + n);
            if (!t->password) e = ih_fail(IH_E_NOMEM, "tool environment");
            else snprintf(t->password, sizeof "PGPASSWORD=" + n, "PGPASSWORD=%s", o->val);
            continue;
        }
        if (t->arg.len) e = ih_buf_puts(&t->arg, " ");
        if (e == IH_OK) e = ih_buf_printf(&t->arg, "%s='", o->keyword);
        for (const char *c = o->val; e == IH_OK && *c; c++) {
            if (*c == '\'' || *c == '\\') e = ih_buf_puts(&t->arg, "\\");
            if (e == IH_OK) e = ih_buf_append(&t->arg, c, 1);
        }
        if (e == IH_OK) e = ih_buf_puts(&t->arg, "'");
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val) OPENSSL_cleanse(o->val, strlen(o->val));
    PQconninfoFree(opts);
    if (e == IH_OK && !t->arg.len) e = ih_buf_puts(&t->arg, "dbname=''"); /* libpq's defaults */
    /* the environment: ihosd's own, with PGPASSWORD replaced when given */
    extern char **environ;
    size_t n = 0;
    while (environ[n]) n++;
    if (e == IH_OK && !(t->env = calloc(n + 2, sizeof *t->env))) e = ih_fail(IH_E_NOMEM, "tool environment");
    if (e == IH_OK) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!t->password || strncmp(environ[i], "PGPASSWORD=", 11) != 0) t->env[k++] = environ[i];
        if (t->password) t->env[k++] = t->password;
    }
    if (e != IH_OK) ih_pg_tool_conn_free(t);
    return e;
}

/* Run a program with argv and env, wait; IH_OK if it exited 0. */
static ih_err run_tool(char *const argv[], char *const env[], const char *what)
{
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, env);
    if (rc != 0) return ih_fail(IH_E_IO, "%s: cannot run %s: %s", what, argv[0], strerror(rc));
    int status;
    if (waitpid(pid, &status, 0) < 0) return ih_fail(IH_E_IO, "%s: wait: %s", what, strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return ih_fail(IH_E_STORAGE, "%s failed (exit status %d)", what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return IH_OK;
}

static ih_err pg_snapshot(ih_store *base, const char *path)
{
    pg_store *s = (pg_store *)base;
    ih_pg_tool_conn t;
    IH_TRY(ih_pg_tool_conn_make(s->conninfo, &t));
    char *argv[] = {"pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", (char *)path,
                    "--dbname", t.arg.p, NULL};
    ih_err e = run_tool(argv, t.env, "pg_dump");
    ih_pg_tool_conn_free(&t);
    if (e != IH_OK) unlink(path);
    return e;
}

ih_err ih_store_pg_restore(const char *dump, const char *conninfo)
{
    ih_pg_tool_conn t;
    IH_TRY(ih_pg_tool_conn_make(conninfo, &t));
    char *argv[] = {"pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                    "--dbname", t.arg.p, (char *)dump, NULL};
    ih_err e = run_tool(argv, t.env, "pg_restore");
    ih_pg_tool_conn_free(&t);
    return e;
}

static const store_ops pg_ops = {
    .write = pg_write,
    .read = pg_read,
    .read_one = pg_read_one,
    .scan = pg_read, /* nothing to map: a scan is a read */
    .close = pg_close,
    .prepare = pg_prepare,
    .bind_int = pg_bind_int,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .exec_later = pg_exec_later,
    .changes = pg_changes,
    .col_null = pg_col_null,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_textn = pg_col_textn,
    .col_blob = pg_col_blob,
    .exec_script = pg_exec_script,
    .snapshot = pg_snapshot,
    .next_id = pg_next_id,
};

const char *store_pg_conninfo(ih_store *s) { return s->kind == IH_STORE_PG ? ((pg_store *)s)->conninfo : NULL; }

ih_err store_pg_open(const ih_store_opts *o, ih_store **out)
{
    if (!o->pg_conninfo || !*o->pg_conninfo) return ih_fail(IH_E_CONFIG, "pg_url missing");
    pg_store *s = calloc(1, sizeof *s);
    IH_CHECK_ALLOC(s);
    s->base.ops = &pg_ops;
    s->base.kind = IH_STORE_PG;
    s->max = o->pool_size > 0 ? o->pool_size : 8;
    s->conninfo = strdup(o->pg_conninfo);
    s->free_conns = calloc((size_t)s->max, sizeof *s->free_conns);
    s->batch_max = o->batch_max > 0 ? o->batch_max : 256;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    if (!s->conninfo || !s->free_conns) {
        pg_close(&s->base);
        return ih_fail(IH_E_NOMEM, "pg store");
    }
    /* Connect once now so a wrong URL fails at startup, not at first use. */
    pg_conn *pc;
    ih_err e = conn_new(s->conninfo, &pc);
    if (e != IH_OK) {
        pg_close(&s->base);
        return e;
    }
    s->ntotal = 1;
    s->free_conns[s->nfree++] = pc;
    /* Writers: a batch commits while the next one runs; the rest of the
     * pool is for reads. */
    int want = s->max >= 4 ? 2 : 1;
    for (int i = 0; i < want; i++) {
        if (pthread_create(&s->writers[i], NULL, writer_main, s) != 0) break;
        s->nwriters++;
    }
    if (s->nwriters == 0) {
        pg_close(&s->base);
        return ih_fail(IH_E_NOMEM, "pg store: no writer thread");
    }
    s->base.readers = s->max - s->nwriters > 1 ? s->max - s->nwriters : 1;
    *out = &s->base;
    return IH_OK;
}
