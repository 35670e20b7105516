/* feedback.c — voices: the patient's evaluation of a closed visit, and
 * adverse-event reports by clinicians (payments: payment.c).  Texts are
 * sealed; rows carry MACs; each write is audited and reported to the
 * supervision platform where the platform asks for it. */
#include "care/care_impl.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)
#define RM (IH_FF_REQUIRED | IH_FF_MAC)
#define CLIN(nm, fl, hi) {nm, IH_F_SEALED, fl, 1, hi, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL}


static const ih_field eval_fields[] = {
    {"visit_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"satisfaction", IH_F_INT, RM, 1, 5, NULL, 0, IH_MASK_NONE, NULL},
    {"score", IH_F_INT, RM, 0, 10, NULL, 0, IH_MASK_NONE, NULL},
    CLIN("text", RM | IH_FF_MULTILINE, 300),
    CLIN("complaint", IH_FF_MAC | IH_FF_MULTILINE, 300),
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_evaluation = IH_TABLE_APPEND_ONLY("evaluation", eval_fields, "至少15年（门诊病历，自最后一次就诊）");


static const ih_field ae_fields[] = {
    {"visit_id", IH_F_INT, IH_FF_MAC, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"kind", IH_F_TEXT, RM, 1, 1, &ih_codes_adverse_kind, 0, IH_MASK_NONE, NULL},
    CLIN("description", RM | IH_FF_MULTILINE, 1000),
    CLIN("cause", RM | IH_FF_MULTILINE, 1000),
    CLIN("measures", RM | IH_FF_MULTILINE, 1000),
    {"damage_degree", IH_F_TEXT, RM, 1, 1, &ih_codes_damage_degree, 0, IH_MASK_NONE, NULL},
    CLIN("improvements", RM | IH_FF_MULTILINE, 1000),
    {"department_id", IH_F_INT, RM, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"reporter_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"event_date", IH_F_DATE, RM, 0, 0, NULL, 0, IH_MASK_NONE, cl_check_birth_date},
    {"reported_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_adverse = IH_TABLE("adverse_event", ae_fields, true, "至少15年（门诊病历，自最后一次就诊）");

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t visit;
    ih_row r, vr;
} fb_arg;

/* The patient of this visit is the viewer. */
static ih_err own_visit(fb_arg *a, ih_tx *tx)
{
    IH_TRY(cl_visit_load(a->c, tx, a->visit, &a->vr, false));
    if (a->v->role != IH_ROLE_PATIENT) return ih_reject(IH_E_FORBIDDEN, NULL, "Only the visit's patient does that.");
    bool treating;
    return cl_visit_access(a->c, tx, a->v, &a->vr, true, &treating);
}

static ih_err eval_fn(ih_tx *tx, void *arg)
{
    fb_arg *a = arg;
    IH_TRY(own_visit(a, tx));
    if (strcmp(ih_row_str(&a->vr, "status"), V_CLOSED))
        return ih_reject(IH_E_STATE, NULL, "A visit is evaluated after it is closed.");
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_evaluation);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    IH_TRY(ih_tx_next_id(tx, "evaluation", &a->r.id));
    ih_row_set_int(&a->r, "visit_id", a->visit);
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    ih_err e = ih_row_insert(tx, a->c->o.keys, &a->r);
    if (e == IH_E_EXISTS) return ih_reject(IH_E_EXISTS, NULL, "This visit is evaluated already.");
    IH_TRY(e);
    IH_TRY(cl_audit(a->c, tx, a->v, "visit.evaluate", "visit", a->visit, NULL));
    return cl_report(a->c, tx, "evaluation", a->r.id);
}

/* Did pharmacist `staff` review a prescription of this visit?  Only
 * verified prescription rows count. */
static ih_err reviewed_in(fb_arg *a, ih_tx *tx, int64_t staff, bool *yes)
{
    *yes = false;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM prescription WHERE visit_id = $1 AND reviewer_id = $2 LIMIT 20", &st));
    ih_stmt_int(st, 1, a->visit);
    ih_stmt_int(st, 2, staff);
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    ih_row rx;
    ih_row_init(&rx, &ih_t_rx);
    ih_err e = IH_OK;
    for (int i = 0; e == IH_OK && i < n && !*yes; i++) {
        bool found;
        e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_rx, ids[i], &rx, &found, false);
        *yes = e == IH_OK && found && ih_row_int(&rx, "visit_id") == a->visit && ih_row_int(&rx, "reviewer_id") == staff;
    }
    ih_row_free(&rx);
    return e;
}

/* An adverse event may name only a visit its reporter has a care
 * relationship with (read access, or for a pharmacist a prescription of it
 * they reviewed); a visit that does not exist answers the same, so the
 * report is no way to learn which visits exist. */
static ih_err adverse_visit(fb_arg *a, ih_tx *tx, int64_t staff)
{
    ih_err e = cl_visit_load(a->c, tx, a->visit, &a->vr, false);
    if (e == IH_OK) {
        bool treating, yes = false;
        e = cl_visit_access(a->c, tx, a->v, &a->vr, false, &treating);
        if (e == IH_E_FORBIDDEN && a->v->role == IH_ROLE_PHARMACIST && (e = reviewed_in(a, tx, staff, &yes)) == IH_OK)
            e = yes ? IH_OK : IH_E_FORBIDDEN;
    }
    if (e == IH_E_NOT_FOUND || e == IH_E_FORBIDDEN)
        return ih_reject(IH_E_FORBIDDEN, "visit_id", "An adverse event may name only a visit you are caring for.");
    return e;
}

static ih_err adverse_fn(ih_tx *tx, void *arg)
{
    fb_arg *a = arg;
    int64_t staff;
    IH_TRY(cl_my_staff(a->c, tx, a->v, &staff));
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_adverse);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, NULL));
    if (ih_row_has(&a->r, "visit_id")) {
        a->visit = ih_row_int(&a->r, "visit_id");
        IH_TRY(adverse_visit(a, tx, staff));
    }
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT 1 FROM department WHERE id = $1", &st));
    ih_stmt_int(st, 1, ih_row_int(&a->r, "department_id"));
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_reject(IH_E_INVALID, "department_id", "No such department.");
    IH_TRY(ih_tx_next_id(tx, "adverse_event", &a->r.id));
    ih_row_set_int(&a->r, "reporter_id", staff);
    ih_row_set_int(&a->r, "reported_at", ih_now_ms());
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "adverse.report", "adverse_event", a->r.id, ih_row_str(&a->r, "damage_degree")));
    return cl_report(a->c, tx, "adverse", a->r.id);
}

