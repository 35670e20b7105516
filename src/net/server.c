/* server.c — see server.h. */
#include "net/server.h"

#include "core/clock.h"
#include "core/log.h"
#include "net/metrics.h"
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define INBUF 8192

typedef struct conn {
    int fd;
    SSL *ssl;
    bool tls_ready;
    bool peeked;
    bool shut;             /* sweeper already shut it down */
    /* A response the socket has not taken yet: the worker leaves it here,
     * armed for EPOLLOUT, and goes on with other connections; the client
     * has request_timeout to read it (L3: no worker waits on a client). */
    ih_buf out;
    size_t out_off;
    bool writing;    /* out holds unsent bytes */
    bool close_after; /* close once out is sent */
    _Atomic bool busy;     /* a worker owns it right now */
    _Atomic bool receiving; /* part of a request has arrived */
    _Atomic int64_t deadline; /* monotonic ms */
    ih_http http;
    size_t in_off, in_len;
    char ip[64];
    struct conn *prev, *next;
    /* An event stream (ih_stream_src): owned by the stream thread from the
     * moment the worker hands it over. */
    _Atomic bool streaming;
    ih_stream_src src;
    int64_t next_beat; /* monotonic ms of the next heartbeat */
    uint32_t sevents;  /* what the stream epoll waits for */
    struct conn *snext;
    char in[INBUF];
} conn;

struct ih_server {
    ih_server_opts o;
    char *listen, *cert, *key;
    SSL_CTX *ctx;
    int lfd, ep, wakefd, port;
    pthread_t *workers;
    int nworkers;
    pthread_t sweeper;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    conn *conns;
    int nconns;
    _Atomic bool draining;
    _Atomic bool exiting;
    char tag_listen, tag_wake, tag_swake;
    /* the stream thread: its own epoll set, its wake eventfd, the streams
     * it owns, and those handed over but not yet adopted (under smu) */
    pthread_t streamer;
    bool streamer_started;
    int sep, swakefd;
    pthread_mutex_t smu;
    conn *streams, *incoming;
    /* leadership of the epoll set (worker_main): lead set while a worker
     * holds it; the others wait on lcv */
    pthread_mutex_t lmu;
    pthread_cond_t lcv;
    bool lead;
};

#define STREAM_BEAT_MS 20000
#define STREAM_MAX_OUT (256 * 1024)

int ih_parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon;
    size_t hl;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':') return -1;
        hl = (size_t)(end - listen - 1);
        if (hl >= hostlen) return -1;
        memcpy(host, listen + 1, hl);
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) return -1;
        hl = (size_t)(colon - listen);
        if (hl >= hostlen || hl == 0) return -1;
        memcpy(host, listen, hl);
    }
    host[hl] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

static ih_err open_listener(ih_server *s)
{
    char host[64];
    int port;
    if (ih_parse_listen(s->listen, host, sizeof host, &port) != 0)
        return ih_fail(IH_E_CONFIG, "listen address '%s' is not ADDR:PORT", s->listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0)
        return ih_fail(IH_E_CONFIG, "listen address '%s': host must be a numeric IP", s->listen);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        ih_err e = ih_fail(IH_E_IO, "listen on %s: %s", s->listen, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return e;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    s->lfd = fd;
    return IH_OK;
}

static void arm(ih_server *s, int fd, void *tag, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events | EPOLLONESHOT, .data.ptr = tag};
    epoll_ctl(s->ep, op, fd, &ev);
}

static void release(ih_server *s, conn *c, uint32_t events)
{
    atomic_store(&c->busy, false); /* before re-arming: another worker may take it */
    arm(s, c->fd, c, events | EPOLLRDHUP, EPOLL_CTL_MOD);
}

static void close_conn(ih_server *s, conn *c, bool graceful)
{
    pthread_mutex_lock(&s->mu);
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    if (s->nconns == 0) pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (graceful && c->tls_ready) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    SSL_free(c->ssl);
    close(c->fd);
    ih_http_free(&c->http);
    ih_buf_wipe(&c->out); /* responses may carry session tokens */
    free(c);
    ih_metrics_conn_open(-1);
}

