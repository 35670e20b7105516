/* schedule.c — doctors' online shifts: day, time window, consultation type,
 * capacity, the promised response time and the fee (published on the 亮证
 * page).  Only doctors enabled for online care can be scheduled, in one of
 * their own departments. */
#include "registry/clinic_impl.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>


#define RM (IH_FF_REQUIRED | IH_FF_MAC)

static const ih_field fields[] = {
    {"staff_id", IH_F_INT, RM | IH_FF_FIXED, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"department_id", IH_F_INT, RM | IH_FF_FIXED, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"day", IH_F_DATE, RM | IH_FF_FIXED, 0, 0, NULL, 0, IH_MASK_NONE, cl_check_future_date},
    {"start_time", IH_F_TEXT, RM | IH_FF_FIXED, 5, 5, NULL, 0, IH_MASK_NONE, cl_check_hhmm},
    {"end_time", IH_F_TEXT, RM | IH_FF_FIXED, 5, 5, NULL, 0, IH_MASK_NONE, cl_check_hhmm},
    {"consult_type", IH_F_TEXT, RM | IH_FF_FIXED, 1, 1, &ih_codes_consult_type, 0, IH_MASK_NONE, NULL},
    {"capacity", IH_F_INT, RM | IH_FF_FIXED, 1, 500, NULL, 0, IH_MASK_NONE, NULL},
    {"response_minutes", IH_F_INT, RM | IH_FF_FIXED, 1, 1440, NULL, 0, IH_MASK_NONE, NULL},
    {"fee", IH_F_MONEY, RM | IH_FF_FIXED, 0, 100000000, NULL, 0, IH_MASK_NONE, NULL},
    {"cancelled", IH_F_BOOL, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, IH_FF_SERVER, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_schedule = IH_TABLE("schedule", fields, true, "机构存续期间（亮证公示信息）");

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t id, staff_id;
    const char *from, *to;
    ih_row r;
} sched_arg;

/* The doctor's public face for schedule lists: {id, name, title}. */
ih_err cl_doctor_brief(ih_clinic *c, ih_tx *tx, int64_t staff_id, json_t **out)
{
    ih_row s;
    ih_row_init(&s, &ih_t_staff);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_staff, staff_id, &s, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No staff member %lld.", (long long)staff_id);
    if (e == IH_OK) {
        const char *t = ih_row_str(&s, "title_code");
        *out = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)staff_id, "name", ih_row_str(&s, "name"),
                         "title_code", t, "title_name", ih_code_name(&ih_codes_title, t), "practice_no",
                         ih_row_str(&s, "practice_no"));
        if (!*out) e = ih_fail(IH_E_NOMEM, "brief");
    }
    ih_row_free(&s);
    return e;
}

static ih_err create_fn(ih_tx *tx, void *arg)
{
    sched_arg *a = arg;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_schedule);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    if (strcmp(ih_row_str(&a->r, "start_time"), ih_row_str(&a->r, "end_time")) >= 0)
        return ih_reject(IH_E_INVALID, "end_time", "Field 'end_time' must be after 'start_time'.");
    char today[11];
    cl_today(a->c, today);
    if (strcmp(ih_row_str(&a->r, "day"), today) < 0)
        return ih_reject(IH_E_INVALID, "day", "Field 'day' must be today or later.");
    /* The doctor: enabled for online care, active, and in that department. */
    ih_row s;
    ih_row_init(&s, &ih_t_staff);
    bool found;
    int64_t sid = ih_row_int(&a->r, "staff_id");
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_staff, sid, &s, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_INVALID, "staff_id", "No staff member %lld.", (long long)sid);
    if (e == IH_OK && (strcmp(ih_row_str(&s, "kind"), "doctor") || !ih_row_int(&s, "online") ||
                       strcmp(ih_row_str(&s, "status"), "active")))
        e = ih_reject(IH_E_INVALID, "staff_id", "Staff member %lld is not a doctor enabled for online care.",
                      (long long)sid);
    if (e == IH_OK && !cl_staff_row_in(&s, ih_row_int(&a->r, "department_id")))
        e = ih_reject(IH_E_INVALID, "department_id", "The doctor does not work in that department.");
    ih_row_free(&s);
    IH_TRY(e);
    IH_TRY(ih_tx_next_id(tx, "schedule", &a->r.id));
    ih_row_set_int(&a->r, "cancelled", 0);
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "schedule.create", "schedule", a->r.id, NULL);
}

