/* store.c — backend dispatch, shared transaction rules, ids, migrations. */
#include "store/store_impl.h"

#include "core/clock.h"
#include "core/log.h"

#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ih_err ih_store_open(const ih_store_opts *o, ih_store **out)
{
    *out = NULL;
    switch (o->kind) {
    case IH_STORE_SQLITE: return store_sqlite_open(o, out);
    case IH_STORE_PG: return store_pg_open(o, out);
    }
    return ih_fail(IH_E_CONFIG, "unknown store kind");
}

void ih_store_close(ih_store *s)
{
    if (s) s->ops->close(s);
}

ih_store_kind ih_store_kind_of(const ih_store *s) { return s->kind; }
int ih_store_readers(const ih_store *s) { return s->readers; }

void ih_store_get_stats(ih_store *s, ih_store_stats *out)
{
    out->write_txns = atomic_load(&s->write_txns);
    out->write_failed = atomic_load(&s->write_failed);
    out->batches = atomic_load(&s->batches);
    out->read_txns = atomic_load(&s->read_txns);
}

ih_err ih_store_write(ih_store *s, ih_tx_fn fn, void *arg) { return s->ops->write(s, fn, arg); }
ih_err ih_store_snapshot(ih_store *s, const char *path) { return s->ops->snapshot(s, path); }
ih_err ih_store_read(ih_store *s, ih_tx_fn fn, void *arg) { return s->ops->read(s, fn, arg); }
ih_err ih_store_read_one(ih_store *s, ih_tx_fn fn, void *arg) { return s->ops->read_one(s, fn, arg); }
ih_err ih_store_scan(ih_store *s, ih_tx_fn fn, void *arg) { return s->ops->scan(s, fn, arg); }

static ih_err ping_fn(ih_tx *tx, void *arg)
{
    (void)arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    return ih_stmt_exec(st);
}

ih_err ih_store_ping(ih_store *s) { return ih_store_read(s, ping_fn, NULL); }

bool ih_tx_is_pg(const ih_tx *tx) { return tx->store->kind == IH_STORE_PG; }
bool ih_tx_is_write(const ih_tx *tx) { return tx->write; }

ih_err ih_tx_on_rollback(ih_tx *tx, ih_undo_fn fn, void *arg)
{
    tx_undo *u = &tx->undo;
    for (int i = 0; i < u->n; i++)
        if (u->fn[i] == fn && u->arg[i] == arg) return IH_OK;
    if (u->n == IH_TX_UNDO) return store_tx_fail(tx, ih_fail(IH_E_INTERNAL, "too many rollback hooks"));
    u->fn[u->n] = fn;
    u->arg[u->n++] = arg;
    return IH_OK;
}

void ih_tx_note_row(ih_tx *tx, const char *table, int64_t id, int64_t rv)
{
    for (int i = 0; i < tx->nrows; i++) /* the same row again: its newest version */
        if (tx->rows[i].id == id && !strcmp(tx->rows[i].table, table)) {
            tx->rows[i].rv = rv;
            return;
        }
    if (tx->nrows < IH_TX_ROWS) tx->rows[tx->nrows++] = (ih_row_note){table, id, rv};
}

int ih_tx_take_rows(ih_tx *tx, ih_row_note out[IH_TX_ROWS])
{
    int n = tx->nrows;
    memcpy(out, tx->rows, (size_t)n * sizeof *out);
    tx->nrows = 0;
    return n;
}

ih_err ih_tx_before_commit(ih_tx *tx, ih_tx_fn fn, ih_tx_done_fn done, void *arg)
{
    tx_precommit *p = &tx->pre;
    if (p->n == IH_TX_UNDO) {
        if (done) done(arg);
        return store_tx_fail(tx, ih_fail(IH_E_INTERNAL, "too many before-commit hooks"));
    }
    p->fn[p->n] = fn;
    p->done[p->n] = done;
    p->arg[p->n++] = arg;
    return IH_OK;
}

uint64_t ih_tx_physical(const ih_tx *tx) { return tx->physical; }

void *ih_tx_before_commit_arg(const ih_tx *tx, ih_tx_fn fn)
{
    for (int i = tx->pre.n - 1; i >= 0; i--)
        if (tx->pre.fn[i] == fn) return tx->pre.arg[i];
    return NULL;
}

ih_err store_precommit_run(ih_tx *tx)
{
    for (int i = 0; i < tx->pre.n; i++) {
        if (tx->failed) return tx->fail_code;
        ih_err e = tx->pre.fn[i](tx, tx->pre.arg[i]);
        if (e != IH_OK) return store_tx_fail(tx, e);
    }
    return tx->failed ? tx->fail_code : IH_OK;
}

