/* query.c — reading the journal for the auditadmin API (see audit.h).
 * L3 8.1.4.3c: records queryable for the whole retention period. */
#include "audit/audit_impl.h"

#include "core/clock.h"

#include <jansson.h>
#include <string.h>

int64_t audit_query_walk = AUDIT_QUERY_WALK;

typedef struct {
    const ih_audit_filter *f;
    json_t *out;
    int64_t next; /* where the next page starts (after_seq / before_seq), or -1 */
} q_arg;

static json_t *sj(slice s) { return s.p ? json_stringn(s.p, s.n) : json_null(); }

/* One event of a row selected as AUDIT_EVENT_SELECT: shown from the hashed
 * entry, never from the filter columns. */
static json_t *event_json(ih_stmt *st)
{
    bool purged = ih_col_int(st, 9) != 0;
    json_t *ev = json_pack("{s:I, s:b}", "seq", (json_int_t)ih_col_int(st, 0), "archived", purged);
    size_t en;
    const uint8_t *entry = ih_col_blob(st, 7, &en);
    audit_view v;
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
    return ev;
}

/* The one value sql (with v bound as $1) gives; *none when it is NULL. */
static ih_err seq_bound(ih_tx *tx, const char *sql, int64_t v, int64_t *seq, bool *none)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, sql, &st));
    ih_stmt_int(st, 1, v);
    IH_TRY(ih_stmt_step(st, &row));
    *none = !row || ih_col_null(st, 0);
    *seq = *none ? 0 : ih_col_int(st, 0);
    return ih_stmt_exec(st);
}

/* Only the filters given go into the statement (its text from fixed pieces,
 * every value bound), so the planner can take the journal's object or actor
 * index instead of walking every event from the first; `from` starts the
 * walk at the least seq of the events since then, exactly (none since has
 * a lower one).  A query no index serves (by action, outcome or time alone)
 * walks at most audit_query_walk events: a page that ends there says where
 * the next one starts, however few events matched, so no request outlasts
 * a proxy's timeout on a journal of years.  Newest first, the walk starts
 * at the journal's end (or before_seq) and goes back. */
static ih_err query_fn(ih_tx *tx, void *arg)
{
    q_arg *q = arg;
    const ih_audit_filter *f = q->f;
    q->next = -1;
    q->out = json_array();
    IH_CHECK_ALLOC(q->out);
    int64_t lo = f->after_seq, hi = f->before_seq > 0 ? f->before_seq - 1 : INT64_MAX; /* seq in (lo, hi] */
    bool none;
    if (f->from_ms) {
        /* seq + 0: through the time index (the range), not the key from the
         * first event on, where both planners would look for a minimum */
        int64_t first;
        IH_TRY(seq_bound(tx, "SELECT min(seq + 0) FROM audit_event WHERE ts >= $1", f->from_ms, &first, &none));
        if (none) return IH_OK; /* nothing since then */
        if (first - 1 > lo) lo = first - 1;
    }
    bool walk = f->actor_id < 0 && !f->object_type;
    if (walk && f->newest_first && hi == INT64_MAX) { /* from the journal's end */
        IH_TRY(seq_bound(tx, "SELECT max(seq) FROM audit_event WHERE seq > $1", lo, &hi, &none));
        if (none) return IH_OK;
    }
    if (hi <= lo) return IH_OK;
    int64_t wlo = lo, whi = hi; /* what this call walks: (wlo, whi] */
    if (walk && (uint64_t)hi - (uint64_t)lo > (uint64_t)audit_query_walk) { /* lo may be -1 */
        if (f->newest_first) wlo = hi - audit_query_walk;
        else whi = lo + audit_query_walk;
    }
    char sql[512];
    int n = 1, len = snprintf(sql, sizeof sql, "SELECT " AUDIT_EVENT_SELECT " FROM audit_event WHERE seq > $1");
#define COND(test, text) \
    if (test) len += snprintf(sql + len, sizeof sql - (size_t)len, " AND " text " $%d", ++n)
    COND(whi < INT64_MAX, "seq <=");
    COND(f->from_ms, "ts >=");
    COND(f->to_ms, "ts <");
    COND(f->actor_id >= 0, "actor_id =");
    COND(f->action, "action =");
    COND(f->object_type, "object_type =");
    COND(f->object_id, "object_id =");
    COND(f->outcome, "outcome =");
#undef COND
    snprintf(sql + len, sizeof sql - (size_t)len, " ORDER BY seq%s LIMIT $%d", f->newest_first ? " DESC" : "", n + 1);
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, sql, &st));
    int k = 1;
    ih_stmt_int(st, k++, wlo);
    if (whi < INT64_MAX) ih_stmt_int(st, k++, whi);
    if (f->from_ms) ih_stmt_int(st, k++, f->from_ms);
    if (f->to_ms) ih_stmt_int(st, k++, f->to_ms);
    if (f->actor_id >= 0) ih_stmt_int(st, k++, f->actor_id);
    if (f->action) ih_stmt_text(st, k++, f->action);
    if (f->object_type) ih_stmt_text(st, k++, f->object_type);
    if (f->object_id) ih_stmt_text(st, k++, f->object_id);
    if (f->outcome) ih_stmt_text(st, k++, f->outcome);
    ih_stmt_int(st, k, f->limit);
    int got = 0;
    int64_t last = -1;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        last = ih_col_int(st, 0);
        got++;
        json_t *ev = event_json(st);
        if (ev) json_array_append_new(q->out, ev);
    }
    IH_TRY(e);
    int64_t beyond;
    if (got == f->limit) {
        q->next = last;
    } else if (whi < hi) { /* the walk stopped at whi: are there events after it? */
        IH_TRY(seq_bound(tx, "SELECT min(seq) FROM audit_event WHERE seq > $1", whi, &beyond, &none));
        if (!none && beyond <= hi) q->next = whi;
    } else if (wlo > lo) { /* newest first, it stopped above wlo: events at or below it? */
        IH_TRY(seq_bound(tx, "SELECT max(seq) FROM audit_event WHERE seq <= $1", wlo, &beyond, &none));
        if (!none && beyond > lo) q->next = wlo + 1;
    }
    return IH_OK;
}

