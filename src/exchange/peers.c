/* peers.c — see peers.h. */
#include "exchange/peers.h"

#include "core/url.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    ih_peers *out;
    ih_peer *cur;
    char section[64]; /* the section of the keys seen last */
    const char *text; /* the line reader's position */
    int too_long;     /* first line longer than inih reads whole (0: none) */
    unsigned seen; /* keys seen in the current section */
    const char *name;
    int line;
    char *err;
    size_t n;
} ctx;

typedef enum {
    K_ADDR, K_LISTEN, K_TLS, K_TRUSTED, K_CHARSET, K_VERSION, K_SAPP, K_SFAC, K_RAPP, K_RFAC, K_ACCEPT, K_SEND, K_PIN,
    K_CA, K_RETRY, K_ACKTO, K_ORDERS, K_ALLOW
} key;

static const char *const keys[] = {"address",           "listen",          "tls",
                                   "trusted_network",   "charset",         "version",
                                   "sending_application", "sending_facility", "receiving_application",
                                   "receiving_facility", "accept",          "send",
                                   "client_cert_sha256", "ca_file",         "retry_max",
                                   "ack_timeout",        "orders",          "allow_from"};
#define NKEYS (sizeof keys / sizeof keys[0])

static int fail(ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx *c, int line, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->n, "%s:%d: %s", c->name, line, msg);
    return 0;
}

static bool bool_value(const char *v, bool *out)
{
    if (!strcmp(v, "true")) *out = true;
    else if (!strcmp(v, "false")) *out = false;
    else return false;
    return true;
}

/* host:port with a port 1..65535 and a host of [A-Za-z0-9.-:] (IPv6 in brackets). */
/* HOST:PORT; port 0 (any free port, as [server] listen allows) only where
 * ihos listens. */
static bool hostport_ok(const char *v, bool listening)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || strlen(v) > 120) return false;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < (listening ? 0 : 1) || port > 65535 || end == colon + 1) return false;
    for (const char *p = v; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '-' || *p == ':' || *p == '[' || *p == ']'))
            return false;
    return true;
}