void store_precommit_done(tx_precommit *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->done[i]) p->done[i](p->arg[i]);
    p->n = 0;
}

void store_undo_run(tx_undo *u)
{
    for (int i = u->n - 1; i >= 0; i--) u->fn[i](u->arg[i]);
    u->n = 0;
}

ih_err store_tx_fail(ih_tx *tx, ih_err e)
{
    if (!tx->failed) {
        tx->failed = true;
        tx->fail_code = e;
    }
    return e;
}

ih_err ih_tx_prepare(ih_tx *tx, const char *sql, ih_stmt **out)
{
    if (tx->failed) return tx->fail_code;
    ih_err e = tx->store->ops->prepare(tx, sql, out);
    return e == IH_OK ? e : store_tx_fail(tx, e);
}

ih_tx *ih_stmt_tx(ih_stmt *st) { return st->tx; }

void ih_stmt_int(ih_stmt *st, int idx, int64_t v) { st->tx->store->ops->bind_int(st, idx, v); }

void ih_stmt_text(ih_stmt *st, int idx, const char *s)
{
    if (s) st->tx->store->ops->bind_text(st, idx, s, strlen(s));
    else st->tx->store->ops->bind_null(st, idx);
}

void ih_stmt_textn(ih_stmt *st, int idx, const char *s, size_t n)
{
    st->tx->store->ops->bind_text(st, idx, s, n);
}

void ih_stmt_blob(ih_stmt *st, int idx, const void *p, size_t n)
{
    if (p) st->tx->store->ops->bind_blob(st, idx, p, n);
    else st->tx->store->ops->bind_null(st, idx);
}

void ih_stmt_null(ih_stmt *st, int idx) { st->tx->store->ops->bind_null(st, idx); }

ih_err ih_stmt_step(ih_stmt *st, bool *row)
{
    *row = false;
    if (st->tx->failed) return st->tx->fail_code;
    ih_err e = st->tx->store->ops->step(st, row);
    return e == IH_OK ? e : store_tx_fail(st->tx, e);
}

ih_err ih_stmt_exec(ih_stmt *st)
{
    bool row;
    do {
        IH_TRY(ih_stmt_step(st, &row));
    } while (row);
    return IH_OK;
}

ih_err ih_stmt_exec_later(ih_stmt *st)
{
    if (!st->tx->store->ops->exec_later) return ih_stmt_exec(st);
    if (st->tx->failed) return st->tx->fail_code;
    ih_err e = st->tx->store->ops->exec_later(st);
    return e == IH_OK ? e : store_tx_fail(st->tx, e);
}

int64_t ih_stmt_changes(ih_stmt *st) { return st->tx->store->ops->changes(st); }
bool ih_col_null(ih_stmt *st, int col) { return st->tx->store->ops->col_null(st, col); }
int64_t ih_col_int(ih_stmt *st, int col) { return st->tx->store->ops->col_int(st, col); }
const char *ih_col_text(ih_stmt *st, int col) { return st->tx->store->ops->col_text(st, col); }
const char *ih_col_textn(ih_stmt *st, int col, size_t *n) { return st->tx->store->ops->col_textn(st, col, n); }

const uint8_t *ih_col_blob(ih_stmt *st, int col, size_t *n)
{
    return st->tx->store->ops->col_blob(st, col, n);
}

ih_err ih_tx_next_id(ih_tx *tx, const char *name, int64_t *id) { return tx->store->ops->next_id(tx, name, id); }

ih_err store_next_id_upsert(ih_tx *tx, const char *name, int64_t *id)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO ih_seq(name, value) VALUES ($1, 1) "
                             "ON CONFLICT (name) DO UPDATE SET value = ih_seq.value + 1 "
                             "RETURNING value",
                         &st));
    ih_stmt_text(st, 1, name);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return store_tx_fail(tx, ih_fail(IH_E_STORAGE, "id allocation returned no row"));
    *id = ih_col_int(st, 0);
    return ih_stmt_exec(st);
}

/* ---- migrations ---------------------------------------------------------- */

static const char base_schema[] =
    "CREATE TABLE IF NOT EXISTS ih_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "applied_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ih_seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

