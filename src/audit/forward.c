/* forward.c — RFC 5424 copies of security events (see audit.h).
 * L3 8.1.5: audit records are collected centrally; 8.1.4.3c: backed up
 * outside the server. */
#include "audit/audit_impl.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct ih_forwarder {
    ih_store *store;
    ih_lease lease; /* "audit.forward" in a cluster (holder NULL: none); its position is the cursor */
    char node[128];
    char *cursor_file;
    char host[256];
    int fd;
    int64_t cursor;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static const char *const security_prefixes[] = {"auth.", "account.", "access.", "permission.", "integrity.",
                                                "audit.", "key.",     "backup.", "server.",      "instance.",
                                                "session.", "role.",  NULL};

static bool is_security(const char *action, const char *outcome)
{
    if (outcome && !strcmp(outcome, "failure")) return true;
    for (const char *const *p = security_prefixes; *p; p++)
        if (action && !strncmp(action, *p, strlen(*p))) return true;
    return false;
}

/* SD-PARAM value escaping (RFC 5424 6.3.3): '"', '\' and ']'. */
static ih_err sd(ih_buf *out, const char *name, const char *v)
{
    if (!v) return IH_OK;
    IH_TRY(ih_buf_printf(out, " %s=\"", name));
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == ']') IH_TRY(ih_buf_puts(out, "\\"));
        if ((unsigned char)*p < 0x20) continue;
        IH_TRY(ih_buf_append(out, p, 1));
    }
    return ih_buf_puts(out, "\"");
}

ih_err ih_audit_syslog_line(const char *host, int64_t seq, int64_t ts, int64_t actor, const char *role, const char *ip,
                            const char *action, const char *object_type, const char *object_id, const char *outcome,
                            const char *error_code, const char *reason, ih_buf *out)
{
    /* facility authpriv (10); severity warning (4) for failures, notice (5) otherwise */
    int pri = 10 * 8 + (outcome && !strcmp(outcome, "failure") ? 4 : 5);
    char when[32], num[24], act[24], obj[160];
    ih_time_iso(ts, when, sizeof when);
    snprintf(num, sizeof num, "%lld", (long long)seq);
    snprintf(act, sizeof act, "%lld", (long long)actor);
    snprintf(obj, sizeof obj, "%s%s%s", object_type ? object_type : "", object_id ? "/" : "", object_id ? object_id : "");
    IH_TRY(ih_buf_printf(out, "<%d>1 %s %s ihos - audit [ihos@32473", pri, when, host[0] ? host : "-"));
    IH_TRY(sd(out, "seq", num));
    IH_TRY(sd(out, "actor", act));
    IH_TRY(sd(out, "role", role));
    IH_TRY(sd(out, "ip", ip));
    IH_TRY(sd(out, "object", obj));
    IH_TRY(sd(out, "outcome", outcome));
    IH_TRY(sd(out, "code", error_code));
    IH_TRY(ih_buf_printf(out, "] %s", action ? action : "-"));
    if (reason) {
        IH_TRY(ih_buf_puts(out, " "));
        for (const char *p = reason; *p; p++)
            if ((unsigned char)*p >= 0x20) IH_TRY(ih_buf_append(out, p, 1));
    }
    return IH_OK;
}

static int open_target(const char *target)
{
    if (!strncmp(target, "unix:", 5)) {
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", target + 5);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            if (fd >= 0) close(fd);
            return -1;
        }
        return fd;
    }
    char host[256], port[16];
    const char *hp = target + 6; /* udp:// */
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host) return -1;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    if (host[0] == '[') { /* [v6] */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    snprintf(port, sizeof port, "%s", colon + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0) return -1;
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

typedef struct {
    ih_forwarder *f;
    int sent;
    bool failed;
} step_arg;

static ih_err step_fn(ih_tx *tx, void *arg)
{
    step_arg *a = arg;
    ih_forwarder *f = a->f;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT " AUDIT_EVENT_SELECT " FROM audit_event WHERE seq > $1 ORDER BY seq LIMIT 500", &st));
    ih_stmt_int(st, 1, f->cursor);
    ih_buf line = IH_BUF_INIT;
    char scratch[8192];
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        int64_t seq = ih_col_int(st, 0);
        audit_row r;
        if (!ih_col_int(st, 9) && audit_row_load(st, scratch, sizeof scratch, &r) == 0) {
            if (is_security(r.action, r.outcome)) {
                ih_buf_reset(&line);
                e = ih_audit_syslog_line(f->host, seq, r.ts, r.actor_id, r.role, r.ip, r.action, r.object_type,
                                         r.object_id, r.outcome, r.error_code, r.reason, &line);
                if (e != IH_OK) break;
                if (send(f->fd, line.p, line.len, 0) < 0) {
                    a->failed = true; /* keep the cursor: resend later */
                    break;
                }
                a->sent++;
            }
        }
        f->cursor = seq;
    }
    ih_buf_free(&line);
    return e;
}

