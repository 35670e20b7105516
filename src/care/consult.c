/* consult.c — remote care between institutions (consult.h): cooperation
 * agreements, the request and its state machine, the experts and their
 * signatures, the material and who may open it. */
#include "care/consult.h"
#include "care/care_impl.h"

#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)
#define RM (IH_FF_REQUIRED | IH_FF_MAC)

static ih_err check_services(const ih_row *r, const char *field, const char *v);
static ih_err check_iso(const ih_row *r, const char *field, const char *v);

static const ih_field agreement_fields[] = {
    {"partner", IH_F_TEXT, RM | IH_FF_FIXED, 1, 64, NULL, 0, IH_MASK_NONE, NULL},
    {"partner_organ_id", IH_F_TEXT, RM | IH_FF_FIXED | IH_FF_UPPER, 9, 18, NULL, 0, IH_MASK_NONE, cl_check_organ_id},
    {"document_no", IH_F_TEXT, RM | IH_FF_FIXED, 1, 64, NULL, 0, IH_MASK_NONE, cl_check_token},
    {"services", IH_F_TEXT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, check_services},
    {"valid_from", IH_F_DATE, RM | IH_FF_FIXED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"valid_to", IH_F_DATE, RM | IH_FF_FIXED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_by", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"revoked_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_agreement = IH_TABLE("remote_agreement", agreement_fields, true, "协议有效期满后至少3年");

static const ih_field consult_fields[] = {
    {"visit_id", IH_F_INT, IH_FF_REQUIRED | IH_FF_MAC, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"patient_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"requester_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"agreement_id", IH_F_INT, IH_FF_REQUIRED | IH_FF_MAC, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"type", IH_F_TEXT, RM, 1, 12, &ih_codes_consult_kind, 0, IH_MASK_NONE, NULL},
    {"status", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"reason", IH_F_SEALED, RM | IH_FF_MULTILINE, 1, 500, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"purpose", IH_F_SEALED, RM | IH_FF_MULTILINE, 1, 500, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"summary", IH_F_SEALED, RM | IH_FF_MULTILINE, 1, 4000, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"qualifications", IH_F_TEXT, IH_FF_MAC, 0, 200, NULL, 0, IH_MASK_NONE, NULL},
    {"proposed_at", IH_F_TEXT, RM, 20, 24, NULL, 0, IH_MASK_NONE, check_iso},
    {"scheduled_at", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"consent_by", IH_F_TEXT, RM, 1, 8, &ih_codes_consent_by, 0, IH_MASK_NONE, NULL},
    {"guardian", IH_F_SEALED, IH_FF_MAC, 1, 32, NULL, IH_KP_PERSONAL, IH_FIELD_NAME, NULL},
    {"consent_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"approved_by", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"approved_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"decided_by", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"decided_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"reject_reason", IH_F_SEALED, SM, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"started_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"report", IH_F_SEALED, SM | IH_FF_MULTILINE, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"hr", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"pr", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"qrs", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"qt", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"qtc", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"axis", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"reported_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"signed_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"returned_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"decision", IH_F_SEALED, SM | IH_FF_MULTILINE, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"acknowledged_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"closed_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"cancelled_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"label", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"updated_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_consult = IH_TABLE("consult", consult_fields, true, "至少15年（远程会诊记录，随门诊病历）");

static const ih_field expert_fields[] = {
    {"consult_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"staff_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"lead", IH_F_BOOL, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"signed_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sign_key_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"signature", IH_F_BLOB, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_consult_expert = IH_TABLE("consult_expert", expert_fields, true, "至少15年（远程会诊记录，随门诊病历）");

static const ih_field material_fields[] = {
    {"consult_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"kind", IH_F_TEXT, RM, 1, 8, &ih_codes_material_kind, 0, IH_MASK_NONE, NULL},
    {"ref_id", IH_F_INT, RM, 1, INT64_MAX, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_consult_material = IH_TABLE_APPEND_ONLY("consult_material", material_fields,
                                                      "至少15年（远程会诊记录，随门诊病历）");

#define MAX_EXPERTS 8
#define MAX_MATERIAL 16

static ih_err check_iso(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    int64_t ms;
    if (ih_time_parse_iso(v, &ms) != 0)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be a time like 2026-12-03T08:00:00Z.", field);
    return IH_OK;
}

static ih_err check_services(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    char one[16];
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, ",");
        if (!n || n >= sizeof one) return ih_reject(IH_E_INVALID, field, "Field '%s' lists remote care types.", field);
        snprintf(one, sizeof one, "%.*s", (int)n, p);
        if (!ih_code_name(&ih_codes_consult_kind, one))
            return ih_reject(IH_E_INVALID, field, "'%s' is not a remote care type (GET /api/v1/codes/remote_type).", one);
        p += n + (p[n] == ',');
    }
    return IH_OK;
}

/* ---- agreements ------------------------------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t id;
    const char *action;
    ih_row r;
} ag_arg;

static ih_err ag_add_fn(ih_tx *tx, void *arg)
{
    ag_arg *a = arg;
    static const char *const extra[] = {"services", NULL};
    IH_TRY(ih_row_from_json(&a->r, a->body, true, extra));
    json_t *sv = json_object_get(a->body, "services");
    if (!json_is_array(sv) || !json_array_size(sv) || json_array_size(sv) > 6)
        return ih_reject(IH_E_INVALID, "services", "Field 'services' lists the remote care types agreed (1 to 6).");
    ih_buf list = IH_BUF_INIT;
    size_t i;
    json_t *x;
    ih_err e = IH_OK;
    json_array_foreach(sv, i, x) {
        if (e == IH_OK && !json_is_string(x)) e = ih_reject(IH_E_INVALID, "services", "Each service is a type code.");
        if (e == IH_OK) e = ih_buf_printf(&list, "%s%s", i ? "," : "", json_string_value(x));
    }
    if (e == IH_OK) e = check_services(&a->r, "services", list.p ? list.p : "");
    if (e == IH_OK) e = ih_row_set_str(&a->r, "services", list.p);
    ih_buf_free(&list);
    IH_TRY(e);
    if (strcmp(ih_row_str(&a->r, "valid_from"), ih_row_str(&a->r, "valid_to")) > 0)
        return ih_reject(IH_E_INVALID, "valid_to", "Field 'valid_to' must not be before 'valid_from'.");
    IH_TRY(ih_tx_next_id(tx, "remote_agreement", &a->r.id));
    ih_row_set_int(&a->r, "created_by", a->v->actor.id);
    ih_row_set_int(&a->r, "created_at", ih_now_ms());
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "agreement.create", "remote_agreement", a->r.id, ih_row_str(&a->r, "document_no"));
}

static ih_err ag_view(ih_clinic *c, const ih_row *r, json_t **out)
{
    IH_TRY(ih_row_json_full(r, out));
    char today[11];
    cl_today(c, today);
    bool valid = !ih_row_has(r, "revoked_at") && strcmp(ih_row_str(r, "valid_from"), today) <= 0 &&
                 strcmp(ih_row_str(r, "valid_to"), today) >= 0;
    json_t *sv = json_array();
    const char *s = ih_row_str(r, "services");
    for (const char *p = s ? s : ""; sv && *p;) {
        size_t n = strcspn(p, ",");
        json_array_append_new(sv, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    if (!sv || json_object_set_new(*out, "services", sv) || json_object_set_new(*out, "valid", json_boolean(valid)))
        return ih_fail(IH_E_NOMEM, "agreement");
    return IH_OK;
}

ih_err ih_agreement_add(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    ag_arg a = {.c = c, .v = v, .body = body};
    ih_row_init(&a.r, &ih_t_agreement);
    ih_err e = ih_store_write(c->o.store, ag_add_fn, &a);
    if (e == IH_OK) e = ag_view(c, &a.r, out);
    ih_row_free(&a.r);
    return e;
}

static ih_err ag_revoke_fn(ih_tx *tx, void *arg)
{
    ag_arg *a = arg;
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_agreement, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No such agreement.");
    if (ih_row_has(&a->r, "revoked_at")) return ih_reject(IH_E_STATE, NULL, "The agreement is already revoked.");
    ih_row_set_int(&a->r, "revoked_at", ih_now_ms());
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "agreement.revoke", "remote_agreement", a->id, NULL);
}

ih_err ih_agreement_revoke(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    ag_arg a = {.c = c, .v = v, .id = id};
    ih_row_init(&a.r, &ih_t_agreement);
    ih_err e = ih_store_write(c->o.store, ag_revoke_fn, &a);
    cl_refused(c, v, "agreement.revoke", "remote_agreement", id, e);
    if (e == IH_OK) e = ag_view(c, &a.r, out);
    ih_row_free(&a.r);
    return e;
}

static ih_err ag_list_fn(ih_tx *tx, void *arg)
{
    ag_arg *a = arg;
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM remote_agreement ORDER BY id DESC LIMIT 200", &st));
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    json_t *list = json_array();
    IH_CHECK_ALLOC(list);
    a->out = list;
    for (int i = 0; i < n; i++) {
        ih_row r;
        ih_row_init(&r, &ih_t_agreement);
        bool found;
        json_t *j = NULL;
        ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_agreement, ids[i], &r, &found);
        if (e == IH_OK && found) e = ag_view(a->c, &r, &j);
        if (e == IH_OK && j && json_array_append_new(list, j)) e = ih_fail(IH_E_NOMEM, "agreement");
        ih_row_free(&r);
        IH_TRY(e);
    }
    return IH_OK;
}

ih_err ih_agreement_list(ih_clinic *c, const ih_viewer *v, json_t **out)
{
    ag_arg a = {.c = c, .v = v};
    ih_err e = ih_store_read(c->o.store, ag_list_fn, &a);
    if (e == IH_OK) e = cl_audit_own(c, v, "agreement.list", "remote_agreement", 0, IH_OK, NULL);
    if (e == IH_OK) {
        *out = json_pack("{s:O}", "agreements", a.out);
        if (!*out) e = ih_fail(IH_E_NOMEM, "agreement");
    }
    json_decref(a.out);
    return e;
}

/* ---- who the viewer is to a consult ----------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t id, material;
    const char *action;
    bool audit_open;
    cl_staff me;
    bool requester, expert, lead, medoffice;
    ih_row r;
    char kind[16], uid[65];
    json_t *view;
} cs_arg;

static ih_err is_medoffice(ih_clinic *c, ih_tx *tx, const cl_staff *s, bool *yes)
{
    *yes = false;
    for (int i = 0; i < s->ndept && !*yes; i++) {
        ih_row d;
        ih_row_init(&d, &ih_t_department);
        bool found;
        ih_err e = ih_row_load(tx, c->o.keys, &ih_t_department, s->dept[i], &d, &found);
        if (e == IH_OK && found && ih_row_str(&d, "kind") && !strcmp(ih_row_str(&d, "kind"), "medoffice")) *yes = true;
        ih_row_free(&d);
        IH_TRY(e);
    }
    return IH_OK;
}

/* The expert row of staff on consult (id 0: not invited). */
static ih_err expert_row(ih_tx *tx, int64_t consult, int64_t staff, int64_t *id)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM consult_expert WHERE consult_id = $1 AND staff_id = $2", &st));
    ih_stmt_int(st, 1, consult);
    ih_stmt_int(st, 2, staff);
    bool row;
    IH_TRY(ih_stmt_step(st, &row));
    *id = row ? ih_col_int(st, 0) : 0;
    return ih_stmt_exec(st);
}

/* Load consult a->id and say who the viewer is to it; nobody: 403. */
static ih_err who(cs_arg *a, ih_tx *tx)
{
    if (a->v->role != IH_ROLE_DOCTOR) return ih_reject(IH_E_FORBIDDEN, NULL, "Remote care is between doctors.");
    IH_TRY(cl_my_staff_full(a->c, tx, a->v, &a->me));
    bool found;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_consult);
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_consult, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No such consultation.");
    a->requester = ih_row_int(&a->r, "requester_id") == a->me.id;
    int64_t ex;
    IH_TRY(expert_row(tx, a->id, a->me.id, &ex));
    a->expert = ex != 0;
    if (ex) {
        ih_row e;
        ih_row_init(&e, &ih_t_consult_expert);
        ih_err err = ih_row_load(tx, a->c->o.keys, &ih_t_consult_expert, ex, &e, &found);
        a->lead = err == IH_OK && found && ih_row_int(&e, "lead");
        ih_row_free(&e);
        IH_TRY(err);
    }
    IH_TRY(is_medoffice(a->c, tx, &a->me, &a->medoffice));
    if (!a->requester && !a->expert && !a->medoffice)
        return ih_reject(IH_E_FORBIDDEN, NULL, "You take no part in this consultation.");
    return IH_OK;
}

static bool st_is(const ih_row *r, const char *s) { return !strcmp(ih_row_str(r, "status"), s); }

/* ---- create ----------------------------------------------------------------------------------- */

/* Material kind/ref must be the consult's patient's: a study or ECG order
 * whose study arrived, a record, a result. */
static ih_err check_material(ih_clinic *c, ih_tx *tx, int64_t patient, const char *kind, int64_t ref)
{
    bool found = false, ok = false;
    ih_row r;
    ih_err e;
    if (!strcmp(kind, "study") || !strcmp(kind, "ecg")) {
        ih_row_init(&r, &ih_t_his_order);
        e = ih_row_load_opt(tx, c->o.keys, &ih_t_his_order, ref, &r, &found, false);
        const char *mod = found ? ih_row_str(&r, "modality") : NULL;
        ok = found && ih_row_int(&r, "patient_id") == patient && ih_row_str(&r, "study_uid") &&
             (!strcmp(kind, "ecg") ? mod && !strcmp(mod, "ECG") : !mod || strcmp(mod, "ECG"));
    } else if (!strcmp(kind, "record")) {
        ih_row_init(&r, &ih_t_emr);
        e = ih_row_load_opt(tx, c->o.keys, &ih_t_emr, ref, &r, &found, false);
        if (e == IH_OK && found) {
            ih_row vr;
            ih_row_init(&vr, &ih_t_visit);
            e = cl_visit_load(c, tx, ih_row_int(&r, "visit_id"), &vr, false);
            ok = e == IH_OK && ih_row_int(&vr, "patient_id") == patient;
            ih_row_free(&vr);
        }
    } else {
        ih_row_init(&r, &ih_t_his_result);
        e = ih_row_load_opt(tx, c->o.keys, &ih_t_his_result, ref, &r, &found, false);
        if (e == IH_OK && found) {
            ih_row l;
            ih_row_init(&l, &ih_t_his_link);
            bool lf;
            e = ih_row_load_opt(tx, c->o.keys, &ih_t_his_link, ih_row_int(&r, "link_id"), &l, &lf, false);
            ok = e == IH_OK && lf && ih_row_int(&l, "patient_id") == patient;
            ih_row_free(&l);
        }
    }
    ih_row_free(&r);
    IH_TRY(e);
    if (!ok)
        return ih_reject(IH_E_INVALID, "materials",
                         "Material %s %lld is not this patient's (or its study has not arrived).", kind, (long long)ref);
    return IH_OK;
}

static ih_err create_fn(ih_tx *tx, void *arg)
{
    cs_arg *a = arg;
    if (a->v->role != IH_ROLE_DOCTOR) return ih_reject(IH_E_FORBIDDEN, NULL, "Remote care is between doctors.");
    if (!a->v->strong) return ih_reject(IH_E_FORBIDDEN, NULL, "Requesting needs your full two-factor session.");
    IH_TRY(cl_my_staff_full(a->c, tx, a->v, &a->me));
    static const char *const extra[] = {"experts", "materials", NULL};
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_consult);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, extra));
    if (!strcmp(ih_row_str(&a->r, "consent_by"), "guardian") && !ih_row_has(&a->r, "guardian"))
        return ih_reject(IH_E_INVALID, "guardian", "Consent by a guardian names the guardian.");
    /* the visit: the requester treats the patient */
    ih_row vr;
    ih_row_init(&vr, &ih_t_visit);
    bool treating = false;
    ih_err e = cl_visit_load(a->c, tx, ih_row_int(&a->r, "visit_id"), &vr, false);
    if (e == IH_OK) e = cl_visit_access(a->c, tx, a->v, &vr, true, &treating);
    if (e == IH_OK && !treating) e = ih_reject(IH_E_FORBIDDEN, NULL, "Only the treating doctor requests remote care.");
    const char *vs = e == IH_OK ? ih_row_str(&vr, "status") : "";
    if (e == IH_OK && strcmp(vs, V_ACCEPTED) && strcmp(vs, V_CLOSED))
        e = ih_reject(IH_E_STATE, NULL, "Remote care is requested for an accepted or closed visit (it is %s).", vs);
    int64_t patient = ih_row_int(&vr, "patient_id"), label = ih_row_int(&vr, "label");
    ih_row_free(&vr);
    IH_TRY(e);
    /* experts: doctors other than the requester; the first leads */
    json_t *ex = json_object_get(a->body, "experts"), *mat = json_object_get(a->body, "materials");
    size_t nex = json_array_size(ex), nmat = json_array_size(mat);
    bool mdt = !strcmp(ih_row_str(&a->r, "type"), "mdt");
    if (!json_is_array(ex) || nex < (mdt ? 2u : 1u) || nex > (mdt ? MAX_EXPERTS : 1u))
        return ih_reject(IH_E_INVALID, "experts", mdt ? "An MDT invites 2 to %d experts." : "This type invites one expert.",
                         MAX_EXPERTS);
    if (mat && (!json_is_array(mat) || nmat > MAX_MATERIAL))
        return ih_reject(IH_E_INVALID, "materials", "Field 'materials' lists at most %d items.", MAX_MATERIAL);
    int64_t experts[MAX_EXPERTS];
    for (size_t i = 0; i < nex; i++) {
        json_t *x = json_array_get(ex, i);
        experts[i] = json_is_integer(x) ? json_integer_value(x) : 0;
        if (experts[i] <= 0 || experts[i] == a->me.id)
            return ih_reject(IH_E_INVALID, "experts", "Experts are other doctors, named by staff id.");
        for (size_t k = 0; k < i; k++)
            if (experts[k] == experts[i]) return ih_reject(IH_E_INVALID, "experts", "An expert is invited once.");
        ih_row s;
        ih_row_init(&s, &ih_t_staff);
        bool found;
        e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_staff, experts[i], &s, &found, false);
        bool ok = e == IH_OK && found && !strcmp(ih_row_str(&s, "kind"), "doctor") &&
                  !strcmp(ih_row_str(&s, "status"), "active");
        ih_row_free(&s);
        IH_TRY(e);
        if (!ok) return ih_reject(IH_E_INVALID, "experts", "Staff %lld is not an active doctor.", (long long)experts[i]);
    }
    int64_t now = ih_now_ms();
    IH_TRY(ih_tx_next_id(tx, "consult", &a->r.id));
    a->id = a->r.id;
    ih_row_set_int(&a->r, "patient_id", patient);
    ih_row_set_int(&a->r, "requester_id", a->me.id);
    IH_TRY(ih_row_set_str(&a->r, "status", "draft"));
    ih_row_set_int(&a->r, "consent_at", now);
    ih_row_set_int(&a->r, "label", label);
    ih_row_set_int(&a->r, "created_at", now);
    ih_row_set_int(&a->r, "updated_at", now);
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    for (size_t i = 0; i < nex; i++) {
        ih_row x;
        ih_row_init(&x, &ih_t_consult_expert);
        e = ih_tx_next_id(tx, "consult_expert", &x.id);
        ih_row_set_int(&x, "consult_id", a->id);
        ih_row_set_int(&x, "staff_id", experts[i]);
        ih_row_set_int(&x, "lead", i == 0);
        if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &x);
        ih_row_free(&x);
        IH_TRY(e);
    }
    for (size_t i = 0; i < nmat; i++) {
        ih_row m;
        ih_row_init(&m, &ih_t_consult_material);
        e = ih_row_from_json(&m, json_array_get(mat, i), true, NULL);
        if (e == IH_OK) e = check_material(a->c, tx, patient, ih_row_str(&m, "kind"), ih_row_int(&m, "ref_id"));
        if (e == IH_OK) e = ih_tx_next_id(tx, "consult_material", &m.id);
        ih_row_set_int(&m, "consult_id", a->id);
        ih_row_set_int(&m, "created_at", now);
        if (e == IH_OK) e = ih_row_insert(tx, a->c->o.keys, &m);
        ih_row_free(&m);
        IH_TRY(e);
    }
    IH_TRY(cl_audit(a->c, tx, a->v, "consult.create", "consult", a->id, ih_row_str(&a->r, "type")));
    a->requester = true;
    return IH_OK;
}

