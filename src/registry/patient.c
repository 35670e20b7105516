/* patient.c — patients: the record, their own profile, and what others
 * may see of them (registration: registration.c).
 *
 * Collected (and nothing else, L3 8.1.4.11a): name, certificate type and
 * number, sex, birth date, phone, optionally address and allergies; for a
 * child under 6 a guardian's name, certificate and phone (allowed, not
 * required, up to 18).  Personal fields are sealed; certificate number and
 * phone are blind-indexed, so a second registration with the same
 * certificate is refused without storing it in the clear.  For a 身份证
 * the birth date and sex must agree with the number.  Consent to the
 * current privacy policy and user agreement is recorded with the version.
 */
#include "registry/clinic_impl.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>

#define RM (IH_FF_REQUIRED | IH_FF_MAC)
#define SEAL(nm, fl, lo, hi, mask, chk) {nm, IH_F_SEALED, fl, lo, hi, NULL, IH_KP_PERSONAL, mask, chk}

static const ih_field fields[] = {
    {"account_id", IH_F_INT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    SEAL("name", RM | IH_FF_FIXED, 1, 32, IH_FIELD_NAME, NULL),
    {"cert_type", IH_F_TEXT, RM | IH_FF_FIXED, 1, 2, &ih_codes_cert_type, 0, IH_MASK_NONE, NULL},
    SEAL("cert_no", RM | IH_FF_FIXED | IH_FF_INDEX | IH_FF_UPPER, 4, 32, IH_FIELD_ID_NUMBER, cl_check_cert_no),
    {"sex", IH_F_TEXT, RM | IH_FF_FIXED, 1, 1, &ih_codes_sex, 0, IH_MASK_NONE, NULL},
    SEAL("birth_date", RM | IH_FF_FIXED, 10, 10, IH_FIELD_BIRTH_DATE, cl_check_birth_date),
    SEAL("phone", RM | IH_FF_INDEX, 7, 16, IH_FIELD_PHONE, cl_check_phone),
    SEAL("address", IH_FF_MAC, 1, 128, IH_FIELD_ADDRESS, NULL),
    {"allergies", IH_F_SEALED, IH_FF_MAC | IH_FF_MULTILINE, 1, 500, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    SEAL("guardian_name", IH_FF_MAC, 1, 32, IH_FIELD_NAME, NULL),
    {"guardian_cert_type", IH_F_TEXT, IH_FF_MAC, 1, 2, &ih_codes_cert_type, 0, IH_MASK_NONE, NULL},
    SEAL("guardian_cert_no", IH_FF_MAC | IH_FF_UPPER, 4, 32, IH_FIELD_ID_NUMBER, cl_check_cert_no),
    SEAL("guardian_phone", IH_FF_MAC, 7, 16, IH_FIELD_PHONE, cl_check_phone),
    {"realname", IH_F_TEXT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"created_at", IH_F_TIME, IH_FF_SERVER, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"updated_at", IH_F_TIME, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_patient = IH_TABLE("patient", fields, true, "至少15年（自最后一次就诊，随其病历）");

static const ih_field consent_fields[] = {
    {"patient_id", IH_F_INT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"document", IH_F_TEXT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"version", IH_F_TEXT, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"accepted_at", IH_F_TIME, IH_FF_SERVER | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_consent = IH_TABLE("consent", consent_fields, true, "至少15年（随患者档案，证明同意）");

static const char *const guardian_fields[] = {"guardian_name", "guardian_cert_type", "guardian_cert_no",
                                              "guardian_phone", NULL};

ih_err cl_check_patient(ih_clinic *c, const ih_row *r)
{
    IH_TRY(cl_check_id_consistency(r, "cert_no", "cert_type"));
    char today[11];
    cl_today(c, today);
    int age = cl_age_years(ih_row_str(r, "birth_date"), today);
    int given = 0;
    for (const char *const *g = guardian_fields; *g; g++) given += ih_row_has(r, *g);
    if (age < 6) {
        for (const char *const *g = guardian_fields; *g; g++)
            if (!ih_row_has(r, *g))
                return ih_reject(IH_E_INVALID, *g, "A patient under 6 needs a guardian: field '%s' is required.", *g);
    } else if (age >= 18 && given) {
        return ih_reject(IH_E_INVALID, "guardian_name", "Adults register without a guardian.");
    } else if (given && given != 4) {
        for (const char *const *g = guardian_fields; *g; g++)
            if (!ih_row_has(r, *g))
                return ih_reject(IH_E_INVALID, *g, "Guardian details come together: field '%s' is missing.", *g);
    }
    if (ih_row_has(r, "guardian_cert_no") && !strcmp(ih_row_str(r, "guardian_cert_type"), "1") &&
        !strcmp(ih_row_str(r, "guardian_cert_no"), ih_row_str(r, "cert_no")))
        return ih_reject(IH_E_INVALID, "guardian_cert_no", "The guardian is another person than the patient.");
    return IH_OK;
}

ih_err ih_patient_of_account(ih_clinic *c, ih_tx *tx, int64_t account_id, int64_t *patient_id)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM patient WHERE account_id = $1", &st));
    ih_stmt_int(st, 1, account_id);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_reject(IH_E_NOT_FOUND, NULL, "This account has no patient record.");
    int64_t id = ih_col_int(st, 0);
    IH_TRY(ih_stmt_exec(st));
    /* the link account -> patient is what a patient acts through: verified */
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_patient, id, &p, &found, false);
    if (e == IH_OK && (!found || ih_row_int(&p, "account_id") != account_id))
        e = ih_fail(IH_E_INTEGRITY, "patient %lld does not belong to account %lld", (long long)id, (long long)account_id);
    ih_row_free(&p);
    if (e == IH_OK) *patient_id = id;
    return e;
}

ih_err cl_insert_consent(ih_clinic *c, ih_tx *tx, int64_t patient_id, const char *doc, const char *version)
{
    ih_row r;
    ih_row_init(&r, &ih_t_consent);
    ih_err e = ih_tx_next_id(tx, "consent", &r.id);
    ih_row_set_int(&r, "patient_id", patient_id);
    if (e == IH_OK) e = ih_row_set_str(&r, "document", doc);
    if (e == IH_OK) e = ih_row_set_str(&r, "version", version);
    ih_row_set_int(&r, "accepted_at", ih_now_ms());
    if (e == IH_OK) e = ih_row_insert(tx, c->o.keys, &r);
    ih_row_free(&r);
    return e;
}

/* ---- reading and updating ------------------------------------------------------ */

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t id, after;
    int limit;
    ih_relation rel;
    const char *cert_no, *phone;
    ih_row r;
} pat_arg;

static ih_err load(pat_arg *a, ih_tx *tx)
{
    bool found;
    IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_patient, a->id, &a->r, &found));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No patient %lld.", (long long)a->id);
    return IH_OK;
}

static ih_err consents_json(ih_clinic *c, ih_tx *tx, int64_t patient_id, json_t **out)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM consent WHERE patient_id = $1 ORDER BY id", &st));
    ih_stmt_int(st, 1, patient_id);
    int64_t ids[64];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 64) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    json_t *list = json_array();
    IH_CHECK_ALLOC(list);
    ih_row r;
    ih_row_init(&r, &ih_t_consent);
    for (int i = 0; e == IH_OK && i < n; i++) {
        bool found;
        e = ih_row_load(tx, c->o.keys, &ih_t_consent, ids[i], &r, &found);
        json_t *j;
        if (e == IH_OK && found && (e = ih_row_json(&r, IH_ROLE_PATIENT, IH_REL_SELF, &j)) == IH_OK)
            json_array_append_new(list, j);
    }
    ih_row_free(&r);
    if (e != IH_OK) {
        json_decref(list);
        return e;
    }
    *out = list;
    return IH_OK;
}

