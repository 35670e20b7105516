/* http.c — see http.h. */
#include "net/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const hdr_names[IH_HDR__COUNT] = {
    [IH_HDR_HOST] = "host",
    [IH_HDR_CONTENT_TYPE] = "content-type",
    [IH_HDR_COOKIE] = "cookie",
    [IH_HDR_AUTHORIZATION] = "authorization",
    [IH_HDR_CSRF] = "x-csrf-token",
    [IH_HDR_REQUEST_ID] = "x-request-id",
    [IH_HDR_USER_AGENT] = "user-agent",
    [IH_HDR_ORIGIN] = "origin",
};

#define MAX_KEPT_HEADER 8192

void ih_http_global_init(size_t max_header_bytes)
{
    http_parser_set_max_header_size((uint32_t)max_header_bytes);
}

static ih_http *H(http_parser *p) { return (ih_http *)p->data; }

static int on_message_begin(http_parser *p)
{
    H(p)->started = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    ih_http *h = H(p);
    if (h->url.len + n > 8192) return -1;
    return ih_buf_append(&h->url, at, n) == IH_OK ? 0 : -1;
}

static void finish_header(ih_http *h)
{
    if (!h->in_value) return;
    h->in_value = false;
    for (int i = 0; i < IH_HDR__COUNT; i++) {
        if (h->field.len != strlen(hdr_names[i]) || strcasecmp(h->field.p, hdr_names[i])) continue;
        if (h->hdr_set[i]) h->dup_header = true;
        h->hdr_set[i] = true;
        ih_buf_reset(&h->hdr[i]);
        if (ih_buf_append(&h->hdr[i], h->value.p ? h->value.p : "", h->value.len) != IH_OK)
            h->dup_header = true;
        break;
    }
    ih_buf_reset(&h->field);
    ih_buf_reset(&h->value);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    ih_http *h = H(p);
    finish_header(h);
    if (h->field.len + n > 256) { /* no header we keep has a long name */
        ih_buf_reset(&h->field);
        return 0;
    }
    return ih_buf_append(&h->field, at, n) == IH_OK ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    ih_http *h = H(p);
    h->in_value = true;
    if (h->value.len + n > MAX_KEPT_HEADER) return -1;
    return ih_buf_append(&h->value, at, n) == IH_OK ? 0 : -1;
}

static int on_headers_complete(http_parser *p)
{
    ih_http *h = H(p);
    finish_header(h);
    if (h->dup_header) return -1;
    /* Refuse an oversized body before reading it (Content-Length known). */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > h->max_body) {
        h->too_large = true;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    ih_http *h = H(p);
    if (h->body.len + n > h->max_body) { /* chunked bodies are checked here */
        h->too_large = true;
        return -1;
    }
    return ih_buf_append(&h->body, at, n) == IH_OK ? 0 : -1;
}

