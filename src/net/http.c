/* http.c — see http.h. */
#include "net/http.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const hdr_names[IH_HDR__COUNT] = {
    [IH_HDR_HOST] = "host",
    [IH_HDR_CONTENT_TYPE] = "content-type",
    [IH_HDR_COOKIE] = "cookie",
    [IH_HDR_AUTHORIZATION] = "authorization",
    [IH_HDR_CSRF] = "x-csrf-token",
    [IH_HDR_ACCEPT_ENCODING] = "accept-encoding",
    [IH_HDR_REQUEST_ID] = "x-request-id",
    [IH_HDR_USER_AGENT] = "user-agent",
    [IH_HDR_ORIGIN] = "origin",
    [IH_HDR_FORWARDED_FOR] = "x-forwarded-for",
    /* a payment channel's notification (docs/care.md, "Payments") */
    [IH_HDR_PAY_TIMESTAMP] = "x-pay-timestamp",
    [IH_HDR_PAY_NONCE] = "x-pay-nonce",
    [IH_HDR_PAY_SIGNATURE] = "x-pay-signature",
};

#define MAX_KEPT_HEADER 8192

static size_t max_header_bytes = 16 * 1024;

void ih_http_global_init(size_t max_header)
{
    max_header_bytes = max_header;
}

static ih_http *H(llhttp_t *p) { return (ih_http *)p->data; }

/* Every byte of the request line and the header fields counts. */
static int count(ih_http *h, size_t n)
{
    h->header_bytes += n;
    return h->header_bytes > max_header_bytes ? -1 : 0;
}

static int on_message_begin(llhttp_t *p)
{
    H(p)->started = true;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    ih_http *h = H(p);
    if (count(h, n) || h->url.len + n > 8192) return -1;
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

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    ih_http *h = H(p);
    if (count(h, n)) return -1;
    finish_header(h);
    if (h->field.len + n > 256) { /* no header we keep has a long name */
        ih_buf_reset(&h->field);
        return 0;
    }
    return ih_buf_append(&h->field, at, n) == IH_OK ? 0 : -1;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    ih_http *h = H(p);
    if (count(h, n)) return -1;
    h->in_value = true;
    if (h->value.len + n > MAX_KEPT_HEADER) return -1;
    return ih_buf_append(&h->value, at, n) == IH_OK ? 0 : -1;
}

static int on_headers_complete(llhttp_t *p)
{
    ih_http *h = H(p);
    finish_header(h);
    if (h->dup_header) return -1;
    /* Refuse an oversized body before reading it (Content-Length known). */
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->max_body) {
        h->too_large = true;
        return -1;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    ih_http *h = H(p);
    if (h->body.len + n > h->max_body) { /* chunked bodies are checked here */
        h->too_large = true;
        return -1;
    }
    return ih_buf_append(&h->body, at, n) == IH_OK ? 0 : -1;
}

static int on_message_complete(llhttp_t *p)
{
    H(p)->complete = true;
    return HPE_PAUSED; /* the next request's bytes stay with the caller */
}

static llhttp_settings_t settings;

static void settings_init(void)
{
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
}

void ih_http_init(ih_http *h, size_t max_body)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, settings_init);
    memset(h, 0, sizeof *h);
    h->max_body = max_body;
    llhttp_init(&h->p, HTTP_REQUEST, &settings);
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
    h->scan_line = h->scan_lf = h->scan_done = false;
    h->header_bytes = 0;
    memset(&h->req, 0, sizeof h->req);
    /* llhttp keeps its own state across keep-alive messages. */
    if (llhttp_get_errno(&h->p) == HPE_PAUSED) llhttp_resume(&h->p);
}

