/* lease.c — see lease.h. */
#include "store/lease.h"

#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The database's clock (PostgreSQL), or this process's (SQLite: one node). */
static ih_err db_now(ih_tx *tx, int64_t *now)
{
    if (!ih_tx_is_pg(tx)) {
        *now = ih_now_ms();
        return IH_OK;
    }
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint", &st));
    IH_TRY(ih_stmt_step(st, &row));
    *now = row ? ih_col_int(st, 0) : ih_now_ms();
    return ih_stmt_exec(st);
}

typedef struct {
    ih_lease *l;
    bool changed; /* the holder changed to us */
} take_arg;

static ih_err take_fn(ih_tx *tx, void *arg)
{
    take_arg *a = arg;
    ih_lease *l = a->l;
    l->held = false;
    a->changed = false;
    int64_t now;
    IH_TRY(db_now(tx, &now));
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx,
                         ih_tx_is_pg(tx)
                             ? "SELECT holder, token, expires_at, position FROM lease WHERE name = $1 FOR UPDATE"
                             : "SELECT holder, token, expires_at, position FROM lease WHERE name = $1",
                         &st));
    ih_stmt_text(st, 1, l->name);
    IH_TRY(ih_stmt_step(st, &row));
    char holder[128] = "";
    int64_t token = 0, expires = 0, position = 0;
    if (row) {
        snprintf(holder, sizeof holder, "%s", ih_col_text(st, 0) ? ih_col_text(st, 0) : "");
        token = ih_col_int(st, 1);
        expires = ih_col_int(st, 2);
        position = ih_col_null(st, 3) ? 0 : ih_col_int(st, 3);
    }
    IH_TRY(ih_stmt_exec(st));
    /* someone else's, still live — on PostgreSQL.  An SQLite instance is
     * one ihosd's alone: another holder there is an earlier run of it that
     * was killed before it could let go (its checkpoints, its jobs), and
     * waiting out its lease would only leave the work undone. */
    if (row && strcmp(holder, l->holder) && expires > now && ih_tx_is_pg(tx)) return IH_OK;
    int64_t new_token = row && !strcmp(holder, l->holder) ? token : token + 1;
    IH_TRY(ih_tx_prepare(tx,
                         "INSERT INTO lease(name, holder, token, expires_at, acquired_at, position) "
                         "VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                         "token = excluded.token, expires_at = excluded.expires_at, acquired_at = CASE WHEN "
                         "lease.holder = excluded.holder THEN lease.acquired_at ELSE excluded.acquired_at END",
                         &st));
    ih_stmt_text(st, 1, l->name);
    ih_stmt_text(st, 2, l->holder);
    ih_stmt_int(st, 3, new_token);
    ih_stmt_int(st, 4, now + l->ttl_ms);
    ih_stmt_int(st, 5, now);
    IH_TRY(ih_stmt_exec(st));
    a->changed = !row || strcmp(holder, l->holder) || l->token != new_token;
    l->held = true;
    l->token = new_token;
    l->expires_at = now + l->ttl_ms;
    l->position = position;
    return IH_OK;
}

ih_err ih_lease_take(ih_store *s, ih_lease *l)
{
    bool was = l->held;
    take_arg a = {l, false};
    ih_err e = ih_store_write(s, take_fn, &a);
    if (e == IH_E_EXISTS || e == IH_E_BUSY) { /* another node inserted or updated it first */
        ih_err_clear();
        l->held = false;
        e = IH_OK;
    }
    if (e != IH_OK) l->held = false;
    if (l->held && (a.changed || !was)) {
        char tok[24];
        snprintf(tok, sizeof tok, "%lld", (long long)l->token);
        ih_log(IH_LOG_INFO, "lease.taken", "lease", l->name, "holder", l->holder, "token", tok, NULL);
    } else if (was && !l->held) {
        ih_log(IH_LOG_WARN, "lease.lost", "lease", l->name, "holder", l->holder, NULL);
    }
    return e;
}

ih_err ih_lease_check(ih_tx *tx, const ih_lease *l)
{
    if (!l->held) return ih_fail(IH_E_STATE, "lease %s is not held", l->name);
    int64_t now;
    IH_TRY(db_now(tx, &now));
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT holder, token, expires_at FROM lease WHERE name = $1", &st));
    ih_stmt_text(st, 1, l->name);
    IH_TRY(ih_stmt_step(st, &row));
    bool ours = row && ih_col_text(st, 0) && !strcmp(ih_col_text(st, 0), l->holder) && ih_col_int(st, 1) == l->token &&
                ih_col_int(st, 2) > now;
    IH_TRY(ih_stmt_exec(st));
    if (!ours) return ih_fail(IH_E_STATE, "lease %s was taken by another node", l->name);
    return IH_OK;
}

typedef struct {
    ih_lease *l;
    int64_t position;
} pos_arg;

static ih_err pos_fn(ih_tx *tx, void *arg)
{
    pos_arg *a = arg;
    IH_TRY(ih_lease_check(tx, a->l));
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE lease SET position = $2 WHERE name = $1", &st));
    ih_stmt_text(st, 1, a->l->name);
    ih_stmt_int(st, 2, a->position);
    return ih_stmt_exec(st);
}

ih_err ih_lease_save_position(ih_store *s, ih_lease *l, int64_t position)
{
    pos_arg a = {l, position};
    IH_TRY(ih_store_write(s, pos_fn, &a));
    l->position = position;
    return IH_OK;
}

static ih_err release_fn(ih_tx *tx, void *arg)
{
    ih_lease *l = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE lease SET expires_at = 0 WHERE name = $1 AND holder = $2 AND token = $3", &st));
    ih_stmt_text(st, 1, l->name);
    ih_stmt_text(st, 2, l->holder);
    ih_stmt_int(st, 3, l->token);
    return ih_stmt_exec(st);
}

void ih_lease_release(ih_store *s, ih_lease *l)
{
    if (!l->held) return;
    if (ih_store_write(s, release_fn, l) != IH_OK) ih_err_clear();
    l->held = false;
}

void ih_lease_node_name(const char *configured, char *out, size_t n)
{
    if (configured && *configured) {
        snprintf(out, n, "%s", configured);
        return;
    }
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(out, n, "%s/%d", host, (int)getpid());
}
