/* journal.c — appending events (see audit.h).
 * L3 8.1.4.3a/b (who, what, when, outcome), 8.1.4.3c/d (append only, cannot
 * be switched off), DESIGN invariant 1 (same transaction, fail closed). */
#include "audit/audit_impl.h"

#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void audit_entry(ih_canon *c, const audit_row *r)
{
    ih_canon_text(c, "ihos-audit-v1");
    ih_canon_int(c, r->seq);
    ih_canon_int(c, r->ts);
    ih_canon_int(c, r->tz);
    if (r->has_actor) ih_canon_int(c, r->actor_id);
    else ih_canon_text(c, NULL);
    ih_canon_text(c, r->role);
    ih_canon_text(c, r->session);
    ih_canon_text(c, r->ip);
    ih_canon_text(c, r->request_id);
    ih_canon_text(c, r->action);
    ih_canon_text(c, r->object_type);
    ih_canon_text(c, r->object_id);
    ih_canon_text(c, r->outcome);
    ih_canon_text(c, r->error_code);
    ih_canon_text(c, r->reason);
    ih_canon_blob(c, r->prev, IH_HASH_LEN);
}

static const char *nz(ih_stmt *st, int col) { return ih_col_null(st, col) ? NULL : ih_col_text(st, col); }

void audit_row_from(ih_stmt *st, audit_row *r)
{
    r->seq = ih_col_int(st, 0);
    r->ts = ih_col_int(st, 1);
    r->tz = ih_col_int(st, 2);
    r->has_actor = !ih_col_null(st, 3);
    r->actor_id = ih_col_int(st, 3);
    r->role = nz(st, 4);
    r->session = nz(st, 5);
    r->ip = nz(st, 6);
    r->request_id = nz(st, 7);
    r->action = nz(st, 8);
    r->object_type = nz(st, 9);
    r->object_id = nz(st, 10);
    r->outcome = nz(st, 11);
    r->error_code = nz(st, 12);
    r->reason = nz(st, 13);
    size_t n;
    const uint8_t *p = ih_col_blob(st, 14, &n);
    if (p && n == IH_HASH_LEN) memcpy(r->prev, p, IH_HASH_LEN);
    else memset(r->prev, 0xff, IH_HASH_LEN); /* malformed: can never match */
}

typedef struct {
    ih_tx *tx;
} node_ctx;

static ih_err store_node(void *ctx, int level, uint64_t index, const uint8_t h[IH_HASH_LEN])
{
    node_ctx *n = ctx;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(n->tx, "INSERT INTO audit_node(lvl, idx, hash) VALUES ($1, $2, $3)", &st));
    ih_stmt_int(st, 1, level);
    ih_stmt_int(st, 2, (int64_t)index);
    ih_stmt_blob(st, 3, h, IH_HASH_LEN);
    return ih_stmt_exec(st);
}

