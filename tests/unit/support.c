/* support.c — see support.h. */
#include "support.h"

#include "app/instance.h"
#include "core/err.h"

#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *t_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/ihos-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void t_rmtree(const char *path) { nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static ih_err sql_fn(ih_tx *tx, void *arg)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, (const char *)arg, &st));
    return ih_stmt_exec(st);
}

void t_sql(ih_store *s, const char *sql)
{
    ih_err e = ih_store_write(s, sql_fn, (void *)sql);
    if (e != IH_OK) fail_msg("%s -> %s (%s)", sql, ih_err_name(e), ih_err_detail());
}

typedef struct {
    const char *sql;
    int64_t v;
} int_arg;

static ih_err int_fn(ih_tx *tx, void *arg)
{
    int_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, a->sql, &st));
    IH_TRY(ih_stmt_step(st, &row));
    a->v = row ? ih_col_int(st, 0) : 0;
    return ih_stmt_exec(st);
}

int64_t t_sql_int(ih_store *s, const char *sql)
{
    int_arg a = {sql, 0};
    ih_err e = ih_store_read(s, int_fn, &a);
    if (e != IH_OK) fail_msg("%s -> %s (%s)", sql, ih_err_name(e), ih_err_detail());
    return a.v;
}

static int saved_stderr = -1;
static FILE *captured;

void t_stderr_begin(void)
{
    fflush(stderr);
    captured = tmpfile();
    assert_non_null(captured);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(captured), 2) >= 0);
}

char *t_stderr_end(void)
{
    fflush(stderr);
    assert_true(dup2(saved_stderr, 2) >= 0);
    close(saved_stderr);
    saved_stderr = -1;
    long n = ftell(captured);
    char *out = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    assert_non_null(out);
    rewind(captured);
    if (n > 0 && fread(out, 1, (size_t)n, captured) != (size_t)n) fail_msg("cannot read captured stderr");
    fclose(captured);
    captured = NULL;
    return out;
}

static int db_counter;

static PGconn *admin_conn(void)
{
    const char *ci = getenv("IHOS_TEST_PG");
    if (!ci || !*ci) return NULL;
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to the test cluster: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

char *t_pg_create_db(void)
{
    PGconn *c = admin_conn();
    if (!c) return NULL;
    char name[64], sql[128];
    snprintf(name, sizeof name, "t_%d_%d", (int)getpid(), ++db_counter);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fprintf(stderr, "CREATE DATABASE failed: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok) return NULL;
    const char *ci = getenv("IHOS_TEST_PG");
    size_t n = strlen(ci) + 64;
    char *out = malloc(n);
    snprintf(out, n, "%s dbname=%s", ci, name);
    return out;
}

void t_pg_drop_db(const char *conninfo)
{
    const char *p = strstr(conninfo, "dbname=t_");
    PGconn *c = admin_conn();
    if (!c || !p) {
        if (c) PQfinish(c);
        return;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", p + 7);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

typedef struct {
    ih_store_kind kind;
    char *dir;
    char *conninfo;
} store_ctx;

ih_store *t_store_open(ih_store_kind kind, const ih_migration *m, size_t n, void **ctx)
{
    store_ctx *sc = calloc(1, sizeof *sc);
    sc->kind = kind;
    ih_store_opts o = {.kind = kind, .pool_size = 8, .batch_max = 256, .commit_delay_us = 500}; /* the defaults */
    char path[600];
    if (kind == IH_STORE_SQLITE) {
        sc->dir = t_tempdir();
        snprintf(path, sizeof path, "%s/test.db", sc->dir);
        o.sqlite_path = path;
    } else {
        sc->conninfo = t_pg_create_db();
        if (!sc->conninfo) {
            free(sc);
            fail_msg("PostgreSQL tests need IHOS_TEST_PG (set by 'make test')");
        }
        o.pg_conninfo = sc->conninfo;
    }
    ih_store *s = NULL;
    T_OK(ih_store_open(&o, &s));
    if (m) T_OK(ih_store_migrate(s, m, n));
    *ctx = sc;
    return s;
}

void t_store_close(ih_store *s, void *ctx)
{
    store_ctx *sc = ctx;
    ih_store_close(s);
    if (sc->dir) {
        t_rmtree(sc->dir);
        free(sc->dir);
    }
    if (sc->conninfo) {
        t_pg_drop_db(sc->conninfo);
        free(sc->conninfo);
    }
    free(sc);
}

const char *t_store_location(void *ctx)
{
    store_ctx *sc = ctx;
    static char path[600];
    if (sc->conninfo) return sc->conninfo;
    snprintf(path, sizeof path, "%s/test.db", sc->dir);
    return path;
}

static ih_err base_key_fn(ih_tx *tx, void *arg)
{
    t_base *b = arg;
    int64_t kid;
    return ih_signkey_create(tx, b->kr, "audit", 0, b->key, &kid);
}

void t_base_open(t_base *b, ih_store_kind kind, ih_suite suite, const ih_migration *m, size_t n)
{
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->suite = suite;
    b->s = m ? t_store_open(kind, m, n, &b->ctx) : t_store_open(kind, ih_schema, ih_schema_count, &b->ctx);
    b->dir = t_tempdir();
    snprintf(b->cpfile, sizeof b->cpfile, "%s/checkpoints", b->dir);
    uint8_t kek[32];
    memset(kek, T_KEK_BYTE, sizeof kek);
    T_OK(ih_keyring_new(suite, kek, &b->kr));
    T_OK(ih_keys_bootstrap(b->s, b->kr));
    T_OK(ih_sign_generate(suite, &b->key));
    T_OK(ih_store_write(b->s, base_key_fn, b));
    ih_audit_opts o = {.store = b->s, .suite = suite, .origin = "ihos/test-instance", .signer = b->key,
                       .checkpoint_file = b->cpfile, .utc_offset_minutes = 480};
    T_OK(ih_audit_open(&o, &b->a));
}

void t_base_close(t_base *b)
{
    ih_audit_close(b->a);
    t_store_close(b->s, b->ctx);
    ih_keyring_free(b->kr);
    ih_signkey_free(b->key);
    t_rmtree(b->dir);
    free(b->dir);
    memset(b, 0, sizeof *b);
}

ih_identity_opts t_identity_opts(const t_base *b)
{
    return (ih_identity_opts){.store = b->s, .keys = b->kr, .audit = b->a, .pw = {8, 3, 5, 90, 1},
                              .hash = {2, 19456 * 1024}, .hash_threads = 2, .hash_queue = 64,
                              .lockout_threshold = 5, .lockout_minutes = 30, .ip_failures_per_minute = 1000,
                              .session_idle_minutes = 15, .session_max_hours = 12, .inactive_days = 90,
                              .totp_alg = IH_TOTP_SHA1, .issuer = "ihos-test", .admin_allow = "127.0.0.0/8,::1"};
}
