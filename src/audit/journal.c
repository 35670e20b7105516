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
    ih_canon_text(c, r->format >= 2 ? "ihos-audit-v2" : "ihos-audit-v1");
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
    if (r->format >= 2) ih_canon_text(c, r->rows);
    ih_canon_blob(c, r->prev, IH_HASH_LEN);
}

enum { T_NULL = 0, T_TEXT = 1, T_INT = 2, T_BLOB = 3 };

typedef struct {
    const uint8_t *p, *end;
} cursor;

static int item(cursor *c, int *type, const uint8_t **data, size_t *len)
{
    if (c->end - c->p < 5) return -1;
    *type = c->p[0];
    *len = (size_t)c->p[1] << 24 | (size_t)c->p[2] << 16 | (size_t)c->p[3] << 8 | c->p[4];
    c->p += 5;
    if ((size_t)(c->end - c->p) < *len) return -1;
    *data = c->p;
    c->p += *len;
    return 0;
}

static int get_int(cursor *c, int64_t *v, bool *is_null)
{
    int t;
    const uint8_t *d;
    size_t n;
    if (item(c, &t, &d, &n) != 0) return -1;
    if (is_null && t == T_NULL && n == 0) {
        *is_null = true;
        *v = 0;
        return 0;
    }
    if (t != T_INT || n != 8) return -1;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x = x << 8 | d[i];
    *v = (int64_t)x;
    if (is_null) *is_null = false;
    return 0;
}

static int get_text(cursor *c, slice *s)
{
    int t;
    const uint8_t *d;
    size_t n;
    if (item(c, &t, &d, &n) != 0) return -1;
    if (t == T_NULL && n == 0) {
        s->p = NULL;
        s->n = 0;
        return 0;
    }
    if (t != T_TEXT || memchr(d, 0, n)) return -1;
    s->p = (const char *)d;
    s->n = n;
    return 0;
}

int audit_entry_parse(const uint8_t *p, size_t n, audit_view *v)
{
    cursor c = {p, p + n};
    slice magic;
    bool actor_null;
    if (get_text(&c, &magic) || !magic.p || magic.n != 13 || memcmp(magic.p, "ihos-audit-v", 12) ||
        (magic.p[12] != '1' && magic.p[12] != '2'))
        return -1;
    v->format = magic.p[12] - '0';
    if (get_int(&c, &v->seq, NULL) || get_int(&c, &v->ts, NULL) || get_int(&c, &v->tz, NULL) ||
        get_int(&c, &v->actor_id, &actor_null))
        return -1;
    v->has_actor = !actor_null;
    slice *texts[] = {&v->role, &v->session, &v->ip, &v->request_id, &v->action, &v->object_type,
                      &v->object_id, &v->outcome, &v->error_code, &v->reason};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (get_text(&c, texts[i])) return -1;
    v->rows = (slice){NULL, 0};
    if (v->format >= 2 && get_text(&c, &v->rows)) return -1;
    int t;
    const uint8_t *d;
    size_t len;
    if (item(&c, &t, &d, &len) || t != T_BLOB || len != IH_HASH_LEN || c.p != c.end) return -1;
    v->prev = d;
    return 0;
}

static const char *copy_slice(slice s, char **scratch)
{
    if (!s.p) return NULL;
    char *out = *scratch;
    memcpy(out, s.p, s.n);
    out[s.n] = '\0';
    *scratch += s.n + 1;
    return out;
}

void audit_view_row(const audit_view *v, char *scratch, audit_row *r)
{
    r->format = v->format;
    r->seq = v->seq;
    r->ts = v->ts;
    r->tz = v->tz;
    r->actor_id = v->actor_id;
    r->has_actor = v->has_actor;
    r->role = copy_slice(v->role, &scratch);
    r->session = copy_slice(v->session, &scratch);
    r->ip = copy_slice(v->ip, &scratch);
    r->request_id = copy_slice(v->request_id, &scratch);
    r->action = copy_slice(v->action, &scratch);
    r->object_type = copy_slice(v->object_type, &scratch);
    r->object_id = copy_slice(v->object_id, &scratch);
    r->outcome = copy_slice(v->outcome, &scratch);
    r->error_code = copy_slice(v->error_code, &scratch);
    r->reason = copy_slice(v->reason, &scratch);
    r->rows = copy_slice(v->rows, &scratch);
    memcpy(r->prev, v->prev, IH_HASH_LEN);
}

