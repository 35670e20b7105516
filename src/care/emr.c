/* emr.c — the medical record of a visit: chief complaint, present history,
 * ICD-10 diagnosis codes and text, opinion, auxiliary results.  Written by
 * the treating doctor and signed with their key; never changed or deleted
 * (database triggers refuse it): a correction is a new revision with its
 * reason, and every revision stays readable.  Kept at least 15 years. */
#include "care/care_impl.h"

#include "core/clock.h"
#include "crypto/protect.h"

#include <stdio.h>
#include <string.h>

#define CLIN(nm, fl, hi) {nm, IH_F_SEALED, fl, 1, hi, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL}
#define SM (IH_FF_SERVER | IH_FF_MAC)
#define RMM (IH_FF_REQUIRED | IH_FF_MAC | IH_FF_MULTILINE)

static const ih_field fields[] = {
    {"visit_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"revision", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"author_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    CLIN("chief_complaint", RMM, 1000),
    CLIN("present_history", RMM, 2000),
    CLIN("diagnosis_codes", SM, 200),
    CLIN("diagnosis", RMM, 500),
    CLIN("opinion", RMM, 2000),
    CLIN("assist_result", IH_FF_MAC | IH_FF_MULTILINE, 2000),
    {"correction_reason_legacy", IH_F_TEXT, IH_FF_MAC | IH_FF_LEGACY, 0, 0, NULL, 0, IH_MASK_NONE, NULL,
     "correction_reason"},
    {"label", IH_F_INT, IH_FF_MAC, 1, 5, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sign_key_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"signature", IH_F_BLOB, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* why a revision corrects the one before, sealed (migration 14) */
    {"correction_reason", IH_F_SEALED, IH_FF_MAC | IH_FF_ADDED | IH_FF_MULTILINE, 2, 200, NULL, IH_KP_CLINICAL,
     IH_FIELD_CLINICAL, NULL},
};
ih_table ih_t_emr = IH_TABLE_APPEND_ONLY("record", fields, "至少15年（门诊病历，自最后一次就诊）");

static const char *const extra[] = {"diagnosis_codes", NULL};

/* What the doctor signs: every clinical field, the visit, the revision, the
 * author and the time, in the canonical encoding. */
static ih_err emr_canon(const ih_row *r, ih_buf *out)
{
    ih_canon c = {0};
    ih_canon_text(&c, "ihos-record-v1");
    ih_canon_int(&c, r->id);
    static const char *const ints[] = {"visit_id", "revision", "author_id", "label", "created_at", NULL};
    static const char *const texts[] = {"chief_complaint", "present_history", "diagnosis_codes", "diagnosis",
                                        "opinion", "assist_result", "correction_reason", NULL};
    for (const char *const *f = ints; *f; f++) ih_canon_int(&c, ih_row_int(r, *f));
    for (const char *const *f = texts; *f; f++) ih_canon_text(&c, ih_row_str(r, *f));
    ih_err e = c.err != IH_OK ? c.err : ih_buf_append(out, c.b.p, c.b.len);
    ih_canon_free(&c);
    return e;
}

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t visit;
    ih_row r, vr;
} emr_arg;

static ih_err add_fn(ih_tx *tx, void *arg)
{
    emr_arg *a = arg;
    if (!a->v->strong) return ih_reject(IH_E_FORBIDDEN, NULL, "Signing needs your full two-factor session.");
    IH_TRY(cl_visit_load(a->c, tx, a->visit, &a->vr, true));
    bool treating;
    IH_TRY(cl_visit_access(a->c, tx, a->v, &a->vr, true, &treating));
    if (!treating) return ih_reject(IH_E_FORBIDDEN, NULL, "Only the treating doctor writes the record.");
    const char *st = ih_row_str(&a->vr, "status");
    if (strcmp(st, V_ACCEPTED) && strcmp(st, V_CLOSED))
        return ih_reject(IH_E_STATE, NULL, "Records belong to accepted or closed visits (this one is %s).", st);
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_emr);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, extra));
    ih_buf codes = IH_BUF_INIT;
    ih_err e = cl_icd_codes(tx, a->body, "diagnosis_codes", &codes);
    if (e == IH_OK) e = ih_row_set_str(&a->r, "diagnosis_codes", codes.p);
    ih_buf_free(&codes);
    IH_TRY(e);
    ih_stmt *q;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT COALESCE(MAX(revision), 0) FROM record WHERE visit_id = $1", &q));
    ih_stmt_int(q, 1, a->visit);
    IH_TRY(ih_stmt_step(q, &row));
    int64_t rev = ih_col_int(q, 0) + 1;
    if (rev > 1 && !ih_row_has(&a->r, "correction_reason"))
        return ih_reject(IH_E_INVALID, "correction_reason", "A revision says why the record is corrected.");
    if (rev == 1 && ih_row_has(&a->r, "correction_reason"))
        return ih_reject(IH_E_INVALID, "correction_reason", "The first record of a visit corrects nothing.");
    int64_t label = ih_row_has(&a->r, "label") ? ih_row_int(&a->r, "label") : ih_row_int(&a->vr, "label");
    ih_row_set_int(&a->r, "label", label);
    int64_t staff;
    IH_TRY(cl_my_staff(a->c, tx, a->v, &staff));
    IH_TRY(ih_tx_next_id(tx, "record", &a->r.id));
    ih_row_set_int(&a->r, "visit_id", a->visit);
    ih_row_set_int(&a->r, "revision", rev);
    ih_row_set_int(&a->r, "author_id", staff);
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    ih_buf content = IH_BUF_INIT, sig = IH_BUF_INIT;
    int64_t key_id = 0;
    e = emr_canon(&a->r, &content);
    if (e == IH_OK) e = cl_sign(a->c, tx, staff, &content, &key_id, &sig);
    ih_row_set_int(&a->r, "sign_key_id", key_id);
    if (e == IH_OK) e = ih_row_set_blob(&a->r, "signature", sig.p, sig.len);
    ih_buf_wipe(&content);
    ih_buf_free(&sig);
    IH_TRY(e);
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    /* A record more sensitive than its visit raises the visit's label. */
    if (label > ih_row_int(&a->vr, "label")) {
        ih_row_set_int(&a->vr, "label", label);
        ih_row_set_int(&a->vr, "updated_at", ih_now_ms());
        IH_TRY(ih_row_update(tx, a->c->o.keys, &a->vr));
    }
    char why[48];
    snprintf(why, sizeof why, "revision %lld", (long long)rev);
    IH_TRY(cl_audit(a->c, tx, a->v, rev == 1 ? "record.create" : "record.revise", "record", a->r.id, why));
    IH_TRY(cl_his_emit(a->c, tx, "record", a->r.id));
    return cl_report(a->c, tx, "record", a->r.id);
}

