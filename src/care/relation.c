/* relation.c — who stands in what relationship to a patient (DESIGN §3.6):
 *   SELF   the patient's own account
 *   CARE   a doctor with a visit with the patient (any state, open or past),
 *          or with a live break-glass grant while the patient has care
 *          outside level 5 (break-glass never opens level 5, so a patient
 *          seen only at level 5 stays hidden); a nurse of a department the
 *          patient has a visit below level 5 in; a pharmacist with one of
 *          the patient's prescriptions awaiting review or reviewed by them
 *   OTHER  everyone else (administrators see masked views; clinicians and
 *          patients are refused)
 * Every row a relationship rests on is loaded and its MAC and version
 * checked before it counts — the viewer's staff row (suspended: no
 * relationship), the visit, the grant, the prescription: a row inserted or
 * edited in the database grants nothing (IH_E_INTEGRITY).
 * L3 8.1.4.2e/f: access decided per record, never by role alone. */
#include "care/care_impl.h"

#include "core/clock.h"

#include <string.h>

#define CANDIDATES 64

/* What a verified candidate row must satisfy. */
typedef bool (*row_test)(const ih_row *r, const void *ctx);

/* Rows of table t whose ids `sql` selects (its parameters a, b), loaded
 * and verified; *yes when one passes test.  At most CANDIDATES looked at. */
static ih_err verified_any(ih_clinic *c, ih_tx *tx, const ih_table *t, const char *sql, int64_t a, int64_t b,
                           row_test test, const void *ctx, bool *yes)
{
    int64_t ids[CANDIDATES];
    int n = 0;
    ih_stmt *st;
    bool row;
    ih_err e;
    *yes = false;
    IH_TRY(ih_tx_prepare(tx, sql, &st));
    ih_stmt_int(st, 1, a);
    ih_stmt_int(st, 2, b);
    while (n < CANDIDATES && (e = ih_stmt_step(st, &row)) == IH_OK && row) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    if (n == CANDIDATES) IH_TRY(ih_stmt_exec(st));
    ih_row r;
    ih_row_init(&r, t);
    for (int i = 0; e == IH_OK && i < n && !*yes; i++) {
        bool found;
        e = ih_row_load_opt(tx, c->o.keys, t, ids[i], &r, &found, false);
        if (e == IH_OK && found) *yes = test(&r, ctx);
    }
    ih_row_free(&r);
    return e;
}

typedef struct {
    int64_t patient;
    const cl_staff *s;
} who;

static bool treated_by(const ih_row *v, const void *ctx)
{
    const who *w = ctx;
    return ih_row_int(v, "patient_id") == w->patient && ih_row_int(v, "doctor_id") == w->s->id;
}

static bool below_5(const ih_row *v, const void *ctx)
{
    const who *w = ctx;
    return ih_row_int(v, "patient_id") == w->patient && ih_row_int(v, "label") < 5;
}

static bool nursed_by(const ih_row *v, const void *ctx)
{
    const who *w = ctx;
    return below_5(v, ctx) && cl_staff_in(w->s, ih_row_int(v, "department_id"));
}

static bool for_pharmacist(const ih_row *rx, const void *ctx)
{
    const who *w = ctx;
    return ih_row_int(rx, "patient_id") == w->patient &&
           (!strcmp(ih_row_str(rx, "status"), "issued") || ih_row_int(rx, "reviewer_id") == w->s->id);
}

static bool always(const ih_row *r, const void *ctx)
{
    (void)r;
    (void)ctx;
    return true;
}

/* May a break-glass grant open this patient?  Not when all their care is
 * at level 5: break-glass never opens level 5, not even the fact of it. */
static ih_err break_glass_opens(ih_clinic *c, ih_tx *tx, int64_t patient, bool *opens)
{
    who w = {patient, NULL};
    bool any;
    IH_TRY(verified_any(c, tx, &ih_t_visit, "SELECT id FROM visit WHERE patient_id = $1 AND $2 = $2 LIMIT 64", patient,
                        0, always, &w, &any));
    if (!any) {
        *opens = true;
        return IH_OK;
    }
    return verified_any(c, tx, &ih_t_visit, "SELECT id FROM visit WHERE patient_id = $1 AND label < $2 LIMIT 64",
                        patient, 5, below_5, &w, opens);
}