/* ---- the view --------------------------------------------------------------------------------- */

/* What an attached item is, in a few words: "CT 胸部CT平扫", "病历 第2版", a result's title. */
static ih_err material_title(ih_clinic *c, ih_tx *tx, const char *kind, int64_t ref, char out[160])
{
    ih_row r;
    bool found = false;
    ih_err e;
    out[0] = '\0';
    if (!strcmp(kind, "study") || !strcmp(kind, "ecg")) {
        ih_row_init(&r, &ih_t_his_order);
        e = ih_row_load(tx, c->o.keys, &ih_t_his_order, ref, &r, &found);
        if (e == IH_OK && found)
            snprintf(out, 160, "%s %s", ih_row_str(&r, "modality") ?: "", ih_row_str(&r, "name") ?: "");
    } else if (!strcmp(kind, "record")) {
        ih_row_init(&r, &ih_t_emr);
        e = ih_row_load_opt(tx, c->o.keys, &ih_t_emr, ref, &r, &found, false);
        if (e == IH_OK && found) snprintf(out, 160, "病历 第%lld版", (long long)ih_row_int(&r, "revision"));
    } else {
        ih_row_init(&r, &ih_t_his_result);
        e = ih_row_load(tx, c->o.keys, &ih_t_his_result, ref, &r, &found);
        if (e == IH_OK && found) snprintf(out, 160, "%s", ih_row_str(&r, "title") ?: "");
    }
    ih_row_free(&r);
    return e;
}