bool slice_eq(ih_stmt *st, int col, slice s)
{
    size_t n;
    const char *v = ih_col_textn(st, col, &n);
    if (!s.p || !v) return !s.p && !v;
    return n == s.n && memcmp(v, s.p, n) == 0;
}

int audit_row_load(ih_stmt *st, char *scratch, size_t cap, audit_row *r)
{
    size_t n;
    const uint8_t *e = ih_col_blob(st, 7, &n);
    audit_view v;
    if (!e || n + 16 > cap || audit_entry_parse(e, n, &v) != 0) return -1;
    audit_view_row(&v, scratch, r);
    return 0;
}

/* The last event's seq and leaf hash (seq -1 and zeros for an empty journal). */
static ih_err read_last(ih_tx *tx, int64_t *seq, uint8_t leaf[IH_HASH_LEN])
{
    ih_stmt *st;
    bool row;
    if (ih_tx_is_pg(tx)) {
        /* Appends are serialised by a lock held until commit, so sequence
         * numbers become visible in order and without gaps.  In a group
         * commit's hooks the lock goes out with the tail's select below, in
         * one round trip (ih_stmt_exec_later; the select runs after it, with
         * a snapshot taken once the lock is held). */
        IH_TRY(ih_tx_prepare(tx, "SELECT pg_advisory_xact_lock(7361707401)", &st));
        IH_TRY(ih_stmt_exec_later(st));
    }
    IH_TRY(ih_tx_prepare(tx, "SELECT seq, leaf_hash FROM audit_event ORDER BY seq DESC LIMIT 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    *seq = -1;
    memset(leaf, 0, IH_HASH_LEN);
    if (row) {
        size_t n;
        const uint8_t *l = ih_col_blob(st, 1, &n);
        if (!l || n != IH_HASH_LEN) return ih_fail(IH_E_INTEGRITY, "last audit event has no leaf hash");
        *seq = ih_col_int(st, 0);
        memcpy(leaf, l, IH_HASH_LEN);
    }
    return ih_stmt_exec(st);
}

/* A rolled-back append took its event with it: the cached tail no longer
 * names the last committed event, so the next append reads it again. */
static void forget_tail(void *arg) { ((ih_audit *)arg)->last_valid = false; }

/* "table:id:version,…" of the rows noted in tx since the last event. */
static void rows_text(const ih_row_note *n, int k, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < k && len < cap; i++) {
        int w = snprintf(out + len, cap - len, "%s%s:%lld:%lld", i ? "," : "", n[i].table, (long long)n[i].id,
                         (long long)n[i].rv);
        if (w < 0 || (size_t)w >= cap - len) { /* cannot happen at IH_TX_ROWS notes; never cut one in half */
            out[len] = '\0';
            break;
        }
        len += (size_t)w;
    }
}

/* The versions an event names, copied where loads can look them up. */
static ih_err insert_versions(ih_tx *tx, int64_t seq, const ih_row_note *n, int k, bool later)
{
    for (int i = 0; i < k; i++) {
        ih_stmt *st;
        IH_TRY(ih_tx_prepare(tx, "INSERT INTO audit_version(tbl, row_id, rv, seq) VALUES ($1, $2, $3, $4)", &st));
        ih_stmt_text(st, 1, n[i].table);
        ih_stmt_int(st, 2, n[i].id);
        ih_stmt_int(st, 3, n[i].rv);
        ih_stmt_int(st, 4, seq);
        IH_TRY(later ? ih_stmt_exec_later(st) : ih_stmt_exec(st));
    }
    return IH_OK;
}

/* Write one event at r->seq after r->prev; its leaf hash goes to leaf.
 * *taken: someone else holds that seq (a stale cached tail).  locked: the
 * journal's lock is held (PostgreSQL), so the seq cannot be taken: the
 * statements go out without waiting for their answers
 * (ih_stmt_exec_later), and a clash would fail the commit. */
static ih_err insert_event(ih_audit *a, ih_tx *tx, const audit_row *r, const ih_row_note *notes, int nnotes,
                           uint8_t leaf[IH_HASH_LEN], bool locked, bool *taken)
{
    *taken = false;
    ih_canon c = {0};
    audit_entry(&c, r);
    ih_err e = c.err == IH_OK ? ih_merkle_leaf(a->md, c.b.p, c.b.len, leaf) : c.err;
    if (e == IH_OK && c.b.len > 4096) e = ih_fail(IH_E_INTERNAL, "audit event too large (%zu bytes)", c.b.len);
    ih_stmt *st;
    /* On PostgreSQL an event that names one row (most writes) goes in with
     * that row's version in one statement: a round trip less in the
     * journal's serial lane.  Either way one row changes iff the event went
     * in. */
#define INSERT_EVENT                                                                                           \
    "INSERT INTO audit_event(seq, ts, actor_id, action, object_type, object_id, outcome, entry, leaf_hash, purged) " \
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)"
#define IF_FREE " ON CONFLICT (seq) DO NOTHING"
#define WITH_VERSION(ins)                                                                                      \
    "WITH ev AS (" ins " RETURNING seq) INSERT INTO audit_version(tbl, row_id, rv, seq) "                      \
    "SELECT $10::text, $11::bigint, $12::bigint, seq FROM ev"
    static const char *const sql[2][2] = {{INSERT_EVENT IF_FREE, INSERT_EVENT},
                                          {WITH_VERSION(INSERT_EVENT IF_FREE), WITH_VERSION(INSERT_EVENT)}};
#undef WITH_VERSION
#undef IF_FREE
#undef INSERT_EVENT
    bool with_version = ih_tx_is_pg(tx) && nnotes == 1;
    if (e == IH_OK) e = ih_tx_prepare(tx, sql[with_version][locked], &st);
    if (e == IH_OK && with_version) {
        ih_stmt_text(st, 10, notes[0].table);
        ih_stmt_int(st, 11, notes[0].id);
        ih_stmt_int(st, 12, notes[0].rv);
    }
    if (e == IH_OK) {
        ih_stmt_int(st, 1, r->seq);
        ih_stmt_int(st, 2, r->ts);
        ih_stmt_int(st, 3, r->actor_id);
        ih_stmt_text(st, 4, r->action);
        ih_stmt_text(st, 5, r->object_type);
        ih_stmt_text(st, 6, r->object_id);
        ih_stmt_text(st, 7, r->outcome);
        ih_stmt_blob(st, 8, c.b.p, c.b.len);
        ih_stmt_blob(st, 9, leaf, IH_HASH_LEN);
        e = locked ? ih_stmt_exec_later(st) : ih_stmt_exec(st);
    }
    ih_canon_free(&c);
    if (e != IH_OK) return e;
    if (!locked && ih_stmt_changes(st) != 1) {
        *taken = true;
        return IH_OK;
    }
    if (!with_version) IH_TRY(insert_versions(tx, r->seq, notes, nnotes, locked));
    uint64_t n_app = atomic_fetch_add(&a->appended, 1) + 1;
    if (n_app % (uint64_t)a->o.max_events == 0) pthread_cond_signal(&a->cv); /* wake the checkpointer */
    return IH_OK;
}