ih_err ih_audit_query(ih_store *s, const ih_audit_filter *f, json_t **events, int64_t *next)
{
    q_arg q = {f, NULL, -1};
    ih_err e = ih_store_read(s, query_fn, &q);
    if (e == IH_OK) {
        *events = q.out;
        if (next) *next = q.next;
    } else {
        json_decref(q.out);
    }
    return e;
}

typedef struct {
    const char *object_type, *action;
    int64_t since;
    int limit;
    json_t *out;
} obj_arg;

static ih_err object_fn(ih_tx *tx, void *arg)
{
    obj_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT " AUDIT_EVENT_SELECT " FROM audit_event WHERE object_type = $1 AND action = $2 "
                             "AND outcome = 'success' AND ts >= $3 ORDER BY seq DESC LIMIT $4",
                         &st));
    ih_stmt_text(st, 1, a->object_type);
    ih_stmt_text(st, 2, a->action);
    ih_stmt_int(st, 3, a->since);
    ih_stmt_int(st, 4, a->limit);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        json_t *ev = event_json(st);
        if (ev) json_array_append_new(a->out, ev);
    }
    return e;
}

ih_err ih_audit_object_events(ih_store *s, const char *object_type, const char *action, int64_t since_ms, int limit,
                              json_t **events)
{
    obj_arg a = {object_type, action, since_ms, limit, json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_read(s, object_fn, &a);
    if (e == IH_OK) *events = a.out;
    else json_decref(a.out);
    return e;
}

typedef struct {
    int64_t after, before;
    bool newest_first;
    int limit;
    json_t *out;
} cp_arg;

static ih_err cp_fn(ih_tx *tx, void *arg)
{
    cp_arg *c = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
#define CP_SELECT "SELECT size, root, note, created_at FROM audit_checkpoint WHERE size > $1 AND size < $2 ORDER BY size"
    IH_TRY(ih_tx_prepare(tx, c->newest_first ? CP_SELECT " DESC LIMIT $3" : CP_SELECT " LIMIT $3", &st));
#undef CP_SELECT
    ih_stmt_int(st, 1, c->after);
    ih_stmt_int(st, 2, c->before > 0 ? c->before : INT64_MAX);
    ih_stmt_int(st, 3, c->limit);
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

ih_err ih_audit_list_checkpoints(ih_store *s, int64_t after_size, int64_t before_size, bool newest_first, int limit,
                                 json_t **out)
{
    cp_arg c = {after_size, before_size, newest_first, limit, NULL};
    ih_err e = ih_store_read(s, cp_fn, &c);
    if (e == IH_OK) *out = c.out;
    else json_decref(c.out);
    return e;
}
