/* report.c — the report service object, the platform secret, daily
 * housekeeping, the operator's views and the metrics (report.h). */
#include "report/report_impl.h"

#include "core/clock.h"
#include "core/log.h"
#include "crypto/protect.h"
#include "policy/mask.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dup(const char *s) { return strdup(s ? s : ""); }

ih_err ih_report_new(const ih_report_opts *o, ih_report **out)
{
    const ih_profile *p = ih_profile_find(o->profile);
    if (!p) return ih_fail(IH_E_CONFIG, "unknown supervision profile '%s'", o->profile ? o->profile : "");
    ih_report *r = calloc(1, sizeof *r);
    IH_CHECK_ALLOC(r);
    r->o = *o;
    r->profile = p;
    r->gateway_url = dup(o->gateway_url);
    r->app_key = dup(o->app_key);
    r->organ_id = dup(o->organ_id);
    r->unit_id = dup(o->unit_id);
    r->organ_name = dup(o->organ_name);
    r->cadence = dup(o->cadence && *o->cadence ? o->cadence : "realtime");
    r->nightly_at = dup(o->nightly_at && *o->nightly_at ? o->nightly_at : "01:00");
    r->ca_file = dup(o->ca_file);
    if (o->node) { /* the lease names this node; the option string is copied */
        snprintf(r->node, sizeof r->node, "%s", o->node);
        r->o.node = r->node;
        r->lease = (ih_lease){.name = "report", .holder = r->node, .ttl_ms = 20000};
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (!r->gateway_url || !r->app_key || !r->organ_id || !r->unit_id || !r->organ_name || !r->cadence ||
        !r->nightly_at || !r->ca_file) {
        ih_report_free(r);
        return ih_fail(IH_E_NOMEM, "report");
    }
    *out = r;
    return IH_OK;
}

void ih_report_free(ih_report *r)
{
    if (!r) return;
    ih_report_stop(r);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->gateway_url);
    free(r->app_key);
    free(r->organ_id);
    free(r->unit_id);
    free(r->organ_name);
    free(r->cadence);
    free(r->nightly_at);
    free(r->ca_file);
    free(r);
}