static ih_err record_json(ih_tx *tx, const ih_row *r, const ih_viewer *v, json_t **out)
{
    IH_TRY(ih_row_json(r, v->role, v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_CARE, out));
    /* diagnosis codes as a list with their names */
    if (json_object_get(*out, "diagnosis_codes"))
        json_object_set_new(*out, "diagnosis_codes", cl_icd_view(tx, ih_row_str(r, "diagnosis_codes")));
    return IH_OK;
}

static ih_err added_view_fn(ih_tx *tx, void *arg)
{
    emr_arg *a = arg;
    return record_json(tx, &a->r, a->v, &a->out);
}

ih_err ih_record_add(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out)
{
    emr_arg a = {.c = c, .v = v, .body = body, .visit = visit_id};
    ih_row_init(&a.r, &ih_t_emr);
    ih_row_init(&a.vr, &ih_t_visit);
    ih_err e = ih_store_write(c->o.store, add_fn, &a);
    cl_refused(c, v, "record.create", "visit", visit_id, e);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "visit", visit_id);
    if (e == IH_OK) e = ih_store_read(c->o.store, added_view_fn, &a); /* the same view as a read's */
    if (e == IH_OK) *out = a.out;
    ih_row_free(&a.r);
    ih_row_free(&a.vr);
    return e;
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    emr_arg *a = arg;
    IH_TRY(cl_visit_load(a->c, tx, a->visit, &a->vr, false));
    bool treating;
    IH_TRY(cl_visit_access(a->c, tx, a->v, &a->vr, false, &treating));
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM record WHERE visit_id = $1 ORDER BY revision", &st));
    ih_stmt_int(st, 1, a->visit);
    int64_t ids[256];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 256) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < n; i++) {
        bool found;
        IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_emr, ids[i], &a->r, &found));
        if (ih_row_int(&a->r, "label") == 5 && !treating && a->v->role != IH_ROLE_PATIENT)
            return ih_reject(IH_E_FORBIDDEN, NULL, "A level-5 record: only its doctor and patient.");
        json_t *j;
        IH_TRY(record_json(tx, &a->r, a->v, &j));
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

ih_err ih_record_list(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t **out)
{
    emr_arg a = {.c = c, .v = v, .visit = visit_id, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_row_init(&a.r, &ih_t_emr);
    ih_row_init(&a.vr, &ih_t_visit);
    ih_err e = ih_store_read(c->o.store, list_fn, &a);
    ih_row_free(&a.r);
    ih_row_free(&a.vr);
    cl_refused(c, v, "record.read", "visit", visit_id, e);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "record", visit_id);
    if (e == IH_OK) e = cl_audit_own(c, v, "record.read", "visit", visit_id, IH_OK, NULL);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}
