/* listener.c — see listener.h. */
#include "exchange/listener.h"

#include "core/log.h"
#include "exchange/inbound.h"
#include "exchange/mllp.h"
#include "exchange/wire.h"
#include "net/server.h"
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef struct mllp_conn {
    struct listener *l;
    int fd;
    SSL *ssl;
    pthread_t th;
    _Atomic bool done;
    char ip[64];
} mllp_conn;

typedef struct listener {
    struct ih_mllp_server *s;
    ih_peer peer;
    int fd, port;
    pthread_t th;
    mllp_conn *conns[IH_MLLP_CONNS_PER_PEER];
} listener;

struct ih_mllp_server {
    ih_clinic *clinic;
    SSL_CTX *ctx;
    listener l[IH_PEERS_MAX];
    int n;
    _Atomic bool stop;
};

static ih_err open_listen(listener *l)
{
    char host[64];
    int port;
    if (ih_parse_listen(l->peer.listen, host, sizeof host, &port) != 0)
        return ih_fail(IH_E_CONFIG, "exchange peer %s: listen '%s' is not ADDR:PORT", l->peer.name, l->peer.listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0)
        return ih_fail(IH_E_CONFIG, "exchange peer %s: listen address '%s' is not numeric", l->peer.name, host);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    ih_err e = IH_OK;
    if (fd < 0) e = ih_fail(IH_E_IO, "socket: %s", strerror(errno));
    if (e == IH_OK) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (e == IH_OK && (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0))
        e = ih_fail(IH_E_IO, "exchange peer %s: cannot listen on %s: %s", l->peer.name, l->peer.listen, strerror(errno));
    freeaddrinfo(ai);
    if (e != IH_OK) {
        if (fd >= 0) close(fd);
        return e;
    }
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    l->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    l->fd = fd;
    return IH_OK;
}

typedef struct {
    mllp_conn *c;
    ih_buf acks;
} frame_ctx;

static ih_err on_frame(void *ctx, ih_err status, const char *payload, size_t n)
{
    frame_ctx *f = ctx;
    listener *l = f->c->l;
    if (status != IH_OK) { /* too large or malformed: AR without a control id */
        ih_buf utf8 = IH_BUF_INIT;
        const char *why = status == IH_E_TOO_LARGE ? "the frame is larger than ihos takes (1 MiB)"
                                                   : "the frame is malformed (0x0B … 0x1C 0x0D)";
        ih_log(IH_LOG_WARN, "exchange.refused", "peer", l->peer.name, "reason", why, NULL);
        ih_err e = ih_inbound_ack(NULL, &l->peer, "AR", why, &utf8);
        ih_buf wire = IH_BUF_INIT;
        if (e == IH_OK) e = ih_hl7_from_utf8(l->peer.charset, utf8.p, utf8.len, &wire);
        if (e == IH_OK) e = ih_mllp_wrap(wire.p, wire.len, &f->acks);
        ih_buf_free(&utf8);
        ih_buf_free(&wire);
        return e;
    }
    return ih_inbound_handle(l->s->clinic, &l->peer, payload, n, &f->acks);
}

/* The peer's certificate is checked by its pinned digest, not by a chain:
 * accept whatever it presents here, compare after the handshake. */
static int any_cert(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

/* Does the certificate the client presented have the pinned SHA-256? */
static bool pinned(SSL *ssl, const char *pin)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    bool ok = X509_digest(cert, EVP_sha256(), md, &n) == 1 && n == 32;
    X509_free(cert);
    if (!ok) return false;
    for (unsigned i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return CRYPTO_memcmp(hex, pin, 64) == 0;
}

static void *conn_main(void *arg)
{
    mllp_conn *c = arg;
    listener *l = c->l;
    struct timeval tv = {.tv_sec = 1};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct timeval wtv = {.tv_sec = 30};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &wtv, sizeof wtv);
    bool ok = true;
    if (l->peer.tls) {
        c->ssl = SSL_new(l->s->ctx);
        ok = c->ssl && SSL_set_fd(c->ssl, c->fd) == 1;
        if (ok && l->peer.client_cert_sha256[0])
            SSL_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, any_cert);
        time_t until = time(NULL) + 15;
        while (ok) {
            ERR_clear_error();
            int r = SSL_accept(c->ssl);
            if (r == 1) break;
            int e = SSL_get_error(c->ssl, r);
            if (!(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) || time(NULL) > until ||
                atomic_load(&l->s->stop))
                ok = false;
        }
        if (!ok) ih_log(IH_LOG_WARN, "exchange.tls_failed", "peer", l->peer.name, "client", c->ip, NULL);
        if (ok && l->peer.client_cert_sha256[0] && !pinned(c->ssl, l->peer.client_cert_sha256)) {
            ih_log(IH_LOG_WARN, "exchange.peer_refused", "alert", "true", "peer", l->peer.name, "client", c->ip, "reason",
                   "its certificate is not the one exchange.conf pins", NULL);
            ok = false;
        }
    }
    ih_mllp framer;
    ih_mllp_init(&framer, IH_MLLP_MAX_FRAME);
    frame_ctx f = {.c = c};
    uint8_t buf[16384];
    time_t idle_until = time(NULL) + IH_MLLP_IDLE_S;
    while (ok && !atomic_load(&l->s->stop)) {
        ssize_t r = ih_wire_read(c->fd, c->ssl, buf, sizeof buf);
        if (r == -2) {
            if (time(NULL) > idle_until) break;
            continue;
        }
        if (r <= 0) break;
        idle_until = time(NULL) + IH_MLLP_IDLE_S;
        /* every whole frame in this read is handled, then the ACKs go in order */
        ih_buf_reset(&f.acks);
        ih_err e = ih_mllp_feed(&framer, buf, (size_t)r, on_frame, &f);
        if (f.acks.len && !ih_wire_write(c->fd, c->ssl, f.acks.p, f.acks.len)) break;
        if (e != IH_OK) {
            ih_log(IH_LOG_ERROR, "exchange.connection_error", "peer", l->peer.name, "detail", ih_err_detail(), NULL);
            break;
        }
    }
    ih_mllp_free(&framer);
    ih_buf_wipe(&f.acks);
    if (c->ssl) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    shutdown(c->fd, SHUT_RDWR);
    ih_log(IH_LOG_INFO, "exchange.disconnected", "peer", l->peer.name, "client", c->ip, NULL);
    atomic_store(&c->done, true);
    return NULL;
}