static void do_accept(ih_server *s)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(s->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                ih_log(IH_LOG_WARN, "net.accept_failed", "error", strerror(errno), NULL);
            break;
        }
        if (atomic_load(&s->draining)) {
            close(fd);
            continue;
        }
        conn *c = malloc(sizeof *c);
        SSL *ssl = c ? SSL_new(s->ctx) : NULL;
        if (!c || !ssl || SSL_set_fd(ssl, fd) != 1) {
            if (ssl) SSL_free(ssl);
            free(c);
            close(fd);
            continue;
        }
        memset(c, 0, offsetof(conn, in));
        c->fd = fd;
        c->ssl = ssl;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (sa.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, c->ip, sizeof c->ip);
        else
            inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, c->ip, sizeof c->ip);
        ih_http_init(&c->http, (size_t)s->o.max_body);
        atomic_store(&c->deadline, ih_mono_ms() + s->o.request_timeout_ms);
        pthread_mutex_lock(&s->mu);
        if (s->nconns >= s->o.max_connections) {
            pthread_mutex_unlock(&s->mu);
            ih_http_free(&c->http);
            SSL_free(ssl);
            close(fd);
            free(c);
            ih_metrics_inc(IH_M_CONN_REJECTED);
            continue;
        }
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        pthread_mutex_unlock(&s->mu);
        ih_metrics_inc(IH_M_CONN_ACCEPTED);
        ih_metrics_conn_open(1);
        arm(s, fd, c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    }
    if (!atomic_load(&s->draining)) arm(s, s->lfd, &s->tag_listen, EPOLLIN, EPOLL_CTL_MOD);
}

typedef enum { FLUSH_DONE, FLUSH_PENDING, FLUSH_FAILED } flush_result;

/* Send what c->out still holds without ever waiting for the client: what
 * the socket does not take now stays, and the caller parks the connection
 * until it is writable (*want: the epoll event TLS needs). */
static flush_result flush(conn *c, uint32_t *want)
{
    while (c->out_off < c->out.len) {
        size_t n = c->out.len - c->out_off;
        ERR_clear_error();
        int w = SSL_write(c->ssl, c->out.p + c->out_off, (int)(n > (1 << 30) ? (1 << 30) : n));
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        int e = SSL_get_error(c->ssl, w);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            *want = e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
            return FLUSH_PENDING;
        }
        return FLUSH_FAILED;
    }
    /* all sent: nothing of the response (tokens) stays in memory */
    if (c->out.p) memset(c->out.p, 0, c->out.len);
    ih_buf_reset(&c->out);
    c->out_off = 0;
    c->writing = false;
    return FLUSH_DONE;
}

/* The client's address: the peer's, or, when the peer is a trusted proxy,
 * the last address in X-Forwarded-For that is not itself a trusted proxy
 * (what a client writes in front of the proxies' entries is not believed).
 * An entry that is not an address leaves the peer's. */
static void set_client_ip(ih_server *s, ih_req *req, const char *peer)
{
    snprintf(req->client_ip, sizeof req->client_ip, "%s", peer);
    const char *xff = req->hdr[IH_HDR_FORWARDED_FOR];
    if (!xff || s->o.trusted_proxies.n == 0 || !ih_cidr_match(&s->o.trusted_proxies, peer)) return;
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',') start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        char ip[64];
        unsigned char bin[16];
        if (b - a <= 0 || (size_t)(b - a) >= sizeof ip) return;
        memcpy(ip, a, (size_t)(b - a));
        ip[b - a] = '\0';
        if (inet_pton(AF_INET, ip, bin) != 1 && inet_pton(AF_INET6, ip, bin) != 1) return;
        snprintf(req->client_ip, sizeof req->client_ip, "%s", ip);
        if (!ih_cidr_match(&s->o.trusted_proxies, ip)) return;
        end = start > xff ? start - 1 : xff;
    }
}

