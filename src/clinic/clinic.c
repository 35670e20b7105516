/* clinic.c — the clinic service object and helpers shared by its files. */
#include "clinic/care_impl.h"

#include "core/clock.h"
#include "core/log.h"
#include "keys/protected.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every table the clinic describes, registry and care: the one list that
 * key rotation and integrity scans walk.  A table left out here is caught by
 * the schema check (keys/protected.h): tests, and key retirement itself. */
static ih_table *const all_tables[] = {
    &ih_t_institution, &ih_t_department, &ih_t_staff,   &ih_t_drug,    &ih_t_schedule,    &ih_t_patient,
    &ih_t_consent,     &ih_t_visit,      &ih_t_message, &ih_t_media,   &ih_t_emr,         &ih_t_rx,
    &ih_t_payment,     &ih_t_evaluation, &ih_t_adverse, &ih_t_break_glass, &ih_t_stats,
    &ih_t_sms_code,    &ih_t_his_link,   &ih_t_his_inbound, &ih_t_his_result, &ih_t_his_encounter,
    &ih_t_his_order,   &ih_t_his_outbox,
};
#define NTABLES (sizeof all_tables / sizeof all_tables[0])
_Static_assert(NTABLES <= sizeof ((ih_clinic *)0)->tables / sizeof ((ih_clinic *)0)->tables[0],
               "ih_clinic.tables holds a context per table");

ih_err ih_clinic_new(const ih_clinic_opts *o, ih_clinic **out)
{
    ih_clinic *c = calloc(1, sizeof *c);
    IH_CHECK_ALLOC(c);
    c->o = *o;
    for (size_t i = 0; i < NTABLES; i++) c->tables[i] = (ih_table_ctx){all_tables[i], o->keys, c};
    c->registrations = ih_throttle_new(o->registrations_per_minute > 0 ? o->registrations_per_minute : 5, o->store,
                                       "self_service");
    if (!c->registrations) {
        free(c);
        return ih_fail(IH_E_NOMEM, "clinic");
    }
    *out = c;
    return IH_OK;
}

void ih_clinic_free(ih_clinic *c)
{
    if (!c) return;
    ih_throttle_free(c->registrations);
    free(c);
}

static const ih_actor system_actor = {.id = 0, .role = "system"};

static ih_actor actor_of(const ih_viewer *v) { return v ? v->actor : system_actor; }

ih_err cl_audit(ih_clinic *c, ih_tx *tx, const ih_viewer *v, const char *action, const char *object_type,
                int64_t object_id, const char *reason)
{
    char oid[24] = "";
    if (object_id) snprintf(oid, sizeof oid, "%lld", (long long)object_id);
    ih_audit_event ev = {.action = action, .object_type = object_type, .object_id = oid[0] ? oid : NULL,
                         .reason = reason};
    ih_actor a = actor_of(v);
    return ih_audit_append(c->o.audit, tx, &a, &ev);
}

typedef struct {
    ih_clinic *c;
    const ih_table *t;
    const char *sql, *action, *object_type;
    const char *const *report_kinds;
    cl_timeout_change change;
    int n;
} timeout_arg;

static ih_err timeout_fn(ih_tx *tx, void *arg)
{
    timeout_arg *a = arg;
    enum { MAX = 200 };
    int64_t now = ih_now_ms(), ids[MAX];
    int n = 0;
    ih_stmt *st;
    bool row;
    ih_err e;
    a->n = 0;
    IH_TRY(ih_tx_prepare(tx, a->sql, &st));
    ih_stmt_int(st, 1, now);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < MAX) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    ih_row r;
    ih_row_init(&r, a->t);
    for (int i = 0; e == IH_OK && i < n; i++) {
        bool found;
        e = ih_row_load_opt(tx, a->c->o.keys, a->t, ids[i], &r, &found, true);
        if (e == IH_OK && !found) continue; /* selected a moment ago, in this transaction: cannot happen */
        if (e == IH_OK) e = a->change(&r, now);
        if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &r);
        if (e == IH_OK) e = cl_audit(a->c, tx, NULL, a->action, a->object_type, ids[i], NULL);
        for (const char *const *k = a->report_kinds; e == IH_OK && k && *k; k++) e = cl_report(a->c, tx, *k, ids[i]);
        if (e == IH_OK) a->n++;
    }
    ih_row_free(&r);
    return e;
}

ih_err cl_timeout_run(ih_clinic *c, const ih_table *t, const char *sql, cl_timeout_change change, const char *action,
                      const char *object_type, const char *const *report_kinds, int *n)
{
    timeout_arg a = {c, t, sql, action, object_type, report_kinds, change, 0};
    ih_err e = ih_store_write(c->o.store, timeout_fn, &a);
    *n = e == IH_OK ? a.n : 0;
    return e;
}

