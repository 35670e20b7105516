/* me.c — the caller's own account: /api/v1/me... */
#include "api/api.h"

#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

/* The QR code of an otpauth URI as rows of '1' (dark) and '0', for the
 * console to draw on a canvas (no image from elsewhere, no data: URL). */
static json_t *qr_rows(const char *uri)
{
    QRcode *q = QRcode_encodeString(uri, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!q) return NULL;
    json_t *rows = json_array();
    char *line = malloc((size_t)q->width + 1);
    for (int y = 0; rows && line && y < q->width; y++) {
        for (int x = 0; x < q->width; x++) line[x] = (q->data[y * q->width + x] & 1) ? '1' : '0';
        line[q->width] = '\0';
        json_array_append_new(rows, json_string(line));
    }
    if (line) {
        memset(line, 0, (size_t)q->width);
        free(line);
    }
    QRcode_free(q);
    return rows;
}

ih_err ih_api_me(ih_app *app, ih_req *req, ih_resp *resp)
{
    const ih_principal *p = ih_api_principal(req);
    json_t *perms = json_array();
    for (int i = IH_PERM_AUTHENTICATED + 1; i < IH_PERM__COUNT; i++)
        if (!p->restricted && ih_policy_allows(app->policy, p->role, (ih_perm)i))
            json_array_append_new(perms, json_string(ih_perm_name((ih_perm)i)));
    return ih_api_json(resp, 200,
                       json_pack("{s:I, s:s, s:s, s:b, s:b, s:b, s:o, s:i, s:s}", "id", (json_int_t)p->account_id,
                                 "username", p->username, "role", ih_role_name(p->role), "must_change_password",
                                 p->must_change_password, "must_enrol_totp", p->must_enrol_totp, "restricted",
                                 p->restricted, "permissions", perms, "idle_seconds",
                                 app->conf->session_idle_minutes * 60, "csrf_token", p->csrf));
}

static const char *const pw_fields[] = {"old_password", "new_password", NULL};

ih_err ih_api_me_password(ih_app *app, ih_req *req, ih_resp *resp)
{
    json_t *b;
    IH_TRY(ih_api_body(req, &b));
    const char *oldp, *newp;
    ih_err e = ih_json_only(b, pw_fields);
    if (e == IH_OK) e = ih_json_str(b, "old_password", true, 1, 256, IH_TEXT_LINE, &oldp);
    if (e == IH_OK) e = ih_json_str(b, "new_password", true, 1, 256, IH_TEXT_LINE, &newp);
    if (e == IH_OK) {
        ih_actor who;
        ih_api_actor(req, &who);
        e = ih_identity_change_password(app->identity, ih_api_principal(req), &who, oldp, newp);
    }
    json_decref(b);
    IH_TRY(e);
    return ih_api_no_content(resp);
}

static const char *const enrol_fields[] = {"password", "totp", NULL};

ih_err ih_api_me_totp_begin(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_actor who;
    ih_api_actor(req, &who);
    char uri[512];
    json_t *b;
    IH_TRY(ih_api_body_opt(req, &b));
    const char *pw = NULL, *code = NULL;
    ih_err e = ih_json_only(b, enrol_fields);
    if (e == IH_OK) e = ih_json_str(b, "password", false, 1, 256, IH_TEXT_LINE, &pw);
    if (e == IH_OK) e = ih_json_str(b, "totp", false, 6, 8, IH_TEXT_LINE, &code);
    if (e == IH_OK && !pw)
        e = ih_reject(IH_E_INVALID, "password", "Confirm with your password (and, to replace an enrolled second "
                                                "factor, a code from it: 'totp').");
    if (e == IH_OK) e = ih_identity_totp_begin(app->identity, ih_api_principal(req), &who, pw, code, uri, sizeof uri);
    json_decref(b);
    IH_TRY(e);
    json_t *j = json_pack("{s:s, s:o*, s:s}", "otpauth_uri", uri, "qr", qr_rows(uri), "note",
                          "Scan this into an authenticator app, then POST a code to /api/v1/me/totp/confirm.");
    ih_wipe(uri, sizeof uri);
    return ih_api_json(resp, 201, j);
}

static const char *const code_fields[] = {"code", NULL};

ih_err ih_api_me_totp_confirm(ih_app *app, ih_req *req, ih_resp *resp)
{
    json_t *b;
    IH_TRY(ih_api_body(req, &b));
    const char *code;
    ih_err e = ih_json_only(b, code_fields);
    if (e == IH_OK) e = ih_json_str(b, "code", true, 6, 8, IH_TEXT_LINE, &code);
    if (e == IH_OK) {
        ih_actor who;
        ih_api_actor(req, &who);
        e = ih_identity_totp_confirm(app->identity, ih_api_principal(req), &who, code);
    }
    json_decref(b);
    IH_TRY(e);
    return ih_api_no_content(resp);
}

ih_err ih_api_me_sessions(ih_app *app, ih_req *req, ih_resp *resp)
{
    json_t *list;
    IH_TRY(ih_identity_sessions(app->identity, ih_api_principal(req), &list));
    return ih_api_json(resp, 200, json_pack("{s:o}", "sessions", list));
}

ih_err ih_api_me_session_revoke(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t sid;
    IH_TRY(ih_api_param_id(req, 0, &sid));
    ih_actor who;
    ih_api_actor(req, &who);
    IH_TRY(ih_identity_revoke(app->identity, ih_api_principal(req), &who, sid));
    return ih_api_no_content(resp);
}
