/* patients_api.c — self-registration and a patient's own password reset
 * (public, rate-limited, proved by SMS codes), a patient's own
 * profile and consents, and other people's views of patients (care
 * relationships and masking are the clinic service's). */
#include "api/api.h"

#include <string.h>

/* The public self-service calls: a body in, the clinic's answer out.  The
 * body is freed (wiping passwords) before the answer is built. */
typedef ih_err (*self_service_fn)(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out);

static ih_err self_service(ih_app *app, ih_req *req, ih_resp *resp, self_service_fn fn, int status)
{
    json_t *b, *out;
    IH_TRY(ih_api_body(req, &b));
    ih_actor anon;
    ih_api_actor(req, &anon);
    ih_err e = fn(app->clinic, &anon, b, &out);
    json_decref(b); /* the wiping allocator clears the password */
    IH_TRY(e);
    return ih_api_json(resp, status, out);
}

ih_err ih_api_patients_register(ih_app *app, ih_req *req, ih_resp *resp)
{
    return self_service(app, req, resp, ih_patient_register_start, 202);
}

ih_err ih_api_patients_register_verify(ih_app *app, ih_req *req, ih_resp *resp)
{
    return self_service(app, req, resp, ih_patient_register_verify, 201);
}

ih_err ih_api_password_reset_start(ih_app *app, ih_req *req, ih_resp *resp)
{
    return self_service(app, req, resp, ih_patient_reset_start, 202);
}

static ih_err reset_confirm(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out)
{
    IH_TRY(ih_patient_reset_confirm(c, anon, body));
    *out = json_pack("{s:b}", "password_reset", 1);
    return *out ? IH_OK : ih_fail(IH_E_NOMEM, "reset");
}

ih_err ih_api_password_reset_confirm(ih_app *app, ih_req *req, ih_resp *resp)
{
    return self_service(app, req, resp, reset_confirm, 200);
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
    return ih_api_list_page(resp, "patients", out, limit, "id", false);
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