ih_err cl_audit_own(ih_clinic *c, const ih_viewer *v, const char *action, const char *object_type, int64_t object_id,
                    ih_err result, const char *reason)
{
    char oid[24] = "";
    if (object_id) snprintf(oid, sizeof oid, "%lld", (long long)object_id);
    ih_audit_event ev = {.action = action, .object_type = object_type, .object_id = oid[0] ? oid : NULL,
                         .result = result, .reason = reason};
    ih_actor a = actor_of(v);
    /* recording a refusal must not lose the caller's message for its client */
    ih_err_text saved;
    if (result != IH_OK) ih_err_save(&saved);
    ih_err e = ih_audit_record(c->o.audit, &a, &ev);
    if (result != IH_OK) ih_err_load(&saved);
    return e;
}

ih_err cl_list_ids(ih_stmt *st, int64_t ids[CL_LIST_MAX], int *n)
{
    bool row;
    ih_err e;
    *n = 0;
    while (*n < CL_LIST_MAX && (e = ih_stmt_step(st, &row)) == IH_OK && row) ids[(*n)++] = ih_col_int(st, 0);
    if (*n < CL_LIST_MAX) return e;
    return ih_stmt_exec(st); /* stopped early: done with it */
}

void cl_integrity_alert(ih_clinic *c, const char *table, int64_t id)
{
    ih_err_text saved;
    ih_err_save(&saved);
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)id);
    ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", table, "row", oid, NULL);
    ih_audit_event ev = {.action = "integrity.violation", .object_type = table, .object_id = oid,
                         .result = IH_E_INTEGRITY};
    ih_audit_record(c->o.audit, &system_actor, &ev);
    ih_err_load(&saved);
}

void cl_today(ih_clinic *c, char out[11])
{
    time_t t = (time_t)((ih_now_ms() + (int64_t)c->o.utc_offset_minutes * 60000) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

void cl_now_hm(ih_clinic *c, char out[6])
{
    time_t t = (time_t)((ih_now_ms() + (int64_t)c->o.utc_offset_minutes * 60000) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 6, "%H:%M", &tm);
}

int64_t cl_local_ms(ih_clinic *c, const char *day, const char *hm)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0;
    if (!day || sscanf(day, "%4d-%2d-%2d", &y, &mo, &d) != 3) return 0;
    if (hm && sscanf(hm, "%2d:%2d", &h, &mi) != 2) return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return ((int64_t)timegm(&tm) - (int64_t)c->o.utc_offset_minutes * 60) * 1000;
}

int cl_age_years(const char *birth, const char *today)
{
    int by, bm, bd, ty, tm, td;
    if (!birth || !today || sscanf(birth, "%4d-%2d-%2d", &by, &bm, &bd) != 3 ||
        sscanf(today, "%4d-%2d-%2d", &ty, &tm, &td) != 3)
        return -1;
    int age = ty - by;
    if (tm < bm || (tm == bm && td < bd)) age--;
    return age;
}

ih_table *const *ih_clinic_tables(size_t *n)
{
    *n = NTABLES;
    return all_tables;
}

static void upgraded(const char *what, int n)
{
    if (!n) return;
    char k[24];
    snprintf(k, sizeof k, "%d", n);
    ih_log(IH_LOG_INFO, "upgrade.rows", "what", what, "rows", k, NULL);
}

ih_err ih_clinic_upgrade(ih_clinic *c)
{
    int n = 0;
    IH_TRY(cl_staff_upgrade(c, &n));
    upgraded("staff departments into the MAC'd row", n);
    /* free text typed before migration 14: into its sealed column */
    for (size_t i = 0; i < NTABLES; i++) {
        IH_TRY(ih_row_upgrade(c->o.store, c->o.keys, c->o.audit, all_tables[i], ih_row_move_legacy, "record.seal_text",
                              &n));
        upgraded(all_tables[i]->name, n);
    }
    return IH_OK;
}

size_t ih_clinic_sealed_columns(ih_clinic *c, ih_sealed_column *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NTABLES; i++) n += ih_table_sealed_columns(&c->tables[i], out + n, cap - n);
    return n;
}

static void on_bad(void *ctx, const ih_table *t, int64_t id) { cl_integrity_alert(ctx, t->name, id); }

static ih_err scan_one(void *ctx, uint64_t *rows, uint64_t *bad)
{
    ih_table_ctx *tc = ctx;
    ih_clinic *c = tc->owner;
    return ih_table_scan(c->o.store, tc->k, tc->t, rows, bad, on_bad, c);
}

size_t ih_clinic_mac_scans(ih_clinic *c, ih_mac_scan *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NTABLES && n < cap; i++)
        if (all_tables[i]->mac) out[n++] = (ih_mac_scan){all_tables[i]->name, scan_one, &c->tables[i]};
    return n;
}