static ih_err me_fn(ih_tx *tx, void *arg)
{
    pat_arg *a = arg;
    IH_TRY(ih_patient_of_account(a->c, tx, a->v->actor.id, &a->id));
    IH_TRY(load(a, tx));
    IH_TRY(ih_row_json(&a->r, a->v->role, IH_REL_SELF, &a->out));
    json_t *cs;
    IH_TRY(consents_json(a->c, tx, a->id, &cs));
    json_object_set_new(a->out, "consents", cs);
    return IH_OK;
}

static ih_err me_update_fn(ih_tx *tx, void *arg)
{
    pat_arg *a = arg;
    IH_TRY(ih_patient_of_account(a->c, tx, a->v->actor.id, &a->id));
    IH_TRY(load(a, tx));
    IH_TRY(ih_row_from_json(&a->r, a->body, false, NULL));
    IH_TRY(cl_check_patient(a->c, &a->r));
    ih_row_set_int(&a->r, "updated_at", ih_now_ms());
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "patient.update", "patient", a->id, NULL));
    return ih_row_json(&a->r, a->v->role, IH_REL_SELF, &a->out);
}

/* May v see patient a->id at all, and as what?  Patients: only themselves.
 * Clinicians: through a care relationship.  Administrators with the route's
 * permission: masked, as "other". */