static int on_message_complete(http_parser *p)
{
    ih_http *h = H(p);
    h->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void ih_http_init(ih_http *h, size_t max_body)
{
    memset(h, 0, sizeof *h);
    h->max_body = max_body;
    http_parser_init(&h->p, HTTP_REQUEST);
    h->p.data = h;
}

void ih_http_free(ih_http *h)
{
    ih_buf_free(&h->url);
    ih_buf_free(&h->field);
    ih_buf_free(&h->value);
    ih_buf_wipe(&h->body); /* bodies carry passwords */
    for (int i = 0; i < IH_HDR__COUNT; i++) ih_buf_wipe(&h->hdr[i]);
}

void ih_http_reset(ih_http *h)
{
    ih_buf_reset(&h->url);
    ih_buf_reset(&h->field);
    ih_buf_reset(&h->value);
    /* Wipe rather than just truncate: the last body may hold a password. */
    if (h->body.p) memset(h->body.p, 0, h->body.len);
    ih_buf_reset(&h->body);
    for (int i = 0; i < IH_HDR__COUNT; i++) {
        if (h->hdr[i].p) memset(h->hdr[i].p, 0, h->hdr[i].len);
        ih_buf_reset(&h->hdr[i]);
        h->hdr_set[i] = false;
    }
    h->dup_header = h->in_value = h->complete = h->too_large = h->started = false;
    memset(&h->req, 0, sizeof h->req);
    http_parser_pause(&h->p, 0);
    /* http-parser keeps its own state across keep-alive messages. */
}

static ih_method method_of(enum http_method m, const char **name)
{
    *name = http_method_str(m);
    switch (m) {
    case HTTP_GET: return IH_GET;
    case HTTP_HEAD: return IH_HEAD;
    case HTTP_POST: return IH_POST;
    case HTTP_PUT: return IH_PUT;
    case HTTP_PATCH: return IH_PATCH;
    case HTTP_DELETE: return IH_DELETE;
    case HTTP_OPTIONS: return IH_OPTIONS;
    default: return IH_METHOD_OTHER;
    }
}

static bool build_request(ih_http *h)
{
    ih_req *r = &h->req;
    struct http_parser_url u;
    if (!h->url.p || http_parser_parse_url(h->url.p, h->url.len, 0, &u) != 0) return false;
    if (!(u.field_set & (1 << UF_PATH))) return false;
    /* Split the URL buffer in place: path, then query. */
    char *base = h->url.p;
    if (u.field_set & (1 << UF_QUERY)) {
        r->query = base + u.field_data[UF_QUERY].off;
        r->query[u.field_data[UF_QUERY].len] = '\0';
    }
    r->path = base + u.field_data[UF_PATH].off;
    r->path[u.field_data[UF_PATH].len] = '\0';
    if (r->path[0] != '/') return false;
    r->method = method_of((enum http_method)h->p.method, &r->method_name);
    for (int i = 0; i < IH_HDR__COUNT; i++) r->hdr[i] = h->hdr_set[i] ? h->hdr[i].p : NULL;
    r->body = h->body.p;
    r->body_len = h->body.len;
    r->keep_alive = http_should_keep_alive(&h->p) != 0;
    return true;
}

ih_http_status ih_http_feed(ih_http *h, const char *data, size_t n, size_t *used)
{
    *used = 0;
    if (h->complete) return IH_HTTP_DONE;
    size_t k = http_parser_execute(&h->p, &settings, data, n);
    *used = k;
    enum http_errno err = HTTP_PARSER_ERRNO(&h->p);
    if (h->too_large) return IH_HTTP_TOO_LARGE;
    if (h->complete) {
        if (err != HPE_OK && err != HPE_PAUSED) return IH_HTTP_BAD;
        if (!build_request(h)) return IH_HTTP_BAD;
        return IH_HTTP_DONE;
    }
    if (err != HPE_OK) return IH_HTTP_BAD;
    return IH_HTTP_MORE;
}

/* ---- responses ----------------------------------------------------------- */

void ih_resp_init(ih_resp *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
}

void ih_resp_free(ih_resp *r)
{
    ih_buf_wipe(&r->body);
    ih_buf_free(&r->headers);
}

void ih_resp_reset(ih_resp *r)
{
    if (r->body.p) memset(r->body.p, 0, r->body.len); /* bodies may hold tokens */
    ih_buf_reset(&r->body);
    ih_buf_reset(&r->headers);
    r->status = 200;
    r->content_type = NULL;
    r->close = false;
    r->csp = NULL;
}

ih_err ih_resp_json(ih_resp *r, int status, const char *json, size_t n)
{
    ih_buf_reset(&r->body);
    r->status = status;
    r->content_type = "application/json";
    return ih_buf_append(&r->body, json, n);
}

void ih_resp_error(ih_resp *r, ih_err e)
{
    const char *pub = ih_err_public();
    const char *field = ih_err_field();
    const char *msg = pub[0] ? pub : ih_err_sentence(e);
    ih_buf_reset(&r->body);
    r->status = ih_err_http_status(e);
    r->content_type = "application/json";
    ih_buf_printf(&r->body, "{\"error\":{\"code\":\"%s\",\"message\":\"", ih_err_name(e));
    ih_buf_json_escape(&r->body, msg, strlen(msg));
    ih_buf_puts(&r->body, "\"");
    if (field[0]) {
        ih_buf_puts(&r->body, ",\"field\":\"");
        ih_buf_json_escape(&r->body, field, strlen(field));
        ih_buf_puts(&r->body, "\"");
    }
    ih_buf_puts(&r->body, "}}");
}

ih_err ih_resp_header(ih_resp *r, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return ih_fail(IH_E_INTERNAL, "header with CR/LF refused");
    return ih_buf_printf(&r->headers, "%s: %s\r\n", name, value);
}

const char *ih_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

ih_err ih_resp_serialize(const ih_resp *r, const ih_resp_meta *m, ih_buf *out)
{
    size_t body_len = r->status == 204 ? 0 : r->body.len;
    IH_TRY(ih_buf_printf(out,
                         "HTTP/1.1 %d %s\r\n"
                         "Content-Length: %zu\r\n"
                         "Cache-Control: no-store\r\n"
                         "Pragma: no-cache\r\n"
                         "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
                         "X-Content-Type-Options: nosniff\r\n"
                         "X-Frame-Options: DENY\r\n"
                         "Referrer-Policy: no-referrer\r\n"
                         "Cross-Origin-Opener-Policy: same-origin\r\n"
                         "Cross-Origin-Resource-Policy: same-origin\r\n"
                         "Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n"
                         "Content-Security-Policy: %s\r\n",
                         r->status, ih_status_text(r->status), body_len,
                         r->csp ? r->csp : "default-src 'none'; frame-ancestors 'none'"));
    if (body_len && r->content_type)
        IH_TRY(ih_buf_printf(out, "Content-Type: %s%s\r\n", r->content_type,
                             strncmp(r->content_type, "text/", 5) == 0 ? "; charset=utf-8" : ""));
    if (m->request_id && m->request_id[0]) IH_TRY(ih_buf_printf(out, "X-Request-Id: %s\r\n", m->request_id));
    if (m->demo) IH_TRY(ih_buf_puts(out, "X-Ihos-Demo: 1\r\n"));
    if (!m->keep_alive || r->close) IH_TRY(ih_buf_puts(out, "Connection: close\r\n"));
    if (r->headers.len) IH_TRY(ih_buf_append(out, r->headers.p, r->headers.len));
    IH_TRY(ih_buf_puts(out, "\r\n"));
    if (!m->head && body_len) IH_TRY(ih_buf_append(out, r->body.p, body_len));
    return IH_OK;
}