ih_err care_patient_relation(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t patient_id, int64_t patient_account,
                           ih_relation *rel)
{
    *rel = IH_REL_OTHER;
    if (patient_account && v->actor.id == patient_account) {
        *rel = IH_REL_SELF;
        return IH_OK;
    }
    if (v->role != IH_ROLE_DOCTOR && v->role != IH_ROLE_NURSE && v->role != IH_ROLE_PHARMACIST) return IH_OK;
    cl_staff s;
    ih_err e = cl_staff_load(c, tx, v->actor.id, &s);
    if (e == IH_E_NOT_FOUND) return IH_OK;
    IH_TRY(e);
    if (!s.active || strcmp(s.kind, ih_role_name(v->role))) return IH_OK; /* suspended, or not this profession */
    who w = {patient_id, &s};
    bool yes = false;
    switch (v->role) {
    case IH_ROLE_DOCTOR:
        IH_TRY(verified_any(c, tx, &ih_t_visit, "SELECT id FROM visit WHERE patient_id = $1 AND doctor_id = $2 LIMIT 64",
                            patient_id, s.id, treated_by, &w, &yes));
        if (!yes) {
            IH_TRY(cl_break_glass_live(c, tx, s.id, patient_id, &yes));
            if (yes) IH_TRY(break_glass_opens(c, tx, patient_id, &yes));
        }
        break;
    case IH_ROLE_NURSE:
        IH_TRY(verified_any(c, tx, &ih_t_visit,
                            "SELECT v.id FROM visit v JOIN staff_department d ON d.department_id = v.department_id "
                            "WHERE v.patient_id = $1 AND d.staff_id = $2 AND v.label < 5 LIMIT 64",
                            patient_id, s.id, nursed_by, &w, &yes));
        break;
    default:
        IH_TRY(verified_any(c, tx, &ih_t_rx,
                            "SELECT id FROM prescription WHERE patient_id = $1 AND (status = 'issued' OR reviewer_id = $2) "
                            "LIMIT 64",
                            patient_id, s.id, for_pharmacist, &w, &yes));
    }
    if (yes) *rel = IH_REL_CARE;
    return IH_OK;
}

/* Candidates only: the caller (the patient list) decides each one with
 * cl_patient_relation, on verified rows. */
ih_err care_patients_visible(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t after, int limit, int64_t *ids, int *n)
{
    *n = 0;
    const char *sql;
    int64_t who_id = 0;
    switch (v->role) {
    case IH_ROLE_SYSADMIN:
    case IH_ROLE_SECADMIN: sql = "SELECT id FROM patient WHERE id > $1 AND $2 = $2 ORDER BY id LIMIT $3"; break;
    case IH_ROLE_PATIENT:
        sql = "SELECT id FROM patient WHERE id > $1 AND account_id = $2 ORDER BY id LIMIT $3";
        who_id = v->actor.id;
        break;
    case IH_ROLE_DOCTOR:
    case IH_ROLE_NURSE:
    case IH_ROLE_PHARMACIST: {
        ih_err e = ih_staff_of_account(c, tx, v->actor.id, &who_id);
        if (e == IH_E_NOT_FOUND) return IH_OK;
        IH_TRY(e);
        sql = v->role == IH_ROLE_DOCTOR
                  ? "SELECT DISTINCT patient_id FROM visit WHERE patient_id > $1 AND doctor_id = $2 "
                    "ORDER BY patient_id LIMIT $3"
              : v->role == IH_ROLE_NURSE
                  ? "SELECT DISTINCT v.patient_id FROM visit v JOIN staff_department d ON d.department_id = v.department_id "
                    "WHERE v.patient_id > $1 AND d.staff_id = $2 AND v.label < 5 ORDER BY v.patient_id LIMIT $3"
                  : "SELECT DISTINCT patient_id FROM prescription WHERE patient_id > $1 AND (status = 'issued' OR "
                    "reviewer_id = $2) ORDER BY patient_id LIMIT $3";
        break;
    }
    default: return IH_OK;
    }
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, sql, &st));
    ih_stmt_int(st, 1, after);
    ih_stmt_int(st, 2, who_id);
    ih_stmt_int(st, 3, limit);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && *n < limit) ids[(*n)++] = ih_col_int(st, 0);
    return e;
}