static ih_err consult_view(cs_arg *a, ih_tx *tx)
{
    json_t *j;
    IH_TRY(ih_row_json(&a->r, a->v->role, IH_REL_CARE, &j));
    a->view = j;
    json_t *ex = json_array(), *mat = json_array();
    IH_CHECK_ALLOC(ex);
    json_object_set_new(j, "experts", ex);
    IH_CHECK_ALLOC(mat);
    json_object_set_new(j, "materials", mat);
    json_t *you = json_pack("{s:b, s:b, s:b, s:b}", "requester", a->requester, "expert", a->expert, "lead", a->lead,
                            "medical_office", a->medoffice);
    IH_CHECK_ALLOC(you);
    json_object_set_new(j, "you", you);
    ih_stmt *st;
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM consult_expert WHERE consult_id = $1 ORDER BY id", &st));
    ih_stmt_int(st, 1, a->id);
    IH_TRY(cl_list_ids(st, ids, &n));
    for (int i = 0; i < n; i++) {
        ih_row x;
        ih_row_init(&x, &ih_t_consult_expert);
        bool found;
        json_t *d = NULL;
        ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_consult_expert, ids[i], &x, &found);
        if (e == IH_OK && found) e = cl_doctor_brief(a->c, tx, ih_row_int(&x, "staff_id"), &d);
        if (e == IH_OK && d) {
            json_object_set_new(d, "lead", json_boolean(ih_row_int(&x, "lead")));
            json_object_set_new(d, "you", json_boolean(ih_row_int(&x, "staff_id") == a->me.id));
            json_object_set_new(d, "signed_at", ih_row_has(&x, "signed_at") ? ih_json_time(ih_row_int(&x, "signed_at"))
                                                                             : json_null());
            json_object_set_new(d, "sign_key_id", json_integer(ih_row_int(&x, "sign_key_id")));
            if (json_array_append_new(ex, d)) e = ih_fail(IH_E_NOMEM, "consult");
        }
        ih_row_free(&x);
        IH_TRY(e);
    }
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM consult_material WHERE consult_id = $1 ORDER BY id", &st));
    ih_stmt_int(st, 1, a->id);
    IH_TRY(cl_list_ids(st, ids, &n));
    for (int i = 0; i < n; i++) {
        ih_row m;
        ih_row_init(&m, &ih_t_consult_material);
        bool found;
        json_t *d = NULL;
        ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_consult_material, ids[i], &m, &found);
        if (e == IH_OK && found) e = ih_row_json(&m, a->v->role, IH_REL_CARE, &d);
        char title[160] = "";
        if (e == IH_OK && d) e = material_title(a->c, tx, ih_row_str(&m, "kind"), ih_row_int(&m, "ref_id"), title);
        if (e == IH_OK && d) json_object_set_new(d, "title", json_string(title));
        if (e == IH_OK && d && json_array_append_new(mat, d)) e = ih_fail(IH_E_NOMEM, "consult");
        ih_row_free(&m);
        IH_TRY(e);
    }
    return IH_OK;
}

