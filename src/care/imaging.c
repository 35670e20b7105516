/* imaging.c — imaging orders and their studies in the PACS (his.h): what
 * the worklist needs, a study linked to its order, and who may open it. */
#include "care/his.h"

#include "care/care_impl.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>

static const ih_actor pacs_actor = {.id = 0, .role = "exchange"};

static ih_err pacs_audit(ih_clinic *c, ih_tx *tx, const char *action, int64_t order, const char *reason)
{
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)order);
    ih_audit_event ev = {.action = action, .object_type = "his_order", .object_id = oid, .reason = reason};
    return ih_audit_append(c->o.audit, tx, &pacs_actor, &ev);
}

typedef struct {
    ih_clinic *c;
    int limit;
    json_t *out;
} pending_arg;

static ih_err pending_fn(ih_tx *tx, void *arg)
{
    pending_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    /* the newest: orders nobody cancelled must not crowd out today's */
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM his_order WHERE kind = 'imaging' AND status = 'placed' ORDER BY id DESC "
                             "LIMIT $1", &st));
    ih_stmt_int(st, 1, a->limit);
    ih_buf ids = IH_BUF_INIT;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        int64_t id = ih_col_int(st, 0);
        if ((e = ih_buf_append(&ids, &id, sizeof id)) != IH_OK) break;
    }
    json_t *arr = json_array();
    if (!arr) e = ih_fail(IH_E_NOMEM, "imaging");
    ih_row o, p, s;
    ih_row_init(&o, &ih_t_his_order);
    ih_row_init(&p, &ih_t_patient);
    ih_row_init(&s, &ih_t_staff);
    for (size_t i = 0; e == IH_OK && i < ids.len / sizeof(int64_t); i++) {
        int64_t id;
        memcpy(&id, ids.p + i * sizeof id, sizeof id);
        bool found, pf = false, sf = false;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_order, id, &o, &found);
        if (e != IH_OK || !found) continue;
        e = ih_row_load(tx, a->c->o.keys, &ih_t_patient, ih_row_int(&o, "patient_id"), &p, &pf);
        if (e == IH_OK) e = ih_row_load(tx, a->c->o.keys, &ih_t_staff, ih_row_int(&o, "doctor_id"), &s, &sf);
        if (e != IH_OK || !pf || !sf) continue;
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:{s:I, s:s, s:s, s:s}, s:s}", "id", (json_int_t)id,
                           "accession", ih_row_str(&o, "accession"), "modality", ih_row_str(&o, "modality"), "code",
                           ih_row_str(&o, "code"), "name", ih_row_str(&o, "name"), "created_at",
                           (json_int_t)ih_row_int(&o, "created_at"), "patient", "id",
                           (json_int_t)ih_row_int(&o, "patient_id"), "name", ih_row_str(&p, "name"), "sex",
                           ih_row_str(&p, "sex"), "birth_date", ih_row_str(&p, "birth_date"), "doctor",
                           ih_row_str(&s, "name")));
    }
    ih_row_free(&o);
    ih_row_free(&p);
    ih_row_free(&s);
    ih_buf_free(&ids);
    if (e == IH_OK) a->out = arr;
    else json_decref(arr);
    return e;
}

ih_err ih_his_imaging_pending(ih_clinic *c, int limit, json_t **out)
{
    pending_arg a = {c, limit, NULL};
    IH_TRY(ih_store_read(c->o.store, pending_fn, &a));
    *out = a.out;
    return IH_OK;
}

typedef struct {
    ih_clinic *c;
    int64_t order;
    const char *action, *study;
    const ih_viewer *v;
    bool open;
    char uid[65];
} study_arg;

static ih_err event_fn(ih_tx *tx, void *arg)
{
    study_arg *a = arg;
    return pacs_audit(a->c, tx, a->action, a->order, NULL);
}

ih_err ih_his_imaging_event(ih_clinic *c, int64_t order_id, const char *action)
{
    study_arg a = {.c = c, .order = order_id, .action = action};
    return ih_store_write(c->o.store, event_fn, &a);
}

