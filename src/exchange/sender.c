/* sender.c — see sender.h. */
#include "exchange/sender.h"

#include "care/his.h"
#include "core/clock.h"
#include "core/log.h"
#include "exchange/hl7.h"
#include "exchange/mllp.h"
#include "exchange/wire.h"
#include "exchange/outbound.h"
#include "store/lease.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct peer_sender {
    struct ih_mllp_sender *s;
    ih_peer peer;
    char host[128];
    char port[8];
    SSL_CTX *ctx; /* tls peers */
    int fd;
    SSL *ssl;
    bool down; /* the last attempt could not reach the peer (logged once) */
    pthread_t th;
    bool started;
    char lease_name[48];
    ih_lease lease;
    atomic_ullong sent, dead;
} peer_sender;

struct ih_mllp_sender {
    ih_sender_opts o;
    ih_peers peers;
    char node[128];
    peer_sender p[IH_PEERS_MAX];
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kick;
};

/* ---- the connection -------------------------------------------------------------------- */

static void conn_close(peer_sender *ps)
{
    if (ps->ssl) {
        SSL_shutdown(ps->ssl);
        SSL_free(ps->ssl);
        ps->ssl = NULL;
    }
    if (ps->fd >= 0) close(ps->fd);
    ps->fd = -1;
}

/* Connect (5 s at most), and the TLS handshake when the peer has tls. */
static bool conn_open(peer_sender *ps, char *why, size_t wn)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gr = getaddrinfo(ps->host, ps->port, &hints, &ai);
    if (gr != 0) {
        snprintf(why, wn, "cannot resolve %s: %s", ps->host, gai_strerror(gr));
        return false;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            struct pollfd pf = {fd, POLLOUT, 0};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            r = poll(&pf, 1, 5000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0 ? 0 : -1;
            if (soerr) errno = soerr;
            else if (r) errno = ETIMEDOUT;
        }
        if (r != 0) {
            snprintf(why, wn, "cannot connect to %s: %s", ps->peer.address, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) return false;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval rtv = {.tv_sec = 1}, wtv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof rtv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wtv, sizeof wtv);
    ps->fd = fd;
    if (!ps->ctx) return true;
    ps->ssl = SSL_new(ps->ctx);
    bool ok = ps->ssl && SSL_set_fd(ps->ssl, fd) == 1;
    unsigned char bin[16];
    if (ok && (inet_pton(AF_INET, ps->host, bin) == 1 || inet_pton(AF_INET6, ps->host, bin) == 1))
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ps->ssl), ps->host) == 1;
    else if (ok)
        ok = SSL_set1_host(ps->ssl, ps->host) == 1 && SSL_set_tlsext_host_name(ps->ssl, ps->host) == 1;
    int64_t until = ih_mono_ms() + 10000;
    int r = 0;
    while (ok && (r = SSL_connect(ps->ssl)) != 1) {
        int e = SSL_get_error(ps->ssl, r);
        if (!(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) || ih_mono_ms() > until) ok = false;
    }
    if (!ok) {
        long v = ps->ssl ? SSL_get_verify_result(ps->ssl) : X509_V_OK;
        snprintf(why, wn, "TLS with %s failed: %s", ps->peer.address,
                 v != X509_V_OK ? X509_verify_cert_error_string(v) : "handshake refused or timed out");
        conn_close(ps);
        return false;
    }
    return true;
}

typedef struct {
    ih_buf reply;
    bool have, bad;
} reply_ctx;

static ih_err on_reply(void *ctx, ih_err status, const char *payload, size_t n)
{
    reply_ctx *r = ctx;
    if (r->have) return IH_OK; /* one answer per message: anything after it is ignored */
    r->have = true;
    if (status != IH_OK) {
        r->bad = true;
        return IH_OK;
    }
    return ih_buf_append(&r->reply, payload, n);
}