static ih_err append(ih_audit *a, ih_tx *tx, const ih_actor *who, const ih_audit_event *ev)
{
    if (!ev->action || !*ev->action) return ih_fail(IH_E_INTERNAL, "audit event without an action");
    ih_stmt *st;
    bool row;
    /* The head row serialises appends (SQLite has one writer anyway; on
     * PostgreSQL concurrent transactions queue on this row lock). */
    IH_TRY(ih_tx_prepare(tx, ih_tx_is_pg(tx) ? "SELECT size, last_hash, frontier FROM audit_head WHERE id = 1 FOR UPDATE"
                                             : "SELECT size, last_hash, frontier FROM audit_head WHERE id = 1",
                         &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_fail(IH_E_INTEGRITY, "audit head missing");
    audit_row r = {0};
    ih_frontier f;
    size_t n, fn;
    r.seq = ih_col_int(st, 0);
    const uint8_t *last = ih_col_blob(st, 1, &n);
    const uint8_t *fr = ih_col_blob(st, 2, &fn);
    if (n != IH_HASH_LEN || ih_frontier_decode(&f, (uint64_t)r.seq, fr, fn) != 0)
        return ih_fail(IH_E_INTEGRITY, "audit head damaged");
    memcpy(r.prev, last, IH_HASH_LEN);
    IH_TRY(ih_stmt_exec(st));

    char sess[24];
    r.ts = ih_now_ms();
    r.tz = a->o.utc_offset_minutes;
    r.has_actor = true;
    r.actor_id = who ? who->id : 0;
    r.role = who && who->role ? who->role : "system";
    if (who && who->session) {
        snprintf(sess, sizeof sess, "%.16s", who->session);
        r.session = sess;
    }
    r.ip = who ? who->ip : NULL;
    r.request_id = who ? who->request_id : NULL;
    r.action = ev->action;
    r.object_type = ev->object_type;
    r.object_id = ev->object_id;
    r.outcome = ev->result == IH_OK ? "success" : "failure";
    r.error_code = ev->result == IH_OK ? NULL : ih_err_name(ev->result);
    r.reason = ev->reason;

    ih_canon c = {0};
    audit_entry(&c, &r);
    uint8_t leaf[IH_HASH_LEN];
    ih_err e = c.err == IH_OK ? ih_merkle_leaf(a->md, c.b.p, c.b.len, leaf) : c.err;
    ih_canon_free(&c);
    IH_TRY(e);

    IH_TRY(ih_tx_prepare(tx, "INSERT INTO audit_event(" AUDIT_ROW_COLUMNS ") VALUES "
                             "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0)",
                         &st));
    ih_stmt_int(st, 1, r.seq);
    ih_stmt_int(st, 2, r.ts);
    ih_stmt_int(st, 3, r.tz);
    ih_stmt_int(st, 4, r.actor_id);
    ih_stmt_text(st, 5, r.role);
    ih_stmt_text(st, 6, r.session);
    ih_stmt_text(st, 7, r.ip);
    ih_stmt_text(st, 8, r.request_id);
    ih_stmt_text(st, 9, r.action);
    ih_stmt_text(st, 10, r.object_type);
    ih_stmt_text(st, 11, r.object_id);
    ih_stmt_text(st, 12, r.outcome);
    ih_stmt_text(st, 13, r.error_code);
    ih_stmt_text(st, 14, r.reason);
    ih_stmt_blob(st, 15, r.prev, IH_HASH_LEN);
    ih_stmt_blob(st, 16, leaf, IH_HASH_LEN);
    IH_TRY(ih_stmt_exec(st));

    node_ctx nc = {tx};
    IH_TRY(ih_frontier_append(a->md, &f, leaf, store_node, &nc));
    uint8_t enc[IH_MERKLE_MAX_DEPTH * IH_HASH_LEN];
    ih_frontier_encode(&f, enc, &fn);
    IH_TRY(ih_tx_prepare(tx, "UPDATE audit_head SET size = $1, last_hash = $2, frontier = $3 WHERE id = 1", &st));
    ih_stmt_int(st, 1, (int64_t)f.size);
    ih_stmt_blob(st, 2, leaf, IH_HASH_LEN);
    ih_stmt_blob(st, 3, enc, fn);
    IH_TRY(ih_stmt_exec(st));
    uint64_t n_app = atomic_fetch_add(&a->appended, 1) + 1;
    if (n_app % (uint64_t)a->o.max_events == 0) pthread_cond_signal(&a->cv); /* wake the checkpointer */
    return IH_OK;
}

ih_err ih_audit_append(ih_audit *a, ih_tx *tx, const ih_actor *who, const ih_audit_event *ev)
{
    ih_err_text saved;
    ih_err_save(&saved); /* keep the caller's client message, if any */
    ih_err e = append(a, tx, who, ev);
    if (e == IH_OK) {
        ih_err_load(&saved);
        return IH_OK;
    }
    ih_log(IH_LOG_ERROR, "audit.append_failed", "action", ev->action, "detail", ih_err_detail(), NULL);
    ih_err_clear();
    return ih_fail(IH_E_AUDIT, "audit append failed");
}

typedef struct {
    ih_audit *a;
    const ih_actor *who;
    const ih_audit_event *ev;
} record_arg;

static ih_err record_fn(ih_tx *tx, void *arg)
{
    record_arg *r = arg;
    return ih_audit_append(r->a, tx, r->who, r->ev);
}

ih_err ih_audit_record(ih_audit *a, const ih_actor *who, const ih_audit_event *ev)
{
    record_arg r = {a, who, ev};
    return ih_store_write(a->o.store, record_fn, &r);
}
