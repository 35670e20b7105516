/* permissions.c — GET /api/v1/permissions, PUT /api/v1/roles/{role}/permissions/{perm}.
 * L3 8.1.4.2e: the access policy is set by an authorised subject (secadmin),
 * within bounds that keep the administrators apart. */
#include "api/api.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>

ih_err ih_api_permissions_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)req;
    json_t *perms = json_array();
    for (int i = IH_PERM_AUTHENTICATED + 1; i < IH_PERM__COUNT; i++) {
        json_t *bounds = json_array(), *holders = json_array();
        for (int r = 1; r < IH_ROLE__COUNT; r++) {
            if (ih_perm_in_bounds((ih_perm)i, (ih_role)r)) json_array_append_new(bounds, json_string(ih_role_name((ih_role)r)));
            if (ih_policy_allows(app->policy, (ih_role)r, (ih_perm)i))
                json_array_append_new(holders, json_string(ih_role_name((ih_role)r)));
        }
        json_array_append_new(perms, json_pack("{s:s, s:b, s:o, s:o}", "name", ih_perm_name((ih_perm)i), "optional",
                                               ih_perm_optional((ih_perm)i), "bounds", bounds, "holders", holders));
    }
    return ih_api_json(resp, 200, json_pack("{s:o}", "permissions", perms));
}

typedef struct {
    ih_app *app;
    ih_role role;
    ih_perm perm;
    bool granted;
    ih_actor who;
} set_arg;

static ih_err set_fn(ih_tx *tx, void *arg)
{
    set_arg *s = arg;
    IH_TRY(ih_policy_set(tx, s->app->keys, s->role, s->perm, s->granted, s->who.id, ih_now_ms()));
    char oid[80];
    snprintf(oid, sizeof oid, "%s/%s", ih_role_name(s->role), ih_perm_name(s->perm));
    ih_audit_event ev = {.action = s->granted ? "permission.grant" : "permission.revoke", .object_type = "permission",
                         .object_id = oid};
    return ih_audit_append(s->app->audit, tx, &s->who, &ev);
}

static const char *const fields[] = {"granted", NULL};

ih_err ih_api_permission_set(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_role role = ih_role_parse(req->params[0]);
    ih_perm perm = ih_perm_parse(req->params[1]);
    if (role == IH_ROLE_NONE || perm == IH_PERM_NONE) return IH_E_NOT_FOUND;
    json_t *b;
    IH_TRY(ih_api_body(req, &b));
    bool granted = false;
    ih_err e = ih_json_only(b, fields);
    if (e == IH_OK) e = ih_json_bool(b, "granted", true, &granted);
    json_decref(b);
    IH_TRY(e);
    set_arg s = {app, role, perm, granted, {0}};
    ih_api_actor(req, &s.who);
    if (ih_perm_needs_second(perm, role, granted)) { /* widening access to personal data, or narrowing the auditor */
        json_t *proposal;
        IH_TRY(ih_identity_propose_grant(app->identity, &s.who, role, perm, granted, &proposal));
        return ih_api_json(resp, 202, json_pack("{s:o}", "approval", proposal));
    }
    e = ih_store_write(app->store, set_fn, &s);
    if (e == IH_E_FORBIDDEN) /* out of bounds: refused, and the attempt recorded */
        ih_api_audit(app, req, granted ? "permission.grant" : "permission.revoke", "permission", req->params[1], e,
                     ih_role_name(role));
    IH_TRY(e);
    ih_policy_apply(app->policy, role, perm, granted);
    return ih_api_json(resp, 200, json_pack("{s:s, s:s, s:b}", "role", ih_role_name(role), "permission",
                                            ih_perm_name(perm), "granted", granted));
}

/* ---- approvals: a second administrator decides ------------------------------------ */

ih_err ih_api_approvals_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    char pending[8] = "";
    ih_api_query(req, "pending", pending, sizeof pending);
    json_t *list;
    IH_TRY(ih_identity_approvals(app->identity, !strcmp(pending, "true") || !strcmp(pending, "1"), &list));
    return ih_api_json(resp, 200, json_pack("{s:o}", "approvals", list));
}

static const char *const decide_fields[] = {"decision", NULL};

ih_err ih_api_approval_decide(ih_app *app, ih_req *req, ih_resp *resp)
{
    int64_t id;
    IH_TRY(ih_api_param_id(req, 0, &id));
    json_t *b;
    IH_TRY(ih_api_body(req, &b));
    const char *decision = NULL;
    ih_err e = ih_json_only(b, decide_fields);
    if (e == IH_OK) e = ih_json_str(b, "decision", true, 1, 16, IH_TEXT_LINE, &decision);
    if (e == IH_OK && strcmp(decision, "approve") && strcmp(decision, "reject"))
        e = ih_reject(IH_E_INVALID, "decision", "Field 'decision' must be 'approve' or 'reject'.");
    bool approve = e == IH_OK && !strcmp(decision, "approve");
    json_decref(b);
    IH_TRY(e);
    ih_actor who;
    ih_api_actor(req, &who);
    json_t *out;
    ih_approved_grant g = {0};
    e = ih_identity_decide(app->identity, &who, ih_api_principal(req)->role, id, approve, &out, &g);
    if (e == IH_E_FORBIDDEN) ih_api_audit(app, req, "approval.decide", "approval", req->params[0], e, NULL);
    IH_TRY(e);
    if (g.applied) ih_policy_apply(app->policy, g.role, g.perm, g.granted);
    return ih_api_json(resp, 200, json_pack("{s:o}", "approval", out));
}