static bool stopping(struct ih_mllp_sender *s)
{
    pthread_mutex_lock(&s->mu);
    bool st = s->stop;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* ---- one batch ----------------------------------------------------------------------------- */

static void deliver_one(peer_sender *ps, ih_his_out *o, bool *broken, char *why, size_t wn)
{
    struct ih_mllp_sender *s = ps->s;
    ih_buf utf8 = IH_BUF_INIT, wire = IH_BUF_INIT, frame = IH_BUF_INIT;
    ih_err e = ih_outbound_build(&ps->peer, o->type, o->control_id, o->fact, ih_now_ms(), s->o.utc_offset_minutes, &utf8);
    if (e == IH_OK) e = ih_hl7_from_utf8(ps->peer.charset, utf8.p, utf8.len, &wire);
    if (e == IH_OK) e = ih_mllp_wrap(wire.p, wire.len, &frame);
    ih_buf_wipe(&utf8);
    ih_buf_wipe(&wire);
    if (e != IH_OK) { /* this message cannot be written (a character the peer's charset lacks …) */
        o->outcome = IH_HIS_OUT_DEAD;
        snprintf(o->detail, sizeof o->detail, "ihos could not write it: %s", ih_err_detail());
        ih_err_clear();
        ih_buf_wipe(&frame);
        return;
    }
    if (ps->fd < 0 && !conn_open(ps, why, wn)) {
        o->outcome = o->resend ? IH_HIS_OUT_UNKNOWN : IH_HIS_OUT_RETRY;
        snprintf(o->detail, sizeof o->detail, "%s", why);
        *broken = true;
        ih_buf_wipe(&frame);
        return;
    }
    if (o->resend)
        ih_log(IH_LOG_WARN, "exchange.possible_duplicate", "peer", ps->peer.name, "control_id", o->control_id, "reason",
               "sent before without an answer: sent again with the same MSH-10", NULL);
    bool wrote = ih_wire_write(ps->fd, ps->ssl, frame.p, frame.len);
    ih_buf_wipe(&frame);
    reply_ctx rc = {IH_BUF_INIT, false, false};
    char lost[160] = "no ACK in time";
    if (wrote) {
        ih_mllp f;
        ih_mllp_init(&f, 1u << 20);
        int64_t until = ih_mono_ms() + (int64_t)ps->peer.ack_timeout_s * 1000;
        uint8_t buf[8192];
        while (!rc.have && ih_mono_ms() < until && !stopping(s)) {
            ssize_t r = ih_wire_read(ps->fd, ps->ssl, buf, sizeof buf);
            if (r == -2) continue;
            if (r <= 0) { /* closed: TLS may say why (a peer refusing our certificate) */
                unsigned long tls = ERR_peek_last_error();
                const char *reason = tls ? ERR_reason_error_string(tls) : NULL;
                snprintf(lost, sizeof lost, "the peer closed the connection before its ACK%s%s", reason ? ": " : "",
                         reason ? reason : "");
                break;
            }
            if (ih_mllp_feed(&f, buf, (size_t)r, on_reply, &rc) != IH_OK) break;
        }
        ih_mllp_free(&f);
    }
    if (!wrote || !rc.have || rc.bad) {
        o->outcome = IH_HIS_OUT_UNKNOWN;
        snprintf(why, wn, "%s", !wrote ? "the connection broke while writing" : rc.bad ? "the answer was not a valid frame"
                                                                                : lost);
        snprintf(o->detail, sizeof o->detail, "%s", why);
        conn_close(ps);
        *broken = true;
        ih_buf_free(&rc.reply);
        return;
    }
    ih_buf reply = IH_BUF_INIT;
    ih_ack_reply ack = {0};
    ih_ack_kind k = IH_ACK_PROTOCOL;
    if (ih_hl7_to_utf8(ps->peer.charset, rc.reply.p, rc.reply.len, &reply) == IH_OK)
        k = ih_outbound_ack(reply.p, reply.len, o->control_id, &ack);
    else
        snprintf(ack.text, sizeof ack.text, "the answer is not %s", ps->peer.charset);
    ih_buf_wipe(&reply);
    ih_buf_wipe(&rc.reply);
    const char *text = ack.text;
    snprintf(o->ack_code, sizeof o->ack_code, "%s", ack.code);
    snprintf(o->error, sizeof o->error, "%s", ack.error);
    snprintf(o->detail, sizeof o->detail, "%s", text);
    if (k == IH_ACK_ACCEPTED) o->outcome = IH_HIS_OUT_SENT;
    else if (k == IH_ACK_REFUSED) o->outcome = IH_HIS_OUT_DEAD;
    else {
        o->outcome = IH_HIS_OUT_UNKNOWN;
        snprintf(why, wn, "%s", text);
        conn_close(ps);
        *broken = true;
    }
}

static void deliver(peer_sender *ps, ih_his_out *rows, int n)
{
    bool broken = false;
    char why[200] = "";
    for (int i = 0; i < n; i++) {
        ih_his_out *o = &rows[i];
        if (broken || stopping(ps->s)) { /* not attempted: waits, in order, behind the one that failed */
            o->outcome = o->resend ? IH_HIS_OUT_UNKNOWN : IH_HIS_OUT_RETRY;
            snprintf(o->detail, sizeof o->detail, "not attempted: %.140s", why[0] ? why : "ihosd is stopping");
            continue;
        }
        deliver_one(ps, o, &broken, why, sizeof why);
        if (o->outcome == IH_HIS_OUT_SENT) {
            atomic_fetch_add(&ps->sent, 1);
            if (ps->down) {
                ps->down = false;
                ih_log(IH_LOG_INFO, "exchange.peer_up", "peer", ps->peer.name, NULL);
            }
        } else if (o->outcome == IH_HIS_OUT_DEAD) {
            atomic_fetch_add(&ps->dead, 1);
            /* the peer's words may name the patient: they stay in the row, sealed */
            ih_log(IH_LOG_ERROR, "exchange.dead", "alert", "true", "peer", ps->peer.name, "type", o->type, "control_id",
                   o->control_id, "ack", o->ack_code[0] ? o->ack_code : "none", NULL);
        }
    }
    if (broken && !ps->down) {
        ps->down = true;
        ih_log(IH_LOG_WARN, "exchange.retry", "peer", ps->peer.name, "reason", why, NULL);
    }
}

/* ---- the thread ------------------------------------------------------------------------------ */

static void wait_ms(struct ih_mllp_sender *s, int64_t ms)
{
    pthread_mutex_lock(&s->mu);
    if (!s->stop && !s->kick) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    s->kick = false;
    pthread_mutex_unlock(&s->mu);
}

/* Rows a dead process left `sending` are sent again; false when that could
 * not be recorded (tried again before the next claim: until then the claim
 * stops at them, so nothing overtakes them). */
static bool recover(peer_sender *ps)
{
    int n = 0;
    if (ih_his_out_recover(ps->s->o.clinic, ps->peer.name, &n) != IH_OK) {
        ih_log(IH_LOG_ERROR, "exchange.recover_failed", "alert", "true", "peer", ps->peer.name, "detail",
               ih_err_detail(), NULL);
        return false;
    }
    if (n) {
        char k[16];
        snprintf(k, sizeof k, "%d", n);
        ih_log(IH_LOG_WARN, "exchange.recovered", "peer", ps->peer.name, "messages", k, "reason",
               "they were being sent when the process stopped: sent again", NULL);
    }
    return true;
}

static void *run(void *arg)
{
    peer_sender *ps = arg;
    struct ih_mllp_sender *s = ps->s;
    ih_his_out *rows = calloc(IH_SENDER_BATCH, sizeof *rows);
    int64_t lease_next = 0, last_fail_log = 0;
    bool need_recover = !s->o.node;
    while (rows && !stopping(s)) {
        if (s->o.node) { /* one node sends to this peer */
            if (ih_mono_ms() >= lease_next) {
                lease_next = ih_mono_ms() + 5000;
                bool was = ps->lease.held;
                int64_t token = ps->lease.token;
                if (ih_lease_take(s->o.store, &ps->lease) != IH_OK) ps->lease.held = false;
                if (ps->lease.held && (!was || ps->lease.token != token)) need_recover = true;
            }
            if (!ps->lease.held) {
                wait_ms(s, 1000);
                continue;
            }
        }
        if (need_recover) need_recover = !recover(ps);
        if (need_recover) {
            wait_ms(s, 1000);
            continue;
        }
        int n = 0;
        ih_err e = ih_his_out_claim(s->o.clinic, ps->peer.name, s->o.node ? &ps->lease : NULL, ih_now_ms(), rows,
                                    IH_SENDER_BATCH, &n);
        if (e != IH_OK) {
            if (ih_mono_ms() - last_fail_log > 60000) {
                last_fail_log = ih_mono_ms();
                ih_log(IH_LOG_ERROR, "exchange.pass_failed", "alert", "true", "peer", ps->peer.name, "detail",
                       ih_err_detail(), NULL);
            }
            if (s->o.node) lease_next = 0; /* perhaps the lease moved */
            wait_ms(s, 1000);
            continue;
        }
        if (n == 0) { /* idle: the connection stays open for the next message */
            wait_ms(s, 200);
            continue;
        }
        deliver(ps, rows, n);
        if (ih_his_out_finish(s->o.clinic, rows, n, (int64_t)ps->peer.retry_max_s * 1000) != IH_OK)
            ih_log(IH_LOG_ERROR, "exchange.finish_failed", "alert", "true", "peer", ps->peer.name, "detail",
                   ih_err_detail(), NULL);
        if (ps->down) wait_ms(s, 500); /* the backoff is in the rows' due times */
    }
    conn_close(ps);
    free(rows);
    return NULL;
}

static ih_err tls_ctx(struct ih_mllp_sender *s, peer_sender *ps)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return ih_fail(IH_E_NOMEM, "TLS");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ih_err e = IH_OK;
    if (ps->peer.ca_file[0]) {
        char path[600];
        snprintf(path, sizeof path, "%s%s%s", ps->peer.ca_file[0] == '/' ? "" : s->o.base_dir,
                 ps->peer.ca_file[0] == '/' ? "" : "/", ps->peer.ca_file);
        if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
            e = ih_fail(IH_E_CONFIG, "exchange peer %s: cannot read ca_file %s", ps->peer.name, path);
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
        e = ih_fail(IH_E_CONFIG, "exchange peer %s: no system CA store", ps->peer.name);
    if (e == IH_OK && s->o.cert_file && s->o.key_file &&
        (SSL_CTX_use_certificate_chain_file(ctx, s->o.cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, s->o.key_file, SSL_FILETYPE_PEM) != 1))
        e = ih_fail(IH_E_CONFIG, "exchange peer %s: cannot load ihosd's certificate", ps->peer.name);
    if (e != IH_OK) {
        SSL_CTX_free(ctx);
        return e;
    }
    ps->ctx = ctx;
    return IH_OK;
}

ih_err ih_mllp_sender_start(const ih_sender_opts *o, ih_mllp_sender **out)
{
    *out = NULL;
    int want = 0;
    for (int i = 0; i < o->peers->n; i++) want += o->peers->p[i].address[0] && o->peers->p[i].send[0];
    if (!want) return IH_OK;
    ih_mllp_sender *s = calloc(1, sizeof *s);
    IH_CHECK_ALLOC(s);
    s->o = *o;
    s->peers = *o->peers;
    if (o->node) {
        snprintf(s->node, sizeof s->node, "%s", o->node);
        s->o.node = s->node;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    ih_err e = IH_OK;
    for (int i = 0; e == IH_OK && i < s->peers.n; i++) {
        const ih_peer *p = &s->peers.p[i];
        if (!p->address[0] || !p->send[0]) continue;
        peer_sender *ps = &s->p[s->n++];
        ps->s = s;
        ps->peer = *p;
        ps->fd = -1;
        /* host and port from "host:port" or "[v6]:port" */
        const char *colon = strrchr(p->address, ':');
        size_t hl = (size_t)(colon - p->address);
        const char *h = p->address;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
        snprintf(ps->host, sizeof ps->host, "%.*s", (int)hl, h);
        snprintf(ps->port, sizeof ps->port, "%s", colon + 1);
        char ln[sizeof ps->lease_name];
        snprintf(ln, sizeof ln, "exchange-%s", p->name);
        memcpy(ps->lease_name, ln, sizeof ln);
        ps->lease = (ih_lease){.name = ps->lease_name, .holder = s->node, .ttl_ms = 20000};
        if (p->tls) e = tls_ctx(s, ps);
    }
    for (int i = 0; e == IH_OK && i < s->n; i++) {
        if (pthread_create(&s->p[i].th, NULL, run, &s->p[i]) != 0) e = ih_fail(IH_E_INTERNAL, "cannot start a sender");
        else s->p[i].started = true;
    }
    if (e != IH_OK) {
        ih_mllp_sender_stop(s);
        return e;
    }
    *out = s;
    return IH_OK;
}

void ih_mllp_sender_kick(ih_mllp_sender *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->kick = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void ih_mllp_sender_stop(ih_mllp_sender *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n; i++) {
        if (s->p[i].started) pthread_join(s->p[i].th, NULL);
        if (s->o.node && s->p[i].lease.held) ih_lease_release(s->o.store, &s->p[i].lease);
        if (s->p[i].ctx) SSL_CTX_free(s->p[i].ctx);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

ih_err ih_mllp_sender_metrics(ih_mllp_sender *s, ih_buf *out)
{
    if (!s) return IH_OK;
    IH_TRY(ih_buf_puts(out, "# HELP ihos_exchange_sent_total HL7 messages the peer acknowledged (AA).\n"
                            "# TYPE ihos_exchange_sent_total counter\n"));
    for (int i = 0; i < s->n; i++)
        IH_TRY(ih_buf_printf(out, "ihos_exchange_sent_total{peer=\"%s\"} %llu\n", s->p[i].peer.name,
                             (unsigned long long)atomic_load(&s->p[i].sent)));
    IH_TRY(ih_buf_puts(out, "# HELP ihos_exchange_dead_total HL7 messages the peer refused (AE/AR).\n"
                            "# TYPE ihos_exchange_dead_total counter\n"));
    for (int i = 0; i < s->n; i++)
        IH_TRY(ih_buf_printf(out, "ihos_exchange_dead_total{peer=\"%s\"} %llu\n", s->p[i].peer.name,
                             (unsigned long long)atomic_load(&s->p[i].dead)));
    return IH_OK;
}
