/* selfcheck_api.c — GET /api/v1/selfcheck (security and audit
 * administrators): the Level 3 self-check of the running instance as JSON
 * (app/selfcheck.h).  It scans every protected row and verifies the whole
 * journal, which on a large journal outlasts a proxy's timeout, so it runs
 * as a long operation (ops_api.c): one at a time, a request meanwhile
 * joins the run; GET /api/v1/selfcheck/runs/ID answers for a run. */
#include "api/api.h"

#include "app/selfcheck.h"

#include <stdlib.h>

#define BASE "/api/v1/selfcheck"

static ih_err selfcheck_op(void *arg, const ih_actor *who, int *status, json_t **body)
{
    *status = 200;
    return ih_app_selfcheck(arg, who, body);
}

ih_err ih_api_selfcheck(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_selfcheck_env *env = malloc(sizeof *env);
    IH_CHECK_ALLOC(env);
    *env = (ih_selfcheck_env){.in = app->inst, .id = app->identity, .clinic = app->clinic, .report = app->report};
    return ih_api_op_begin(app, req, resp, "selfcheck", BASE, selfcheck_op, env, free);
}

ih_err ih_api_selfcheck_run(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_op_get(app, req, resp, "selfcheck", BASE);
}
