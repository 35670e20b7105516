/* patients_api.c — self-registration (public, rate-limited), a patient's own
 * profile and consents, and other people's views of patients (care
 * relationships and masking are the clinic service's). */
#include "api/api.h"

#include <string.h>

ih_err ih_api_patients_register(ih_app *app, ih_req *req, ih_resp *resp)
{
    json_t *b, *out;
    IH_TRY(ih_api_body(req, &b));
    ih_actor anon;
    ih_api_actor(req, &anon);
    ih_err e = ih_patient_register(app->clinic, &anon, b, &out);
    json_decref(b); /* the wiping allocator clears the password */
    IH_TRY(e);
    return ih_api_json(resp, 201, out);
}

ih_err ih_api_patients_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    char cert[40], phone[24];
    bool by_cert = ih_api_query(req, "cert_no", cert, sizeof cert);
    bool by_phone = ih_api_query(req, "phone", phone, sizeof phone);
    json_t *out;
    if (by_cert || by_phone) {
        IH_TRY(ih_patient_find(app->clinic, &v, by_cert ? cert : NULL, by_cert ? NULL : phone, &out));
        return ih_api_json(resp, 200, json_pack("{s:o}", "patients", out));
    }
    int64_t after, limit;
    IH_TRY(ih_api_query_int(req, "after", 0, INT64_MAX, 0, &after));
    IH_TRY(ih_api_query_int(req, "limit", 1, 500, 100, &limit));
    IH_TRY(ih_patient_list(app->clinic, &v, after, (int)limit, &out));
    size_t n = json_array_size(out);
    json_t *next = n == (size_t)limit ? json_object_get(json_array_get(out, n - 1), "id") : NULL;
    return ih_api_json(resp, 200, json_pack("{s:o, s:O}", "patients", out, "next_after", next ? next : json_null()));
}

ih_err ih_api_patient_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_patient_get(app->clinic, &v, id, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_me_patient(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_patient_me(app->clinic, &v, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_me_patient_update(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 200, ih_patient_me_update);
}

ih_err ih_api_me_consents(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_viewer v;
    ih_api_viewer(req, &v);
    json_t *out;
    IH_TRY(ih_consent_list(app->clinic, &v, &out));
    return ih_api_json(resp, 200, out);
}

ih_err ih_api_me_consent_accept(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_call_body(app, req, resp, 201, ih_consent_accept);
}
