/* watch.c — LISTEN on PostgreSQL for changes kept copies depend on.
 *
 * One thread per watch.  It connects with the store's conninfo (plus TCP
 * keepalives, so a dead server is noticed by the kernel too), checks that
 * the server is a primary, LISTENs, and then waits on the socket: a
 * notification goes to fn; every second a ping (SELECT pg_is_in_recovery())
 * goes out, and its answer proves the connection alive.  Anything else —
 * no answer within IH_WATCH_LIVE_MS, an error, a server in recovery — closes
 * the connection, tells fn that notifications may have been missed, and
 * starts again a second later.
 */
#include "store/watch.h"
#include "store/store_impl.h"

#include "core/clock.h"
#include "core/log.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ih_store_watch {
    char *conninfo;
    char listen_sql[64];
    ih_watch_fn fn;
    void *arg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    _Atomic int64_t live_until; /* monotonic ms; 0 while not connected */
};

bool ih_store_watch_live(ih_store_watch *w) { return w && ih_mono_ms() < atomic_load(&w->live_until); }

/* Sleep up to ms, or until the watch is stopped; true when it is. */
static bool nap(ih_store_watch *w, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0) continue;
    bool stop = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return stop;
}

static bool stopping(ih_store_watch *w)
{
    pthread_mutex_lock(&w->mu);
    bool s = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* The server's messages outside a query (its FATAL when terminating the
 * connection): the watch logs the loss itself, in the log's format. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Connect, refuse a server in recovery, LISTEN.  NULL on failure. */
static PGconn *watch_connect(ih_store_watch *w)
{
    /* The store's conninfo (a URI or key=value string) expanded in place of
     * dbname; the settings after it take precedence: keepalives, and a
     * bound on connecting (an unreachable server must not hold up a stop). */
    const char *keys[] = {"dbname", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "connect_timeout", "application_name", NULL};
    const char *vals[] = {w->conninfo, "1", "2", "1", "2", "3", "ihos-watch", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, "SELECT pg_is_in_recovery()");
    bool primary = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "f");
    PQclear(r);
    if (primary) {
        r = PQexec(c, w->listen_sql);
        primary = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    if (!primary || PQsetnonblocking(c, 1) != 0) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Read what arrived: notifications to fn, the ping's answer.  false: the
 * connection is no good (broken, or the server is in recovery now). */
static void watch_heard(ih_store_watch *w, PGconn *c)
{
    PGnotify *n;
    while ((n = PQnotifies(c))) {
        w->fn(w->arg, n->extra ? n->extra : "");
        PQfreemem(n);
    }
}

static bool watch_read(ih_store_watch *w, PGconn *c, bool *ping_out, int64_t *answered)
{
    if (!PQconsumeInput(c)) return false;
    watch_heard(w, c);
    while (*ping_out && !PQisBusy(c)) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            *ping_out = false;
            break;
        }
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "f");
        PQclear(r);
        if (!ok) return false;
        *answered = ih_mono_ms();
    }
    watch_heard(w, c); /* any parsed along with the ping's answer */
    return true;
}

static void *watch_main(void *arg)
{
    ih_store_watch *w = arg;
    bool was_up = true; /* so that the first failure is logged */
    while (!stopping(w)) {
        PGconn *c = watch_connect(w);
        if (!c) {
            if (was_up) ih_log(IH_LOG_WARN, "store.watch_down", "detail", "cannot listen on the primary", NULL);
            was_up = false;
            w->fn(w->arg, NULL);
            if (nap(w, 1000)) break;
            continue;
        }
        /* Whatever changed while nobody listened is unknown: forget all. */
        w->fn(w->arg, NULL);
        if (!was_up) ih_log(IH_LOG_INFO, "store.watch_up", NULL);
        was_up = true;
        int64_t answered = ih_mono_ms(), sent = 0;
        bool ping_out = false, ok = true;
        atomic_store(&w->live_until, answered + IH_WATCH_LIVE_MS);
        while (ok && !stopping(w)) {
            int64_t now = ih_mono_ms();
            if (!ping_out && now - sent >= 1000) {
                ok = PQsendQuery(c, "SELECT pg_is_in_recovery()") == 1 && PQflush(c) == 0;
                ping_out = ok;
                sent = now;
            }
            if (ok && now - answered >= IH_WATCH_LIVE_MS) ok = false; /* no answer: the link is gone */
            if (!ok) break;
            struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
            int rc = poll(&p, 1, 250);
            if (rc < 0) continue; /* EINTR */
            if (rc > 0) ok = watch_read(w, c, &ping_out, &answered);
            if (ok) atomic_store(&w->live_until, answered + IH_WATCH_LIVE_MS);
        }
        atomic_store(&w->live_until, 0);
        PQfinish(c);
        w->fn(w->arg, NULL);
        if (!stopping(w)) {
            ih_log(IH_LOG_WARN, "store.watch_down", "detail", "lost the listening connection", NULL);
            was_up = false;
            if (nap(w, 1000)) break;
        }
    }
    return NULL;
}

ih_err ih_store_watch_start(ih_store *s, const char *channel, ih_watch_fn fn, void *arg, ih_store_watch **out)
{
    const char *conninfo = store_pg_conninfo(s);
    if (!conninfo) return ih_fail(IH_E_STATE, "nothing to watch on SQLite");
    size_t n = strlen(channel);
    if (n == 0 || n > 32 || strspn(channel, "abcdefghijklmnopqrstuvwxyz_") != n)
        return ih_fail(IH_E_INVALID, "bad channel name");
    ih_store_watch *w = calloc(1, sizeof *w);
    IH_CHECK_ALLOC(w);
    w->conninfo = strdup(conninfo);
    if (!w->conninfo) {
        free(w);
        return ih_fail(IH_E_NOMEM, "watch");
    }
    snprintf(w->listen_sql, sizeof w->listen_sql, "LISTEN %s", channel);
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w->conninfo);
        free(w);
        return ih_fail(IH_E_NOMEM, "watch thread");
    }
    *out = w;
    return IH_OK;
}

void ih_store_watch_stop(ih_store_watch *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->conninfo);
    free(w);
}
