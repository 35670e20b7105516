/* server.h — the HTTPS server: TLS listener, worker pool, deadlines.
 *
 * Workers share one epoll set and take turns (leader/followers): each
 * connection is armed EPOLLONESHOT, so exactly one worker owns it while it
 * reads a request, runs the handler (which may block on the store) and
 * hands the response to the socket.  One worker at a time waits on the
 * set; it keeps doing so while its work is quick and passes that role on
 * before a TLS handshake or a handler that may wait (ih_req_may_wait), so
 * small answers cost no thread switch and slow ones hold up no one.  What the socket does not take at once
 * stays in the connection, which is parked until writable: no worker ever
 * waits for a client, and the next pipelined request is read only once the
 * response before it is sent.  A sweeper thread enforces deadlines: a
 * request must arrive whole, and a parked response be read, within
 * request_timeout; an idle keep-alive connection lasts keepalive_timeout.  A connection whose first byte is not a TLS handshake
 * record is closed without a byte sent.  There is no plaintext listener.
 *
 * ih_server_stop() drains: the listener closes, idle connections are closed,
 * in-flight requests finish and are answered with Connection: close.
 */
#ifndef IH_NET_SERVER_H
#define IH_NET_SERVER_H

#include "core/err.h"
#include "net/cidr.h"
#include "net/http.h"

#include <stdbool.h>

typedef struct ih_server ih_server;
typedef void (*ih_handler_fn)(void *ctx, ih_req *req, ih_resp *resp);

typedef struct ih_server_opts {
    const char *listen; /* "127.0.0.1:8443", "[::1]:8443"; port 0 picks one */
    const char *cert_file;
    const char *key_file;
    int workers;
    int max_body;
    int max_connections;
    int request_timeout_ms;
    int keepalive_timeout_ms;
    bool demo; /* adds X-Ihos-Demo: 1 to every response */
    /* Peers whose X-Forwarded-For is believed: the client is the last
     * address in it that is not itself a trusted proxy (empty: none). */
    ih_cidr_list trusted_proxies;
    ih_handler_fn handler;
    void *ctx;
} ih_server_opts;

ih_err ih_server_start(const ih_server_opts *o, ih_server **out);
int ih_server_port(const ih_server *s);
/* Tell the stream thread that some event stream has something to take
 * (an ih_bus wake function; server is the ih_server).  Safe from any
 * thread, cheap, never blocks. */
void ih_server_wake_streams(void *server);
/* Drain and stop; waits up to grace_ms for open connections. */
void ih_server_stop(ih_server *s, int grace_ms);

/* Split "ADDR:PORT" / "[ADDR]:PORT"; 0 on success. */
int ih_parse_listen(const char *listen, char *host, size_t hostlen, int *port);

#endif
