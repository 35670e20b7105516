/* dispatch.c — route, authorise, run, and render errors (see api.h). */
#include "api/api.h"

#include "core/log.h"
#include "policy/perm.h"

#include <arpa/inet.h>
#include <string.h>

bool ih_api_is_loopback(const ih_req *req)
{
    return !strncmp(req->client_ip, "127.", 4) || !strcmp(req->client_ip, "::1") ||
           !strncmp(req->client_ip, "::ffff:127.", 11);
}

static ih_err authorize(const ih_route *route, ih_req *req)
{
    switch ((ih_perm)route->perm) {
    case IH_PERM_PUBLIC: return IH_OK;
    case IH_PERM_METRICS:
        if (ih_api_is_loopback(req)) return IH_OK;
        return ih_fail(IH_E_FORBIDDEN, "metrics from non-loopback %s", req->client_ip);
    case IH_PERM_NONE:
    default:
        ih_log(IH_LOG_ERROR, "api.route_without_permission", "path", route->pattern, NULL);
        return ih_fail(IH_E_FORBIDDEN, "route declares no permission");
    }
}

void ih_api_handle(void *ctx, ih_req *req, ih_resp *resp)
{
    ih_app *app = ctx;
    const ih_route *route = NULL;
    ih_err e;
    switch (ih_route_match(ih_api_routes, ih_api_nroutes, req, &route)) {
    case IH_ROUTE_NO_PATH: e = IH_E_NOT_FOUND; break;
    case IH_ROUTE_NO_METHOD: e = IH_E_METHOD; break;
    default:
        e = authorize(route, req);
        if (e == IH_OK) e = ((ih_api_fn)route->handler)(app, req, resp);
    }
    if (e != IH_OK) {
        int status = ih_err_http_status(e);
        if (status >= 500)
            ih_log(IH_LOG_ERROR, "api.error", "request_id", req->request_id, "path",
                   route ? route->pattern : "-", "code", ih_err_name(e), "detail", ih_err_detail(), NULL);
        ih_resp_error(resp, e);
    }
}