static ih_err created_view_fn(ih_tx *tx, void *arg)
{
    cs_arg *a = arg;
    IH_TRY(who(a, tx));
    return consult_view(a, tx);
}

ih_err ih_consult_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    cs_arg a = {.c = c, .v = v, .body = body};
    ih_row_init(&a.r, &ih_t_consult);
    ih_err e = ih_store_write(c->o.store, create_fn, &a);
    cl_refused(c, v, "consult.create", "visit", json_integer_value(json_object_get(body, "visit_id")), e);
    if (e == IH_OK) e = ih_store_read(c->o.store, created_view_fn, &a);
    if (e == IH_OK) *out = a.view;
    else json_decref(a.view);
    ih_row_free(&a.r);
    return e;
}

/* ---- the state machine ------------------------------------------------------------------------- */

/* Sign the report as this expert; *all when every expert has signed. */
static ih_err sign(cs_arg *a, ih_tx *tx, bool *all)
{
    if (!a->v->strong) return ih_reject(IH_E_FORBIDDEN, NULL, "Signing needs your full two-factor session.");
    int64_t ex;
    IH_TRY(expert_row(tx, a->id, a->me.id, &ex));
    ih_row x;
    ih_row_init(&x, &ih_t_consult_expert);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_consult_expert, ex, &x, &found);
    if (e == IH_OK && ih_row_has(&x, "signed_at")) e = ih_reject(IH_E_STATE, NULL, "You have signed this report.");
    ih_buf content = IH_BUF_INIT, sig = IH_BUF_INIT;
    int64_t key_id = 0;
    const ih_row *r = &a->r;
    if (e == IH_OK)
        e = ih_buf_printf(&content,
                          "ihos remote care report v1\nconsult=%lld\ntype=%s\npatient=%lld\nhr=%lld\npr=%lld\nqrs=%lld\n"
                          "qt=%lld\nqtc=%lld\naxis=%lld\nreport=%s\n",
                          (long long)a->id, ih_row_str(r, "type"), (long long)ih_row_int(r, "patient_id"),
                          (long long)ih_row_int(r, "hr"), (long long)ih_row_int(r, "pr"), (long long)ih_row_int(r, "qrs"),
                          (long long)ih_row_int(r, "qt"), (long long)ih_row_int(r, "qtc"),
                          (long long)ih_row_int(r, "axis"), ih_row_str(r, "report"));
    if (e == IH_OK) e = cl_sign(a->c, tx, a->me.id, &content, &key_id, &sig);
    ih_row_set_int(&x, "signed_at", ih_now_ms());
    ih_row_set_int(&x, "sign_key_id", key_id);
    if (e == IH_OK) e = ih_row_set_blob(&x, "signature", sig.p, sig.len);
    if (e == IH_OK) e = ih_row_update(tx, a->c->o.keys, &x);
    ih_buf_wipe(&content);
    ih_buf_free(&sig);
    ih_row_free(&x);
    IH_TRY(e);
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT COUNT(*) FROM consult_expert WHERE consult_id = $1 AND signed_at IS NULL", &st));
    ih_stmt_int(st, 1, a->id);
    IH_TRY(ih_stmt_step(st, &row));
    *all = ih_col_int(st, 0) == 0;
    return ih_stmt_exec(st);
}