static void set_request_id(ih_req *req)
{
    const char *given = req->hdr[IH_HDR_REQUEST_ID];
    if (given) {
        size_t n = strlen(given);
        bool ok = n >= 1 && n < sizeof req->request_id;
        for (size_t i = 0; ok && i < n; i++) {
            char ch = given[i];
            ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 ch == '-' || ch == '_' || ch == '.';
        }
        if (ok) {
            memcpy(req->request_id, given, n + 1);
            return;
        }
    }
    /* A correlation id, not a secret: each thread draws a random seed once
     * and numbers its requests through splitmix64 (a bijection, so one
     * thread never repeats; two seeds collide with odds 2^-64).  Drawing
     * from the DRBG per request cost a getpid() system call each. */
    static _Thread_local uint64_t seed, n;
    if (!seed && RAND_bytes((unsigned char *)&seed, sizeof seed) != 1) seed = (uint64_t)ih_mono_ms() | 1;
    uint64_t z = seed + ++n * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) req->request_id[i] = hex[(z >> (60 - 4 * i)) & 15];
    req->request_id[16] = '\0';
}

/* Send c->out; false when the connection is no longer this worker's (parked
 * until writable, or closed). */
static bool send_out(ih_server *s, conn *c)
{
    uint32_t want = 0;
    switch (flush(c, &want)) {
    case FLUSH_DONE:
        if (c->close_after) {
            close_conn(s, c, true);
            return false;
        }
        atomic_store(&c->deadline, ih_mono_ms() + s->o.keepalive_timeout_ms);
        return true;
    case FLUSH_PENDING:
        c->writing = true;
        ih_metrics_inc(IH_M_WRITE_PARKED);
        /* the client has request_timeout to read it; then the sweeper cuts it */
        atomic_store(&c->deadline, ih_mono_ms() + s->o.request_timeout_ms);
        release(s, c, want);
        return false;
    default: close_conn(s, c, false); return false;
    }
}

/* ---- leader and followers ---------------------------------------------------
 *
 * One worker at a time, the leader, waits in epoll_wait; the others wait for
 * leadership.  The leader serves what it takes itself, and keeps leading
 * while the work is quick (TLS records, a request answered from memory):
 * it returns to epoll_wait and finds the next event already there, with no
 * thread woken in between — as an event loop does.  Before anything that
 * may wait (a TLS handshake, or a request that reaches the database:
 * ih_req_may_wait) it steps down and wakes one follower to lead, so a slow
 * request never holds up the others.  When every idle worker waited in
 * epoll_wait, each arriving request woke a sleeping thread: two context
 * switches per request, the largest cost of a small answer. */
static _Thread_local bool t_leading;

static bool take_lead(ih_server *s)
{
    pthread_mutex_lock(&s->lmu);
    while (s->lead && !atomic_load(&s->exiting)) pthread_cond_wait(&s->lcv, &s->lmu);
    bool ok = !atomic_load(&s->exiting);
    if (ok) s->lead = true;
    pthread_mutex_unlock(&s->lmu);
    t_leading = ok;
    return ok;
}

static void step_down(void *server)
{
    ih_server *s = server;
    if (!t_leading) return;
    t_leading = false;
    pthread_mutex_lock(&s->lmu);
    s->lead = false;
    pthread_cond_signal(&s->lcv);
    pthread_mutex_unlock(&s->lmu);
}

/* Everyone waiting for leadership sees exiting. */
static void end_leadership(ih_server *s)
{
    pthread_mutex_lock(&s->lmu);
    pthread_cond_broadcast(&s->lcv);
    pthread_mutex_unlock(&s->lmu);
}

/* ---- event streams --------------------------------------------------------- */

/* The worker gives the connection (headers in c->out) to the stream thread;
 * from here on only that thread touches it. */
static void stream_handover(ih_server *s, conn *c, const ih_stream_src *src)
{
    c->src = *src;
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    atomic_store(&c->streaming, true);
    pthread_mutex_lock(&s->smu);
    c->snext = s->incoming;
    s->incoming = c;
    pthread_mutex_unlock(&s->smu);
    ih_server_wake_streams(s);
}

