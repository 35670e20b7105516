/* pacs_api.c — the studies of imaging orders, through ihosd (exchange/pacs.h):
 *   GET /api/v1/orders/{id}/study                          series and instances (the opening is audited)
 *   GET /api/v1/orders/{id}/image?series=UID&instance=UID  one instance rendered (JPEG/PNG)
 *   GET /api/v1/orders/{id}/waveform?series=UID&instance=UID  an ECG's samples
 *   GET /api/v1/orders/{id}/pyramid?series=UID             a whole slide's levels (pathology)
 *   GET /api/v1/orders/{id}/tile?series=UID&level=&x=&y=   one of its tiles
 * Each request checks the care relationship and label of the order's visit
 * (ih_his_study_access) before anything is asked of the PACS; the browser
 * never talks to the PACS. */
#include "api/api.h"

#include "care/his.h"
#include "exchange/pacs.h"

#include <string.h>

/* The order's study UID for this caller, or the refusal. */
static ih_err study_of(ih_app *app, ih_req *req, bool open, char uid[65])
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    if (!app->pacs) return ih_reject(IH_E_UNAVAILABLE, NULL, "No PACS is configured ([pacs] url).");
    ih_viewer v;
    ih_api_viewer(req, &v);
    return ih_his_study_access(app->clinic, &v, id, open, uid);
}

ih_err ih_api_pacs_failed(ih_err e)
{
    if (e == IH_E_NOT_FOUND) return ih_reject(IH_E_NOT_FOUND, NULL, "The PACS does not have that.");
    if (e == IH_E_INVALID) return ih_reject(IH_E_INVALID, NULL, "%s", ih_err_detail());
    return ih_reject(IH_E_UNAVAILABLE, NULL, "The PACS could not be asked; try again shortly.");
}

ih_err ih_api_instance_params(ih_req *req, char series[72], char sop[72])
{
    if (!ih_api_query(req, "series", series, 72) || !ih_dicom_uid_ok(series))
        return ih_reject(IH_E_INVALID, "series", "Query parameter 'series' must be a series UID.");
    if (!ih_api_query(req, "instance", sop, 72) || !ih_dicom_uid_ok(sop))
        return ih_reject(IH_E_INVALID, "instance", "Query parameter 'instance' must be an instance UID.");
    return IH_OK;
}

ih_err ih_api_order_study(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65];
    IH_TRY(study_of(app, req, true, uid));
    json_t *out;
    ih_err e = ih_pacs_study(app->pacs, uid, &out);
    if (e != IH_OK) return ih_api_pacs_failed(e);
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_order_image(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65], series[72], sop[72], ctype[64];
    IH_TRY(ih_api_instance_params(req, series, sop));
    IH_TRY(study_of(app, req, false, uid));
    ih_err e = ih_pacs_rendered(app->pacs, uid, series, sop, &resp->body, ctype, sizeof ctype);
    if (e != IH_OK) {
        ih_buf_reset(&resp->body);
        return ih_api_pacs_failed(e);
    }
    resp->status = 200;
    resp->content_type = !strncmp(ctype, "image/png", 9) ? "image/png" : "image/jpeg";
    return IH_OK;
}

ih_err ih_api_order_waveform(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65], series[72], sop[72];
    IH_TRY(ih_api_instance_params(req, series, sop));
    IH_TRY(study_of(app, req, false, uid));
    json_t *out;
    ih_err e = ih_pacs_waveform(app->pacs, uid, series, sop, &out);
    if (e != IH_OK) return ih_api_pacs_failed(e);
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_series_param(ih_req *req, char series[72])
{
    if (!ih_api_query(req, "series", series, 72) || !ih_dicom_uid_ok(series))
        return ih_reject(IH_E_INVALID, "series", "Query parameter 'series' must be a series UID.");
    return IH_OK;
}

ih_err ih_api_tile_params(ih_req *req, char series[72], int *level, int *x, int *y)
{
    IH_TRY(ih_api_series_param(req, series));
    int64_t l, tx, ty;
    IH_TRY(ih_api_query_int(req, "level", 0, 31, -1, &l));
    IH_TRY(ih_api_query_int(req, "x", 0, 100000, -1, &tx));
    IH_TRY(ih_api_query_int(req, "y", 0, 100000, -1, &ty));
    if (l < 0 || tx < 0 || ty < 0) return ih_reject(IH_E_INVALID, NULL, "A tile is named by level, x and y.");
    *level = (int)l, *x = (int)tx, *y = (int)ty;
    return IH_OK;
}

ih_err ih_api_wsi_tile(ih_app *app, ih_resp *resp, const char *study, const char *series, int level, int x, int y)
{
    char ctype[64];
    ih_err e = ih_pacs_wsi_tile(app->pacs, study, series, level, x, y, &resp->body, ctype, sizeof ctype);
    if (e != IH_OK) {
        ih_buf_reset(&resp->body);
        return ih_api_pacs_failed(e);
    }
    resp->status = 200;
    resp->content_type = !strncmp(ctype, "image/png", 9) ? "image/png" : "image/jpeg";
    resp->cache = "private, max-age=300"; /* a tile never changes; checked again after five minutes */
    return IH_OK;
}

ih_err ih_api_order_pyramid(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65], series[72];
    IH_TRY(ih_api_series_param(req, series));
    IH_TRY(study_of(app, req, false, uid));
    json_t *out;
    ih_err e = ih_pacs_wsi_pyramid(app->pacs, uid, series, &out);
    if (e != IH_OK) return ih_api_pacs_failed(e);
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_order_tile(ih_app *app, ih_req *req, ih_resp *resp)
{
    char uid[65], series[72];
    int level, x, y;
    IH_TRY(ih_api_tile_params(req, series, &level, &x, &y));
    IH_TRY(study_of(app, req, false, uid));
    return ih_api_wsi_tile(app, resp, uid, series, level, x, y);
}