static ih_err text_field(cs_arg *a, const char *key, const char *field, size_t max)
{
    const char *s;
    IH_TRY(ih_json_str(a->body, key, true, 1, max, IH_TEXT_MULTILINE, &s));
    return ih_row_set_str(&a->r, field, s);
}

static ih_err report_fields(cs_arg *a)
{
    static const char *const keys[] = {"report", "hr", "pr", "qrs", "qt", "qtc", "axis", NULL};
    IH_TRY(ih_json_only(a->body, keys));
    IH_TRY(text_field(a, "report", "report", 4000));
    static const struct {
        const char *k;
        int64_t lo, hi;
    } m[] = {{"hr", 10, 350}, {"pr", 40, 600}, {"qrs", 20, 300}, {"qt", 100, 800}, {"qtc", 100, 800}, {"axis", -180, 180}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int64_t x = 0;
        bool has = json_object_get(a->body, m[i].k) != NULL;
        if (has) IH_TRY(ih_json_int(a->body, m[i].k, true, m[i].lo, m[i].hi, &x));
        if (has) ih_row_set_int(&a->r, m[i].k, x);
        else ih_row_unset(&a->r, m[i].k);
    }
    if (!strcmp(ih_row_str(&a->r, "type"), "ecg") && !ih_row_has(&a->r, "hr"))
        return ih_reject(IH_E_INVALID, "hr", "An ECG report gives at least the heart rate.");
    return IH_OK;
}

/* The agreement is valid today and covers the consult's type. */
static ih_err agreement_ok(cs_arg *a, ih_tx *tx)
{
    ih_row g;
    ih_row_init(&g, &ih_t_agreement);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_agreement, ih_row_int(&a->r, "agreement_id"), &g, &found);
    char today[11];
    cl_today(a->c, today);
    bool ok = e == IH_OK && found && !ih_row_has(&g, "revoked_at") && strcmp(ih_row_str(&g, "valid_from"), today) <= 0 &&
              strcmp(ih_row_str(&g, "valid_to"), today) >= 0;
    if (ok) { /* the type among the services */
        const char *type = ih_row_str(&a->r, "type"), *p = ih_row_str(&g, "services");
        size_t n = strlen(type);
        ok = false;
        for (; p && *p && !ok; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) ok = strcspn(p, ",") == n && !strncmp(p, type, n);
    }
    ih_row_free(&g);
    IH_TRY(e);
    if (!ok)
        return ih_reject(IH_E_STATE, NULL, "No valid cooperation agreement with the partner covers this type of remote care.");
    return IH_OK;
}