static ih_err relation(pat_arg *a, ih_tx *tx)
{
    IH_TRY(cl_patient_relation(a->c, tx, a->v, a->id, ih_row_int(&a->r, "account_id"), &a->rel));
    bool clinician = a->v->role == IH_ROLE_DOCTOR || a->v->role == IH_ROLE_NURSE || a->v->role == IH_ROLE_PHARMACIST;
    if (a->rel == IH_REL_OTHER && (a->v->role == IH_ROLE_PATIENT || clinician))
        return ih_reject(IH_E_FORBIDDEN, NULL, "You have no care relationship with this patient.");
    return IH_OK;
}

static ih_err get_fn(ih_tx *tx, void *arg)
{
    pat_arg *a = arg;
    IH_TRY(load(a, tx));
    IH_TRY(relation(a, tx));
    return ih_row_json(&a->r, a->v->role, a->rel, &a->out);
}

static ih_err find_fn(ih_tx *tx, void *arg)
{
    pat_arg *a = arg;
    uint8_t idx[32];
    const char *field = a->cert_no ? "cert_no" : "phone";
    IH_TRY(ih_row_index(a->c->o.keys, &ih_t_patient, field, a->cert_no ? a->cert_no : a->phone, idx));
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, a->cert_no ? "SELECT id FROM patient WHERE cert_no_idx = $1 ORDER BY id LIMIT 20"
                                        : "SELECT id FROM patient WHERE phone_idx = $1 ORDER BY id LIMIT 20",
                         &st));
    ih_stmt_blob(st, 1, idx, 32);
    int64_t ids[20];
    int n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 20) ids[n++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < n; i++) {
        a->id = ids[i];
        IH_TRY(load(a, tx));
        ih_err re = relation(a, tx);
        if (re == IH_E_FORBIDDEN) { /* not theirs to see: not listed */
            ih_err_clear();
            continue;
        }
        IH_TRY(re);
        json_t *j;
        IH_TRY(ih_row_json(&a->r, a->v->role, a->rel, &j));
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    pat_arg *a = arg;
    int64_t ids[500];
    int n = 0;
    IH_TRY(cl_patients_visible(a->c, tx, a->v, a->after, a->limit, ids, &n));
    for (int i = 0; i < n; i++) {
        a->id = ids[i];
        IH_TRY(load(a, tx));
        ih_err re = relation(a, tx);
        if (re == IH_E_FORBIDDEN) { /* a candidate the verified rows do not bear out */
            ih_err_clear();
            continue;
        }
        IH_TRY(re);
        json_t *j;
        IH_TRY(ih_row_json(&a->r, a->v->role, a->rel, &j));
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

static ih_err run(pat_arg *a, bool write, ih_tx_fn fn, const char *audit_action, json_t **out)
{
    ih_row_init(&a->r, &ih_t_patient);
    ih_err e = write ? ih_store_write(a->c->o.store, fn, a) : ih_store_read(a->c->o.store, fn, a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(a->c, "patient", a->id);
    ih_row_free(&a->r);
    /* The read is recorded before anything is returned; a refusal too. */
    if (audit_action && (e == IH_OK || e == IH_E_FORBIDDEN)) {
        ih_err ae = cl_audit_own(a->c, a->v, e == IH_OK ? audit_action : "access.denied", "patient", a->id, e,
                                 e == IH_OK ? NULL : audit_action);
        if (e == IH_OK) e = ae;
    }
    if (e != IH_OK) {
        json_decref(a->out);
        return e;
    }
    *out = a->out;
    return IH_OK;
}

ih_err ih_patient_me(ih_clinic *c, const ih_viewer *v, json_t **out)
{
    pat_arg a = {.c = c, .v = v};
    return run(&a, false, me_fn, "patient.read", out);
}

ih_err ih_patient_me_update(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    pat_arg a = {.c = c, .v = v, .body = body};
    return run(&a, true, me_update_fn, NULL, out);
}

ih_err ih_patient_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    pat_arg a = {.c = c, .v = v, .id = id};
    return run(&a, false, get_fn, "patient.read", out);
}

ih_err ih_patient_find(ih_clinic *c, const ih_viewer *v, const char *cert_no, const char *phone, json_t **out)
{
    if (!cert_no && !phone) return ih_reject(IH_E_INVALID, "cert_no", "Give 'cert_no' or 'phone' to search.");
    pat_arg a = {.c = c, .v = v, .cert_no = cert_no, .phone = phone, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = run(&a, false, find_fn, NULL, out);
    if (e == IH_OK) {
        char n[32];
        snprintf(n, sizeof n, "%zu found by %s", json_array_size(*out), cert_no ? "certificate" : "phone");
        e = cl_audit_own(c, v, "patient.search", "patient", 0, IH_OK, n);
        if (e != IH_OK) {
            json_decref(*out);
            *out = NULL;
        }
    }
    return e;
}

ih_err ih_patient_list(ih_clinic *c, const ih_viewer *v, int64_t after, int limit, json_t **out)
{
    pat_arg a = {.c = c, .v = v, .after = after, .limit = limit > 500 ? 500 : limit, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_err e = run(&a, false, list_fn, NULL, out);
    if (e == IH_OK) {
        char n[32];
        snprintf(n, sizeof n, "%zu listed", json_array_size(*out));
        e = cl_audit_own(c, v, "patient.list", "patient", 0, IH_OK, n);
        if (e != IH_OK) {
            json_decref(*out);
            *out = NULL;
        }
    }
    return e;
}

/* ---- consents ------------------------------------------------------------------- */

static ih_err consent_list_fn(ih_tx *tx, void *arg)
{
    pat_arg *a = arg;
    IH_TRY(ih_patient_of_account(a->c, tx, a->v->actor.id, &a->id));
    return consents_json(a->c, tx, a->id, &a->out);
}

ih_err ih_consent_list(ih_clinic *c, const ih_viewer *v, json_t **out)
{
    pat_arg a = {.c = c, .v = v};
    IH_TRY(ih_store_read(c->o.store, consent_list_fn, &a));
    *out = json_pack("{s:o, s:{s:s, s:s}}", "consents", a.out, "current", "privacy", c->o.privacy_version,
                     "agreement", c->o.agreement_version);
    return *out ? IH_OK : ih_fail(IH_E_NOMEM, "consents");
}

static ih_err consent_accept_fn(ih_tx *tx, void *arg)
{
    pat_arg *a = arg;
    IH_TRY(ih_patient_of_account(a->c, tx, a->v->actor.id, &a->id));
    const char *doc = json_string_value(json_object_get(a->body, "document"));
    const char *ver = !strcmp(doc, "privacy") ? a->c->o.privacy_version : a->c->o.agreement_version;
    IH_TRY(cl_insert_consent(a->c, tx, a->id, doc, ver));
    IH_TRY(cl_audit(a->c, tx, a->v, "consent.accept", "patient", a->id, doc));
    return consents_json(a->c, tx, a->id, &a->out);
}

ih_err ih_consent_accept(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    static const char *const f[] = {"document", "version", NULL};
    const char *doc, *ver;
    IH_TRY(ih_json_only(body, f));
    IH_TRY(ih_json_str(body, "document", true, 1, 16, IH_TEXT_LINE, &doc));
    IH_TRY(ih_json_str(body, "version", true, 1, 32, IH_TEXT_LINE, &ver));
    const char *cur = !strcmp(doc, "privacy") ? c->o.privacy_version
                      : !strcmp(doc, "agreement") ? c->o.agreement_version : NULL;
    if (!cur) return ih_reject(IH_E_INVALID, "document", "Field 'document' must be 'privacy' or 'agreement'.");
    if (strcmp(ver, cur)) return ih_reject(IH_E_INVALID, "version", "The current version is %s.", cur);
    pat_arg a = {.c = c, .v = v, .body = body};
    IH_TRY(ih_store_write(c->o.store, consent_accept_fn, &a));
    *out = json_pack("{s:o}", "consents", a.out);
    return *out ? IH_OK : ih_fail(IH_E_NOMEM, "consents");
}
