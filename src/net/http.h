/* http.h — HTTP/1.1 request parsing (llhttp, strict) and responses.
 *
 * ih_http_feed() takes bytes as they arrive off TLS and reports when a whole
 * request has been parsed.  llhttp is Node.js's parser, built from the C
 * sources Debian ships and maintains (package node-llhttp), with none of its
 * lenient modes: what RFC 9112 says to refuse is refused (whitespace between
 * a field name and the colon, obs-folded lines, a Transfer-Encoding whose
 * last coding is not chunked, both Content-Length and Transfer-Encoding,
 * bare CR or LF).  Only the headers the server uses are kept; all header
 * bytes count against the header-size limit.  The body is capped at
 * max_body: a larger Content-Length is refused before the body is read.  The
 * parser pauses at the end of each message so pipelined bytes stay in the
 * caller's buffer for the next request; the request target must be in
 * origin form ("/path?query").
 *
 * Responses are assembled in ih_resp and serialised by ih_resp_serialize()
 * with the security headers every response carries.
 */
#ifndef IH_NET_HTTP_H
#define IH_NET_HTTP_H

#include "core/buf.h"
#include "core/err.h"

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    IH_GET, IH_HEAD, IH_POST, IH_PUT, IH_PATCH, IH_DELETE, IH_OPTIONS, IH_METHOD_OTHER
} ih_method;

enum { IH_HDR_HOST, IH_HDR_CONTENT_TYPE, IH_HDR_COOKIE, IH_HDR_AUTHORIZATION, IH_HDR_CSRF,
       IH_HDR_REQUEST_ID, IH_HDR_USER_AGENT, IH_HDR_ORIGIN, IH_HDR_FORWARDED_FOR, IH_HDR_PAY_TIMESTAMP,
       IH_HDR_PAY_NONCE, IH_HDR_PAY_SIGNATURE, IH_HDR_ACCEPT_ENCODING, IH_HDR__COUNT };

#define IH_MAX_PARAMS 6

typedef struct ih_req {
    ih_method method;
    const char *method_name;
    char *path;  /* no query string */
    char *query; /* raw query or NULL */
    const char *hdr[IH_HDR__COUNT]; /* NULL when absent */
    char *body;
    size_t body_len;
    bool keep_alive;
    char client_ip[64];
    char request_id[40];
    const char *params[IH_MAX_PARAMS]; /* path parameters, set by the router */
    int nparams;
    const void *route; /* set by the router */
    void *principal;   /* set by the authenticator */
    /* Set by the server: call ih_req_may_wait() before anything that may
     * wait (the database, a peer, a disk) or run long; a route that only
     * answers from memory does not, and is served without a thread switch. */
    void (*may_wait)(void *arg);
    void *may_wait_arg;
} ih_req;

static inline void ih_req_may_wait(ih_req *r)
{
    if (r->may_wait) {
        r->may_wait(r->may_wait_arg);
        r->may_wait = NULL;
    }
}

/* A response that stays open (Server-Sent Events).  After the handler
 * returns, the server sends the headers and hands the connection to its
 * one stream thread, which writes whatever take() yields whenever the
 * stream's wake is called (see ih_server_wake_streams) and a comment line
 * as a heartbeat; it ends the stream when take() returns false, the client
 * closes or sends anything, the server drains, or until_ms (wall clock)
 * passes — then calls close() exactly once.  No worker thread waits on a
 * stream. */
typedef struct ih_stream_src {
    void *ctx;
    bool (*take)(void *ctx, ih_buf *out);
    void (*close)(void *ctx);
    int64_t until_ms;
} ih_stream_src;

typedef struct ih_resp {
    int status;
    const char *content_type;
    ih_buf body;
    ih_buf headers; /* extra "Name: value\r\n" lines */
    bool close;
    const char *csp; /* overrides the default API Content-Security-Policy */
    const char *permissions; /* overrides the default Permissions-Policy (no camera, microphone, location) */
    const char *cache; /* overrides "no-store" (only for public, non-personal assets) */
    ih_stream_src stream; /* stream.take set: an event stream (no Content-Length) */
} ih_resp;

typedef enum { IH_HTTP_MORE, IH_HTTP_DONE, IH_HTTP_BAD, IH_HTTP_TOO_LARGE } ih_http_status;

typedef struct ih_http {
    llhttp_t p;
    size_t max_body;
    size_t header_bytes; /* of the current request: request line and fields */
    ih_buf url, field, value, body;
    ih_buf hdr[IH_HDR__COUNT];
    bool hdr_set[IH_HDR__COUNT];
    bool dup_header;
    bool in_value;
    bool scan_line, scan_lf, scan_done; /* the obs-fold scan of the header section */
    bool complete;
    bool too_large;
    bool started; /* some bytes of the current request were seen */
    ih_req req;
} ih_http;

/* Call once per process before parsing (sets the header-size limit). */
void ih_http_global_init(size_t max_header_bytes);
void ih_http_init(ih_http *h, size_t max_body);
void ih_http_free(ih_http *h);
/* Prepare for the next request on the same connection. */
void ih_http_reset(ih_http *h);
/* Feed bytes; *used is how many were consumed.  On IH_HTTP_DONE, h->req is
 * complete and the unconsumed bytes belong to the next request. */
ih_http_status ih_http_feed(ih_http *h, const char *data, size_t n, size_t *used);

void ih_resp_init(ih_resp *r);
void ih_resp_free(ih_resp *r);
void ih_resp_reset(ih_resp *r);
/* Set a JSON body (takes a copy). */
ih_err ih_resp_json(ih_resp *r, int status, const char *json, size_t n);
/* The error envelope for e, using the thread's public message if set. */
void ih_resp_error(ih_resp *r, ih_err e);
/* Add a header line; refuses CR/LF in name or value. */
ih_err ih_resp_header(ih_resp *r, const char *name, const char *value);

typedef struct ih_resp_meta {
    const char *request_id;
    bool demo;
    bool head; /* HEAD request: headers only */
    bool keep_alive;
} ih_resp_meta;
/* Status line, headers (security headers included) and body into out. */
ih_err ih_resp_serialize(const ih_resp *r, const ih_resp_meta *m, ih_buf *out);

const char *ih_status_text(int status);

#endif
