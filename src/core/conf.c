/* conf.c — config schema and strict INI parsing (see conf.h). */
#include "core/conf.h"

#include "core/buf.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { K_STR, K_INT, K_BOOL, K_ENUM } ktype;

typedef struct {
    const char *section;
    const char *name;
    ktype type;
    size_t off;
    size_t size; /* for strings */
    bool required;
    const char *def;
    long min, max;      /* K_INT range */
    const char *values; /* K_ENUM: "a|b|c" */
    const char *help;
} key;

#define S(sec, nm, field, req, def, help)                                                          \
    {sec, nm, K_STR, offsetof(ih_conf, field), sizeof(((ih_conf *)0)->field), req, def, 0, 0, NULL, help}
#define I(sec, nm, field, def, lo, hi, help)                                                       \
    {sec, nm, K_INT, offsetof(ih_conf, field), sizeof(int), false, def, lo, hi, NULL, help}
#define B(sec, nm, field, def, help)                                                               \
    {sec, nm, K_BOOL, offsetof(ih_conf, field), sizeof(bool), false, def, 0, 0, NULL, help}
#define E(sec, nm, field, req, def, vals, help)                                                    \
    {sec, nm, K_ENUM, offsetof(ih_conf, field), sizeof(((ih_conf *)0)->field), req, def, 0, 0, vals, help}

static const key schema[] = {
    S("instance", "name", name, true, "ihos", "instance name shown in logs and pages"),
    E("instance", "suite", suite, true, "intl", "intl|gm", "crypto suite, fixed at init"),
    B("instance", "demo", demo, "false", "demo instance: every response says so"),
    S("server", "listen", listen, false, "127.0.0.1:8443", "HTTPS listen address ADDR:PORT"),
    I("server", "workers", workers, "16", 1, 256, "worker threads"),
    I("server", "max_body", max_body, "1048576", 1024, 64 * 1024 * 1024, "largest request body, bytes"),
    I("server", "max_connections", max_connections, "1024", 8, 100000, "open connections at most"),
    I("server", "request_timeout", request_timeout, "15", 1, 300, "seconds to receive one request"),
    I("server", "keepalive_timeout", keepalive_timeout, "30", 1, 600, "seconds an idle connection stays open"),
    S("server", "tls_cert", tls_cert, false, "keys/tls.crt", "TLS certificate chain (PEM)"),
    S("server", "tls_key", tls_key, false, "keys/tls.key", "TLS private key (PEM, 0600)"),
    E("store", "backend", backend, true, "sqlite", "sqlite|postgres", "database backend"),
    S("store", "sqlite_path", sqlite_path, false, "ihos.db", "SQLite database file"),
    S("store", "pg_url", pg_url, false, "", "libpq connection URI (password via ~/.pgpass or PGPASSFILE)"),
    I("store", "pool_size", pool_size, "8", 1, 256, "read connections (sqlite) or pooled connections (postgres)"),
    I("store", "batch_max", batch_max, "256", 1, 10000, "write transactions per group commit (sqlite)"),
    E("log", "target", log_target, false, "stderr", "stderr|syslog", "where logs go"),
    E("log", "level", log_level, false, "info", "debug|info|warn|error", "lowest level logged"),
};
#define NKEYS (sizeof schema / sizeof schema[0])

typedef struct {
    ih_conf *c;
    bool seen[NKEYS];
    char msg[512];
} parse_ctx;

static bool enum_ok(const char *values, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = values; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

static int set_value(const key *k, ih_conf *c, const char *v, char *msg, size_t n)
{
    char *field = (char *)c + k->off;
    switch (k->type) {
    case K_ENUM:
        if (!enum_ok(k->values, v)) {
            snprintf(msg, n, "[%s] %s: '%s' is not one of %s", k->section, k->name, v, k->values);
            return -1;
        }
        /* fall through */
    case K_STR:
        if (strlen(v) >= k->size) {
            snprintf(msg, n, "[%s] %s: value longer than %zu characters", k->section, k->name,
                     k->size - 1);
            return -1;
        }
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20) {
                snprintf(msg, n, "[%s] %s: control character in value", k->section, k->name);
                return -1;
            }
        memcpy(field, v, strlen(v) + 1);
        return 0;
    case K_INT: {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < k->min || x > k->max) {
            snprintf(msg, n, "[%s] %s: must be an integer from %ld to %ld", k->section, k->name,
                     k->min, k->max);
            return -1;
        }
        *(int *)field = (int)x;
        return 0;
    }
    case K_BOOL:
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1")) *(bool *)field = true;
        else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0")) *(bool *)field = false;
        else {
            snprintf(msg, n, "[%s] %s: must be true or false", k->section, k->name);
            return -1;
        }
        return 0;
    }
    return -1;
}

