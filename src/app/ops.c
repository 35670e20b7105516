/* ops.c — see ops.h. */
#include "app/ops.h"

#include "compliance/signed.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BEAT_MS 5000
#define LOST_MS 30000
#define POLL_MS 200

typedef struct run {
    struct run *next;
    ih_ops *o;
    pthread_t thread;
    bool finished; /* the thread has returned; joined by the next begin or stop */
    int64_t id;
    char kind[32];
    int64_t started_at;
    ih_op_fn fn;
    void *arg;
    void (*free_arg)(void *);
    /* who asked, copied: the request is gone when the work runs */
    ih_actor who;
    char role[32], session[64], ip[64], request_id[64];
} run;

struct ih_ops {
    ih_store *s;
    const ih_signkey *key, *pub;
    char node[128];
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the beat thread's sleep; stop */
    run *runs;         /* this node's, running or not yet joined */
    bool stopping;
    atomic_bool draining; /* waits answer "running" at once */
    pthread_t beat;
};

/* ---- op_run rows ------------------------------------------------------------ */

typedef struct {
    ih_ops *o;
    const char *kind;
    int64_t id;
    bool joined;
    int64_t now;
    int64_t actor;
} begin_arg;

static ih_err begin_fn(ih_tx *tx, void *arg)
{
    begin_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id, beat_at FROM op_run WHERE kind = $1 AND state = 'running' ORDER BY id DESC "
                             "LIMIT 1",
                         &st));
    ih_stmt_text(st, 1, a->kind);
    IH_TRY(ih_stmt_step(st, &row));
    if (row && ih_col_int(st, 1) >= a->now - LOST_MS) {
        a->id = ih_col_int(st, 0);
        a->joined = true;
        return ih_stmt_exec(st);
    }
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(ih_tx_next_id(tx, "op_run", &a->id));
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO op_run (id, kind, node, actor_id, state, started_at, beat_at) "
                             "VALUES ($1, $2, $3, $4, 'running', $5, $5)",
                         &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_text(st, 2, a->kind);
    ih_stmt_text(st, 3, a->o->node);
    ih_stmt_int(st, 4, a->actor);
    ih_stmt_int(st, 5, a->now);
    return ih_stmt_exec(st);
}

typedef struct {
    int64_t id;
    const char *state;
    const char *result;
    int64_t now;
} finish_arg;

static ih_err finish_fn(ih_tx *tx, void *arg)
{
    finish_arg *a = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE op_run SET state = $2, finished_at = $3, beat_at = $3, result = $4 WHERE id = $1",
                         &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_text(st, 2, a->state);
    ih_stmt_int(st, 3, a->now);
    ih_stmt_text(st, 4, a->result);
    return ih_stmt_exec(st);
}

typedef struct {
    const int64_t *ids;
    size_t n;
    int64_t now;
} beat_arg;

static ih_err beat_fn(ih_tx *tx, void *arg)
{
    beat_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        ih_stmt *st;
        IH_TRY(ih_tx_prepare(tx, "UPDATE op_run SET beat_at = $2 WHERE id = $1 AND state = 'running'", &st));
        ih_stmt_int(st, 1, a->ids[i]);
        ih_stmt_int(st, 2, a->now);
        IH_TRY(ih_stmt_exec(st));
    }
    return IH_OK;
}

/* ---- the work's thread ------------------------------------------------------- */

/* The signed record of a finished run: what was asked, when, and the answer
 * (status and body) or the error (code, and the texts the envelope shows);
 * NULL when it cannot be made. */
