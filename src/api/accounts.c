/* accounts.c — account administration: /api/v1/accounts... and
 * /api/v1/admin-accounts...  The route table holds the permissions; the
 * identity service enforces which accounts each administrator may touch. */
#include "api/api.h"

#include "core/bus.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>

/* ?status=&role=doctor,nurse&order=newest&after=|before=&limit= */
ih_err ih_api_accounts_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_account_filter f = {0};
    int64_t limit;
    IH_TRY(ih_api_query_int(req, "after", 0, INT64_MAX, 0, &f.after));
    IH_TRY(ih_api_query_int(req, "before", 0, INT64_MAX, 0, &f.before));
    IH_TRY(ih_api_query_int(req, "limit", 1, 500, 100, &limit));
    IH_TRY(ih_api_query_order(req, &f.newest_first));
    f.limit = (int)limit;
    char status[16] = "", roles[64] = "";
    if (ih_api_query(req, "status", status, sizeof status) && strcmp(status, "pending") && strcmp(status, "active") &&
        strcmp(status, "disabled"))
        return ih_reject(IH_E_INVALID, "status", "Query 'status' is one of pending, active, disabled.");
    f.status = status;
    if (ih_api_query(req, "role", roles, sizeof roles)) { /* up to three role names, comma-separated */
        int n = 0;
        for (char *save = NULL, *r = strtok_r(roles, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
            if (n == 3 || ih_role_parse(r) == IH_ROLE_NONE) {
                n = 0; /* refused below */
                break;
            }
            f.roles[n++] = r;
        }
        if (n == 0)
            return ih_reject(IH_E_INVALID, "role", "Query 'role' is up to three role names, comma-separated.");
    }
    json_t *list;
    IH_TRY(ih_identity_list(app->identity, &f, &list));
    ih_err e = ih_api_audit(app, req, "account.list", "account", NULL, IH_OK, NULL);
    if (e != IH_OK) {
        json_decref(list);
        return e;
    }
    return ih_api_list_page(resp, "accounts", list, limit, "id", f.newest_first);
}

static const char *const create_fields[] = {"username", "role", "expires_at", NULL};

static ih_err parse_date_field(json_t *b, const char *field, int64_t *ms)
{
    const char *s;
    IH_TRY(ih_json_str(b, field, false, 10, 10, IH_TEXT_LINE, &s));
    *ms = 0;
    if (s && ih_date_parse(s, ms) != 0)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be a date YYYY-MM-DD.", field);
    return IH_OK;
}

ih_err ih_api_accounts_create(ih_app *app, ih_req *req, ih_resp *resp)
{
    json_t *b;
    IH_TRY(ih_api_body(req, &b));
    const char *username, *role;
    int64_t expires = 0;
    ih_err e = ih_json_only(b, create_fields);
    if (e == IH_OK) e = ih_json_str(b, "username", true, 3, 64, IH_TEXT_LINE, &username);
    if (e == IH_OK) e = ih_json_str(b, "role", true, 1, 16, IH_TEXT_LINE, &role);
    if (e == IH_OK) e = parse_date_field(b, "expires_at", &expires);
    ih_role r = e == IH_OK ? ih_role_parse(role) : IH_ROLE_NONE;
    if (e == IH_OK && (r == IH_ROLE_NONE || r == IH_ROLE_PATIENT))
        e = ih_reject(IH_E_INVALID, "role", "Field 'role' must be a staff or administrator role (patients register themselves).");
    int64_t id = 0;
    char otp[32] = "";
    if (e == IH_OK) {
        ih_actor who;
        ih_api_actor(req, &who);
        /* Pending until the security administrator activates it. */
        ih_account_new n = {.username = username, .role = r, .expires_at = expires, .must_change = true};
        e = ih_identity_create(app->identity, &who, &n, otp, &id);
    }
    json_decref(b);
    IH_TRY(e);
    /* the security administrators' activation queue changed */
    char ev[48];
    snprintf(ev, sizeof ev, "{\"account\":%lld}", (long long)id);
    ih_bus_publish(app->bus, &(ih_bus_audience){.roles = 1u << IH_ROLE_SECADMIN}, "account", ev);
    json_t *acct;
    IH_TRY(ih_identity_get(app->identity, id, &acct));
    json_t *j = json_pack("{s:o, s:s, s:s}", "account", acct, "one_time_password", otp, "next",
                          "The security administrator must activate the account before it can log in.");
    ih_wipe(otp, sizeof otp);
    return ih_api_json(resp, 201, j);
}