static ih_err act_fn(ih_tx *tx, void *arg)
{
    cs_arg *a = arg;
    IH_TRY(who(a, tx));
    const char *act = a->action;
    ih_row *r = &a->r;
    int64_t now = ih_now_ms();
    const char *to = NULL, *reason = NULL;
    bool emit = false;
    static const char *const none[] = {NULL};
    if (strcmp(act, "report") && strcmp(act, "reject") && strcmp(act, "schedule") && strcmp(act, "acknowledge"))
        IH_TRY(ih_json_only(a->body, none));
#define NEED(cond, who_msg)                                                                                            \
    do {                                                                                                               \
        if (!(cond)) return ih_reject(IH_E_FORBIDDEN, NULL, who_msg);                                                  \
    } while (0)
#define FROM(...)                                                                                                      \
    do {                                                                                                               \
        const char *const ok_[] = {__VA_ARGS__, NULL};                                                                 \
        bool in_ = false;                                                                                              \
        for (int i_ = 0; ok_[i_]; i_++) in_ = in_ || st_is(r, ok_[i_]);                                               \
        if (!in_) return ih_reject(IH_E_STATE, NULL, "A consultation that is %s cannot be %s.", ih_row_str(r, "status"), act); \
    } while (0)
    if (!strcmp(act, "submit")) {
        NEED(a->requester, "The requesting doctor submits.");
        FROM("draft");
        IH_TRY(agreement_ok(a, tx));
        to = "submitted";
    } else if (!strcmp(act, "approve")) {
        NEED(a->medoffice && !a->requester, "The medical office (not the requester) approves.");
        FROM("submitted");
        IH_TRY(agreement_ok(a, tx));
        ih_row_set_int(r, "approved_by", a->me.id);
        ih_row_set_int(r, "approved_at", now);
        to = "approved";
    } else if (!strcmp(act, "accept") || !strcmp(act, "reject")) {
        NEED(a->lead, "The lead expert answers for the invited side.");
        FROM("approved");
        ih_row_set_int(r, "decided_by", a->me.id);
        ih_row_set_int(r, "decided_at", now);
        if (!strcmp(act, "reject")) {
            static const char *const k[] = {"reason", NULL};
            IH_TRY(ih_json_only(a->body, k));
            IH_TRY(text_field(a, "reason", "reject_reason", 500));
        }
        to = !strcmp(act, "accept") ? "accepted" : "rejected";
    } else if (!strcmp(act, "schedule")) {
        NEED(a->lead || a->requester, "The lead expert or the requester schedules.");
        FROM("accepted", "scheduled");
        static const char *const k[] = {"scheduled_at", NULL};
        IH_TRY(ih_json_only(a->body, k));
        const char *at;
        int64_t ms;
        IH_TRY(ih_json_str(a->body, "scheduled_at", true, 20, 24, IH_TEXT_LINE, &at));
        if (ih_time_parse_iso(at, &ms) != 0)
            return ih_reject(IH_E_INVALID, "scheduled_at", "Field 'scheduled_at' must be a time like 2026-12-03T08:00:00Z.");
        IH_TRY(ih_row_set_str(r, "scheduled_at", at));
        to = "scheduled";
    } else if (!strcmp(act, "start")) {
        NEED(a->lead || a->requester, "The lead expert or the requester starts the session.");
        FROM("scheduled");
        ih_row_set_int(r, "started_at", now);
        to = "in_session";
    } else if (!strcmp(act, "report")) {
        NEED(a->lead, "The lead expert drafts the report.");
        FROM("in_session", "report_drafted");
        IH_TRY(report_fields(a));
        ih_row_set_int(r, "reported_at", now);
        to = "report_drafted";
    } else if (!strcmp(act, "sign")) {
        NEED(a->expert, "Each invited expert signs.");
        FROM("report_drafted");
        bool all = false;
        IH_TRY(sign(a, tx, &all));
        if (all) ih_row_set_int(r, "signed_at", now);
        to = all ? "signed" : "report_drafted";
        reason = all ? "all signed" : NULL;
    } else if (!strcmp(act, "return")) {
        NEED(a->lead, "The lead expert returns the report.");
        FROM("signed");
        ih_row_set_int(r, "returned_at", now);
        to = "returned";
        emit = true;
    } else if (!strcmp(act, "acknowledge")) {
        NEED(a->requester, "The requesting doctor records the decision.");
        FROM("returned");
        static const char *const k[] = {"decision", NULL};
        IH_TRY(ih_json_only(a->body, k));
        IH_TRY(text_field(a, "decision", "decision", 2000));
        ih_row_set_int(r, "acknowledged_at", now);
        to = "acknowledged";
    } else if (!strcmp(act, "close")) {
        NEED(a->requester, "The requesting doctor closes the consultation.");
        FROM("acknowledged", "rejected");
        ih_row_set_int(r, "closed_at", now);
        to = "closed";
    } else if (!strcmp(act, "cancel")) {
        NEED(a->requester || a->medoffice, "The requester or the medical office cancels.");
        FROM("draft", "submitted", "approved", "accepted", "scheduled");
        ih_row_set_int(r, "cancelled_at", now);
        to = "cancelled";
    } else {
        return ih_fail(IH_E_INTERNAL, "consult step %s unhandled", act);
    }
#undef NEED
#undef FROM
    IH_TRY(ih_row_set_str(r, "status", to));
    ih_row_set_int(r, "updated_at", now);
    IH_TRY(ih_row_update(tx, a->c->o.keys, r));
    char action[32];
    snprintf(action, sizeof action, "consult.%s", act);
    IH_TRY(cl_audit(a->c, tx, a->v, action, "consult", a->id, reason ? reason : to));
    if (emit) IH_TRY(cl_his_emit(a->c, tx, "consult", a->id));
    return consult_view(a, tx);
}

ih_err ih_consult_act(ih_clinic *c, const ih_viewer *v, int64_t id, const char *action, json_t *body, json_t **out)
{
    static const char *const steps[] = {"submit", "approve", "accept", "reject", "schedule", "start", "report",
                                        "sign", "return", "acknowledge", "close", "cancel", NULL};
    const char *const *st = steps;
    while (*st && strcmp(*st, action)) st++;
    if (!*st) return ih_reject(IH_E_NOT_FOUND, NULL, "No such step of a consultation.");
    action = *st; /* from here on, one of ours (it names the audit event) */
    cs_arg a = {.c = c, .v = v, .id = id, .action = action, .body = body};
    ih_row_init(&a.r, &ih_t_consult);
    char what[32];
    snprintf(what, sizeof what, "consult.%s", action);
    ih_err e = json_is_object(body) ? ih_store_write(c->o.store, act_fn, &a)
                                    : ih_reject(IH_E_INVALID, NULL, "The body must be a JSON object.");
    if (e != IH_OK) {
        json_decref(a.view);
        a.view = NULL;
    }
    cl_refused(c, v, what, "consult", id, e);
    if (e == IH_OK) *out = a.view;
    ih_row_free(&a.r);
    return e;
}

/* ---- reads ----------------------------------------------------------------------------------- */

static ih_err get_fn(ih_tx *tx, void *arg)
{
    cs_arg *a = arg;
    IH_TRY(who(a, tx));
    return consult_view(a, tx);
}

