/* ops_api.c — answering for a long operation (app/ops.h): the self-check,
 * the journal's verification, a backup taken on request.
 *
 * The request that starts one waits up to ?wait= seconds (0–50, default
 * 50: under HAProxy's 60-s `timeout server` of docs/deployment.md) and
 * answers with the result when it is there; otherwise 202 with
 *   {"operation": {"kind", "id", "state": "running", "started_at", "node", "href"}}
 * and Location: href, where GET (with the same ?wait=) answers for the run
 * from any node: the result as the start would have given it, 202 again
 * while it runs, or the error it ended with. */
#include "api/api.h"

#include "app/ops.h"

#include <stdio.h>

#define WAIT_MAX_S 50

/* ?wait=, read before anything runs or is recorded. */
static ih_err wait_param(const ih_req *req, int64_t *wait)
{
    return ih_api_query_int(req, "wait", 0, WAIT_MAX_S, WAIT_MAX_S, wait);
}

static ih_err op_answer(ih_app *app, ih_resp *resp, const char *kind, const char *base, int64_t id, int64_t wait)
{
    ih_op_result r;
    IH_TRY(ih_op_wait(app->ops, kind, id, wait * 1000, &r));
    if (r.done) return ih_api_json(resp, r.status, r.body);
    char href[160];
    snprintf(href, sizeof href, "%s/runs/%lld", base, (long long)id);
    json_t *op = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s}", "kind", kind, "id", (json_int_t)id, "state", "running",
                           "started_at", (json_int_t)r.started_at, "node", r.node, "href", href);
    IH_TRY(ih_api_json(resp, 202, json_pack("{s:o}", "operation", op)));
    return ih_resp_header(resp, "Location", href);
}

ih_err ih_api_op_begin(ih_app *app, ih_req *req, ih_resp *resp, const char *kind, const char *base, ih_op_fn fn,
                       void *arg, void (*free_arg)(void *))
{
    int64_t wait, id;
    ih_err e = wait_param(req, &wait);
    if (e == IH_OK && !app->ops) e = ih_fail(IH_E_UNAVAILABLE, "long operations are not running");
    if (e != IH_OK) {
        if (free_arg) free_arg(arg);
        return e;
    }
    ih_actor who;
    ih_api_actor(req, &who);
    IH_TRY(ih_op_begin(app->ops, kind, &who, fn, arg, free_arg, &id));
    return op_answer(app, resp, kind, base, id, wait);
}

/* GET base/runs/{id}: reading a run's result is audited as operation.read. */
ih_err ih_api_op_get(ih_app *app, ih_req *req, ih_resp *resp, const char *kind, const char *base)
{
    int64_t id, wait;
    IH_TRY(ih_api_param_id(req, 0, &id));
    IH_TRY(wait_param(req, &wait));
    if (!app->ops) return ih_fail(IH_E_UNAVAILABLE, "long operations are not running");
    IH_TRY(ih_api_audit(app, req, "operation.read", "op_run", req->params[0], IH_OK, NULL));
    return op_answer(app, resp, kind, base, id, wait);
}
