/* his_api.c — what the hospital's HIS/LIS sent, for people (clinic/his.h):
 *   GET  /api/v1/me/results               the patient's own results
 *   GET  /api/v1/patients/{id}/results    a patient's, under the care rules
 *   GET  /api/v1/his-links                HIS patients waiting to be linked
 *   POST /api/v1/his-links/{id}/resolve   link one (ID numbers must agree) or reject it
 *   GET  /api/v1/visits/{id}/evidence     the HIS outpatient encounter a follow-up rests on */
#include "api/api.h"

#include "clinic/his.h"

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
