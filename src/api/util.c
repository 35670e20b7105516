/* util.c — helpers shared by handlers (see api.h). */
#include "api/api.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const ih_principal *ih_api_principal(const ih_req *req) { return req->principal; }

void ih_api_actor(const ih_req *req, ih_actor *out)
{
    const ih_principal *p = req->principal;
    *out = (ih_actor){.id = p ? p->account_id : 0, .role = p ? ih_role_name(p->role) : "anonymous",
                      .session = p ? p->session_tag : NULL, .ip = req->client_ip, .request_id = req->request_id};
}

ih_err ih_api_body(const ih_req *req, json_t **out)
{
    const char *ct = req->hdr[IH_HDR_CONTENT_TYPE];
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' '))
        return IH_E_MEDIA_TYPE;
    return ih_json_parse_object(req->body, req->body_len, out);
}

ih_err ih_api_json(ih_resp *resp, int status, json_t *j)
{
    if (!j) return ih_fail(IH_E_NOMEM, "response");
    ih_buf_reset(&resp->body);
    ih_err e = ih_json_dump(j, JSON_COMPACT, &resp->body);
    json_decref(j);
    resp->status = status;
    resp->content_type = "application/json";
    return e;
}

ih_err ih_api_no_content(ih_resp *resp)
{
    ih_buf_reset(&resp->body);
    resp->status = 204;
    return IH_OK;
}

ih_err ih_api_param_id(const ih_req *req, int k, int64_t *out)
{
    if (k >= req->nparams) return IH_E_NOT_FOUND;
    const char *s = req->params[k];
    if (!*s || strlen(s) > 18) return IH_E_NOT_FOUND;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) return IH_E_NOT_FOUND;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0) return IH_E_NOT_FOUND;
    *out = v;
    return IH_OK;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool ih_api_query(const ih_req *req, const char *key, char *buf, size_t n)
{
    if (!req->query || n == 0) return false;
    size_t klen = strlen(key);
    for (const char *p = req->query; *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > klen && !strncmp(p, key, klen) && p[klen] == '=') {
            size_t o = 0;
            for (size_t i = klen + 1; i < len && o + 1 < n; i++) {
                char c = p[i];
                if (c == '+') c = ' ';
                else if (c == '%' && i + 2 < len + 1 && hexv(p[i + 1]) >= 0 && hexv(p[i + 2]) >= 0) {
                    c = (char)(hexv(p[i + 1]) << 4 | hexv(p[i + 2]));
                    i += 2;
                }
                if ((unsigned char)c < 0x20) continue; /* no control characters */
                buf[o++] = c;
            }
            buf[o] = '\0';
            return true;
        }
        if (!amp) break;
        p = amp + 1;
    }
    return false;
}

ih_err ih_api_query_int(const ih_req *req, const char *key, int64_t min, int64_t max, int64_t def, int64_t *out)
{
    char buf[32];
    if (!ih_api_query(req, key, buf, sizeof buf)) {
        *out = def;
        return IH_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end || v < min || v > max)
        return ih_reject(IH_E_INVALID, key, "Query parameter '%s' must be an integer from %lld to %lld.", key,
                         (long long)min, (long long)max);
    *out = v;
    return IH_OK;
}

ih_err ih_api_query_order(const ih_req *req, bool *newest_first)
{
    char order[16];
    *newest_first = false;
    if (!ih_api_query(req, "order", order, sizeof order)) return IH_OK;
    if (strcmp(order, "oldest") && strcmp(order, "newest"))
        return ih_reject(IH_E_INVALID, "order", "Query parameter 'order' must be oldest or newest.");
    *newest_first = !strcmp(order, "newest");
    return IH_OK;
}

ih_err ih_api_page_json(ih_resp *resp, const char *key, json_t *list, bool newest_first, int64_t next)
{
    return ih_api_json(resp, 200, json_pack("{s:o, s:o}", key, list, newest_first ? "next_before" : "next_after",
                                            next >= 0 ? json_integer(next) : json_null()));
}

ih_err ih_api_list_page(ih_resp *resp, const char *key, json_t *list, int64_t limit, const char *field,
                        bool newest_first)
{
    size_t n = json_array_size(list);
    int64_t next = n && n == (size_t)limit ? json_integer_value(json_object_get(json_array_get(list, n - 1), field)) : -1;
    return ih_api_page_json(resp, key, list, newest_first, next);
}

ih_err ih_api_audit(ih_app *app, const ih_req *req, const char *action, const char *object_type,
                    const char *object_id, ih_err result, const char *reason)
{
    ih_actor who;
    ih_api_actor(req, &who);
    ih_audit_event ev = {.action = action, .object_type = object_type, .object_id = object_id, .result = result,
                         .reason = reason};
    return ih_audit_record(app->audit, &who, &ev);
}

void ih_api_viewer(const ih_req *req, ih_viewer *v)
{
    ih_api_actor(req, &v->actor);
    const ih_principal *p = req->principal;
    v->role = p ? p->role : IH_ROLE_NONE;
    v->session_id = p ? p->session_id : 0;
    v->strong = p && !p->restricted; /* restricted: password change or second factor still owed */
}

ih_err ih_api_body_opt(const ih_req *req, json_t **out)
{
    if (!req->body_len) {
        *out = json_object();
        return *out ? IH_OK : ih_fail(IH_E_NOMEM, "body");
    }
    return ih_api_body(req, out);
}