/* A list of message types: TYPE^EVENT, comma-separated. */
static bool types_ok(const char *v)
{
    if (!*v) return false;
    for (const char *p = v; *p;) {
        const char *e = p + strcspn(p, ",");
        const char *caret = memchr(p, '^', (size_t)(e - p));
        if (!caret || caret - p != 3 || e - caret != 4) return false;
        for (const char *q = p; q < e; q++)
            if (q != caret && !((*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9'))) return false;
        p = *e ? e + 1 : e;
    }
    return true;
}

static bool text_ok(const char *v, size_t max)
{
    if (!*v || strlen(v) >= max) return false;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == '|' || *p == '^' || *p == '~' || *p == '\\' || *p == '&') return false;
    return true;
}

static int finish(ctx *c)
{
    ih_peer *p = c->cur;
    if (!p) return 1;
    if (!p->address[0] && !p->listen[0]) return fail(c, c->line, "peer %s: give address, listen or both", p->name);
    if (!p->charset[0] || !p->version[0] || !p->sending_app[0] || !p->receiving_app[0])
        return fail(c, c->line, "peer %s: charset, version, sending_application and receiving_application are required",
                    p->name);
    if (p->send[0] && !p->address[0])
        return fail(c, c->line, "peer %s: send needs address (where ihos delivers)", p->name);
    if (p->client_cert_sha256[0] && (!p->tls || !p->listen[0]))
        return fail(c, c->line, "peer %s: client_cert_sha256 needs tls = true and listen", p->name);
    if (p->allow_from.n && !p->listen[0]) return fail(c, c->line, "peer %s: allow_from needs listen", p->name);
    /* Off loopback, a listener names who may send to it (anyone who reaches
     * the port could otherwise register patients or file results). */
    if (p->listen[0] && !ih_peer_loopback(p->listen) && !p->client_cert_sha256[0] && !p->allow_from.n)
        return fail(c, c->line,
                    "peer %s listens off loopback: say who may connect, by certificate (client_cert_sha256) or by "
                    "address (allow_from)",
                    p->name);
    bool loop = (!p->address[0] || ih_peer_loopback(p->address)) && (!p->listen[0] || ih_peer_loopback(p->listen));
    if (!p->tls && !loop && !p->trusted_network)
        return fail(c, c->line,
                    "peer %s is not on loopback: it needs tls = true (or trusted_network = true, which the "
                    "self-check reports)",
                    p->name);
    return 1;
}

/* Starts the peer of a section met for the first time. */
static int start_section(ctx *c, const char *section, int lineno)
{
    if (!finish(c)) return 0;
    if (strncmp(section, "peer ", 5) || !section[5])
        return fail(c, lineno, "unknown section [%s] (peers are [peer NAME])", section);
    const char *nm = section + 5;
    if (strlen(nm) >= sizeof ((ih_peer *)0)->name || strspn(nm, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(nm))
        return fail(c, lineno, "peer name '%s': lower-case letters, digits, '-' and '_'", nm);
    for (int i = 0; i < c->out->n; i++)
        if (!strcmp(c->out->p[i].name, nm)) return fail(c, lineno, "peer %s is described twice", nm);
    if (c->out->n == IH_PEERS_MAX) return fail(c, lineno, "more than %d peers", IH_PEERS_MAX);
    c->cur = &c->out->p[c->out->n++];
    memset(c->cur, 0, sizeof *c->cur);
    snprintf(c->cur->name, sizeof ((ih_peer *)0)->name, "%s", nm);
    c->cur->tls = true;
    c->cur->retry_max_s = 300;
    snprintf(c->cur->orders, sizeof c->cur->orders, "lab,imaging");
    c->cur->ack_timeout_s = 30;
    c->seen = 0;
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    ctx *c = user;
    int lineno = c->line;
    if (c->err[0]) return 0; /* inih goes on after a refusal: the first one stands, nothing more is taken */
    if (!section[0]) return fail(c, lineno, "'%s' outside a [peer NAME] section", name);
    if (strcmp(section, c->section)) {
        snprintf(c->section, sizeof c->section, "%s", section);
        if (!start_section(c, section, lineno)) return 0;
    }
    size_t k = 0;
    while (k < NKEYS && strcmp(keys[k], name)) k++;
    if (k == NKEYS) return fail(c, lineno, "unknown key '%s'", name);
    if (c->seen & (1u << k)) return fail(c, lineno, "'%s' given twice", name);
    c->seen |= 1u << k;
    ih_peer *p = c->cur;
    switch ((key)k) {
    case K_ADDR:
    case K_LISTEN:
        if (!hostport_ok(value, k == K_LISTEN)) return fail(c, lineno, "'%s' must be HOST:PORT", name);
        snprintf(k == K_ADDR ? p->address : p->listen, sizeof p->address, "%s", value);
        break;
    case K_TLS:
    case K_TRUSTED:
        if (!bool_value(value, k == K_TLS ? &p->tls : &p->trusted_network))
            return fail(c, lineno, "'%s' must be true or false", name);
        break;
    case K_CHARSET:
        if (strcmp(value, "UTF-8") && strcmp(value, "GB18030")) return fail(c, lineno, "charset must be UTF-8 or GB18030");
        snprintf(p->charset, sizeof p->charset, "%s", value);
        break;
    case K_VERSION:
        if (strcmp(value, "2.3") && strcmp(value, "2.4") && strcmp(value, "2.5") && strcmp(value, "2.5.1"))
            return fail(c, lineno, "version must be 2.3, 2.4, 2.5 or 2.5.1");
        snprintf(p->version, sizeof p->version, "%s", value);
        break;
    case K_SAPP:
    case K_SFAC:
    case K_RAPP:
    case K_RFAC: {
        char *dst = k == K_SAPP ? p->sending_app : k == K_SFAC ? p->sending_facility : k == K_RAPP ? p->receiving_app
                                                                                                   : p->receiving_facility;
        if (!text_ok(value, sizeof p->sending_app)) return fail(c, lineno, "'%s': 1 to 63 characters, no delimiters", name);
        snprintf(dst, sizeof p->sending_app, "%s", value);
        break;
    }
    case K_ACCEPT:
    case K_SEND:
        if (strlen(value) >= sizeof p->accept || !types_ok(value))
            return fail(c, lineno, "'%s': message types like ADT^A04,ORU^R01", name);
        snprintf(k == K_ACCEPT ? p->accept : p->send, sizeof p->accept, "%s", value);
        break;
    case K_PIN: {
        size_t n = 0;
        for (const char *q = value; *q; q++)
            if (*q != ':') {
                if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')) || n >= 64)
                    return fail(c, lineno, "client_cert_sha256: the certificate's SHA-256, 64 hex digits (colons allowed)");
                char ch = *q;
                p->client_cert_sha256[n++] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
            }
        if (n != 64) return fail(c, lineno, "client_cert_sha256: the certificate's SHA-256, 64 hex digits (colons allowed)");
        p->client_cert_sha256[64] = '\0';
        break;
    }
    case K_CA:
        if (!*value || strlen(value) >= sizeof p->ca_file) return fail(c, lineno, "ca_file: a path, at most 255 bytes");
        snprintf(p->ca_file, sizeof p->ca_file, "%s", value);
        break;
    case K_ALLOW:
        if (strlen(value) >= sizeof p->allow_text || ih_cidr_parse(value, &p->allow_from) != IH_OK || !p->allow_from.n) {
            ih_err_clear();
            return fail(c, lineno, "allow_from: addresses or ranges like 10.1.2.3,10.1.8.0/24 (at most %d)",
                        IH_CIDR_MAX);
        }
        snprintf(p->allow_text, sizeof p->allow_text, "%s", value);
        break;
    case K_ORDERS:
        if (strcmp(value, "lab") && strcmp(value, "imaging") && strcmp(value, "lab,imaging"))
            return fail(c, lineno, "orders: lab, imaging or lab,imaging");
        snprintf(p->orders, sizeof p->orders, "%s", value);
        break;
    case K_RETRY:
    case K_ACKTO: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        long lo = k == K_RETRY ? 1 : 1, hi = k == K_RETRY ? 3600 : 600;
        if (errno || *end || end == value || v < lo || v > hi)
            return fail(c, lineno, "'%s': seconds, %ld to %ld", name, lo, hi);
        if (k == K_RETRY) p->retry_max_s = (int)v;
        else p->ack_timeout_s = (int)v;
        break;
    }
    }
    return 1;
}

/* One line at a time, counting them; a line longer than inih's buffer is
 * refused, never split (its tail would parse as a line of its own). */
static char *read_line(char *str, int num, void *stream)
{
    ctx *c = stream;
    if (!*c->text || num < 4) return NULL;
    size_t len = strcspn(c->text, "\n");
    c->line++;
    if (len > (size_t)num - 3) {
        if (!c->too_long) c->too_long = c->line;
        c->text += len + (c->text[len] == '\n');
        str[0] = '\0';
        return str;
    }
    memcpy(str, c->text, len);
    str[len] = '\0';
    c->text += len + (c->text[len] == '\n');
    return str;
}

ih_err ih_peers_parse(const char *text, const char *name, ih_peers *out, char *err, size_t n)
{
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    ctx c = {.out = out, .name = name, .err = err, .n = n, .text = text};
    int rc = ini_parse_stream(read_line, &c, handler, &c);
    if (c.too_long && !err[0]) snprintf(err, n, "%s:%d: line too long", name, c.too_long);
    if (rc == 0 && !err[0]) finish(&c); /* the last peer */
    if (rc > 0 && !err[0]) snprintf(err, n, "%s:%d: not a key = value line", name, rc);
    if (rc < 0 && !err[0]) snprintf(err, n, "%s: cannot be read", name);
    if (err[0]) {
        memset(out, 0, sizeof *out);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    return IH_OK;
}

ih_err ih_peers_load(const char *path, ih_peers *out, char *err, size_t n)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) return IH_OK; /* no peers */
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    char *text = malloc(65537);
    size_t len = text ? fread(text, 1, 65536, f) : 0;
    bool big = text && len == 65536 && fgetc(f) != EOF;
    fclose(f);
    if (!text) return ih_fail(IH_E_NOMEM, "out of memory");
    text[len] = '\0';
    ih_err e;
    if (big || memchr(text, '\0', len)) {
        snprintf(err, n, "%s: not a peers file (binary, or over 64 KiB)", path);
        e = ih_fail(IH_E_CONFIG, "%s", err);
    } else {
        e = ih_peers_parse(text, path, out, err, n);
    }
    free(text);
    return e;
}

bool ih_peer_loopback(const char *hostport)
{
    const char *h;
    size_t n = ih_url_host(hostport, &h);
    return ih_host_loopback(h, n);
}