/* Has a result from the hospital answered order id of patient (care/his.c)? */
static ih_err order_reported(ih_tx *tx, int64_t id, int64_t patient, bool *yes)
{
    int64_t one;
    int n;
    IH_TRY(cl_order_results(tx, id, patient, &one, 1, &n));
    *yes = n > 0;
    return IH_OK;
}

static ih_err link_fn(ih_tx *tx, void *arg)
{
    study_arg *a = arg;
    ih_row o;
    ih_row_init(&o, &ih_t_his_order);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_his_order, a->order, &o, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "order %lld", (long long)a->order);
    if (e == IH_OK && strcmp(ih_row_str(&o, "status"), "placed")) { /* linked before (another node) */
        ih_row_free(&o);
        return IH_OK;
    }
    /* its report may have come first (care/his.c): then the order is answered */
    bool reported = false;
    if (e == IH_OK) e = order_reported(tx, a->order, ih_row_int(&o, "patient_id"), &reported);
    if (e == IH_OK) e = ih_row_set_str(&o, "status", reported ? "resulted" : "imaged");
    if (e == IH_OK) e = ih_row_set_str(&o, "study_uid", a->study);
    if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &o);
    if (e == IH_OK) e = pacs_audit(a->c, tx, "pacs.study_linked", a->order, NULL);
    if (e == IH_OK && reported) e = pacs_audit(a->c, tx, "order.resulted", a->order, NULL);
    ih_row_free(&o);
    return e;
}

ih_err ih_his_order_study(ih_clinic *c, int64_t order_id, const char *study_uid)
{
    if (!ih_dicom_uid_ok(study_uid)) return ih_fail(IH_E_INVALID, "not a DICOM UID");
    study_arg a = {.c = c, .order = order_id, .study = study_uid};
    return ih_store_write(c->o.store, link_fn, &a);
}

static ih_err access_fn(ih_tx *tx, void *arg)
{
    study_arg *a = arg;
    ih_row o, v;
    ih_row_init(&o, &ih_t_his_order);
    ih_row_init(&v, &ih_t_visit);
    bool found, treating;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_his_order, a->order, &o, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No order %lld.", (long long)a->order);
    if (e == IH_OK) e = cl_visit_load(a->c, tx, ih_row_int(&o, "visit_id"), &v, false);
    /* the care relationship and the label, per request */
    if (e == IH_OK) e = cl_visit_access(a->c, tx, a->v, &v, false, &treating);
    if (e == IH_OK && !ih_row_str(&o, "study_uid"))
        e = ih_reject(IH_E_NOT_FOUND, NULL, "No study has arrived in the PACS for order %s yet.", ih_row_str(&o, "order_no"));
    if (e == IH_OK) snprintf(a->uid, sizeof a->uid, "%s", ih_row_str(&o, "study_uid"));
    if (e == IH_OK && a->open) e = cl_audit(a->c, tx, a->v, "pacs.study_open", "his_order", a->order, a->uid);
    ih_row_free(&o);
    ih_row_free(&v);
    return e;
}

ih_err ih_his_study_access(ih_clinic *c, const ih_viewer *v, int64_t order_id, bool audit_open, char study_uid[65])
{
    study_arg a = {.c = c, .order = order_id, .v = v, .open = audit_open};
    ih_err e = audit_open ? ih_store_write(c->o.store, access_fn, &a) : ih_store_read(c->o.store, access_fn, &a);
    if (e != IH_OK) cl_refused(c, v, "pacs.study_open", "his_order", order_id, e);
    else snprintf(study_uid, 65, "%s", a.uid);
    return e;
}

bool ih_dicom_uid_ok(const char *uid)
{
    size_t n = uid ? strlen(uid) : 0;
    if (n < 1 || n > 64 || uid[0] == '.' || uid[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++)
        if (!((uid[i] >= '0' && uid[i] <= '9') || (uid[i] == '.' && uid[i + 1] != '.'))) return false;
    return true;
}