static char *result_record(const run *r, int64_t now, ih_err e, int status, json_t *body, const ih_err_text *et)
{
    json_t *rec = json_pack("{s:s, s:I, s:s, s:I, s:I}", "kind", r->kind, "id", (json_int_t)r->id, "node", r->o->node,
                            "started_at", (json_int_t)r->started_at, "finished_at", (json_int_t)now);
    if (!rec) return NULL;
    if (e == IH_OK) {
        json_object_set_new(rec, "status", json_integer(status));
        json_object_set(rec, "body", body ? body : json_null());
    } else {
        json_object_set_new(rec, "error", json_integer(e));
        json_object_set_new(rec, "detail", json_string(et->detail));
        json_object_set_new(rec, "public", json_string(et->pub));
        json_object_set_new(rec, "field", json_string(et->field));
    }
    ih_buf text = IH_BUF_INIT;
    bool ok = ih_json_sign(rec, r->o->key) == IH_OK && ih_json_dump(rec, JSON_COMPACT, &text) == IH_OK;
    json_decref(rec);
    if (!ok) ih_buf_free(&text);
    return ok ? text.p : NULL; /* the buffer's memory is malloc's: free() */
}

static void *run_thread(void *p)
{
    run *r = p;
    int status = 200;
    json_t *body = NULL;
    ih_err e = r->fn(r->arg, &r->who, &status, &body);
    ih_err_text et;
    memset(&et, 0, sizeof et);
    if (e != IH_OK) ih_err_save(&et);
    ih_err_clear();
    int64_t now = ih_now_ms();
    char *text = result_record(r, now, e, status, body, &et);
    json_decref(body);
    if (!text) ih_log(IH_LOG_ERROR, "op.unrecorded", "alert", "true", "kind", r->kind, "detail", "out of memory", NULL);
    finish_arg fa = {r->id, text && e == IH_OK ? "done" : "failed", text, now}; /* no text: failed, no result */
    if (ih_store_write(r->o->s, finish_fn, &fa) != IH_OK)
        ih_log(IH_LOG_ERROR, "op.unrecorded", "alert", "true", "kind", r->kind, "detail", ih_err_detail(), NULL);
    free(text);
    if (r->free_arg) r->free_arg(r->arg);
    r->arg = NULL;
    pthread_mutex_lock(&r->o->mu);
    r->finished = true;
    pthread_mutex_unlock(&r->o->mu);
    return NULL;
}

/* Join the runs whose threads have returned; under mu. */
static void reap(ih_ops *o)
{
    for (run **pp = &o->runs; *pp;) {
        run *r = *pp;
        if (!r->finished) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        pthread_join(r->thread, NULL);
        free(r);
    }
}

