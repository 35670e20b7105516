/* health.c — GET /healthz (liveness) and GET /metrics (Prometheus). */
#include "api/api.h"

#include "net/metrics.h"

#include <stdio.h>

ih_err ih_api_healthz(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)app;
    (void)req;
    static const char body[] = "{\"status\":\"ok\"}";
    return ih_resp_json(resp, 200, body, sizeof body - 1);
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
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    return IH_OK;
}
