/* clinic_call.c — the shapes of handler that only unpack the request, call
 * one clinic service function as the caller and answer with its JSON (see
 * api.h).  The service checks relationships and writes the audit events. */
#include "api/api.h"

#include <string.h>
#include <strings.h>

ih_err ih_api_call_body(ih_app *app, ih_req *req, ih_resp *resp, int status, ih_body_call fn)
{
    json_t *b, *out;
    IH_TRY(ih_api_body(req, &b));
    ih_viewer v;
    ih_api_viewer(req, &v);
    ih_err e = fn(app->clinic, &v, b, &out);
    json_decref(b);
    IH_TRY(e);
    return ih_api_json(resp, status, out);
}

ih_err ih_api_call_id_body(ih_app *app, ih_req *req, ih_resp *resp, int status, ih_id_body_call fn, bool optional_body)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *b, *out;
    IH_TRY(optional_body ? ih_api_body_opt(req, &b) : ih_api_body(req, &b));
    ih_viewer v;
    ih_api_viewer(req, &v);
    ih_err e = fn(app->clinic, &v, id, b, &out);
    json_decref(b);
    IH_TRY(e);
    return ih_api_json(resp, status, out);
}

ih_err ih_api_call_id(ih_app *app, ih_req *req, ih_resp *resp, ih_id_call fn)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(fn(app->clinic, &v, id, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_call_list(ih_app *app, ih_req *req, ih_resp *resp, const char *key, ih_list_call fn)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(fn(app->clinic, &v, &out));
    return ih_api_json(resp, 200, json_pack("{s:o}", key, out));
}

ih_err ih_api_call_csv(ih_app *app, ih_req *req, ih_resp *resp, const char *what, ih_csv_call fn)
{
    const char *ct = req->hdr[IH_HDR_CONTENT_TYPE];
    if (!ct || strncasecmp(ct, "text/csv", 8) != 0 || (ct[8] && ct[8] != ';' && ct[8] != ' '))
        return ih_reject(IH_E_MEDIA_TYPE, NULL, "Send the %s as text/csv.", what);
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(fn(app->clinic, &v, req->body ? req->body : "", req->body_len, &out));
    return ih_api_json(resp, 200, out);
}