/* Join and free finished connections; the slot index of a free one, or -1. */
static int reap(listener *l)
{
    int free_slot = -1;
    for (int i = 0; i < IH_MLLP_CONNS_PER_PEER; i++) {
        mllp_conn *c = l->conns[i];
        if (c && atomic_load(&c->done)) {
            pthread_join(c->th, NULL);
            close(c->fd);
            free(c);
            l->conns[i] = c = NULL;
        }
        if (!c && free_slot < 0) free_slot = i;
    }
    return free_slot;
}

static void *accept_main(void *arg)
{
    listener *l = arg;
    while (!atomic_load(&l->s->stop)) {
        struct pollfd p = {.fd = l->fd, .events = POLLIN};
        int slot = reap(l);
        if (poll(&p, 1, 250) <= 0) continue;
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
        if (fd < 0) continue;
        char ip[64] = "";
        if (sa.ss_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, ip, sizeof ip);
        else inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, ip, sizeof ip);
        if (l->peer.allow_from.n && !ih_cidr_match(&l->peer.allow_from, ip)) { /* closed unread, before TLS */
            ih_log(IH_LOG_WARN, "exchange.peer_refused", "alert", "true", "peer", l->peer.name, "client", ip, "reason",
                   "its address is not in allow_from", NULL);
            close(fd);
            continue;
        }
        slot = reap(l);
        mllp_conn *c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            ih_log(IH_LOG_WARN, "exchange.connection_refused", "peer", l->peer.name, "client", ip, "reason",
                   slot < 0 ? "too many connections" : "out of memory", NULL);
            close(fd);
            continue;
        }
        c->l = l;
        c->fd = fd;
        snprintf(c->ip, sizeof c->ip, "%s", ip);
        if (pthread_create(&c->th, NULL, conn_main, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        l->conns[slot] = c;
        ih_log(IH_LOG_INFO, "exchange.connected", "peer", l->peer.name, "client", ip, NULL);
    }
    for (int i = 0; i < IH_MLLP_CONNS_PER_PEER; i++)
        if (l->conns[i]) shutdown(l->conns[i]->fd, SHUT_RDWR);
    for (int i = 0; i < IH_MLLP_CONNS_PER_PEER; i++) {
        mllp_conn *c = l->conns[i];
        if (!c) continue;
        pthread_join(c->th, NULL);
        close(c->fd);
        free(c);
        l->conns[i] = NULL;
    }
    return NULL;
}

ih_err ih_mllp_server_start(const ih_peers *peers, const char *cert_file, const char *key_file, ih_clinic *clinic,
                            ih_mllp_server **out)
{
    *out = NULL;
    int want = 0;
    bool tls = false;
    for (int i = 0; i < peers->n; i++)
        if (peers->p[i].listen[0]) {
            want++;
            tls = tls || peers->p[i].tls;
        }
    if (!want) return IH_OK;
    ih_mllp_server *s = calloc(1, sizeof *s);
    IH_CHECK_ALLOC(s);
    s->clinic = clinic;
    ih_err e = tls ? ih_tls_server_ctx(cert_file, key_file, &s->ctx) : IH_OK;
    for (int i = 0; e == IH_OK && i < peers->n; i++) {
        if (!peers->p[i].listen[0]) continue;
        listener *l = &s->l[s->n];
        l->s = s;
        l->peer = peers->p[i];
        l->fd = -1;
        e = open_listen(l);
        if (e != IH_OK) break;
        if (pthread_create(&l->th, NULL, accept_main, l) != 0) {
            close(l->fd);
            e = ih_fail(IH_E_INTERNAL, "exchange: cannot start a listener thread");
            break;
        }
        s->n++;
        char port[8];
        snprintf(port, sizeof port, "%d", l->port);
        ih_log(IH_LOG_INFO, "exchange.listening", "peer", l->peer.name, "port", port, "tls", l->peer.tls ? "true" : "false",
               NULL);
    }
    if (e != IH_OK) {
        ih_mllp_server_stop(s);
        return e;
    }
    *out = s;
    return IH_OK;
}

int ih_mllp_server_port(const ih_mllp_server *s, const char *peer)
{
    for (int i = 0; s && i < s->n; i++)
        if (!strcmp(s->l[i].peer.name, peer)) return s->l[i].port;
    return 0;
}

void ih_mllp_server_stop(ih_mllp_server *s)
{
    if (!s) return;
    atomic_store(&s->stop, true);
    for (int i = 0; i < s->n; i++) {
        pthread_join(s->l[i].th, NULL);
        close(s->l[i].fd);
    }
    if (s->ctx) SSL_CTX_free(s->ctx);
    free(s);
}