void ob_count(ih_report *r, const char *method, bool sent, unsigned n)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < OB_METHODS; i++) {
        if (!r->m[i].method[0]) snprintf(r->m[i].method, sizeof r->m[i].method, "%s", method);
        if (!strcmp(r->m[i].method, method)) {
            atomic_fetch_add(sent ? &r->m[i].sent : &r->m[i].failed, n);
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

uint64_t ih_report_accepted(ih_report *r)
{
    uint64_t n = 0;
    for (int i = 0; i < OB_METHODS; i++) n += atomic_load(&r->m[i].sent);
    return n;
}

/* ---- the platform secret ---------------------------------------------------------- */

typedef struct {
    ih_report *r;
    const char *secret;
} secret_arg;

static ih_err set_secret_fn(ih_tx *tx, void *arg)
{
    secret_arg *a = arg;
    ih_buf ct = IH_BUF_INIT;
    IH_TRY(ih_field_seal_str(a->r->o.keys, IH_KP_SECRET, "report_secret", a->r->profile->name, 0, a->secret, &ct));
    ih_stmt *st;
    ih_err e = ih_tx_prepare(tx, "INSERT INTO report_secret (profile, secret_enc, updated_at) VALUES ($1, $2, $3) "
                                 "ON CONFLICT (profile) DO UPDATE SET secret_enc = excluded.secret_enc, "
                                 "updated_at = excluded.updated_at", &st);
    if (e == IH_OK) {
        ih_stmt_text(st, 1, a->r->profile->name);
        ih_stmt_blob(st, 2, ct.p, ct.len);
        ih_stmt_int(st, 3, ih_now_ms());
        e = ih_stmt_exec(st);
    }
    ih_buf_free(&ct);
    IH_TRY(e);
    ih_audit_event ev = {.action = "report.set_secret", .object_type = "config", .object_id = a->r->profile->name};
    return ih_audit_append(a->r->o.audit, tx, &(ih_actor){.id = 0, .role = "console"}, &ev);
}

ih_err ih_report_set_secret(ih_report *r, const char *secret)
{
    size_t n = strlen(secret);
    bool hex = n == 32;
    for (size_t i = 0; hex && i < n; i++) hex = isxdigit((unsigned char)secret[i]);
    if (!hex) return ih_reject(IH_E_INVALID, "secret", "The appSecret is 32 hex characters.");
    secret_arg a = {r, secret};
    return ih_store_write(r->o.store, set_secret_fn, &a);
}

/* ---- daily housekeeping ------------------------------------------------------------------- */

typedef struct {
    ih_report *r;
    char day[11];
    int64_t oldest;
    bool have;
} daily_arg;

static ih_err daily_fn(ih_tx *tx, void *arg)
{
    daily_arg *a = arg;
    ih_stmt *st;
    bool row;
    int64_t off = (int64_t)a->r->o.utc_offset_minutes * 60000, now = ih_now_ms();
    int64_t day_start = (now + off) / 86400000LL * 86400000LL - off;
    /* an adverse event reported today makes the empty call unnecessary */
    IH_TRY(ih_tx_prepare(tx, "SELECT 1 FROM outbox WHERE kind IN ('adverse', 'adverse_empty') AND created_at >= $1 "
                             "LIMIT 1", &st));
    ih_stmt_int(st, 1, day_start);
    IH_TRY(ih_stmt_step(st, &row));
    if (row) return IH_OK;
    char key[48];
    snprintf(key, sizeof key, "adverse-empty-%s", a->day);
    json_t *fact = json_object();
    IH_CHECK_ALLOC(fact);
    ih_err e = ih_report_put(a->r, tx, "adverse_empty", key, fact);
    json_decref(fact);
    return e;
}

static ih_err oldest_fn(ih_tx *tx, void *arg)
{
    daily_arg *a = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT MIN(created_at) FROM outbox WHERE state IN ('pending', 'unknown', 'sending')", &st));
    IH_TRY(ih_stmt_step(st, &a->have));
    a->have = a->have && !ih_col_null(st, 0);
    a->oldest = a->have ? ih_col_int(st, 0) : 0;
    return IH_OK;
}

ih_err ih_report_daily(ih_report *r)
{
    daily_arg a = {r, "", 0, false};
    time_t t = (time_t)((ih_now_ms() + (int64_t)r->o.utc_offset_minutes * 60000) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(a.day, sizeof a.day, "%Y-%m-%d", &tm);
    ih_err e = r->o.adverse_daily ? ih_store_write(r->o.store, daily_fn, &a) : IH_OK;
    if (e == IH_OK) e = ih_store_read(r->o.store, oldest_fn, &a);
    int64_t now = ih_now_ms();
    if (e == IH_OK && a.have && r->o.lag_alert_minutes > 0 && now - a.oldest > (int64_t)r->o.lag_alert_minutes * 60000 &&
        now - r->last_lag_alert > 600000) {
        r->last_lag_alert = now;
        char age[24];
        snprintf(age, sizeof age, "%lld", (long long)((now - a.oldest) / 1000));
        ih_log(IH_LOG_ERROR, "report.lagging", "alert", "true", "oldest_pending_seconds", age, NULL);
    }
    return e;
}

/* ---- operator views --------------------------------------------------------------------- */

typedef struct {
    ih_report *r;
    const char *state;
    int64_t after, id;
    int limit;
    json_t *out;
    const ih_actor *who;
    bool backlog; /* status: only what is not yet sent (through the state index; no count of every row sent) */
} view_arg;

/* As an operator sees a row: one being sent (claimed) shows `sending`. */
static json_t *row_json(const ob_row *o, bool claimed)
{
    char c[32] = "", s[32] = "", n[32] = "";
    ih_time_iso(o->created_at, c, sizeof c);
    if (o->sent_at) ih_time_iso(o->sent_at, s, sizeof s);
    ih_time_iso(o->next_at, n, sizeof n);
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s?, s:s, s:s?, s:o?}", "id", (json_int_t)o->id, "kind",
                     o->kind, "method", o->method, "business_key", o->key, "version", (json_int_t)o->version, "state",
                     claimed ? "sending" : o->state, "attempts", (json_int_t)o->attempts, "created_at", c, "sent_at",
                     s[0] ? s : NULL, "next_at", n, "last_error", o->last_error[0] ? o->last_error : NULL, "depends_on",
                     o->depends_on ? json_integer(o->depends_on) : NULL);
}

static ih_err status_fn(ih_tx *tx, void *arg)
{
    view_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    json_t *states = json_object(), *methods = json_object();
    json_object_set_new(a->out, "states", states);
    json_object_set_new(a->out, "methods", methods);
    IH_TRY(ih_tx_prepare(tx, a->backlog ? "SELECT state, method, COUNT(*), MIN(created_at) FROM outbox WHERE state IN "
                                          "('pending', 'unknown', 'dead') GROUP BY state, method ORDER BY method, state"
                                        : "SELECT state, method, COUNT(*), MIN(created_at) FROM outbox GROUP BY state, "
                                          "method ORDER BY method, state",
                         &st));
    int64_t oldest = 0, now = ih_now_ms();
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        const char *state = ih_col_text(st, 0), *method = ih_col_text(st, 1);
        json_int_t n = ih_col_int(st, 2);
        json_t *cur = json_object_get(states, state);
        json_object_set_new(states, state, json_integer(json_integer_value(cur) + n));
        json_t *m = json_object_get(methods, method);
        if (!m) {
            m = json_object();
            json_object_set_new(methods, method, m);
        }
        json_object_set_new(m, state, json_integer(n));
        if (strcmp(state, "sent") && strcmp(state, "dead") && (!oldest || ih_col_int(st, 3) < oldest))
            oldest = ih_col_int(st, 3);
    }
    IH_TRY(e);
    /* rows being sent keep their state in the outbox; their claims say so */
    IH_TRY(ih_tx_prepare(tx, "SELECT o.state, o.method, COUNT(*) FROM outbox_inflight i JOIN outbox o "
                             "ON o.id = i.outbox_id GROUP BY o.state, o.method",
                         &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        const char *state = ih_col_text(st, 0);
        json_int_t n = ih_col_int(st, 2);
        json_t *m = json_object_get(methods, ih_col_text(st, 1));
        if (!m) continue; /* not possible within one read */
        json_object_set_new(states, state, json_integer(json_integer_value(json_object_get(states, state)) - n));
        json_object_set_new(states, "sending", json_integer(json_integer_value(json_object_get(states, "sending")) + n));
        json_object_set_new(m, state, json_integer(json_integer_value(json_object_get(m, state)) - n));
        json_object_set_new(m, "sending", json_integer(json_integer_value(json_object_get(m, "sending")) + n));
    }
    IH_TRY(e);
    json_object_set_new(a->out, "oldest_pending_seconds", json_integer(oldest ? (now - oldest) / 1000 : 0));
    json_object_set_new(a->out, "profile", json_string(a->r->profile->name));
    json_object_set_new(a->out, "enabled", json_boolean(a->r->o.enabled));
    json_object_set_new(a->out, "cadence", json_string(a->r->cadence));
    return IH_OK;
}

static ih_err status(ih_report *r, bool backlog, json_t **out)
{
    view_arg a = {.r = r, .out = json_object(), .backlog = backlog};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_read(r->o.store, status_fn, &a);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}

ih_err ih_report_status(ih_report *r, json_t **out) { return status(r, false, out); }

static ih_err list_fn(ih_tx *tx, void *arg)
{
    view_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    /* a claimed row is shown, and filtered, as `sending` */
    IH_TRY(ih_tx_prepare(tx, "SELECT id, claimed FROM (SELECT o.id, o.state, CASE WHEN EXISTS (SELECT 1 FROM "
                             "outbox_inflight i WHERE i.outbox_id = o.id) THEN 1 ELSE 0 END AS claimed FROM outbox o "
                             "WHERE o.id > $1) v WHERE $2 = '' OR (CASE WHEN claimed = 1 THEN 'sending' ELSE state END) "
                             "= $2 ORDER BY id LIMIT $3",
                         &st));
    ih_stmt_int(st, 1, a->after);
    ih_stmt_text(st, 2, a->state ? a->state : "");
    ih_stmt_int(st, 3, a->limit);
    int64_t ids[1000];
    bool claimed[1000];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 1000) {
        claimed[n] = ih_col_int(st, 1) != 0;
        ids[n++] = ih_col_int(st, 0);
    }
    IH_TRY(e);
    ob_row o = {0};
    for (int i = 0; e == IH_OK && i < n; i++) {
        bool found;
        e = ob_load(a->r, tx, ids[i], &o, &found);
        if (e == IH_OK && found) json_array_append_new(a->out, row_json(&o, claimed[i]));
    }
    ob_row_free(&o);
    return e;
}

