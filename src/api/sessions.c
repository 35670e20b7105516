/* sessions.c — POST /api/v1/sessions (login), DELETE /api/v1/sessions/current. */
#include "api/api.h"

#include "core/clock.h"
#include "core/json.h"

#include <stdio.h>
#include <string.h>

static const char *const login_fields[] = {"username", "password", "totp", NULL};

ih_err ih_api_login(ih_app *app, ih_req *req, ih_resp *resp)
{
    json_t *b;
    IH_TRY(ih_api_body(req, &b));
    const char *username, *password, *totp;
    ih_err e = ih_json_only(b, login_fields);
    if (e == IH_OK) e = ih_json_str(b, "username", true, 1, 64, IH_TEXT_LINE, &username);
    if (e == IH_OK) e = ih_json_str(b, "password", true, 1, 256, IH_TEXT_LINE, &password);
    if (e == IH_OK) e = ih_json_str(b, "totp", false, 0, 8, IH_TEXT_LINE, &totp);
    if (e != IH_OK) {
        json_decref(b);
        return e;
    }
    ih_login_req rq = {.username = username, .password = password, .totp = totp, .ip = req->client_ip,
                       .request_id = req->request_id};
    ih_login_result r;
    e = ih_identity_login(app->identity, &rq, &r);
    json_decref(b); /* wipes the password (ih_json_init) */
    if (e != IH_OK) return e;
    int64_t max_age = (r.expires_at - ih_now_ms()) / 1000;
    char cookie[200];
    snprintf(cookie, sizeof cookie, "ihos_session=%s; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=%lld", r.token,
             (long long)max_age);
    ih_resp_header(resp, "Set-Cookie", cookie);
    ih_wipe(cookie, sizeof cookie);
    json_t *j = json_pack("{s:s, s:o, s:s, s:b, s:b, s:{s:I, s:s, s:s}}", "token", r.token, "expires_at",
                          ih_json_time(r.expires_at), "csrf_token", r.p.csrf, "must_change_password",
                          r.p.must_change_password, "must_enrol_totp", r.p.must_enrol_totp, "account", "id",
                          (json_int_t)r.p.account_id, "username", r.p.username, "role", ih_role_name(r.p.role));
    ih_wipe(&r, sizeof r);
    return ih_api_json(resp, 201, j);
}

ih_err ih_api_logout(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_actor who;
    ih_api_actor(req, &who);
    IH_TRY(ih_identity_logout(app->identity, ih_api_principal(req), &who));
    ih_resp_header(resp, "Set-Cookie", "ihos_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    ih_resp_header(resp, "Clear-Site-Data", "\"cookies\", \"storage\""); /* L3 8.1.4.10 */
    return ih_api_no_content(resp);
}