/* What an event says, apart from its place in the journal (seq, time, prev). */
static void describe(ih_audit *a, const ih_actor *who, const ih_audit_event *ev, const char *rows, char sess[24],
                     audit_row *r)
{
    r->tz = a->o.utc_offset_minutes;
    r->has_actor = true;
    r->actor_id = who ? who->id : 0;
    r->role = who && who->role ? who->role : "system";
    if (who && who->session) {
        snprintf(sess, 24, "%.16s", who->session);
        r->session = sess;
    }
    r->ip = who ? who->ip : NULL;
    r->request_id = who ? who->request_id : NULL;
    r->action = ev->action;
    r->object_type = ev->object_type;
    r->object_id = ev->object_id;
    r->outcome = ev->result == IH_OK ? "success" : "failure";
    r->error_code = ev->result == IH_OK ? NULL : ih_err_name(ev->result);
    r->reason = ev->reason;
    r->format = 2;
    r->rows = rows[0] ? rows : NULL;
}

/* ---- PostgreSQL: appended just before the commit ------------------------ */

/* Several nodes append to one journal, so each append takes the journal's
 * lock (held to the commit) and reads the tail.  Taking it at the last
 * moment — the transaction's before-commit hook — keeps the time it is held
 * to the inserts and the commit; and when the store commits a group of
 * callbacks at once, the lock and the tail are taken once per group: the
 * tail the previous hook left in the same database transaction is the
 * journal's tail (tail_cache). */