void ih_server_wake_streams(void *server)
{
    ih_server *s = server;
    uint64_t one = 1;
    if (write(s->swakefd, &one, sizeof one) < 0) { /* already signalled (counter full) */ }
}

static void stream_end(ih_server *s, conn *c)
{
    conn **pp = &s->streams;
    while (*pp && *pp != c) pp = &(*pp)->snext;
    if (*pp) *pp = c->snext;
    epoll_ctl(s->sep, EPOLL_CTL_DEL, c->fd, NULL);
    c->src.close(c->src.ctx);
    ih_metrics_stream_open(-1);
    close_conn(s, c, true);
}

/* Write what the stream has; false when it must end. */
static bool stream_pump(ih_server *s, conn *c, bool pull)
{
    if (pull && !c->src.take(c->src.ctx, &c->out)) return false;
    if (c->out.len > STREAM_MAX_OUT) return false; /* the client stopped reading */
    uint32_t want = 0;
    flush_result f = c->out_off < c->out.len ? flush(c, &want) : FLUSH_DONE;
    if (f == FLUSH_FAILED) return false;
    uint32_t ev = EPOLLIN | EPOLLRDHUP | (f == FLUSH_PENDING ? EPOLLOUT : 0);
    if (ev != c->sevents) {
        struct epoll_event e = {.events = ev, .data.ptr = c};
        epoll_ctl(s->sep, EPOLL_CTL_MOD, c->fd, &e);
        c->sevents = ev;
    }
    return true;
}

/* The client of an event stream only listens: bytes from it (other than
 * TLS housekeeping), EOF or an error end the stream. */
static bool stream_readable(conn *c)
{
    char b[256];
    ERR_clear_error();
    int r = SSL_read(c->ssl, b, sizeof b);
    if (r > 0) return false;
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* The streams workers handed over since last time (under smu). */
static conn *take_incoming(ih_server *s)
{
    pthread_mutex_lock(&s->smu);
    conn *in = s->incoming;
    s->incoming = NULL;
    pthread_mutex_unlock(&s->smu);
    return in;
}

static void *streamer_main(void *arg)
{
    ih_server *s = arg;
    struct epoll_event evs[64];
    while (!atomic_load(&s->exiting)) {
        int n = epoll_wait(s->sep, evs, 64, 1000);
        bool pull = false;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &s->tag_swake) {
                uint64_t v;
                if (read(s->swakefd, &v, sizeof v) < 0) { /* nothing pending */ }
                pull = true;
                continue;
            }
            conn *c = evs[i].data.ptr;
            bool ok = true;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ok = stream_readable(c);
            if (ok && (evs[i].events & EPOLLOUT)) ok = stream_pump(s, c, false);
            if (!ok) stream_end(s, c);
        }
        conn *in = take_incoming(s);
        while (in) {
            conn *c = in;
            in = in->snext;
            c->snext = s->streams;
            s->streams = c;
            c->sevents = EPOLLIN | EPOLLRDHUP;
            c->next_beat = ih_mono_ms() + STREAM_BEAT_MS;
            struct epoll_event e = {.events = c->sevents, .data.ptr = c};
            epoll_ctl(s->sep, EPOLL_CTL_ADD, c->fd, &e);
            ih_metrics_stream_open(1);
            pull = true;
        }
        int64_t now = ih_mono_ms(), wall = ih_now_ms();
        for (conn *c = s->streams, *nx; c; c = nx) {
            nx = c->snext;
            bool ok = !(c->src.until_ms && wall >= c->src.until_ms);
            if (ok && now >= c->next_beat) {
                ok = ih_buf_puts(&c->out, ": \n\n") == IH_OK;
                c->next_beat = now + STREAM_BEAT_MS;
                if (ok) ok = stream_pump(s, c, false);
            }
            if (ok && pull) ok = stream_pump(s, c, true);
            if (!ok) stream_end(s, c);
        }
    }
    /* stopping: every stream ends (its source is told) */
    conn *in = take_incoming(s);
    while (in) {
        conn *c = in;
        in = in->snext;
        c->src.close(c->src.ctx);
        close_conn(s, c, false);
    }
    while (s->streams) stream_end(s, s->streams);
    return NULL;
}