ih_err ih_consult_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    cs_arg a = {.c = c, .v = v, .id = id};
    ih_row_init(&a.r, &ih_t_consult);
    ih_err e = ih_store_read(c->o.store, get_fn, &a);
    cl_refused(c, v, "consult.read", "consult", id, e);
    if (e == IH_OK) e = cl_audit_own(c, v, "consult.read", "consult", id, IH_OK, NULL);
    if (e == IH_OK) *out = a.view;
    else json_decref(a.view);
    ih_row_free(&a.r);
    return e;
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    cs_arg *a = arg;
    if (a->v->role != IH_ROLE_DOCTOR) return ih_reject(IH_E_FORBIDDEN, NULL, "Remote care is between doctors.");
    IH_TRY(cl_my_staff_full(a->c, tx, a->v, &a->me));
    bool mo;
    IH_TRY(is_medoffice(a->c, tx, &a->me, &mo));
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM consult WHERE requester_id = $1 OR id IN (SELECT consult_id FROM "
                             "consult_expert WHERE staff_id = $1) OR ($2 = 1 AND status = 'submitted') "
                             "ORDER BY id DESC LIMIT 200",
                         &st));
    ih_stmt_int(st, 1, a->me.id);
    ih_stmt_int(st, 2, mo);
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    json_t *list = json_array();
    IH_CHECK_ALLOC(list);
    a->out = list;
    for (int i = 0; i < n; i++) {
        ih_row r;
        ih_row_init(&r, &ih_t_consult);
        bool found;
        json_t *j = NULL;
        /* the list shows state, type and times: the clinical text stays closed */
        ih_err e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_consult, ids[i], &r, &found, false);
        if (e == IH_OK && found) e = ih_row_json(&r, a->v->role, IH_REL_CARE, &j);
        if (e == IH_OK && j) {
            json_object_set_new(j, "mine", json_boolean(ih_row_int(&r, "requester_id") == a->me.id));
            if (json_array_append_new(list, j)) e = ih_fail(IH_E_NOMEM, "consult");
        }
        ih_row_free(&r);
        IH_TRY(e);
    }
    return IH_OK;
}

ih_err ih_consult_list(ih_clinic *c, const ih_viewer *v, json_t **out)
{
    cs_arg a = {.c = c, .v = v};
    ih_row_init(&a.r, &ih_t_consult);
    ih_err e = ih_store_read(c->o.store, list_fn, &a);
    if (e == IH_OK) e = cl_audit_own(c, v, "consult.list", "consult", 0, IH_OK, NULL);
    if (e == IH_OK) {
        *out = json_pack("{s:O}", "consults", a.out);
        if (!*out) e = ih_fail(IH_E_NOMEM, "consult");
    }
    json_decref(a.out);
    ih_row_free(&a.r);
    return e;
}

static ih_err experts_fn(ih_tx *tx, void *arg)
{
    cs_arg *a = arg;
    if (a->v->role != IH_ROLE_DOCTOR) return ih_reject(IH_E_FORBIDDEN, NULL, "Remote care is between doctors.");
    IH_TRY(cl_my_staff_full(a->c, tx, a->v, &a->me));
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM staff WHERE kind = 'doctor' AND status = 'active' AND id <> $1 "
                             "AND ($2 = 0 OR id IN (SELECT staff_id FROM staff_department WHERE department_id = $2)) "
                             "ORDER BY id LIMIT 200",
                         &st));
    ih_stmt_int(st, 1, a->me.id);
    ih_stmt_int(st, 2, a->id); /* the department, 0 for any */
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    json_t *list = json_array();
    IH_CHECK_ALLOC(list);
    a->out = list;
    for (int i = 0; i < n; i++) {
        json_t *d = NULL;
        IH_TRY(cl_doctor_brief(a->c, tx, ids[i], &d));
        if (d && json_array_append_new(list, d)) return ih_fail(IH_E_NOMEM, "consult");
    }
    return IH_OK;
}

ih_err ih_consult_experts(ih_clinic *c, const ih_viewer *v, int64_t dept_id, json_t **out)
{
    cs_arg a = {.c = c, .v = v, .id = dept_id};
    ih_row_init(&a.r, &ih_t_consult);
    ih_err e = ih_store_read(c->o.store, experts_fn, &a);
    if (e == IH_OK) {
        *out = json_pack("{s:O}", "experts", a.out);
        if (!*out) e = ih_fail(IH_E_NOMEM, "consult");
    }
    json_decref(a.out);
    ih_row_free(&a.r);
    return e;
}

/* ---- material ------------------------------------------------------------------------------- */

static ih_err material_fn(ih_tx *tx, void *arg)
{
    cs_arg *a = arg;
    IH_TRY(who(a, tx));
    /* the requester and the experts; experts from approval until it closes */
    if (!a->requester && !a->expert)
        return ih_reject(IH_E_FORBIDDEN, NULL, "Only the requester and the invited experts open the material.");
    if (!a->requester && (st_is(&a->r, "draft") || st_is(&a->r, "submitted") || st_is(&a->r, "closed") ||
                          st_is(&a->r, "cancelled") || st_is(&a->r, "rejected")))
        return ih_reject(IH_E_FORBIDDEN, NULL, "Experts open the material from approval until the consultation closes.");
    ih_row m;
    ih_row_init(&m, &ih_t_consult_material);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_consult_material, a->material, &m, &found);
    if (e == IH_OK && (!found || ih_row_int(&m, "consult_id") != a->id))
        e = ih_reject(IH_E_NOT_FOUND, NULL, "No such material in this consultation.");
    int64_t ref = ih_row_int(&m, "ref_id");
    if (e == IH_OK) snprintf(a->kind, sizeof a->kind, "%s", ih_row_str(&m, "kind"));
    ih_row_free(&m);
    IH_TRY(e);
    ih_row r;
    if (!strcmp(a->kind, "study") || !strcmp(a->kind, "ecg")) {
        ih_row_init(&r, &ih_t_his_order);
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_order, ref, &r, &found);
        if (e == IH_OK && found) snprintf(a->uid, sizeof a->uid, "%s", ih_row_str(&r, "study_uid") ?: "");
        if (e == IH_OK && found) e = ih_row_json(&r, a->v->role, IH_REL_CARE, &a->view);
    } else if (!strcmp(a->kind, "record")) {
        ih_row_init(&r, &ih_t_emr);
        e = ih_row_load(tx, a->c->o.keys, &ih_t_emr, ref, &r, &found);
        if (e == IH_OK && found) e = ih_row_json(&r, a->v->role, IH_REL_CARE, &a->view);
    } else {
        ih_row_init(&r, &ih_t_his_result);
        e = ih_row_load(tx, a->c->o.keys, &ih_t_his_result, ref, &r, &found);
        if (e == IH_OK && found) e = ih_row_json(&r, a->v->role, IH_REL_CARE, &a->view);
    }
    ih_row_free(&r);
    IH_TRY(e);
    if (!found) return ih_fail(IH_E_INTEGRITY, "consult material %lld names a missing row", (long long)a->material);
    if (a->audit_open) {
        char why[40];
        snprintf(why, sizeof why, "material %lld", (long long)a->material);
        IH_TRY(cl_audit(a->c, tx, a->v, "consult.material_open", "consult", a->id, why));
    }
    return IH_OK;
}