typedef struct pend_event {
    audit_row r; /* strings point into text */
    char *text;
    ih_row_note notes[IH_TX_ROWS];
    int nnotes;
} pend_event;

typedef struct pending {
    ih_audit *a;
    pend_event *ev;
    int n, cap;
    bool flushed; /* its hook ran: a later append (from a later hook) needs another */
} pending;

static _Thread_local struct {
    uint64_t physical;
    int64_t seq;
    uint8_t leaf[IH_HASH_LEN];
} tail_cache;

static void pending_free(void *arg)
{
    pending *p = arg;
    for (int i = 0; i < p->n; i++) free(p->ev[i].text);
    free(p->ev);
    free(p);
}

static ih_err pending_flush(ih_tx *tx, void *arg)
{
    pending *p = arg;
    ih_audit *a = p->a;
    p->flushed = true;
    uint64_t physical = ih_tx_physical(tx);
    int64_t last;
    uint8_t prev[IH_HASH_LEN];
    ih_err e = IH_OK;
    if (physical && tail_cache.physical == physical) {
        last = tail_cache.seq;
        memcpy(prev, tail_cache.leaf, IH_HASH_LEN);
    } else {
        e = read_last(tx, &last, prev);
    }
    for (int i = 0; e == IH_OK && i < p->n; i++) {
        audit_row r = p->ev[i].r;
        r.seq = last + 1;
        r.ts = ih_now_ms(); /* under the lock: times follow the sequence */
        memcpy(r.prev, prev, IH_HASH_LEN);
        bool taken; /* never, under the lock: a clash fails the statement, and with it the commit */
        e = insert_event(a, tx, &r, p->ev[i].notes, p->ev[i].nnotes, prev, true, &taken);
        if (e == IH_OK) last = r.seq;
        else ih_log(IH_LOG_ERROR, "audit.append_failed", "action", r.action, "detail", ih_err_detail(), NULL);
    }
    if (e != IH_OK) {
        tail_cache.physical = 0;
        ih_err_clear();
        return ih_fail(IH_E_AUDIT, "audit append failed");
    }
    tail_cache.physical = physical;
    tail_cache.seq = last;
    memcpy(tail_cache.leaf, prev, IH_HASH_LEN);
    return IH_OK;
}

/* Copy the event (its strings may not outlive the caller's callback) into
 * the transaction's pending list. */
static ih_err defer(ih_audit *a, ih_tx *tx, const audit_row *r, const ih_row_note *notes, int nnotes)
{
    pending *p = ih_tx_before_commit_arg(tx, pending_flush);
    if (!p || p->flushed) { /* none yet, or appended from a before-commit hook after it ran */
        p = calloc(1, sizeof *p);
        IH_CHECK_ALLOC(p);
        p->a = a;
        IH_TRY(ih_tx_before_commit(tx, pending_flush, pending_free, p)); /* frees p when it fails */
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 2;
        pend_event *ev = realloc(p->ev, (size_t)cap * sizeof *ev);
        IH_CHECK_ALLOC(ev);
        p->ev = ev;
        p->cap = cap;
    }
    const char *const src[] = {r->role,      r->session,   r->ip,      r->request_id, r->action, r->object_type,
                               r->object_id, r->outcome,   r->error_code, r->reason,  r->rows};
    enum { NSTR = sizeof src / sizeof src[0] };
    size_t len = 0;
    for (int i = 0; i < NSTR; i++) len += src[i] ? strlen(src[i]) + 1 : 0;
    pend_event *pe = &p->ev[p->n];
    memset(pe, 0, sizeof *pe);
    pe->text = malloc(len + 1);
    IH_CHECK_ALLOC(pe->text);
    const char *dst[NSTR];
    char *w = pe->text;
    for (int i = 0; i < NSTR; i++) {
        dst[i] = NULL;
        if (!src[i]) continue;
        size_t n = strlen(src[i]) + 1;
        memcpy(w, src[i], n);
        dst[i] = w;
        w += n;
    }
    pe->r = *r;
    pe->r.role = dst[0];
    pe->r.session = dst[1];
    pe->r.ip = dst[2];
    pe->r.request_id = dst[3];
    pe->r.action = dst[4];
    pe->r.object_type = dst[5];
    pe->r.object_id = dst[6];
    pe->r.outcome = dst[7];
    pe->r.error_code = dst[8];
    pe->r.reason = dst[9];
    pe->r.rows = dst[10];
    memcpy(pe->notes, notes, (size_t)nnotes * sizeof *notes);
    pe->nnotes = nnotes;
    p->n++;
    return IH_OK;
}

