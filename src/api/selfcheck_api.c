/* selfcheck_api.c — GET /api/v1/selfcheck (security and audit
 * administrators): the Level 3 self-check of the running instance as JSON
 * (app/selfcheck.h).  It scans every protected row and verifies the whole
 * journal, so one runs at a time; another request meanwhile gets 503 busy. */
#include "api/api.h"

#include "app/selfcheck.h"

#include <stdatomic.h>

static atomic_bool running;

ih_err ih_api_selfcheck(ih_app *app, ih_req *req, ih_resp *resp)
{
    if (atomic_exchange(&running, true))
        return ih_fail(IH_E_BUSY, "a self-check is already running; try again when it has finished");
    ih_actor who;
    ih_api_actor(req, &who);
    ih_selfcheck_env env = {.in = app->inst, .id = app->identity, .clinic = app->clinic, .report = app->report};
    json_t *doc = NULL;
    ih_err e = ih_app_selfcheck(&env, &who, &doc);
    atomic_store(&running, false);
    IH_TRY(e);
    return ih_api_json(resp, 200, doc);
}
