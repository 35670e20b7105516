/* incidents_api.c — the security administrator's incidents (compliance/incident.h):
 *   GET  /api/v1/incidents?status=&before=&limit=   {incidents, next_before}
 *   GET  /api/v1/incidents/{id}
 *   POST /api/v1/incidents/{id}/acknowledge | assign | resolve | breach | breach/reported
 *   GET  /api/v1/incidents/{id}/breach-report */
#include "api/api.h"

#include "compliance/incident.h"
#include "core/clock.h"

ih_err ih_api_incidents_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    char status[16] = "";
    int64_t before, limit;
    if (ih_api_query(req, "status", status, sizeof status) && !status[0])
        return ih_reject(IH_E_INVALID, "status", "status must be open, acknowledged or resolved");
    IH_TRY(ih_api_query_int(req, "before", 1, INT64_MAX, 0, &before));
    IH_TRY(ih_api_query_int(req, "limit", 1, 200, 50, &limit));
    json_t *list;
    IH_TRY(ih_incident_list(app->store, status, before, (int)limit, ih_now_ms(), &list));
    return ih_api_list_page(resp, "incidents", list, limit, "id", true);
}

ih_err ih_api_incident_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *inc;
    IH_TRY(ih_incident_get(app->store, id, ih_now_ms(), &inc));
    return ih_api_json(resp, 200, json_pack("{s:o}", "incident", inc));
}

static ih_err step(ih_app *app, ih_req *req, ih_resp *resp, ih_incident_action act)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *b;
    IH_TRY(ih_api_body_opt(req, &b));
    ih_actor who;
    ih_api_actor(req, &who);
    json_t *inc = NULL;
    ih_err e = ih_incident_act(app->store, app->audit, &who, id, act, b, ih_now_ms(), &inc);
    json_decref(b);
    IH_TRY(e);
    return ih_api_json(resp, 200, json_pack("{s:o}", "incident", inc));
}

ih_err ih_api_incident_ack(ih_app *app, ih_req *req, ih_resp *resp) { return step(app, req, resp, IH_INCIDENT_ACK); }
ih_err ih_api_incident_assign(ih_app *app, ih_req *req, ih_resp *resp) { return step(app, req, resp, IH_INCIDENT_ASSIGN); }
ih_err ih_api_incident_resolve(ih_app *app, ih_req *req, ih_resp *resp) { return step(app, req, resp, IH_INCIDENT_RESOLVE); }
ih_err ih_api_incident_breach(ih_app *app, ih_req *req, ih_resp *resp) { return step(app, req, resp, IH_INCIDENT_BREACH); }
ih_err ih_api_incident_reported(ih_app *app, ih_req *req, ih_resp *resp)
{
    return step(app, req, resp, IH_INCIDENT_REPORTED);
}

ih_err ih_api_incident_breach_report(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *rep;
    IH_TRY(ih_incident_breach_report(app->store, id, ih_now_ms(), &rep));
    ih_err e = ih_api_audit(app, req, "incident.breach_report", "incident", req->params[0], IH_OK, NULL);
    if (e != IH_OK) { /* audited before answered */
        json_decref(rep);
        return e;
    }
    return ih_api_json(resp, 200, json_pack("{s:o}", "report", rep));
}
