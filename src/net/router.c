/* router.c — see router.h. */
#include "net/router.h"

#include <string.h>

/* Match path against pattern; captures point into `scratch` (a copy of the
 * path with '/' replaced by NUL at capture ends). */
static bool match(const char *pattern, const char *path, char *scratch, const char **params, int *np)
{
    const char *p = pattern;
    size_t i = 0; /* index into path/scratch */
    *np = 0;
    while (*p) {
        if (p[0] == '{' && p[1] == '}') {
            size_t start = i;
            while (path[i] && path[i] != '/') i++;
            if (i == start || *np >= IH_MAX_PARAMS) return false;
            params[(*np)++] = scratch + start;
            p += 2;
            continue;
        }
        if (*p != path[i]) return false;
        p++;
        i++;
    }
    return path[i] == '\0';
}

ih_route_result ih_route_match(const ih_route *table, size_t n, ih_req *req, const ih_route **out)
{
    static _Thread_local char scratch[1024];
    size_t len = strlen(req->path);
    if (len >= sizeof scratch) return IH_ROUTE_NO_PATH;
    ih_route_result res = IH_ROUTE_NO_PATH;
    ih_method want = req->method == IH_HEAD ? IH_GET : req->method;
    for (size_t r = 0; r < n; r++) {
        const char *params[IH_MAX_PARAMS];
        int np;
        memcpy(scratch, req->path, len + 1);
        if (!match(table[r].pattern, req->path, scratch, params, &np)) continue;
        if (table[r].method != want) {
            res = IH_ROUTE_NO_METHOD;
            continue;
        }
        /* Terminate each capture at its segment's end. */
        for (int k = 0; k < np; k++) {
            char *slash = strchr((char *)params[k], '/');
            if (slash) *slash = '\0';
        }
        memcpy(req->params, params, sizeof params);
        req->nparams = np;
        req->route = &table[r];
        *out = &table[r];
        return IH_ROUTE_FOUND;
    }
    return res;
}