ih_err ih_consult_material(ih_clinic *c, const ih_viewer *v, int64_t id, int64_t material, bool audit_open,
                           char kind[16], char study_uid[65], json_t **view)
{
    cs_arg a = {.c = c, .v = v, .id = id, .material = material, .audit_open = audit_open};
    ih_row_init(&a.r, &ih_t_consult);
    ih_err e = audit_open ? ih_store_write(c->o.store, material_fn, &a) : ih_store_read(c->o.store, material_fn, &a);
    cl_refused(c, v, "consult.material_open", "consult", id, e);
    if (e == IH_OK) {
        snprintf(kind, 16, "%s", a.kind);
        snprintf(study_uid, 65, "%s", a.uid);
        *view = a.view;
    } else {
        json_decref(a.view);
    }
    ih_row_free(&a.r);
    return e;
}

/* ---- what the hospital's HIS is told ---------------------------------------------------------- */

ih_err cl_fact_consult(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f)
{
    ih_row r, vr;
    ih_row_init(&r, &ih_t_consult);
    ih_row_init(&vr, &ih_t_visit);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_consult, id, &r, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_INTEGRITY, "consult %lld missing", (long long)id);
    if (e == IH_OK) e = cl_visit_load(c, tx, ih_row_int(&r, "visit_id"), &vr, false);
    if (e == IH_OK) e = cl_fact_visit_context(c, tx, &vr, f);
    if (e == IH_OK) json_object_set_new(f, "visit_id", json_integer(ih_row_int(&r, "visit_id")));
    json_t *k = NULL;
    if (e == IH_OK) {
        k = json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)id, "type", ih_row_str(&r, "type"), "type_name",
                      ih_code_name(&ih_codes_consult_kind, ih_row_str(&r, "type")), "report", ih_row_str(&r, "report"),
                      "returned_at", (json_int_t)ih_row_int(&r, "returned_at"));
        if (!k) e = ih_fail(IH_E_NOMEM, "consult fact");
    }
    static const char *const meas[] = {"hr", "pr", "qrs", "qt", "qtc", "axis"};
    for (size_t i = 0; e == IH_OK && i < sizeof meas / sizeof meas[0]; i++)
        if (ih_row_has(&r, meas[i])) json_object_set_new(k, meas[i], json_integer(ih_row_int(&r, meas[i])));
    /* the experts who signed, lead first */
    json_t *ex = e == IH_OK ? json_array() : NULL;
    if (e == IH_OK && !ex) e = ih_fail(IH_E_NOMEM, "consult fact");
    ih_stmt *st;
    int64_t staff[CL_LIST_MAX];
    int n = 0;
    if (e == IH_OK) e = ih_tx_prepare(tx, "SELECT staff_id FROM consult_expert WHERE consult_id = $1 ORDER BY id", &st);
    if (e == IH_OK) {
        ih_stmt_int(st, 1, id);
        e = cl_list_ids(st, staff, &n);
    }
    for (int i = 0; e == IH_OK && i < n; i++) {
        json_t *d = NULL;
        e = cl_fact_staff(c, tx, staff[i], &d);
        if (e == IH_OK && d && json_array_append_new(ex, d)) e = ih_fail(IH_E_NOMEM, "consult fact");
    }
    if (k) json_object_set_new(k, "experts", ex ? ex : json_array());
    else json_decref(ex);
    if (k) json_object_set_new(f, "consult", k);
    ih_row_free(&r);
    ih_row_free(&vr);
    return e;
}

/* ---- for calls (call.c) ---------------------------------------------------------------------- */

ih_err cl_consult_party_of(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t consult, cl_consult_party *p)
{
    *p = (cl_consult_party){0};
    cs_arg a = {.c = c, .v = v, .id = consult};
    ih_row_init(&a.r, &ih_t_consult);
    ih_err e = who(&a, tx);
    if (e == IH_OK) {
        p->in = a.requester || a.expert;
        p->requester = a.requester;
        p->expert = a.expert;
        p->lead = a.lead;
        p->visit_id = ih_row_int(&a.r, "visit_id");
        p->patient_id = ih_row_int(&a.r, "patient_id");
        snprintf(p->status, sizeof p->status, "%s", ih_row_str(&a.r, "status"));
        snprintf(p->type, sizeof p->type, "%s", ih_row_str(&a.r, "type"));
        ih_stmt *st;
        bool row;
        e = ih_tx_prepare(tx, "SELECT COUNT(*) FROM consult_expert WHERE consult_id = $1", &st);
        if (e == IH_OK) {
            ih_stmt_int(st, 1, consult);
            e = ih_stmt_step(st, &row);
            if (e == IH_OK) p->nexperts = (int)ih_col_int(st, 0);
            if (e == IH_OK) e = ih_stmt_exec(st);
        }
    }
    if (e == IH_E_FORBIDDEN) { /* not a party: the caller says no */
        ih_err_clear();
        e = IH_OK;
    }
    ih_row_free(&a.r);
    return e;
}

static ih_err account_of(ih_clinic *c, ih_tx *tx, int64_t staff, int64_t *account)
{
    ih_row s;
    ih_row_init(&s, &ih_t_staff);
    bool found;
    ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_staff, staff, &s, &found, false);
    *account = e == IH_OK && found ? ih_row_int(&s, "account_id") : 0;
    ih_row_free(&s);
    return e;
}

ih_err cl_consult_audience(ih_clinic *c, ih_tx *tx, int64_t consult, ih_bus_audience *to)
{
    *to = (ih_bus_audience){0};
    if (!c->o.bus) return IH_OK;
    ih_row r;
    ih_row_init(&r, &ih_t_consult);
    bool found;
    ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_consult, consult, &r, &found, false);
    int64_t requester = e == IH_OK && found ? ih_row_int(&r, "requester_id") : 0;
    ih_row_free(&r);
    IH_TRY(e);
    int n = 0;
    IH_TRY(account_of(c, tx, requester, &to->accounts[n++]));
    ih_stmt *st;
    int64_t staff[CL_LIST_MAX];
    int k;
    IH_TRY(ih_tx_prepare(tx, "SELECT staff_id FROM consult_expert WHERE consult_id = $1 ORDER BY id", &st));
    ih_stmt_int(st, 1, consult);
    IH_TRY(cl_list_ids(st, staff, &k));
    for (int i = 0; i < k && n < IH_BUS_MAX_ACCOUNTS; i++) IH_TRY(account_of(c, tx, staff[i], &to->accounts[n++]));
    return IH_OK;
}