ih_err ih_report_list(ih_report *r, const char *state, int64_t after, int limit, json_t **out)
{
    view_arg a = {.r = r, .state = state, .after = after, .limit = limit > 1000 ? 1000 : limit, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_read(r->o.store, list_fn, &a);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}

static ih_err show_fn(ih_tx *tx, void *arg)
{
    view_arg *a = arg;
    ob_row o = {0};
    bool found;
    ih_err e = ob_load(a->r, tx, a->id, &o, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No outbox row %lld.", (long long)a->id);
    ih_buf pt = IH_BUF_INIT;
    bool claimed = false;
    if (e == IH_OK) e = ob_claimed(tx, o.id, &claimed);
    if (e == IH_OK) e = ob_open_payload(a->r, tx, &o, &pt);
    if (e == IH_OK) {
        a->out = row_json(&o, claimed);
        json_t *rec = json_loads(pt.p, JSON_DECODE_ANY, NULL);
        json_object_set_new(a->out, "record", rec ? rec : json_null());
    }
    ih_buf_wipe(&pt);
    ob_row_free(&o);
    return e;
}

/* Mask, in place, every personal value of a platform record (nested
 * objects and arrays included) as the profile classifies its keys. */
static void mask_record(const ih_profile *p, json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) mask_record(p, x);
        return;
    }
    if (!json_is_object(v)) return;
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x)
    {
        int kind = p->personal ? p->personal(key) : -1;
        if (kind < 0) {
            mask_record(p, x);
            continue;
        }
        if (!json_is_string(x) || !json_string_length(x)) continue;
        ih_buf m = IH_BUF_INIT;
        if (kind != IH_FIELD_CLINICAL && ih_mask_apply((ih_field_kind)kind, json_string_value(x), &m) == IH_OK)
            json_string_set(x, m.p ? m.p : "");
        else
            json_string_set(x, "[hidden: --unmask shows it]");
        ih_buf_wipe(&m);
    }
}

