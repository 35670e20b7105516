/* his_api.c — what the hospital's HIS/LIS sent, for people (care/his.h):
 *   GET  /api/v1/me/results               the patient's own results
 *   GET  /api/v1/patients/{id}/results    a patient's, under the care rules
 *   GET  /api/v1/his-links                HIS patients waiting to be linked
 *   POST /api/v1/his-links/{id}/resolve   link one (ID numbers must agree) or reject it
 *   GET  /api/v1/visits/{id}/evidence     the HIS outpatient encounter a follow-up rests on
 *   POST /api/v1/visits/{id}/orders       the treating doctor orders a lab test or imaging study
 *   GET  /api/v1/visits/{id}/orders       a visit's orders
 *   GET  /api/v1/his-outbox?state=dead    what ihos sends the hospital, by state
 *   POST /api/v1/his-outbox/{id}/retry    a refused (dead) message sent again */
#include "api/api.h"

#include "care/his.h"
#include "exchange/sender.h"

ih_err ih_api_me_results(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_his_results(app->clinic, &v, 0, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_patient_results(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_his_results);
}

ih_err ih_api_his_links(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_his_links_pending(app->clinic, &v, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_his_link_resolve(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id_body(app, req, resp, 200, ih_his_link_resolve, false);
}

ih_err ih_api_visit_evidence(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_his_visit_evidence);
}

ih_err ih_api_orders_post(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_err e = ih_api_call_id_body(app, req, resp, 201, ih_his_order_place, false);
    if (e == IH_OK) ih_mllp_sender_kick(app->sender); /* the order goes now, not at the next poll */
    return e;
}

ih_err ih_api_order_cancel(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_err e = ih_api_call_id_body(app, req, resp, 200, ih_his_order_cancel, false);
    if (e == IH_OK) ih_mllp_sender_kick(app->sender); /* the cancel goes now, not at the next poll */
    return e;
}

ih_err ih_api_orders_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_his_orders);
}

ih_err ih_api_his_outbox(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    char state[16] = "dead";
    ih_api_query(req, "state", state, sizeof state);
    json_t *out;
    IH_TRY(ih_his_out_list(app->clinic, &v, state, &out));
    return ih_api_json(resp, 200, out);
}

static ih_err retry(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out) { return ih_his_out_retry(c, v, id, out); }

ih_err ih_api_his_outbox_retry(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_err e = ih_api_call_id(app, req, resp, retry);
    if (e == IH_OK) ih_mllp_sender_kick(app->sender);
    return e;
}