static ih_err cancel_fn(ih_tx *tx, void *arg)
{
    sched_arg *a = arg;
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_schedule, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No schedule %lld.", (long long)a->id);
    if (ih_row_int(&a->r, "cancelled")) return ih_reject(IH_E_STATE, NULL, "The schedule is already cancelled.");
    ih_row_set_int(&a->r, "cancelled", 1);
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "schedule.cancel", "schedule", a->id, NULL);
}

bool cl_shift_over(const ih_row *s, const char *today, const char *now_hm)
{
    int day = strcmp(ih_row_str(s, "day"), today);
    return day < 0 || (day == 0 && strcmp(ih_row_str(s, "end_time"), now_hm) <= 0);
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    sched_arg *a = arg;
    char today[11], now_hm[6];
    cl_today(a->c, today);
    cl_now_hm(a->c, now_hm);
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM schedule WHERE day >= $1 AND day <= $2 AND cancelled = 0 "
                             "AND ($3 = 0 OR staff_id = $3) ORDER BY day, start_time, id LIMIT 1000", &st));
    ih_stmt_text(st, 1, a->from);
    ih_stmt_text(st, 2, a->to);
    ih_stmt_int(st, 3, a->staff_id);
    int64_t ids[1000];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 1000) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < n; i++) {
        bool found;
        IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_schedule, ids[i], &a->r, &found));
        json_t *j, *doc;
        IH_TRY(ih_row_json(&a->r, IH_ROLE_NONE, IH_REL_OTHER, &j));
        if (cl_doctor_brief(a->c, tx, ih_row_int(&a->r, "staff_id"), &doc) == IH_OK) json_object_set_new(j, "doctor", doc);
        /* still taking requests (the visit request's own rule), in the hospital's time */
        json_object_set_new(j, "open", json_boolean(!cl_shift_over(&a->r, today, now_hm)));
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

static ih_err run(sched_arg *a, bool write, ih_tx_fn fn, json_t **out)
{
    ih_row_init(&a->r, &ih_t_schedule);
    ih_err e = write ? ih_store_write(a->c->o.store, fn, a) : ih_store_read(a->c->o.store, fn, a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(a->c, "schedule", a->id ? a->id : a->r.id);
    if (e == IH_OK && !a->out) e = ih_row_json(&a->r, IH_ROLE_NONE, IH_REL_OTHER, &a->out);
    ih_row_free(&a->r);
    if (e != IH_OK) {
        json_decref(a->out);
        return e;
    }
    *out = a->out;
    return IH_OK;
}

ih_err ih_schedule_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    sched_arg a = {.c = c, .v = v, .body = body};
    return run(&a, true, create_fn, out);
}

ih_err ih_schedule_cancel(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    sched_arg a = {.c = c, .v = v, .id = id};
    return run(&a, true, cancel_fn, out);
}

ih_err ih_schedule_list(ih_clinic *c, const char *from_day, const char *to_day, int64_t staff_id, json_t **out)
{
    int64_t ms;
    if (ih_date_parse(from_day, &ms) != 0) return ih_reject(IH_E_INVALID, "from", "Parameter 'from' must be a date YYYY-MM-DD.");
    if (ih_date_parse(to_day, &ms) != 0) return ih_reject(IH_E_INVALID, "to", "Parameter 'to' must be a date YYYY-MM-DD.");
    sched_arg a = {.c = c, .from = from_day, .to = to_day, .staff_id = staff_id, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    return run(&a, false, list_fn, out);
}