static ih_err append(ih_audit *a, ih_tx *tx, const ih_actor *who, const ih_audit_event *ev)
{
    if (!ev->action || !*ev->action) return ih_fail(IH_E_INTERNAL, "audit event without an action");
    ih_row_note notes[IH_TX_ROWS];
    int nnotes = ih_tx_take_rows(tx, notes);
    char rows[IH_TX_ROWS * 64];
    rows_text(notes, nnotes, rows, sizeof rows);
    char sess[24];
    audit_row r = {0};
    describe(a, who, ev, rows, sess, &r);
    if (ih_tx_is_pg(tx)) return defer(a, tx, &r, notes, nnotes);

    /* SQLite: one writer thread, so the tail it wrote last is the tail,
     * unless that transaction rolled back (forget_tail) */
    for (int attempt = 0; attempt < 2; attempt++) {
        int64_t last;
        if (a->last_valid) {
            last = a->last_seq;
            memcpy(r.prev, a->last_leaf, IH_HASH_LEN);
        } else {
            IH_TRY(read_last(tx, &last, r.prev));
        }
        r.seq = last + 1;
        r.ts = ih_now_ms();
        uint8_t leaf[IH_HASH_LEN];
        bool taken;
        ih_err e = insert_event(a, tx, &r, notes, nnotes, leaf, false, &taken);
        if (e != IH_OK || taken) {
            a->last_valid = false;
            if (e != IH_OK) return e;
            continue; /* someone else holds that seq: our copy was stale */
        }
        /* The tail follows the commit: should tx roll back (its own
         * failure, a batch-mate's failed commit, a full disk), the hook
         * forgets it before the writer runs anything else. */
        IH_TRY(ih_tx_on_rollback(tx, forget_tail, a));
        a->last_seq = r.seq;
        memcpy(a->last_leaf, leaf, IH_HASH_LEN);
        a->last_valid = true;
        return IH_OK;
    }
    return ih_fail(IH_E_INTEGRITY, "audit sequence kept changing");
}

ih_err ih_audit_version_known(const char *table, int64_t id, int64_t rv, int64_t known)
{
    if (rv < known)
        return ih_fail(IH_E_INTEGRITY, "%s %lld is at version %lld but the audit journal recorded version %lld: an "
                                       "older copy was put back",
                       table, (long long)id, (long long)rv, (long long)known);
    return IH_OK;
}

ih_err ih_audit_append(ih_audit *a, ih_tx *tx, const ih_actor *who, const ih_audit_event *ev)
{
#ifdef IHOS_BENCH_NO_AUDIT
    /* Bench-only build (make MODE=noaudit): measures what auditing costs.
     * Never shipped; `make` and `make test` do not define it. */
    (void)a;
    (void)tx;
    (void)who;
    (void)ev;
    return IH_OK;
#endif
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
    ih_err e = ih_store_write(a->o.store, record_fn, &r);
    /* The event did not become durable (a full disk shows at commit): the
     * journal is unavailable, and whatever waited for the event (a read's
     * answer) must not go out. */
    if (e == IH_E_STORAGE || e == IH_E_IO || e == IH_E_NOMEM) {
        ih_log(IH_LOG_ERROR, "audit.append_failed", "alert", "true", "action", ev->action, "detail", ih_err_detail(),
               NULL);
        ih_err_clear();
        e = ih_fail(IH_E_AUDIT, "audit event not recorded");
    }
    return e;
}
