/* common.c — helpers every part of the clinic service shares (clinic_impl.h):
 * the audit calls in the caller's transaction or their own, list paging,
 * integrity alerts, local dates and times. */
#include "registry/clinic_impl.h"

#include "core/clock.h"
#include "core/log.h"
#include "report/report.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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


ih_err cl_report_put(ih_clinic *c, ih_tx *tx, const char *kind, const char *key, json_t *fact)
{
    if (!c->o.report) return IH_OK;
    /* the institution's codes, for profiles whose configuration leaves them out */
    ih_row inst;
    ih_row_init(&inst, &ih_t_institution);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_institution, 1, &inst, &found);
    if (e == IH_OK && found)
        json_object_set_new(fact, "_organ", json_pack("{s:s, s:s, s:s}", "organ_id", ih_row_str(&inst, "organ_id"),
                                                      "unit_id", ih_row_str(&inst, "unit_id"), "name",
                                                      ih_row_str(&inst, "ih_name")));
    ih_row_free(&inst);
    if (e == IH_OK) e = ih_report_put(c->o.report, tx, kind, key, fact);
    return e;
}

typedef struct {
    ih_clinic *c;
    const ih_table *t;
    const char *sql, *action, *object_type;
    cl_timeout_after after;
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
        if (e == IH_OK && a->after) e = a->after(a->c, tx, ids[i]);
        if (e == IH_OK) a->n++;
    }
    ih_row_free(&r);
    return e;
}

ih_err cl_timeout_run(ih_clinic *c, const ih_table *t, const char *sql, cl_timeout_change change, const char *action,
                      const char *object_type, cl_timeout_after after, int *n)
{
    timeout_arg a = {c, t, sql, action, object_type, after, change, 0};
    ih_err e = ih_store_write(c->o.store, timeout_fn, &a);
    *n = e == IH_OK ? a.n : 0;
    return e;
}


ih_err cl_patient_relation(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t patient_id, int64_t patient_account,
                           ih_relation *rel)
{
    if (!c->relation) return ih_fail(IH_E_INTERNAL, "no care relationships in this service");
    return c->relation(c, tx, v, patient_id, patient_account, rel);
}

ih_err cl_patients_visible(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t after, int limit, int64_t *ids, int *n)
{
    if (!c->visible) return ih_fail(IH_E_INTERNAL, "no care relationships in this service");
    return c->visible(c, tx, v, after, limit, ids, n);
}
