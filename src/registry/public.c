/* public.c — the information an internet hospital must publish (亮证经营):
 * licence and approval, departments, doctors enabled for online care with
 * title, department, practising-certificate number and their shifts for the
 * coming week, promised response times and fees.  Nothing else: no staff ID
 * numbers, birth dates, or anything about patients. */
#include "registry/clinic_impl.h"

#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    ih_clinic *c;
    json_t *out;
} pub_arg;

static void day_after(ih_clinic *c, int days, char out[11])
{
    time_t t = (time_t)((ih_now_ms() + (int64_t)c->o.utc_offset_minutes * 60000) / 1000) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static ih_err doctor_json(pub_arg *a, ih_tx *tx, int64_t id, const char *from, const char *to, json_t **out)
{
    ih_row s;
    ih_row_init(&s, &ih_t_staff);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_staff, id, &s, &found);
    if (e != IH_OK || !found) {
        ih_row_free(&s);
        return e;
    }
    const char *title = ih_row_str(&s, "title_code"), *subject = ih_row_str(&s, "subject_code");
    json_t *d = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s?}", "id", (json_int_t)id, "name", ih_row_str(&s, "name"),
                          "title", ih_code_name(&ih_codes_title, title), "practice_no", ih_row_str(&s, "practice_no"),
                          "subject_code", subject, "subject", ih_code_name(&ih_codes_subject, subject), "intro",
                          ih_row_str(&s, "intro"));
    ih_row_free(&s);
    IH_CHECK_ALLOC(d);
    json_t *deps = json_array(), *shifts = json_array();
    ih_stmt *st;
    bool row;
    e = ih_tx_prepare(tx, "SELECT d.name FROM staff_department s JOIN department d ON d.id = s.department_id "
                          "WHERE s.staff_id = $1 AND d.active = 1 ORDER BY d.code", &st);
    if (e == IH_OK) {
        ih_stmt_int(st, 1, id);
        while ((e = ih_stmt_step(st, &row)) == IH_OK && row) json_array_append_new(deps, json_string(ih_col_text(st, 0)));
    }
    int64_t sids[64];
    int n = 0;
    if (e == IH_OK)
        e = ih_tx_prepare(tx, "SELECT id FROM schedule WHERE staff_id = $1 AND day >= $2 AND day <= $3 AND cancelled = 0 "
                              "ORDER BY day, start_time LIMIT 64", &st);
    if (e == IH_OK) {
        ih_stmt_int(st, 1, id);
        ih_stmt_text(st, 2, from);
        ih_stmt_text(st, 3, to);
        while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 64) sids[n++] = ih_col_int(st, 0);
    }
    ih_row r;
    ih_row_init(&r, &ih_t_schedule);
    for (int i = 0; e == IH_OK && i < n; i++) {
        e = ih_row_load(tx, a->c->o.keys, &ih_t_schedule, sids[i], &r, &found);
        if (e != IH_OK || !found) continue;
        char fee[24];
        ih_money_text(ih_row_int(&r, "fee"), fee, sizeof fee);
        json_array_append_new(
            shifts, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "day", ih_row_str(&r, "day"), "start_time",
                              ih_row_str(&r, "start_time"), "end_time", ih_row_str(&r, "end_time"), "consult_type",
                              ih_code_name(&ih_codes_consult_type, ih_row_str(&r, "consult_type")), "response_minutes",
                              (json_int_t)ih_row_int(&r, "response_minutes"), "fee", fee));
    }
    ih_row_free(&r);
    json_object_set_new(d, "departments", deps);
    json_object_set_new(d, "schedules", shifts);
    if (e != IH_OK) {
        json_decref(d);
        return e;
    }
    *out = d;
    return IH_OK;
}

static ih_err public_fn(ih_tx *tx, void *arg)
{
    pub_arg *a = arg;
    ih_row r;
    ih_row_init(&r, &ih_t_institution);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_institution, 1, &r, &found);
    json_t *inst = json_null();
    if (e == IH_OK && found) e = ih_row_json(&r, IH_ROLE_NONE, IH_REL_OTHER, &inst);
    ih_row_free(&r);
    IH_TRY(e);
    json_object_del(inst, "id");
    json_object_set_new(a->out, "institution", inst);
    json_t *deps = json_array();
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT code, name, subject_code, kind FROM department WHERE active = 1 ORDER BY code", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        json_array_append_new(deps, json_pack("{s:s, s:s, s:s, s:s?}", "code", ih_col_text(st, 0), "name",
                                              ih_col_text(st, 1), "subject_code", ih_col_text(st, 2), "subject",
                                              ih_code_name(&ih_codes_subject, ih_col_text(st, 2))));
    json_object_set_new(a->out, "departments", deps);
    IH_TRY(e);
    char from[11], to[11];
    cl_today(a->c, from);
    day_after(a->c, 6, to);
    int64_t ids[256];
    int n = 0;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM staff WHERE kind = 'doctor' AND online = 1 AND status = 'active' "
                             "ORDER BY id LIMIT 256", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 256) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    json_t *docs = json_array();
    json_object_set_new(a->out, "doctors", docs);
    for (int i = 0; i < n; i++) {
        json_t *d = NULL;
        IH_TRY(doctor_json(a, tx, ids[i], from, to, &d));
        if (d) json_array_append_new(docs, d);
    }
    json_object_set_new(a->out, "week", json_pack("{s:s, s:s}", "from", from, "to", to));
    return IH_OK;
}

ih_err ih_public_info(ih_clinic *c, json_t **out)
{
    pub_arg a = {c, json_object()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = ih_store_read(c->o.store, public_fn, &a);
    if (e == IH_E_INTEGRITY) /* a tampered row: the page is refused, and someone is told */
        ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "detail", ih_err_detail(), NULL);
    if (e != IH_OK) {
        json_decref(a.out);
        return e == IH_E_INTEGRITY ? ih_reject(IH_E_INTEGRITY, NULL, "Some published data failed its integrity check.")
                                   : e;
    }
    *out = a.out;
    return IH_OK;
}