static void *beat_thread(void *p)
{
    ih_ops *o = p;
    pthread_mutex_lock(&o->mu);
    while (!o->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += BEAT_MS / 1000;
        pthread_cond_timedwait(&o->cv, &o->mu, &ts);
        if (o->stopping) break;
        reap(o);
        int64_t ids[16]; /* one run of each kind at a time: a few at most */
        size_t n = 0;
        for (run *r = o->runs; r && n < sizeof ids / sizeof ids[0]; r = r->next)
            if (!r->finished) ids[n++] = r->id;
        pthread_mutex_unlock(&o->mu);
        beat_arg a = {ids, n, ih_now_ms()};
        if (n && ih_store_write(o->s, beat_fn, &a) != IH_OK) {
            ih_log(IH_LOG_WARN, "op.beat_failed", "detail", ih_err_detail(), NULL);
            ih_err_clear();
        }
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

ih_err ih_ops_start(ih_store *s, const ih_signkey *key, const ih_signkey *pub, const char *node, ih_ops **out)
{
    if (!key || !pub) return ih_fail(IH_E_CONFIG, "long operations sign their results with the audit key");
    ih_ops *o = calloc(1, sizeof *o);
    IH_CHECK_ALLOC(o);
    o->s = s;
    o->key = key;
    o->pub = pub;
    snprintf(o->node, sizeof o->node, "%s", node);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    if (pthread_create(&o->beat, NULL, beat_thread, o) != 0) {
        pthread_cond_destroy(&o->cv);
        pthread_mutex_destroy(&o->mu);
        free(o);
        return ih_fail(IH_E_INTERNAL, "cannot start the long operations' thread");
    }
    *out = o;
    return IH_OK;
}

void ih_ops_drain(ih_ops *o)
{
    if (o) atomic_store(&o->draining, true);
}

void ih_ops_stop(ih_ops *o)
{
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    o->stopping = true;
    pthread_cond_broadcast(&o->cv);
    run *all = o->runs;
    o->runs = NULL;
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->beat, NULL);
    while (all) { /* the runs finish their work and record it */
        run *r = all;
        all = r->next;
        pthread_join(r->thread, NULL);
        free(r);
    }
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

static void copy_actor(run *r, const ih_actor *who)
{
    snprintf(r->role, sizeof r->role, "%s", who->role ? who->role : "");
    snprintf(r->session, sizeof r->session, "%s", who->session ? who->session : "");
    snprintf(r->ip, sizeof r->ip, "%s", who->ip ? who->ip : "");
    snprintf(r->request_id, sizeof r->request_id, "%s", who->request_id ? who->request_id : "");
    r->who = (ih_actor){.id = who->id,
                        .role = who->role ? r->role : NULL,
                        .session = who->session ? r->session : NULL,
                        .ip = who->ip ? r->ip : NULL,
                        .request_id = who->request_id ? r->request_id : NULL};
}

ih_err ih_op_begin(ih_ops *o, const char *kind, const ih_actor *who, ih_op_fn fn, void *arg, void (*free_arg)(void *),
                   int64_t *id)
{
    pthread_mutex_lock(&o->mu);
    reap(o);
    for (run *r = o->runs; r; r = r->next)
        if (!r->finished && !strcmp(r->kind, kind)) { /* running here: join it */
            *id = r->id;
            pthread_mutex_unlock(&o->mu);
            if (free_arg) free_arg(arg);
            return IH_OK;
        }
    ih_err e = o->stopping ? ih_fail(IH_E_UNAVAILABLE, "the server is stopping") : IH_OK;
    run *r = e == IH_OK ? calloc(1, sizeof *r) : NULL;
    if (e == IH_OK && !r) e = ih_fail(IH_E_NOMEM, "out of memory");
    begin_arg a = {.o = o, .kind = kind, .now = ih_now_ms(), .actor = who->id};
    /* under mu, so two requests here cannot both begin one */
    if (e == IH_OK) e = ih_store_write(o->s, begin_fn, &a);
    if (e == IH_OK && !a.joined) {
        r->o = o;
        r->id = a.id;
        snprintf(r->kind, sizeof r->kind, "%s", kind);
        r->started_at = a.now;
        r->fn = fn;
        r->arg = arg;
        r->free_arg = free_arg;
        copy_actor(r, who);
        if (pthread_create(&r->thread, NULL, run_thread, r) != 0) {
            ih_err_text et = {.detail = "cannot start a thread"};
            char *text = result_record(r, ih_now_ms(), IH_E_UNAVAILABLE, 0, NULL, &et);
            finish_arg fa = {r->id, "failed", text, ih_now_ms()};
            if (text) (void)ih_store_write(o->s, finish_fn, &fa);
            free(text);
            e = ih_fail(IH_E_UNAVAILABLE, "cannot start a thread for %s", kind);
        } else {
            r->next = o->runs;
            o->runs = r;
            r = NULL;
            arg = NULL; /* the run's now */
        }
    }
    pthread_mutex_unlock(&o->mu);
    free(r);
    if (arg && free_arg) free_arg(arg);
    if (e == IH_OK) *id = a.id;
    return e;
}

/* ---- answering for a run ----------------------------------------------------- */

typedef struct {
    const char *kind;
    int64_t id;
    bool found;
    char state[16];
    int64_t started_at, beat_at;
    char node[128];
    char *result;
} read_arg;

static ih_err read_fn(ih_tx *tx, void *arg)
{
    read_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT state, started_at, beat_at, node, result FROM op_run WHERE id = $1 AND kind = $2",
                         &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_text(st, 2, a->kind);
    IH_TRY(ih_stmt_step(st, &row));
    a->found = row;
    if (row) {
        snprintf(a->state, sizeof a->state, "%s", ih_col_text(st, 0));
        a->started_at = ih_col_int(st, 1);
        a->beat_at = ih_col_int(st, 2);
        snprintf(a->node, sizeof a->node, "%s", ih_col_text(st, 3));
        const char *res = ih_col_text(st, 4);
        free(a->result);
        a->result = res ? strdup(res) : NULL;
        if (res && !a->result) return ih_fail(IH_E_NOMEM, "out of memory");
    }
    return ih_stmt_exec(st);
}

/* A finished run's record, checked: signed by the audit key, and about
 * this run. */
static ih_err finished(ih_ops *o, const read_arg *a, ih_op_result *r)
{
    if (!a->result && !strcmp(a->state, "failed"))
        return ih_fail(IH_E_INTERNAL, "%s run %lld ended without a result (its server logged why)", a->kind,
                       (long long)a->id);
    json_t *rec = a->result ? json_loads(a->result, 0, NULL) : NULL;
    json_int_t id = -1, err = -1, status = 0, fin = 0;
    const char *kind = NULL, *detail = "", *pub = "", *field = "";
    json_t *body = NULL;
    bool ok = rec && ih_json_verify(rec, o->pub) &&
              json_unpack(rec, "{s:s, s:I, s:I, s?I, s?I, s?o, s?s, s?s, s?s}", "kind", &kind, "id", &id,
                          "finished_at", &fin, "status", &status, "error", &err, "body", &body, "detail", &detail,
                          "public", &pub, "field", &field) == 0 &&
              !strcmp(kind, a->kind) && id == a->id && (err >= 0) == !strcmp(a->state, "failed");
    if (!ok) {
        json_decref(rec);
        ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", "op_run", "detail",
               "a long operation's result does not verify", NULL);
        return ih_fail(IH_E_INTEGRITY, "the stored result of %s run %lld does not verify with the audit key", a->kind,
                       (long long)a->id);
    }
    if (err >= 0) {
        ih_err_text et;
        memset(&et, 0, sizeof et);
        snprintf(et.detail, sizeof et.detail, "%s", detail);
        snprintf(et.pub, sizeof et.pub, "%s", pub);
        snprintf(et.field, sizeof et.field, "%s", field);
        json_decref(rec);
        ih_err_load(&et);
        return err > IH_OK && err < IH_E__COUNT ? (ih_err)err : IH_E_INTERNAL;
    }
    r->done = true;
    r->finished_at = fin;
    r->status = (int)status;
    r->body = json_incref(body);
    json_decref(rec);
    return IH_OK;
}

ih_err ih_op_wait(ih_ops *o, const char *kind, int64_t id, int64_t wait_ms, ih_op_result *r)
{
    memset(r, 0, sizeof *r);
    read_arg a = {.kind = kind, .id = id};
    int64_t until = ih_mono_ms() + wait_ms;
    ih_err e;
    for (;;) {
        if ((e = ih_store_read(o->s, read_fn, &a)) != IH_OK) break;
        if (!a.found) {
            e = ih_reject(IH_E_NOT_FOUND, NULL, "No %s run %lld.", kind, (long long)id);
            break;
        }
        r->started_at = a.started_at;
        snprintf(r->node, sizeof r->node, "%s", a.node);
        if (strcmp(a.state, "running") != 0) {
            e = finished(o, &a, r);
            break;
        }
        if (a.beat_at < ih_now_ms() - LOST_MS) {
            e = ih_reject(IH_E_UNAVAILABLE, NULL,
                          "The %s run %lld stopped with its server (%s) before it finished; start another.", kind,
                          (long long)id, a.node);
            break;
        }
        if (ih_mono_ms() >= until || atomic_load(&o->draining)) break; /* still running */
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(a.result);
    return e;
}
