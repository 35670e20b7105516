/* relation.c — who stands in what relationship to a patient (DESIGN §3.6):
 *   SELF   the patient's own account
 *   CARE   a doctor with a visit with the patient (any state, open or past)
 *          or a live break-glass grant; a nurse of a department the patient
 *          has a visit in; a pharmacist with one of the patient's
 *          prescriptions awaiting review or reviewed by them
 *   OTHER  everyone else (administrators see masked views; clinicians and
 *          patients are refused)
 * L3 8.1.4.2e/f: access decided per record, never by role alone. */
#include "clinic/clinic_impl.h"

#include "core/clock.h"

static ih_err exists(ih_tx *tx, const char *sql, int64_t a, int64_t b, int64_t c3, bool *yes)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, sql, &st));
    ih_stmt_int(st, 1, a);
    ih_stmt_int(st, 2, b);
    if (c3 >= 0) ih_stmt_int(st, 3, c3);
    return ih_stmt_step(st, yes);
}

ih_err cl_patient_relation(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t patient_id, int64_t patient_account,
                           ih_relation *rel)
{
    *rel = IH_REL_OTHER;
    if (patient_account && v->actor.id == patient_account) {
        *rel = IH_REL_SELF;
        return IH_OK;
    }
    if (v->role != IH_ROLE_DOCTOR && v->role != IH_ROLE_NURSE && v->role != IH_ROLE_PHARMACIST) return IH_OK;
    int64_t staff;
    ih_err e = ih_staff_of_account(c, tx, v->actor.id, &staff);
    if (e == IH_E_NOT_FOUND) return IH_OK;
    IH_TRY(e);
    bool yes = false;
    switch (v->role) {
    case IH_ROLE_DOCTOR:
        IH_TRY(exists(tx, "SELECT 1 FROM visit WHERE patient_id = $1 AND doctor_id = $2 LIMIT 1", patient_id, staff, -1,
                      &yes));
        if (!yes)
            IH_TRY(exists(tx, "SELECT 1 FROM break_glass WHERE patient_id = $1 AND staff_id = $2 AND expires_at > $3 LIMIT 1",
                          patient_id, staff, ih_now_ms(), &yes));
        break;
    case IH_ROLE_NURSE:
        IH_TRY(exists(tx, "SELECT 1 FROM visit v JOIN staff_department d ON d.department_id = v.department_id "
                          "WHERE v.patient_id = $1 AND d.staff_id = $2 LIMIT 1", patient_id, staff, -1, &yes));
        break;
    default:
        IH_TRY(exists(tx, "SELECT 1 FROM prescription WHERE patient_id = $1 AND (status = 'issued' OR reviewer_id = $2) "
                          "LIMIT 1", patient_id, staff, -1, &yes));
    }
    if (yes) *rel = IH_REL_CARE;
    return IH_OK;
}

ih_err cl_patients_visible(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t after, int limit, int64_t *ids, int *n)
{
    *n = 0;
    const char *sql;
    int64_t who = 0;
    switch (v->role) {
    case IH_ROLE_SYSADMIN:
    case IH_ROLE_SECADMIN: sql = "SELECT id FROM patient WHERE id > $1 AND $2 = $2 ORDER BY id LIMIT $3"; break;
    case IH_ROLE_PATIENT:
        sql = "SELECT id FROM patient WHERE id > $1 AND account_id = $2 ORDER BY id LIMIT $3";
        who = v->actor.id;
        break;
    case IH_ROLE_DOCTOR:
    case IH_ROLE_NURSE:
    case IH_ROLE_PHARMACIST: {
        ih_err e = ih_staff_of_account(c, tx, v->actor.id, &who);
        if (e == IH_E_NOT_FOUND) return IH_OK;
        IH_TRY(e);
        sql = v->role == IH_ROLE_DOCTOR
                  ? "SELECT DISTINCT patient_id FROM visit WHERE patient_id > $1 AND doctor_id = $2 "
                    "ORDER BY patient_id LIMIT $3"
              : v->role == IH_ROLE_NURSE
                  ? "SELECT DISTINCT v.patient_id FROM visit v JOIN staff_department d ON d.department_id = v.department_id "
                    "WHERE v.patient_id > $1 AND d.staff_id = $2 ORDER BY v.patient_id LIMIT $3"
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
    ih_stmt_int(st, 2, who);
    ih_stmt_int(st, 3, limit);
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && *n < limit) ids[(*n)++] = ih_col_int(st, 0);
    return e;
}