static ih_err run(fb_arg *a, const ih_table *t, ih_tx_fn fn, const char *action, json_t **out)
{
    ih_row_init(&a->r, t);
    ih_row_init(&a->vr, &ih_t_visit);
    ih_err e = ih_store_write(a->c->o.store, fn, a);
    cl_refused(a->c, a->v, action, "visit", a->visit, e);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(a->c, t->name, a->visit);
    if (e == IH_OK) e = ih_row_json(&a->r, a->v->role, a->v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_CARE, out);
    ih_row_free(&a->r);
    ih_row_free(&a->vr);
    return e;
}

ih_err ih_evaluation_add(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out)
{
    fb_arg a = {.c = c, .v = v, .body = body, .visit = visit_id};
    return run(&a, &ih_t_evaluation, eval_fn, "visit.evaluate", out);
}

ih_err ih_adverse_report(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    fb_arg a = {.c = c, .v = v, .body = body};
    return run(&a, &ih_t_adverse, adverse_fn, "adverse.report", out);
}

static ih_err adverse_list_fn(ih_tx *tx, void *arg)
{
    fb_arg *a = arg;
    int64_t staff;
    IH_TRY(cl_my_staff(a->c, tx, a->v, &staff));
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM adverse_event WHERE reporter_id = $1 ORDER BY id DESC LIMIT 200", &st));
    ih_stmt_int(st, 1, staff);
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    for (int i = 0; i < n; i++) {
        bool found;
        IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_adverse, ids[i], &a->r, &found));
        json_t *j;
        IH_TRY(ih_row_json(&a->r, a->v->role, IH_REL_CARE, &j));
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

ih_err ih_adverse_list(ih_clinic *c, const ih_viewer *v, json_t **out)
{
    fb_arg a = {.c = c, .v = v, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_row_init(&a.r, &ih_t_adverse);
    ih_err e = ih_store_read(c->o.store, adverse_list_fn, &a);
    ih_row_free(&a.r);
    if (e == IH_OK) e = cl_audit_own(c, v, "adverse.list", "adverse_event", 0, IH_OK, NULL);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}
