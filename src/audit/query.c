/* query.c — reading the journal for the auditadmin API (see audit.h).
 * L3 8.1.4.3c: records queryable for the whole retention period. */
#include "audit/audit_impl.h"

#include "core/clock.h"

#include <jansson.h>
#include <string.h>

typedef struct {
    const ih_audit_filter *f;
    json_t *out;
} q_arg;

static json_t *sj(slice s) { return s.p ? json_stringn(s.p, s.n) : json_null(); }

static ih_err query_fn(ih_tx *tx, void *arg)
{
    q_arg *q = arg;
    const ih_audit_filter *f = q->f;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx,
                         "SELECT " AUDIT_EVENT_SELECT " FROM audit_event WHERE seq > $1 "
                         "AND (CAST($2 AS BIGINT) IS NULL OR ts >= $2) AND (CAST($3 AS BIGINT) IS NULL OR ts < $3) "
                         "AND (CAST($4 AS BIGINT) IS NULL OR actor_id = $4) "
                         "AND (CAST($5 AS TEXT) IS NULL OR action = $5) "
                         "AND (CAST($6 AS TEXT) IS NULL OR object_type = $6) "
                         "AND (CAST($7 AS TEXT) IS NULL OR object_id = $7) "
                         "AND (CAST($8 AS TEXT) IS NULL OR outcome = $8) ORDER BY seq LIMIT $9",
                         &st));
    ih_stmt_int(st, 1, f->after_seq);
    if (f->from_ms) ih_stmt_int(st, 2, f->from_ms);
    else ih_stmt_null(st, 2);
    if (f->to_ms) ih_stmt_int(st, 3, f->to_ms);
    else ih_stmt_null(st, 3);
    if (f->actor_id >= 0) ih_stmt_int(st, 4, f->actor_id);
    else ih_stmt_null(st, 4);
    ih_stmt_text(st, 5, f->action);
    ih_stmt_text(st, 6, f->object_type);
    ih_stmt_text(st, 7, f->object_id);
    ih_stmt_text(st, 8, f->outcome);
    ih_stmt_int(st, 9, f->limit);
    q->out = json_array();
    IH_CHECK_ALLOC(q->out);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        bool purged = ih_col_int(st, 9) != 0;
        json_t *ev = json_pack("{s:I, s:b}", "seq", (json_int_t)ih_col_int(st, 0), "archived", purged);
        size_t en;
        const uint8_t *entry = ih_col_blob(st, 7, &en);
        audit_view v;
        /* Shown from the hashed entry, never from the filter columns. */
        if (!purged && entry && audit_entry_parse(entry, en, &v) == 0) {
            char when[32];
            ih_time_iso(v.ts, when, sizeof when);
            json_object_set_new(ev, "time", json_string(when));
            json_object_set_new(ev, "tz_offset_minutes", json_integer(v.tz));
            json_object_set_new(ev, "actor_id", v.has_actor ? json_integer(v.actor_id) : json_null());
            json_object_set_new(ev, "actor_role", sj(v.role));
            json_object_set_new(ev, "session", sj(v.session));
            json_object_set_new(ev, "ip", sj(v.ip));
            json_object_set_new(ev, "request_id", sj(v.request_id));
            json_object_set_new(ev, "action", sj(v.action));
            json_object_set_new(ev, "object_type", sj(v.object_type));
            json_object_set_new(ev, "object_id", sj(v.object_id));
            json_object_set_new(ev, "outcome", sj(v.outcome));
            json_object_set_new(ev, "error_code", sj(v.error_code));
            json_object_set_new(ev, "reason", sj(v.reason));
            if (v.format >= 2) json_object_set_new(ev, "rows", sj(v.rows));
        } else if (!purged) {
            json_object_set_new(ev, "malformed", json_true());
        }
        json_array_append_new(q->out, ev);
    }
    return e;
}

ih_err ih_audit_query(ih_store *s, const ih_audit_filter *f, json_t **events)
{
    q_arg q = {f, NULL};
    ih_err e = ih_store_read(s, query_fn, &q);
    if (e == IH_OK) *events = q.out;
    else json_decref(q.out);
    return e;
}

typedef struct {
    int64_t after;
    int limit;
    json_t *out;
} cp_arg;

static ih_err cp_fn(ih_tx *tx, void *arg)
{
    cp_arg *c = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT size, root, note, created_at FROM audit_checkpoint WHERE size > $1 "
                             "ORDER BY size LIMIT $2", &st));
    ih_stmt_int(st, 1, c->after);
    ih_stmt_int(st, 2, c->limit);
    c->out = json_array();
    IH_CHECK_ALLOC(c->out);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        size_t n;
        const uint8_t *root = ih_col_blob(st, 1, &n);
        char b64[64] = "";
        if (root && n == IH_HASH_LEN) ih_b64_encode(root, n, b64);
        char when[32];
        ih_time_iso(ih_col_int(st, 3), when, sizeof when);
        json_array_append_new(c->out, json_pack("{s:I, s:s, s:s, s:s}", "size", (json_int_t)ih_col_int(st, 0), "root",
                                                b64, "note", ih_col_text(st, 2), "created", when));
    }
    return e;
}

ih_err ih_audit_list_checkpoints(ih_store *s, int64_t after_size, int limit, json_t **out)
{
    cp_arg c = {after_size, limit, NULL};
    ih_err e = ih_store_read(s, cp_fn, &c);
    if (e == IH_OK) *out = c.out;
    else json_decref(c.out);
    return e;
}