ih_err ih_report_show(ih_report *r, const ih_actor *who, int64_t id, bool unmask, json_t **out)
{
    view_arg a = {.r = r, .id = id};
    IH_TRY(ih_store_read(r->o.store, show_fn, &a));
    if (!unmask) mask_record(r->profile, json_object_get(a.out, "record"));
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)id);
    ih_audit_event ev = {.action = "report.show", .object_type = "outbox", .object_id = oid,
                         .reason = unmask ? "unmasked" : "masked"};
    ih_err e = ih_audit_record(r->o.audit, who, &ev);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}

static ih_err retry_fn(ih_tx *tx, void *arg)
{
    view_arg *a = arg;
    ob_row o = {0};
    bool found;
    ih_err e = ob_load(a->r, tx, a->id, &o, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No outbox row %lld.", (long long)a->id);
    if (e == IH_OK && strcmp(o.state, "dead") && strcmp(o.state, "unknown") && strcmp(o.state, "pending"))
        e = ih_reject(IH_E_STATE, NULL, "Row %lld is %s: only dead, unknown or pending rows are retried.",
                      (long long)a->id, o.state);
    if (e == IH_OK) {
        snprintf(o.state, sizeof o.state, "pending");
        o.attempts = 0;
        o.next_at = ih_now_ms();
        e = ob_save(a->r, tx, &o, false);
    }
    if (e == IH_OK) {
        char oid[24];
        snprintf(oid, sizeof oid, "%lld", (long long)a->id);
        ih_audit_event ev = {.action = "report.retry", .object_type = "outbox", .object_id = oid};
        e = ih_audit_append(a->r->o.audit, tx, a->who, &ev);
    }
    ob_row_free(&o);
    return e;
}

ih_err ih_report_retry(ih_report *r, const ih_actor *who, int64_t id)
{
    view_arg a = {.r = r, .id = id, .who = who};
    return ih_store_write(r->o.store, retry_fn, &a);
}

/* ---- metrics -------------------------------------------------------------------------------- */

ih_err ih_report_metrics(ih_report *r, ih_buf *out)
{
    json_t *st;
    IH_TRY(status(r, true, &st)); /* scraped every few seconds: the backlog only, never a count of all sent */
    ih_buf_puts(out, "# HELP ihos_report_queue outbox rows not yet accepted, by delivery state\n"
                     "# TYPE ihos_report_queue gauge\n");
    static const char *const states[] = {"pending", "sending", "unknown", "dead", NULL};
    for (const char *const *s = states; *s; s++)
        ih_buf_printf(out, "ihos_report_queue{state=\"%s\"} %lld\n", *s,
                      (long long)json_integer_value(json_object_get(json_object_get(st, "states"), *s)));
    ih_buf_printf(out,
                  "# HELP ihos_report_oldest_pending_seconds age of the oldest record not yet accepted\n"
                  "# TYPE ihos_report_oldest_pending_seconds gauge\nihos_report_oldest_pending_seconds %lld\n",
                  (long long)json_integer_value(json_object_get(st, "oldest_pending_seconds")));
    json_decref(st);
    ih_buf_puts(out, "# HELP ihos_report_sent_total records the platform accepted\n"
                     "# TYPE ihos_report_sent_total counter\n");
    for (int i = 0; i < OB_METHODS && r->m[i].method[0]; i++)
        ih_buf_printf(out, "ihos_report_sent_total{method=\"%s\"} %llu\n", r->m[i].method,
                      (unsigned long long)atomic_load(&r->m[i].sent));
    ih_buf_puts(out, "# HELP ihos_report_failed_total records the platform refused (dead letters)\n"
                     "# TYPE ihos_report_failed_total counter\n");
    for (int i = 0; i < OB_METHODS && r->m[i].method[0]; i++)
        ih_buf_printf(out, "ihos_report_failed_total{method=\"%s\"} %llu\n", r->m[i].method,
                      (unsigned long long)atomic_load(&r->m[i].failed));
    return IH_OK;
}
