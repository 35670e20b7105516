/* router.h — match a request to a route in a static table.
 *
 * A route is a method, a path pattern ("/api/v1/accounts/{}" — each "{}"
 * matches one non-empty segment, captured in order into req->params), the
 * permission it requires and its handler.  The permission is an int owned
 * by the policy layer; 0 means "not declared" and the dispatcher denies it,
 * so forgetting to declare one can only ever lock a route, never open it.
 */
#ifndef IH_NET_ROUTER_H
#define IH_NET_ROUTER_H

#include "net/http.h"

#include <stddef.h>

typedef struct ih_route {
    ih_method method;
    const char *pattern;
    int perm;
    unsigned flags;
    const void *handler; /* the dispatcher knows its type */
} ih_route;

typedef enum { IH_ROUTE_FOUND, IH_ROUTE_NO_PATH, IH_ROUTE_NO_METHOD } ih_route_result;

/* On IH_ROUTE_FOUND, *out is the route and req->params are filled.  HEAD
 * matches GET routes. */
ih_route_result ih_route_match(const ih_route *table, size_t n, ih_req *req, const ih_route **out);

#endif