/* Answer the request in c->http; returns false if the connection is no
 * longer this worker's. */
static bool answer(ih_server *s, conn *c, ih_resp *resp)
{
    ih_req *req = &c->http.req;
    set_client_ip(s, req, c->ip);
    set_request_id(req);
    req->may_wait = step_down;
    req->may_wait_arg = s;
    ih_resp_reset(resp);
    ih_err_clear();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    s->o.handler(s->o.ctx, req, resp);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    bool keep = req->keep_alive && !resp->close && !atomic_load(&s->draining);
    ih_resp_meta m = {.request_id = req->request_id, .demo = s->o.demo,
                      .head = req->method == IH_HEAD, .keep_alive = keep};
    ih_buf_reset(&c->out);
    c->out_off = 0;
    bool ok = ih_resp_serialize(resp, &m, &c->out) == IH_OK;
    ih_metrics_request(resp->status,
                       (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
    ih_http_reset(&c->http);
    atomic_store(&c->receiving, false);
    bool stream = resp->stream.take != NULL;
    if (stream && (!ok || m.head || atomic_load(&s->draining))) {
        resp->stream.close(resp->stream.ctx);
        stream = false;
        ok = ok && !m.head;
        c->close_after = true;
    }
    if (!ok) {
        close_conn(s, c, false);
        return false;
    }
    if (stream) {
        stream_handover(s, c, &resp->stream);
        return false;
    }
    c->close_after = !keep;
    return send_out(s, c);
}

/* An error response for a request we could not parse, then close. */
static void refuse(ih_server *s, conn *c, ih_err e, ih_resp *resp)
{
    ih_resp_reset(resp);
    ih_err_clear();
    ih_resp_error(resp, e);
    ih_resp_meta m = {.demo = s->o.demo, .keep_alive = false};
    ih_buf_reset(&c->out);
    c->out_off = 0;
    ih_metrics_request(resp->status, 0);
    if (ih_resp_serialize(resp, &m, &c->out) != IH_OK) {
        close_conn(s, c, false);
        return;
    }
    c->close_after = true;
    send_out(s, c);
}

/* Plain HTTP to the HTTPS port (a request line starts with a method's
 * capital letter): one short fixed answer saying so, as nginx does, then
 * close.  Nothing of the request is parsed; what has arrived is read first
 * so that closing sends FIN, not RST, and the answer is seen. */
static void plaintext_answer(int fd)
{
    static const char answer[] = "HTTP/1.1 400 Bad Request\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Length: 51\r\n"
                                 "Connection: close\r\n"
                                 "\r\n"
                                 "This port speaks HTTPS only: use https:// instead.\n";
    char sink[4096];
    for (int i = 0; i < 4 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) {
    }
    (void)!send(fd, answer, sizeof answer - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
}

static void serve(ih_server *s, conn *c, ih_resp *resp)
{
    if (!c->tls_ready) {
        if (!c->peeked) {
            unsigned char b;
            ssize_t r = recv(c->fd, &b, 1, MSG_PEEK);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                release(s, c, EPOLLIN);
                return;
            }
            if (r <= 0 || b != 0x16) { /* not a TLS handshake record */
                if (r > 0) {
                    ih_metrics_inc(IH_M_PLAINTEXT);
                    if (b >= 'A' && b <= 'Z') plaintext_answer(c->fd);
                }
                close_conn(s, c, false);
                return;
            }
            c->peeked = true;
        }
        step_down(s); /* a handshake's signature and key exchange: not quick */
        ERR_clear_error();
        int r = SSL_accept(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) release(s, c, EPOLLIN);
            else if (e == SSL_ERROR_WANT_WRITE) release(s, c, EPOLLOUT);
            else {
                ih_metrics_inc(IH_M_TLS_FAILED);
                close_conn(s, c, false);
            }
            return;
        }
        c->tls_ready = true;
        atomic_store(&c->deadline, ih_mono_ms() + s->o.keepalive_timeout_ms);
    }
    /* A parked response first: the next pipelined request waits for it. */
    if (c->writing && !send_out(s, c)) return;
    for (;;) {
        if (c->in_off < c->in_len) {
            if (!c->http.started) {
                atomic_store(&c->deadline, ih_mono_ms() + s->o.request_timeout_ms);
                atomic_store(&c->receiving, true);
            }
            size_t used;
            ih_http_status st = ih_http_feed(&c->http, c->in + c->in_off, c->in_len - c->in_off, &used);
            c->in_off += used;
            if (st == IH_HTTP_DONE) {
                if (!answer(s, c, resp)) return;
                /* Nothing more buffered here or in OpenSSL: wait for the
                 * socket rather than try a read that would find it empty
                 * (a system call per request); epoll reports bytes that
                 * are already in the kernel as soon as it is re-armed. */
                if (c->in_off == c->in_len && !SSL_has_pending(c->ssl)) {
                    c->in_off = c->in_len = 0;
                    release(s, c, EPOLLIN);
                    return;
                }
                continue;
            }
            if (st == IH_HTTP_BAD) {
                ih_metrics_inc(IH_M_BAD_REQUEST);
                refuse(s, c, IH_E_BAD_REQUEST, resp);
                return;
            }
            if (st == IH_HTTP_TOO_LARGE) {
                ih_metrics_inc(IH_M_TOO_LARGE);
                refuse(s, c, IH_E_TOO_LARGE, resp);
                return;
            }
            c->in_off = c->in_len = 0; /* IH_HTTP_MORE consumed everything */
        }
        c->in_off = c->in_len = 0;
        ERR_clear_error();
        int r = SSL_read(c->ssl, c->in, INBUF);
        if (r > 0) {
            c->in_len = (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) release(s, c, EPOLLIN);
        else if (e == SSL_ERROR_WANT_WRITE) release(s, c, EPOLLOUT);
        else close_conn(s, c, false);
        return;
    }
}

static void *worker_main(void *arg)
{
    ih_server *s = arg;
    ih_resp resp;
    ih_resp_init(&resp);
    while (t_leading || take_lead(s)) {
        struct epoll_event ev;
        int n = epoll_wait(s->ep, &ev, 1, -1);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (ev.data.ptr == &s->tag_wake) {
            if (atomic_load(&s->exiting)) break;
            continue;
        }
        if (ev.data.ptr == &s->tag_listen) {
            do_accept(s);
            continue;
        }
        conn *c = ev.data.ptr;
        atomic_store(&c->busy, true);
        serve(s, c, &resp);
    }
    step_down(s);
    ih_resp_free(&resp);
    return NULL;
}

static void *sweeper_main(void *arg)
{
    ih_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->exiting)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        int64_t now = ih_mono_ms();
        bool draining = atomic_load(&s->draining);
        for (conn *c = s->conns; c; c = c->next) {
            if (atomic_load(&c->streaming)) { /* no deadline; the stream thread ends it */
                if (draining && !c->shut) {
                    shutdown(c->fd, SHUT_RDWR);
                    c->shut = true;
                }
                continue;
            }
            if (c->shut || atomic_load(&c->busy)) continue;
            /* Draining closes idle connections; one that is receiving a
             * request is in flight and keeps its own deadline. */
            bool idle = !atomic_load(&c->receiving);
            if ((draining && idle) || atomic_load(&c->deadline) < now) {
                /* The owning worker sees EOF and closes it. */
                shutdown(c->fd, SHUT_RDWR);
                c->shut = true;
                if (!(draining && idle)) ih_metrics_inc(IH_M_CONN_TIMEOUT);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void server_free(ih_server *s)
{
    if (s->ctx) SSL_CTX_free(s->ctx);
    if (s->ep >= 0) close(s->ep);
    if (s->wakefd >= 0) close(s->wakefd);
    if (s->sep >= 0) close(s->sep);
    if (s->swakefd >= 0) close(s->swakefd);
    if (s->lfd >= 0) close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->smu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->lmu);
    pthread_cond_destroy(&s->lcv);
    free(s->workers);
    free(s->listen);
    free(s->cert);
    free(s->key);
    free(s);
}

ih_err ih_server_start(const ih_server_opts *o, ih_server **out)
{
    ih_server *s = calloc(1, sizeof *s);
    IH_CHECK_ALLOC(s);
    s->o = *o;
    s->lfd = s->ep = s->wakefd = s->sep = s->swakefd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->smu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->lmu, NULL);
    pthread_cond_init(&s->lcv, NULL);
    s->listen = strdup(o->listen);
    s->cert = strdup(o->cert_file);
    s->key = strdup(o->key_file);
    s->nworkers = o->workers > 0 ? o->workers : 4;
    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    ih_err e = IH_OK;
    if (!s->listen || !s->cert || !s->key || !s->workers) e = ih_fail(IH_E_NOMEM, "server");
    ih_http_global_init(16 * 1024);
    if (e == IH_OK) e = ih_tls_server_ctx(s->cert, s->key, &s->ctx);
    if (e == IH_OK) e = open_listener(s);
    if (e == IH_OK) {
        s->ep = epoll_create1(EPOLL_CLOEXEC);
        s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        s->sep = epoll_create1(EPOLL_CLOEXEC);
        s->swakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s->ep < 0 || s->wakefd < 0 || s->sep < 0 || s->swakefd < 0)
            e = ih_fail(IH_E_IO, "epoll: %s", strerror(errno));
    }
    if (e != IH_OK) {
        server_free(s);
        return e;
    }
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &s->tag_wake}; /* level-triggered */
    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->wakefd, &wev);
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &s->tag_swake};
    epoll_ctl(s->sep, EPOLL_CTL_ADD, s->swakefd, &sev);
    arm(s, s->lfd, &s->tag_listen, EPOLLIN, EPOLL_CTL_ADD);
    int started = 0;
    for (; started < s->nworkers; started++)
        if (pthread_create(&s->workers[started], NULL, worker_main, s) != 0) break;
    bool sweeper = started == s->nworkers && pthread_create(&s->sweeper, NULL, sweeper_main, s) == 0;
    s->streamer_started = sweeper && pthread_create(&s->streamer, NULL, streamer_main, s) == 0;
    if (!s->streamer_started) {
        atomic_store(&s->exiting, true);
        if (sweeper) {
            pthread_mutex_lock(&s->mu);
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            pthread_join(s->sweeper, NULL);
        }
        end_leadership(s);
        uint64_t one = 1;
        if (write(s->wakefd, &one, sizeof one) < 0) { /* workers still see exiting */ }
        for (int i = 0; i < started; i++) pthread_join(s->workers[i], NULL);
        server_free(s);
        return ih_fail(IH_E_INTERNAL, "cannot start server threads");
    }
    *out = s;
    return IH_OK;
}

int ih_server_port(const ih_server *s) { return s->port; }

void ih_server_stop(ih_server *s, int grace_ms)
{
    atomic_store(&s->draining, true);
    epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL);
    close(s->lfd);
    s->lfd = -1;
    int64_t until = ih_mono_ms() + grace_ms;
    pthread_mutex_lock(&s->mu);
    while (s->nconns > 0 && ih_mono_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    int left = s->nconns;
    atomic_store(&s->exiting, true);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (left) {
        char n[16];
        snprintf(n, sizeof n, "%d", left);
        ih_log(IH_LOG_WARN, "server.drain_timeout", "open_connections", n, NULL);
    }
    end_leadership(s);
    uint64_t one = 1;
    if (write(s->wakefd, &one, sizeof one) < 0)
        ih_log(IH_LOG_ERROR, "server.wake_failed", "error", strerror(errno), NULL);
    for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i], NULL);
    pthread_join(s->sweeper, NULL);
    ih_server_wake_streams(s);
    pthread_join(s->streamer, NULL);
    while (s->conns) close_conn(s, s->conns, false);
    server_free(s);
}
