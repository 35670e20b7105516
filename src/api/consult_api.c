/* consult_api.c — remote care between institutions (care/consult.h):
 *   GET  /api/v1/agreements                    cooperation agreements (sysadmin, doctors)
 *   POST /api/v1/agreements                    record one (sysadmin)
 *   POST /api/v1/agreements/{id}/revoke        end one early (sysadmin)
 *   GET  /api/v1/consult-experts?dept_id=      doctors who may be invited (of a department)
 *   POST /api/v1/consults                      the treating doctor's request (a draft)
 *   GET  /api/v1/consults                      the caller's (and the medical office's to approve)
 *   GET  /api/v1/consults/{id}                 one, with experts and material
 *   POST /api/v1/consults/{id}/{action}        submit, approve, accept, reject, schedule, start,
 *                                              report, sign, return, acknowledge, close, cancel
 *   GET  /api/v1/consults/{id}/materials/{m}   open an attached item (audited): a record or
 *                                              result as it is, a study or ECG as its series
 *   GET  /api/v1/consults/{id}/materials/{m}/image|waveform?series=&instance=
 *   GET  /api/v1/consults/{id}/materials/{m}/pyramid?series=, /tile?series=&level=&x=&y=  a whole slide
 * The material is checked per request (who, state, that it is attached);
 * the PACS is asked only after that. */
#include "api/api.h"

#include "care/consult.h"
#include "exchange/pacs.h"
#include "exchange/sender.h"

#include <string.h>

/* A service that answers a whole object already ({"agreements": [...]}). */
static ih_err whole(ih_app *app, ih_req *req, ih_resp *resp, ih_list_call fn)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(fn(app->clinic, &v, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_agreements(ih_app *app, ih_req *req, ih_resp *resp) { return whole(app, req, resp, ih_agreement_list); }

ih_err ih_api_agreement_add(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_agreement_add);
}

ih_err ih_api_agreement_revoke(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_agreement_revoke);
}

ih_err ih_api_consult_experts(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t dept;
    IH_TRY(ih_api_query_int(req, "dept_id", 1, INT64_MAX, 0, &dept));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_consult_experts(app->clinic, &v, dept, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_consult_create(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_consult_create);
}

ih_err ih_api_consults(ih_app *app, ih_req *req, ih_resp *resp) { return whole(app, req, resp, ih_consult_list); }

ih_err ih_api_consult_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_id(app, req, resp, ih_consult_get);
}

ih_err ih_api_consult_act(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    char action[16];
    size_t n = strlen(req->params[1]);
    if (n >= sizeof action) return IH_E_NOT_FOUND;
    memcpy(action, req->params[1], n + 1);
    json_t *body;
    IH_TRY(ih_api_body_opt(req, &body));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out = NULL;
    ih_err e = ih_consult_act(app->clinic, &v, id, action, body, &out);
    json_decref(body);
    IH_TRY(e);
    if (!strcmp(action, "return")) ih_mllp_sender_kick(app->sender); /* the report goes now */
    return ih_api_json(resp, 200, out);
}

/* Material m of consult id for this caller: kind, study UID, the row's view. */
static ih_err material(ih_app *app, ih_req *req, bool audit_open, char kind[16], char uid[65], json_t **view)
{
    int64_t id, m;
    IH_TRY(ih_api_param_id(req, 0, &id));
    IH_TRY(ih_api_param_id(req, 1, &m));
    ih_viewer v;
    ih_api_viewer(req, &v);
    return ih_consult_material(app->clinic, &v, id, m, audit_open, kind, uid, view);
}

static bool imaged(const char *kind) { return !strcmp(kind, "study") || !strcmp(kind, "ecg"); }

ih_err ih_api_consult_material(ih_app *app, ih_req *req, ih_resp *resp)
{
    char kind[16], uid[65];
    json_t *view;
    IH_TRY(material(app, req, true, kind, uid, &view));
    json_t *out = json_pack("{s:s, s:o}", "kind", kind, "item", view);
    IH_CHECK_ALLOC(out);
    if (imaged(kind)) {
        json_t *study = NULL;
        ih_err e = !app->pacs ? ih_reject(IH_E_UNAVAILABLE, NULL, "No PACS is configured ([pacs] url).")
                              : ih_pacs_study(app->pacs, uid, &study);
        if (e != IH_OK) {
            json_decref(out);
            return app->pacs ? ih_api_pacs_failed(e) : e;
        }
        json_object_set_new(out, "study", study);
    }
    return ih_api_json(resp, 200, out);
}

/* The attached study's UID for an image, waveform (series and sop checked)
 * or slide request (series NULL: the caller checked its own parameters). */
static ih_err imaged_material(ih_app *app, ih_req *req, char series[72], char sop[72], char uid[65])
{
    if (series) IH_TRY(ih_api_instance_params(req, series, sop));
    char kind[16];
    json_t *view;
    IH_TRY(material(app, req, false, kind, uid, &view));
    json_decref(view);
    if (!imaged(kind)) return ih_reject(IH_E_NOT_FOUND, NULL, "That material is not a study.");
    if (!app->pacs) return ih_reject(IH_E_UNAVAILABLE, NULL, "No PACS is configured ([pacs] url).");
    return IH_OK;
}

ih_err ih_api_consult_image(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65], series[72], sop[72], ctype[64];
    IH_TRY(imaged_material(app, req, series, sop, uid));
    ih_err e = ih_pacs_rendered(app->pacs, uid, series, sop, &resp->body, ctype, sizeof ctype);
    if (e != IH_OK) {
        ih_buf_reset(&resp->body);
        return ih_api_pacs_failed(e);
    }
    resp->status = 200;
    resp->content_type = !strncmp(ctype, "image/png", 9) ? "image/png" : "image/jpeg";
    return IH_OK;
}

ih_err ih_api_consult_waveform(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65], series[72], sop[72];
    IH_TRY(imaged_material(app, req, series, sop, uid));
    json_t *out;
    ih_err e = ih_pacs_waveform(app->pacs, uid, series, sop, &out);
    if (e != IH_OK) return ih_api_pacs_failed(e);
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_consult_pyramid(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65], series[72], sop[72] = "";
    IH_TRY(ih_api_series_param(req, series));
    IH_TRY(imaged_material(app, req, NULL, sop, uid));
    json_t *out;
    ih_err e = ih_pacs_wsi_pyramid(app->pacs, uid, series, &out);
    if (e != IH_OK) return ih_api_pacs_failed(e);
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_consult_tile(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65], series[72], sop[72] = "";
    int level, x, y;
    IH_TRY(ih_api_tile_params(req, series, &level, &x, &y));
    IH_TRY(imaged_material(app, req, NULL, sop, uid));
    return ih_api_wsi_tile(app, resp, uid, series, level, x, y);
}