static void save_cursor(ih_forwarder *f)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld\n", (long long)f->cursor);
    if (ih_file_replace(f->cursor_file, b, (size_t)n, 0600) != IH_OK)
        ih_log(IH_LOG_WARN, "audit.forward_cursor", "detail", ih_err_detail(), NULL);
}

/* In a cluster: one node forwards, from where the last holder stopped
 * (the lease's position), so a takeover neither skips nor, beyond the last
 * few lines, repeats. */
static bool lease_step(ih_forwarder *f, int64_t *next)
{
    if (!f->lease.holder) return true;
    if (ih_mono_ms() >= *next) {
        *next = ih_mono_ms() + 5000;
        bool was = f->lease.held;
        if (ih_lease_take(f->store, &f->lease) != IH_OK) {
            ih_err_clear();
            f->lease.held = false;
        }
        if (f->lease.held && !was && f->lease.position > f->cursor) f->cursor = f->lease.position;
    }
    return f->lease.held;
}

static void *run(void *arg)
{
    ih_forwarder *f = arg;
    int64_t last_warn = 0, lease_next = 0;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        bool last_pass = f->stop; /* after stop: one more pass, then out */
        pthread_mutex_unlock(&f->mu);
        step_arg a = {f, 0, false};
        int64_t before = f->cursor;
        ih_err e = IH_OK;
        if (lease_step(f, &lease_next)) e = ih_store_read(f->store, step_fn, &a);
        if (f->cursor != before) {
            save_cursor(f);
            if (f->lease.holder && ih_lease_save_position(f->store, &f->lease, f->cursor) != IH_OK) ih_err_clear();
        }
        if ((e != IH_OK || a.failed) && ih_mono_ms() - last_warn > 60000) {
            ih_log(IH_LOG_ERROR, "audit.forward_failed", "alert", "true", "detail",
                   a.failed ? strerror(errno) : ih_err_detail(), NULL);
            last_warn = ih_mono_ms();
        }
        bool more = a.sent > 0 && e == IH_OK && !a.failed;
        pthread_mutex_lock(&f->mu);
        if (last_pass && !more) break;
        if (!more && !f->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

ih_err ih_audit_forward_start(ih_store *s, const char *target, const char *cursor_file, const char *node,
                              ih_forwarder **out)
{
    ih_forwarder *f = calloc(1, sizeof *f);
    IH_CHECK_ALLOC(f);
    f->store = s;
    if (node) {
        snprintf(f->node, sizeof f->node, "%s", node);
        f->lease = (ih_lease){.name = "audit.forward", .holder = f->node, .ttl_ms = 20000};
    }
    f->cursor = -1;
    f->cursor_file = strdup(cursor_file);
    gethostname(f->host, sizeof f->host - 1);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    ih_buf b = IH_BUF_INIT;
    if (ih_file_read(cursor_file, 64, &b) == IH_OK && b.p) f->cursor = strtoll(b.p, NULL, 10);
    ih_buf_free(&b);
    f->fd = open_target(target);
    if (f->fd < 0 || !f->cursor_file || pthread_create(&f->thread, NULL, run, f) != 0) {
        if (f->fd >= 0) close(f->fd);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f->cursor_file);
        free(f);
        return ih_fail(IH_E_CONFIG, "cannot reach the syslog target %s", target);
    }
    *out = f;
    return IH_OK;
}

void ih_audit_forward_stop(ih_forwarder *f)
{
    if (!f) return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    ih_lease_release(f->store, &f->lease);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f->cursor_file);
    free(f);
}
