/* dispatch.c — route, authenticate, authorise, run, render errors (api.h).
 * L3 8.1.4.2e: default deny, every route declares its permission;
 * 8.1.4.3a: refusals are audit events; 8.1.4.4d: errors leak nothing. */
#include "api/api.h"

#include "core/log.h"

#include <string.h>
#include <strings.h>

/* Session token from "Authorization: Bearer X" or the ihos_session cookie. */
static const char *find_token(const ih_req *req, bool *via_cookie, char *buf, size_t n)
{
    const char *auth = req->hdr[IH_HDR_AUTHORIZATION];
    *via_cookie = false;
    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7) != 0) return "";
        return auth + 7;
    }
    const char *cookie = req->hdr[IH_HDR_COOKIE];
    if (!cookie) return NULL;
    for (const char *p = cookie; *p;) {
        while (*p == ' ' || *p == ';') p++;
        size_t len = strcspn(p, ";");
        if (len > 13 && !strncmp(p, "ihos_session=", 13)) {
            size_t v = len - 13;
            if (v >= n) v = n - 1;
            memcpy(buf, p + 13, v);
            buf[v] = '\0';
            *via_cookie = true;
            return buf;
        }
        p += len;
    }
    return NULL;
}

static bool safe_method(ih_method m) { return m == IH_GET || m == IH_HEAD || m == IH_OPTIONS; }

static ih_err authorize(ih_app *app, const ih_route *route, ih_req *req, ih_principal *p)
{
    ih_perm perm = (ih_perm)route->perm;
    if (perm == IH_PERM_PUBLIC) return IH_OK;
    if (perm == IH_PERM_NONE || perm >= IH_PERM__COUNT) {
        ih_log(IH_LOG_ERROR, "api.route_without_permission", "path", route->pattern, NULL);
        return ih_fail(IH_E_FORBIDDEN, "route declares no permission");
    }
    bool via_cookie;
    char cookie_token[96];
    const char *token = find_token(req, &via_cookie, cookie_token, sizeof cookie_token);
    /* Metrics: the scraper's own token, or a session with metrics.read.
     * Being on the same machine is no credential (other local users, a
     * local proxy, server-side request forgery). */
    if (perm == IH_PERM_METRICS && token && !via_cookie && ih_app_metrics_token_ok(app, token)) return IH_OK;
    if (!token) return IH_E_UNAUTHENTICATED;
    ih_err e = route->flags & IH_API_PASSIVE
                   ? ih_identity_authenticate_passive(app->identity, token, via_cookie, req->client_ip, p)
                   : ih_identity_authenticate(app->identity, token, via_cookie, req->client_ip, p);
    if (e != IH_OK) {
        if (e == IH_E_UNAUTHENTICATED || e == IH_E_SESSION_EXPIRED) {
            ih_err_clear();
            ih_api_audit(app, req, "auth.session_refused", "route", route->pattern, e, NULL);
        }
        return e;
    }
    req->principal = p;
    if (via_cookie && !safe_method(req->method)) {
        const char *sent = req->hdr[IH_HDR_CSRF];
        if (!sent || strlen(sent) != strlen(p->csrf) || !ih_ct_equal(sent, p->csrf, strlen(p->csrf))) {
            ih_api_audit(app, req, "access.csrf_refused", "route", route->pattern, IH_E_CSRF, NULL);
            return IH_E_CSRF;
        }
    }
    if (perm == IH_PERM_SELF) return IH_OK;
    if (p->restricted) { /* a 403 like any other: recorded */
        ih_api_audit(app, req, "access.denied", "route", route->pattern, IH_E_PASSWORD_CHANGE, "password change required");
        return IH_E_PASSWORD_CHANGE;
    }
    if (perm == IH_PERM_AUTHENTICATED) return IH_OK;
    if (perm == IH_PERM_METRICS) perm = IH_PERM_METRICS_READ;
    if (ih_policy_allows(app->policy, p->role, perm)) return IH_OK;
    ih_api_audit(app, req, "access.denied", "route", route->pattern, IH_E_FORBIDDEN, ih_perm_name(perm));
    return ih_fail(IH_E_FORBIDDEN, "%s lacks %s", ih_role_name(p->role), ih_perm_name(perm));
}

void ih_api_handle(void *ctx, ih_req *req, ih_resp *resp)
{
    ih_app *app = ctx;
    const ih_route *route = NULL;
    ih_principal principal;
    ih_err e;
    switch (ih_route_match(ih_api_routes, ih_api_nroutes, req, &route)) {
    case IH_ROUTE_NO_PATH: e = IH_E_NOT_FOUND; break;
    case IH_ROUTE_NO_METHOD: e = IH_E_METHOD; break;
    default:
        if (!(route->flags & IH_API_MEMORY)) ih_req_may_wait(req);
        e = authorize(app, route, req, &principal);
        if (e == IH_OK) {
            ih_err_clear();
            e = ((ih_api_fn)route->handler)(app, req, resp);
        }
    }
    if (e != IH_OK) {
        int status = ih_err_http_status(e);
        if (status >= 500 || e == IH_E_CONFLICT) /* a conflict is a database constraint: worth a look */
            ih_log(status >= 500 ? IH_LOG_ERROR : IH_LOG_WARN, "api.error", "request_id", req->request_id, "path",
                   route ? route->pattern : "-", "code", ih_err_name(e), "detail", ih_err_detail(), NULL);
        ih_resp_error(resp, e);
        if (e == IH_E_UNAUTHENTICATED || e == IH_E_SESSION_EXPIRED || e == IH_E_AUTH_FAILED)
            ih_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"ihos\"");
    }
    memset(&principal, 0, sizeof principal); /* holds the CSRF token */
}
