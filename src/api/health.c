/* health.c — GET /healthz (liveness), GET /readyz (readiness: the database
 * answers) and GET /metrics (Prometheus). */
#include "care/his.h"
#include "exchange/sender.h"
#include "api/api.h"

#include "core/clock.h"
#include "core/log.h"
#include "net/metrics.h"
#include "remote/av.h"

#include <stdatomic.h>
#include <stdio.h>

ih_err ih_api_healthz(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)app;
    (void)req;
    static const char body[] = "{\"status\":\"ok\"}";
    return ih_resp_json(resp, 200, body, sizeof body - 1);
}

/* A load balancer asks every second or two; anyone may ask.  The answer is
 * kept for a second, so asking often costs the database nothing more and
 * an outage does not tie up a worker per question. */
static _Atomic int64_t ready_checked; /* monotonic ms of the last check */
static _Atomic int ready_state;       /* 1 ready, 2 not */

ih_err ih_api_readyz(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)req;
    int64_t now = ih_mono_ms(), last = atomic_load(&ready_checked);
    int state = atomic_load(&ready_state);
    if (state == 0 || now - last >= 1000) {
        ih_err e = ih_store_ping(app->store);
        int was = state;
        state = e == IH_OK ? 1 : 2;
        if (state == 2 && was != 2)
            ih_log(IH_LOG_WARN, "server.not_ready", "detail", ih_err_detail(), NULL);
        else if (state == 1 && was == 2)
            ih_log(IH_LOG_INFO, "server.ready", NULL);
        ih_err_clear();
        atomic_store(&ready_state, state);
        atomic_store(&ready_checked, now);
    }
    if (state == 1) {
        static const char body[] = "{\"status\":\"ok\"}";
        return ih_resp_json(resp, 200, body, sizeof body - 1);
    }
    return ih_fail(IH_E_UNAVAILABLE, "the database does not answer"); /* 503, the error envelope */
}

ih_err ih_api_metrics(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)req;
    IH_TRY(ih_metrics_render(&resp->body));
    ih_store_stats st;
    ih_store_get_stats(app->store, &st);
    IH_TRY(ih_buf_printf(&resp->body,
                         "# HELP ihos_store_write_transactions_total committed write transactions\n"
                         "# TYPE ihos_store_write_transactions_total counter\n"
                         "ihos_store_write_transactions_total %llu\n"
                         "# HELP ihos_store_write_failures_total rolled-back write transactions\n"
                         "# TYPE ihos_store_write_failures_total counter\n"
                         "ihos_store_write_failures_total %llu\n"
                         "# HELP ihos_store_commits_total commits (one per group-commit batch on SQLite)\n"
                         "# TYPE ihos_store_commits_total counter\n"
                         "ihos_store_commits_total %llu\n"
                         "# HELP ihos_store_read_transactions_total read transactions\n"
                         "# TYPE ihos_store_read_transactions_total counter\n"
                         "ihos_store_read_transactions_total %llu\n",
                         (unsigned long long)st.write_txns, (unsigned long long)st.write_failed,
                         (unsigned long long)st.batches, (unsigned long long)st.read_txns));
    ih_identity_kept kept;
    ih_identity_kept_info(app->identity, &kept);
    if (kept.started)
        IH_TRY(ih_buf_printf(&resp->body,
                             "# HELP ihos_sessions_kept_live 1 while this node answers session checks from the "
                             "copies it verified (its watch listens on the primary)\n"
                             "# TYPE ihos_sessions_kept_live gauge\n"
                             "ihos_sessions_kept_live %d\n"
                             "# HELP ihos_session_checks_kept_total session checks answered from a kept copy, "
                             "without a read\n"
                             "# TYPE ihos_session_checks_kept_total counter\n"
                             "ihos_session_checks_kept_total %llu\n",
                             kept.live ? 1 : 0, (unsigned long long)kept.answered));
    ih_audit_health_info ah;
    ih_audit_health(app->audit, &ah);
    IH_TRY(ih_buf_printf(&resp->body,
                         "# HELP ihos_audit_events_appended_total audit events appended by this process\n"
                         "# TYPE ihos_audit_events_appended_total counter\n"
                         "ihos_audit_events_appended_total %llu\n"
                         "# HELP ihos_audit_events_unsealed events appended here and not yet under a signed checkpoint\n"
                         "# TYPE ihos_audit_events_unsealed gauge\n"
                         "ihos_audit_events_unsealed %llu\n"
                         "# HELP ihos_audit_checkpoint_failures_total checkpoints that could not be made (alert)\n"
                         "# TYPE ihos_audit_checkpoint_failures_total counter\n"
                         "ihos_audit_checkpoint_failures_total %llu\n"
                         "# HELP ihos_audit_checkpoint_size tree size of the last checkpoint made by this process\n"
                         "# TYPE ihos_audit_checkpoint_size gauge\n"
                         "ihos_audit_checkpoint_size %llu\n",
                         (unsigned long long)ah.appended, (unsigned long long)ah.unsealed,
                         (unsigned long long)ah.checkpoint_failures, (unsigned long long)ah.checkpoint_size));
    if (app->report) IH_TRY(ih_report_metrics(app->report, &resp->body));
    if (app->clinic) IH_TRY(ih_his_out_metrics(app->clinic, &resp->body));
    if (app->sender) IH_TRY(ih_mllp_sender_metrics(app->sender, &resp->body));
    if (app->av) IH_TRY(ih_av_metrics(app->av, &resp->body));
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    return IH_OK;
}