char *store_translate_ddl(const char *sql)
{
    size_t n = strlen(sql);
    char *out = malloc(n * 2 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = sql[i];
        if (c == '\'') { /* copy string literals untouched */
            out[o++] = sql[i++];
            while (i < n) {
                out[o++] = sql[i];
                if (sql[i++] == '\'') {
                    if (i < n && sql[i] == '\'') out[o++] = sql[i++];
                    else break;
                }
            }
            continue;
        }
        if (isalpha((unsigned char)c) || c == '_') {
            size_t j = i;
            while (j < n && (isalnum((unsigned char)sql[j]) || sql[j] == '_')) j++;
            size_t len = j - i;
            const char *rep = NULL;
            if (len == 7 && !strncasecmp(sql + i, "INTEGER", 7)) rep = "BIGINT";
            else if (len == 4 && !strncasecmp(sql + i, "BLOB", 4)) rep = "BYTEA";
            else if (len == 7 && !strncasecmp(sql + i, "WITHOUT", 7)) {
                size_t k = j;
                while (k < n && sql[k] == ' ') k++;
                if (!strncasecmp(sql + k, "ROWID", 5)) {
                    i = k + 5;
                    continue;
                }
            }
            if (rep) {
                memcpy(out + o, rep, strlen(rep));
                o += strlen(rep);
            } else {
                memcpy(out + o, sql + i, len);
                o += len;
            }
            i = j;
            continue;
        }
        out[o++] = sql[i++];
    }
    out[o] = '\0';
    return out;
}

static ih_err exec_script(ih_tx *tx, const char *sql)
{
    if (tx->failed) return tx->fail_code;
    ih_err e;
    if (ih_tx_is_pg(tx)) {
        char *t = store_translate_ddl(sql);
        IH_CHECK_ALLOC(t);
        e = tx->store->ops->exec_script(tx, t);
        free(t);
    } else {
        e = tx->store->ops->exec_script(tx, sql);
    }
    return e == IH_OK ? e : store_tx_fail(tx, e);
}

static ih_err base_fn(ih_tx *tx, void *arg)
{
    (void)arg;
    return exec_script(tx, base_schema);
}

typedef struct {
    const ih_migration *m;
    bool applied;
} mig_arg;

static ih_err mig_fn(ih_tx *tx, void *arg)
{
    mig_arg *a = arg;
    ih_stmt *st;
    bool row;
    a->applied = false;
    if (ih_tx_is_pg(tx)) {
        /* Two processes migrating at once: the second waits, then skips. */
        IH_TRY(tx->store->ops->exec_script(tx, "LOCK TABLE ih_schema IN EXCLUSIVE MODE"));
    }
    IH_TRY(ih_tx_prepare(tx, "SELECT 1 FROM ih_schema WHERE version = $1", &st));
    ih_stmt_int(st, 1, a->m->version);
    IH_TRY(ih_stmt_step(st, &row));
    if (row) return IH_OK;
    if (ih_tx_is_pg(tx) && a->m->pg_sql) {
        ih_err e = tx->store->ops->exec_script(tx, a->m->pg_sql);
        if (e != IH_OK) return store_tx_fail(tx, e);
    } else {
        IH_TRY(exec_script(tx, a->m->sql));
    }
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO ih_schema(version, name, applied_at) VALUES ($1, $2, $3)", &st));
    ih_stmt_int(st, 1, a->m->version);
    ih_stmt_text(st, 2, a->m->name);
    ih_stmt_int(st, 3, ih_now_ms());
    IH_TRY(ih_stmt_exec(st));
    a->applied = true;
    return IH_OK;
}

ih_err ih_store_migrate(ih_store *s, const ih_migration *m, size_t n)
{
    IH_TRY(ih_store_write(s, base_fn, NULL));
    for (size_t i = 0; i < n; i++) {
        if (i && m[i].version <= m[i - 1].version)
            return ih_fail(IH_E_INTERNAL, "migrations out of order at %d", m[i].version);
        mig_arg a = {&m[i], false};
        ih_err e = ih_store_write(s, mig_fn, &a);
        if (e != IH_OK) {
            ih_log(IH_LOG_ERROR, "store.migrate_failed", "version", m[i].name, "detail", ih_err_detail(), NULL);
            return e;
        }
        if (a.applied) {
            char v[16];
            snprintf(v, sizeof v, "%d", m[i].version);
            ih_log(IH_LOG_INFO, "store.migrated", "version", v, "name", m[i].name, NULL);
        }
    }
    return IH_OK;
}

typedef struct {
    int v;
} ver_arg;

static ih_err ver_fn(ih_tx *tx, void *arg)
{
    ver_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(max(version), 0) FROM ih_schema", &st));
    IH_TRY(ih_stmt_step(st, &row));
    a->v = row ? (int)ih_col_int(st, 0) : 0;
    return IH_OK;
}

ih_err ih_store_version(ih_store *s, int *version)
{
    ver_arg a = {0};
    IH_TRY(ih_store_write(s, base_fn, NULL));
    IH_TRY(ih_store_read(s, ver_fn, &a));
    *version = a.v;
    return IH_OK;
}