void ih_conf_defaults(ih_conf *c)
{
    memset(c, 0, sizeof *c);
    char msg[128];
    for (size_t i = 0; i < NKEYS; i++) set_value(&schema[i], c, schema[i].def, msg, sizeof msg);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *p = user;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(schema[i].section, section) || strcmp(schema[i].name, name)) continue;
        if (p->seen[i]) {
            snprintf(p->msg, sizeof p->msg, "[%s] %s: set twice", section, name);
            return 0;
        }
        p->seen[i] = true;
        return set_value(&schema[i], p->c, value, p->msg, sizeof p->msg) == 0;
    }
    snprintf(p->msg, sizeof p->msg, "unknown key '%s' in section [%s]", name, section);
    return 0;
}

typedef struct {
    const char *p;
} str_reader;

static char *read_line(char *str, int num, void *stream)
{
    str_reader *r = stream;
    if (!*r->p || num < 2) return NULL;
    int i = 0;
    while (i < num - 1 && r->p[i] && r->p[i] != '\n') i++;
    if (r->p[i] == '\n' && i < num - 1) i++;
    memcpy(str, r->p, (size_t)i);
    str[i] = '\0';
    r->p += i;
    return str;
}

static ih_err finish(parse_ctx *p, int rc, const char *name, char *err, size_t n)
{
    if (rc == -1) {
        snprintf(err, n, "%s: cannot open: %s", name, strerror(errno));
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (rc == -2) {
        snprintf(err, n, "%s: out of memory", name);
        return ih_fail(IH_E_NOMEM, "%s", err);
    }
    if (rc > 0) {
        snprintf(err, n, "%s:%d: %s", name, rc, p->msg[0] ? p->msg : "syntax error (expected [section] or key = value)");
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (schema[i].required && !p->seen[i]) {
            snprintf(err, n, "%s: missing required key '%s' in section [%s]", name, schema[i].name,
                     schema[i].section);
            return ih_fail(IH_E_CONFIG, "%s", err);
        }
    }
    if (!strcmp(p->c->backend, "postgres") && !p->c->pg_url[0]) {
        snprintf(err, n, "%s: [store] backend = postgres needs pg_url", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    return IH_OK;
}

static void parser_setup(void)
{
    /* Debian's inih exposes its compile-time options as globals. */
    ini_stop_on_first_error = true;
    ini_allow_inline_comments = false; /* values may contain ';' */
    ini_allow_multiline = false;
    ini_use_stack = false;
    ini_max_line = 4096;
    ini_allow_no_value = false;
}

ih_err ih_conf_load(const char *path, ih_conf *c, char *err, size_t n)
{
    parse_ctx p = {.c = c};
    ih_conf_defaults(c);
    parser_setup();
    errno = 0;
    int rc = ini_parse(path, handler, &p);
    return finish(&p, rc, path, err, n);
}

ih_err ih_conf_parse_string(const char *text, const char *name, ih_conf *c, char *err, size_t n)
{
    parse_ctx p = {.c = c};
    str_reader r = {text};
    ih_conf_defaults(c);
    parser_setup();
    int rc = ini_parse_stream(read_line, &r, handler, &p);
    return finish(&p, rc, name, err, n);
}

ih_err ih_conf_render(const ih_conf *c, char **out)
{
    ih_buf b = IH_BUF_INIT;
    const char *section = "";
    ih_err e = ih_buf_puts(&b, "# ihos instance configuration. Unknown keys are errors.\n");
    for (size_t i = 0; i < NKEYS && e == IH_OK; i++) {
        const key *k = &schema[i];
        if (strcmp(section, k->section)) {
            section = k->section;
            e = ih_buf_printf(&b, "\n[%s]\n", section);
        }
        const char *field = (const char *)c + k->off;
        char val[IH_CONF_PATH + 32];
        switch (k->type) {
        case K_STR:
        case K_ENUM: snprintf(val, sizeof val, "%s", field); break;
        case K_INT: snprintf(val, sizeof val, "%d", *(const int *)field); break;
        case K_BOOL: snprintf(val, sizeof val, "%s", *(const bool *)field ? "true" : "false"); break;
        }
        if (e == IH_OK) e = ih_buf_printf(&b, "# %s\n%s = %s\n", k->help, k->name, val);
    }
    if (e != IH_OK) {
        ih_buf_free(&b);
        return e;
    }
    *out = b.p;
    return IH_OK;
}