static ih_method method_of(uint8_t m, const char **name)
{
    *name = llhttp_method_name((llhttp_method_t)m);
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

/* The request target in origin form: "/path" and an optional "?query"
 * (llhttp has already refused spaces and control characters in it). */
static bool build_request(ih_http *h)
{
    ih_req *r = &h->req;
    if (!h->url.p || h->url.len == 0 || h->url.p[0] != '/' || memchr(h->url.p, '#', h->url.len)) return false;
    char *q = memchr(h->url.p, '?', h->url.len);
    if (q) {
        *q = '\0';
        r->query = q + 1;
    }
    r->path = h->url.p;
    r->method = method_of(h->p.method, &r->method_name);
    for (int i = 0; i < IH_HDR__COUNT; i++) r->hdr[i] = h->hdr_set[i] ? h->hdr[i].p : NULL;
    r->body = h->body.p;
    r->body_len = h->body.len;
    r->keep_alive = llhttp_should_keep_alive(&h->p) != 0 && !h->p.upgrade;
    return true;
}

/* llhttp unfolds an obs-folded line (RFC 9112 allows that or a 400); we
 * refuse it.  Before llhttp sees the bytes, look for a line of the header
 * section that starts with a space or a tab (empty lines before the request
 * line are skipped; an empty line ends the section). */
static bool folded(ih_http *h, const char *d, size_t n)
{
    for (size_t i = 0; i < n && !h->scan_done; i++) {
        char c = d[i];
        if (!h->scan_line) {
            if (c == '\r' || c == '\n') continue;
            h->scan_line = true;
        }
        if (h->scan_lf && (c == ' ' || c == '\t')) return true;
        if (h->scan_lf && (c == '\r' || c == '\n')) h->scan_done = true;
        h->scan_lf = c == '\n';
    }
    return false;
}

ih_http_status ih_http_feed(ih_http *h, const char *data, size_t n, size_t *used)
{
    *used = 0;
    if (h->complete) return IH_HTTP_DONE;
    if (folded(h, data, n)) return IH_HTTP_BAD;
    llhttp_errno_t err = llhttp_execute(&h->p, data, n);
    const char *pos = llhttp_get_error_pos(&h->p);
    *used = err == HPE_OK ? n : pos && pos >= data && pos <= data + n ? (size_t)(pos - data) : n;
    if (h->too_large) return IH_HTTP_TOO_LARGE;
    if (h->complete) {
        if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) return IH_HTTP_BAD;
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
    r->permissions = NULL; /* a page's camera permission never leaks into the next answer on the connection */
    r->cache = NULL;
    memset(&r->stream, 0, sizeof r->stream);
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

/* Header lines are appended piece by piece: this runs once per response,
 * and printf's format interpreter was a visible share of a small answer. */
static ih_err put_line(ih_buf *out, const char *name, const char *value, const char *suffix)
{
    IH_TRY(ih_buf_puts(out, name));
    IH_TRY(ih_buf_puts(out, value));
    if (suffix) IH_TRY(ih_buf_puts(out, suffix));
    return ih_buf_append(out, "\r\n", 2);
}

ih_err ih_resp_serialize(const ih_resp *r, const ih_resp_meta *m, ih_buf *out)
{
    size_t body_len = r->status == 204 || r->stream.take ? 0 : r->body.len;
    IH_TRY(ih_buf_puts(out, "HTTP/1.1 "));
    IH_TRY(ih_buf_put_int(out, r->status));
    IH_TRY(put_line(out, " ", ih_status_text(r->status), NULL));
    if (!r->stream.take) {
        IH_TRY(ih_buf_puts(out, "Content-Length: "));
        IH_TRY(ih_buf_put_int(out, (int64_t)body_len));
        IH_TRY(ih_buf_append(out, "\r\n", 2));
    }
    if (r->cache) IH_TRY(put_line(out, "Cache-Control: ", r->cache, NULL));
    else IH_TRY(ih_buf_puts(out, "Cache-Control: no-store\r\nPragma: no-cache\r\n"));
    IH_TRY(ih_buf_puts(out, "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
                            "X-Content-Type-Options: nosniff\r\n"
                            "X-Frame-Options: DENY\r\n"
                            "Referrer-Policy: no-referrer\r\n"
                            "Cross-Origin-Opener-Policy: same-origin\r\n"
                            "Cross-Origin-Resource-Policy: same-origin\r\n"));
    IH_TRY(put_line(out, "Permissions-Policy: ",
                    r->permissions ? r->permissions : "camera=(), microphone=(), geolocation=()", NULL));
    IH_TRY(put_line(out, "Content-Security-Policy: ",
                    r->csp ? r->csp : "default-src 'none'; frame-ancestors 'none'", NULL));
    if ((body_len || r->stream.take) && r->content_type)
        IH_TRY(put_line(out, "Content-Type: ", r->content_type,
                        !strncmp(r->content_type, "text/", 5) && !strstr(r->content_type, "charset=")
                            ? "; charset=utf-8"
                            : NULL));
    if (m->request_id && m->request_id[0]) IH_TRY(put_line(out, "X-Request-Id: ", m->request_id, NULL));
    if (m->demo) IH_TRY(ih_buf_puts(out, "X-Ihos-Demo: 1\r\n"));
    if (!m->keep_alive || r->close) IH_TRY(ih_buf_puts(out, "Connection: close\r\n"));
    if (r->headers.len) IH_TRY(ih_buf_append(out, r->headers.p, r->headers.len));
    IH_TRY(ih_buf_append(out, "\r\n", 2));
    if (!m->head && body_len) IH_TRY(ih_buf_append(out, r->body.p, body_len));
    return IH_OK;
}