ih_err ih_api_account_get(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *acct;
    IH_TRY(ih_identity_get(app->identity, id, &acct));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)id);
    IH_TRY(ih_api_audit(app, req, "account.read", "account", oid, IH_OK, NULL));
    return ih_api_json(resp, 200, acct);
}

static ih_err respond_account(ih_app *app, ih_resp *resp, int64_t id)
{
    json_t *acct;
    IH_TRY(ih_identity_get(app->identity, id, &acct));
    return ih_api_json(resp, 200, acct);
}

ih_err ih_api_account_activate(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_actor who;
    ih_api_actor(req, &who);
    IH_TRY(ih_identity_activate(app->identity, &who, id));
    return respond_account(app, resp, id);
}

static const char *const role_fields[] = {"role", NULL};

ih_err ih_api_account_role(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *b;
    IH_TRY(ih_api_body(req, &b));
    const char *role;
    ih_err e = ih_json_only(b, role_fields);
    if (e == IH_OK) e = ih_json_str(b, "role", true, 1, 16, IH_TEXT_LINE, &role);
    ih_role r = e == IH_OK ? ih_role_parse(role) : IH_ROLE_NONE;
    if (e == IH_OK && r == IH_ROLE_NONE) e = ih_reject(IH_E_INVALID, "role", "Field 'role' is not a known role.");
    json_decref(b);
    IH_TRY(e);
    ih_actor who;
    ih_api_actor(req, &who);
    json_t *proposal;
    IH_TRY(ih_identity_propose_role(app->identity, &who, id, r, &proposal));
    /* a second administrator decides (POST /api/v1/approvals/{id}) */
    return ih_api_json(resp, 202, json_pack("{s:o}", "approval", proposal));
}

static const char *const reason_fields[] = {"reason", NULL};

static ih_err set_enabled(ih_app *app, ih_req *req, ih_resp *resp, bool enabled)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    const char *reason = NULL;
    json_t *b = NULL;
    if (req->body_len) {
        IH_TRY(ih_api_body(req, &b));
        ih_err e = ih_json_only(b, reason_fields);
        if (e == IH_OK) e = ih_json_str(b, "reason", false, 0, 200, IH_TEXT_LINE, &reason);
        if (e != IH_OK) {
            json_decref(b);
            return e;
        }
    }
    ih_actor who;
    ih_api_actor(req, &who);
    ih_err e = ih_identity_set_enabled(app->identity, &who, ih_api_principal(req)->role, id, enabled, reason);
    json_decref(b);
    IH_TRY(e);
    return respond_account(app, resp, id);
}

ih_err ih_api_account_disable(ih_app *app, ih_req *req, ih_resp *resp) { return set_enabled(app, req, resp, false); }
ih_err ih_api_account_enable(ih_app *app, ih_req *req, ih_resp *resp) { return set_enabled(app, req, resp, true); }
ih_err ih_api_admin_disable(ih_app *app, ih_req *req, ih_resp *resp) { return set_enabled(app, req, resp, false); }
ih_err ih_api_admin_enable(ih_app *app, ih_req *req, ih_resp *resp) { return set_enabled(app, req, resp, true); }

static const char *const expiry_fields[] = {"expires_at", NULL};

ih_err ih_api_account_expiry(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id, expires = 0;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *b;
    IH_TRY(ih_api_body(req, &b));
    ih_err e = ih_json_only(b, expiry_fields);
    if (e == IH_OK) e = parse_date_field(b, "expires_at", &expires);
    json_decref(b);
    IH_TRY(e);
    ih_actor who;
    ih_api_actor(req, &who);
    IH_TRY(ih_identity_set_expiry(app->identity, &who, id, expires));
    return respond_account(app, resp, id);
}

ih_err ih_api_account_password_reset(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_actor who;
    ih_api_actor(req, &who);
    char otp[32];
    IH_TRY(ih_identity_reset_password(app->identity, &who, id, otp));
    json_t *j = json_pack("{s:s}", "one_time_password", otp);
    ih_wipe(otp, sizeof otp);
    return ih_api_json(resp, 200, j);
}

ih_err ih_api_account_unlock(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_actor who;
    ih_api_actor(req, &who);
    IH_TRY(ih_identity_unlock(app->identity, &who, id));
    return respond_account(app, resp, id);
}

ih_err ih_api_account_totp_reset(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    ih_actor who;
    ih_api_actor(req, &who);
    IH_TRY(ih_identity_reset_totp(app->identity, &who, id));
    return respond_account(app, resp, id);
}
