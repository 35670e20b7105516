/* jobs.c — see jobs.h. */
#include "app/jobs.h"

#include "app/backups.h"
#include "care/care.h"
#include "core/clock.h"
#include "core/log.h"
#include "app/catalog.h"
#include "app/trusted.h"
#include "identity/throttle.h"
#include "store/lease.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const char *name;
    int64_t period_ms;
    int64_t first_delay_ms;
    ih_err (*run)(ih_app *app);
    bool once; /* cluster-wide: only on the node holding the "jobs" lease */
    int64_t next; /* monotonic ms */
} job;

static ih_err archive_job(ih_app *app)
{
    char dir[PATH_MAX];
    IH_TRY(ih_instance_path(app->inst, "audit/archive", dir, sizeof dir));
    ih_archive_report r;
    return ih_audit_archive(app->audit, dir, app->conf->retention_days, ih_now_ms(), &r);
}

static ih_err backup_job(ih_app *app) { return ih_app_backup_if_due(app); }

/* Requests past their promised response time, prescriptions past validity,
 * SMS codes past their time. */
static ih_err care_job(ih_app *app)
{
    int n = 0;
    ih_err e = ih_visit_expire_due(app->clinic, &n);
    if (e == IH_OK) e = ih_rx_expire_due(app->clinic, &n);
    if (e == IH_OK) e = ih_sms_codes_expire_due(app->clinic, &n);
    return e;
}

static ih_err keys_job(ih_app *app) { return ih_app_reload_keys(app->inst); }

static ih_err recordings_job(ih_app *app) { return ih_app_store_recordings(app); }

/* Re-seal rows still under an old key version; retire versions nobody uses
 * (5 minutes after the newest, so every process has reloaded). */
static ih_err reseal_job(ih_app *app)
{
    ih_catalog *c = malloc(sizeof *c);
    IH_CHECK_ALLOC(c);
    ih_catalog_build(c, app->store, app->keys, app->identity, app->clinic, app->report);
    ih_reseal_report r;
    ih_err e = ih_catalog_reseal(c, app->audit, 5 * 60 * 1000, &r);
    free(c);
    return e;
}

/* The 防统方 detector forgets what has left every window. */
static ih_err prune_fn(ih_tx *tx, void *arg)
{
    ih_app *app = arg;
    return ih_detector_prune(app->detector, tx, ih_now_ms());
}

static ih_err detector_job(ih_app *app) { return app->detector ? ih_store_write(app->store, prune_fn, app) : IH_OK; }

/* Counts of attempts per address that no longer matter. */
static ih_err throttle_job(ih_app *app) { return ih_throttle_prune(app->store, ih_now_ms()); }

/* L3 8.1.4.6: every node checks its own binaries and configuration. */
static ih_err trust_job(ih_app *app)
{
    ih_trust_report r;
    return ih_app_trust_check(app->inst, app->trust_last, sizeof app->trust_last, &r);
}

/* Another node changed a grant: take it here too. */
static ih_err policy_job(ih_app *app) { return ih_policy_refresh(app->policy, app->store, app->keys); }

struct ih_jobs {
    ih_app *app;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    job jobs[12];
    int n;
    ih_lease lease; /* "jobs": who runs the cluster-wide ones */
    ih_lease presence; /* "node.<name>": this node is alive (the self-check counts nodes by it) */
    char presence_name[160];
    int64_t lease_next;
};

static void *run(void *arg)
{
    ih_jobs *j = arg;
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        int64_t now = ih_mono_ms();
        if (now >= j->lease_next) { /* renewed every 5 s, held for 20 */
            pthread_mutex_unlock(&j->mu);
            if (ih_lease_take(j->app->store, &j->lease) != IH_OK) {
                ih_log(IH_LOG_WARN, "lease.failed", "lease", "jobs", "detail", ih_err_detail(), NULL);
                j->lease.held = false;
            }
            if (ih_lease_take(j->app->store, &j->presence) != IH_OK) ih_err_clear(); /* only evidence */
            pthread_mutex_lock(&j->mu);
            j->lease_next = ih_mono_ms() + 5000;
        }
        for (int i = 0; i < j->n && !j->stop; i++) {
            if (now < j->jobs[i].next) continue;
            if (j->jobs[i].once && !j->lease.held) continue; /* another node's */
            pthread_mutex_unlock(&j->mu);
            ih_err e = j->jobs[i].run(j->app);
            if (e != IH_OK)
                ih_log(IH_LOG_ERROR, "job.failed", "alert", "true", "job", j->jobs[i].name, "detail", ih_err_detail(),
                       NULL);
            pthread_mutex_lock(&j->mu);
            j->jobs[i].next = ih_mono_ms() + j->jobs[i].period_ms;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

ih_err ih_jobs_start(ih_app *app, ih_jobs **out)
{
    ih_jobs *j = calloc(1, sizeof *j);
    IH_CHECK_ALLOC(j);
    j->app = app;
    int64_t now = ih_mono_ms();
    j->lease = (ih_lease){.name = "jobs", .holder = app->node, .ttl_ms = 20000};
    snprintf(j->presence_name, sizeof j->presence_name, "node.%s", app->node);
    j->presence = (ih_lease){.name = j->presence_name, .holder = app->node, .ttl_ms = 20000};
    j->jobs[j->n++] = (job){"audit.archive", 24 * 3600 * 1000LL, 60 * 1000, archive_job, true, 0};
    j->jobs[j->n++] = (job){"backup.daily", 60 * 1000, 5 * 1000, backup_job, true, 0};
    j->jobs[j->n++] = (job){"keys.reload", 10 * 1000, 10 * 1000, keys_job, false, 0};
    j->jobs[j->n++] = (job){"policy.sync", 2 * 1000, 2 * 1000, policy_job, false, 0};
    j->jobs[j->n++] = (job){"care.expire", 5 * 1000, 2 * 1000, care_job, true, 0};
    j->jobs[j->n++] = (job){"av.recordings", 5 * 1000, 3 * 1000, recordings_job, true, 0};
    j->jobs[j->n++] = (job){"keys.reseal", 60 * 1000, 60 * 1000, reseal_job, true, 0};
    j->jobs[j->n++] = (job){"detector.prune", 3600 * 1000LL, 90 * 1000, detector_job, true, 0};
    j->jobs[j->n++] = (job){"throttle.prune", 60 * 1000, 60 * 1000, throttle_job, true, 0};
    int64_t trust_ms = app->conf->trust_check_minutes * 60 * 1000LL;
    j->jobs[j->n++] = (job){"trust.verify", trust_ms, trust_ms, trust_job, false, 0};
    for (int i = 0; i < j->n; i++) j->jobs[i].next = now + j->jobs[i].first_delay_ms;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    if (pthread_create(&j->thread, NULL, run, j) != 0) {
        free(j);
        return ih_fail(IH_E_INTERNAL, "cannot start the job thread");
    }
    *out = j;
    return IH_OK;
}

void ih_jobs_stop(ih_jobs *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
    ih_lease_release(j->app->store, &j->lease); /* another node takes over at once */
    ih_lease_release(j->app->store, &j->presence);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}
