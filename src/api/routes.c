/* routes.c — the route table: every path, its method and its permission. */
#include "api/api.h"
#include "policy/perm.h"

#define R(m, pat, perm, fn) {m, pat, perm, 0, (const void *)(fn)}

const ih_route ih_api_routes[] = {
    R(IH_GET, "/healthz", IH_PERM_PUBLIC, ih_api_healthz),
    R(IH_GET, "/metrics", IH_PERM_METRICS, ih_api_metrics),
};

const size_t ih_api_nroutes = sizeof ih_api_routes / sizeof ih_api_routes[0];
