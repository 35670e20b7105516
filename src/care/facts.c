/* facts.c — reportable facts for the supervision outbox (report/report.h).
 * Inside the business transaction that reached the final state, the fact
 * is gathered in our own terms — the visit, its patient, doctor,
 * department, payment, diagnosis; the prescription with its items and
 * reviewer; … — and handed to the report module, whose profile maps it to
 * the platform's record.  Kinds: consult, followup, record, prescription,
 * dispense, evaluation, adverse (the drug catalogue's: registry/drug.c). */
#include "care/care_impl.h"

#include "core/clock.h"
#include "report/report.h"

#include <stdio.h>
#include <string.h>

static void set_time(json_t *j, const char *k, const ih_row *r, const char *field)
{
    if (ih_row_has(r, field)) json_object_set_new(j, k, json_integer(ih_row_int(r, field)));
}

static ih_err person_staff(ih_clinic *c, ih_tx *tx, int64_t id, json_t **out)
{
    ih_row s;
    ih_row_init(&s, &ih_t_staff);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_staff, id, &s, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "staff %lld", (long long)id);
    if (e == IH_OK)
        *out = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "name", ih_row_str(&s, "name"), "cert_type",
                         ih_row_str(&s, "cert_type"), "cert_no", ih_row_str(&s, "cert_no"), "title_code",
                         ih_row_str(&s, "title_code"));
    ih_row_free(&s);
    return e;
}

static ih_err person_patient(ih_clinic *c, ih_tx *tx, int64_t id, json_t **out)
{
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_patient, id, &p, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "patient %lld", (long long)id);
    if (e == IH_OK) {
        char today[11];
        cl_today(c, today);
        *out = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s?}", "id", (json_int_t)id, "name",
                         ih_row_str(&p, "name"), "cert_type", ih_row_str(&p, "cert_type"), "cert_no",
                         ih_row_str(&p, "cert_no"), "sex", ih_row_str(&p, "sex"), "birth_date",
                         ih_row_str(&p, "birth_date"), "phone", ih_row_str(&p, "phone"), "age",
                         cl_age_years(ih_row_str(&p, "birth_date"), today), "allergies", ih_row_str(&p, "allergies"));
        if (*out && ih_row_has(&p, "guardian_name"))
            json_object_set_new(*out, "guardian",
                                json_pack("{s:s, s:s, s:s, s:s}", "name", ih_row_str(&p, "guardian_name"), "cert_type",
                                          ih_row_str(&p, "guardian_cert_type"), "cert_no",
                                          ih_row_str(&p, "guardian_cert_no"), "phone", ih_row_str(&p, "guardian_phone")));
    }
    ih_row_free(&p);
    return e;
}

static ih_err department(ih_clinic *c, ih_tx *tx, int64_t id, json_t **out)
{
    ih_row d;
    ih_row_init(&d, &ih_t_department);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_department, id, &d, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "department %lld", (long long)id);
    if (e == IH_OK)
        *out = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "name", ih_row_str(&d, "name"), "subject_code",
                         ih_row_str(&d, "subject_code"), "subject_name",
                         ih_code_name(&ih_codes_subject, ih_row_str(&d, "subject_code")));
    ih_row_free(&d);
    return e;
}

/* The payment of a visit (prescription 0) or of a prescription. */
static ih_err payment(ih_tx *tx, int64_t visit, int64_t rx, json_t **out)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT channel, trade_no, paid FROM payment WHERE visit_id = $1 AND "
                             "COALESCE(prescription_id, 0) = $2 AND paid = 1 ORDER BY id DESC LIMIT 1", &st));
    ih_stmt_int(st, 1, visit);
    ih_stmt_int(st, 2, rx);
    IH_TRY(ih_stmt_step(st, &row));
    *out = row ? json_pack("{s:s, s:s, s:b}", "channel", ih_col_text(st, 0), "trade_no", ih_col_text(st, 1), "paid",
                           (int)ih_col_int(st, 2))
               : json_null();
    return IH_OK;
}

/* The latest record's diagnosis of a visit. */
static ih_err diagnosis(ih_clinic *c, ih_tx *tx, int64_t visit, json_t **out)
{
    ih_stmt *st;
    bool row;
    *out = json_null();
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM record WHERE visit_id = $1 ORDER BY revision DESC LIMIT 1", &st));
    ih_stmt_int(st, 1, visit);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return IH_OK;
    ih_row r;
    ih_row_init(&r, &ih_t_emr);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_emr, ih_col_int(st, 0), &r, &found);
    if (e == IH_OK && found) {
        char main[32];
        snprintf(main, sizeof main, "%s", ih_row_str(&r, "diagnosis_codes"));
        main[strcspn(main, "|")] = '\0';
        *out = json_pack("{s:s, s:s, s:s}", "codes", ih_row_str(&r, "diagnosis_codes"), "main_code", main, "text",
                         ih_row_str(&r, "diagnosis"));
    }
    ih_row_free(&r);
    return e;
}

/* Common to visit-based facts: the visit's people and place. */
ih_err cl_fact_staff(ih_clinic *c, ih_tx *tx, int64_t staff, json_t **out) { return person_staff(c, tx, staff, out); }

ih_err cl_fact_visit_context(ih_clinic *c, ih_tx *tx, const ih_row *v, json_t *f)
{
    json_t *p = NULL, *d = NULL, *dep = NULL;
    ih_err e = person_patient(c, tx, ih_row_int(v, "patient_id"), &p);
    if (e == IH_OK) e = person_staff(c, tx, ih_row_int(v, "doctor_id"), &d);
    if (e == IH_OK) e = department(c, tx, ih_row_int(v, "department_id"), &dep);
    json_object_set_new(f, "patient", p ? p : json_null());
    json_object_set_new(f, "doctor", d ? d : json_null());
    json_object_set_new(f, "department", dep ? dep : json_null());
    return e;
}

static ih_err visit_fact(ih_clinic *c, ih_tx *tx, int64_t id, const char **kind, json_t *f)
{
    ih_row v;
    ih_row_init(&v, &ih_t_visit);
    ih_err e = cl_visit_load(c, tx, id, &v, true);
    if (e == IH_OK) {
        *kind = !strcmp(ih_row_str(&v, "kind"), "followup") ? "followup" : "consult";
        json_object_set_new(f, "id", json_integer(id));
        static const char *const texts[] = {"kind", "status", "consult_type", "attribute", "complaint",
                                            "first_diagnosis", "disease_history", "refuse_type", "refuse_reason", NULL};
        for (const char *const *t = texts; *t; t++)
            if (ih_row_str(&v, *t)) json_object_set_new(f, *t, json_string(ih_row_str(&v, *t)));
        json_object_set_new(f, "fee", json_integer(ih_row_int(&v, "fee")));
        json_object_set_new(f, "guardian_present", json_boolean(ih_row_int(&v, "guardian_present")));
        json_object_set_new(f, "followup_confirmed", json_boolean(ih_row_int(&v, "followup_confirmed")));
        static const char *const times[] = {"requested_at", "accepted_at", "closed_at", "refused_at", "updated_at", NULL};
        for (const char *const *t = times; *t; t++) set_time(f, *t, &v, *t);
        e = cl_fact_visit_context(c, tx, &v, f);
    }
    json_t *pay = NULL, *dx = NULL;
    if (e == IH_OK) e = payment(tx, id, 0, &pay);
    if (e == IH_OK) e = diagnosis(c, tx, id, &dx);
    json_object_set_new(f, "payment", pay ? pay : json_null());
    json_object_set_new(f, "diagnosis", dx ? dx : json_null());
    /* A follow-up request that was refused or expired never became a visit:
     * the follow-up indicators describe visits (and need their diagnosis). */
    if (e == IH_OK && !strcmp(*kind, "followup") && strcmp(ih_row_str(&v, "status"), V_CLOSED)) *kind = NULL;
    ih_row_free(&v);
    return e;
}

static ih_err record_fact(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f, char *key, size_t kn)
{
    ih_row r, v;
    ih_row_init(&r, &ih_t_emr);
    ih_row_init(&v, &ih_t_visit);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_emr, id, &r, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "record %lld", (long long)id);
    if (e == IH_OK) e = cl_visit_load(c, tx, ih_row_int(&r, "visit_id"), &v, false);
    if (e == IH_OK) {
        snprintf(key, kn, "record-%lld", (long long)ih_row_int(&r, "visit_id"));
        static const char *const texts[] = {"chief_complaint", "present_history", "diagnosis_codes", "diagnosis",
                                            "opinion", "assist_result", NULL};
        for (const char *const *t = texts; *t; t++)
            if (ih_row_str(&r, *t)) json_object_set_new(f, *t, json_string(ih_row_str(&r, *t)));
        json_object_set_new(f, "visit_id", json_integer(ih_row_int(&r, "visit_id")));
        json_object_set_new(f, "revision", json_integer(ih_row_int(&r, "revision")));
        set_time(f, "created_at", &r, "created_at");
        set_time(f, "visit_date", &v, "accepted_at");
        e = cl_fact_visit_context(c, tx, &v, f);
    }
    ih_row_free(&r);
    ih_row_free(&v);
    return e;
}

static ih_err rx_fact(ih_clinic *c, ih_tx *tx, int64_t id, bool dispense, json_t *f)
{
    ih_row r, v;
    ih_row_init(&r, &ih_t_rx);
    ih_row_init(&v, &ih_t_visit);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_rx, id, &r, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "prescription %lld", (long long)id);
    if (e == IH_OK) e = cl_visit_load(c, tx, ih_row_int(&r, "visit_id"), &v, true);
    json_t *pay = NULL;
    if (e == IH_OK) e = payment(tx, ih_row_int(&r, "visit_id"), id, &pay);
    json_object_set_new(f, "payment", pay ? pay : json_null());
    if (e == IH_OK) {
        json_object_set_new(f, "id", json_integer(id));
        json_object_set_new(f, "visit_id", json_integer(ih_row_int(&r, "visit_id")));
        json_object_set_new(f, "visit_kind", json_string(ih_row_str(&v, "kind")));
        static const char *const texts[] = {"recipe_no", "recipe_type", "status", "diagnosis_codes", "delivery_type",
                                            "delivery_firm", NULL};
        for (const char *const *t = texts; *t; t++)
            if (ih_row_str(&r, *t)) json_object_set_new(f, *t, json_string(ih_row_str(&r, *t)));
        if (ih_row_str(&v, "disease_history"))
            json_object_set_new(f, "disease_history", json_string(ih_row_str(&v, "disease_history")));
        json_object_set_new(f, "complaint", json_string(ih_row_str(&v, "complaint")));
        json_object_set_new(f, "total_fee", json_integer(ih_row_int(&r, "total_fee")));
        json_object_set_new(f, "effective_days", json_integer(ih_row_int(&r, "effective_days")));
        static const char *const times[] = {"issued_at", "reviewed_at", "expires_at", "finished_at", "updated_at", NULL};
        for (const char *const *t = times; *t; t++) set_time(f, *t, &r, *t);
        /* the items, with each drug's manufacturer and OTC flag from the catalogue */
        json_t *items = json_loads(ih_row_str(&r, "items"), 0, NULL);
        size_t k;
        json_t *it;
        ih_row d;
        ih_row_init(&d, &ih_t_drug);
        json_array_foreach(items, k, it)
        {
            if (ih_row_load(tx, c->o.keys, &ih_t_drug, json_integer_value(json_object_get(it, "drug_id")), &d, &found) ==
                    IH_OK &&
                found) {
                json_object_set_new(it, "manufacturer", json_string(ih_row_str(&d, "manufacturer")));
                json_object_set_new(it, "otc", json_boolean(ih_row_int(&d, "otc")));
            }
        }
        ih_row_free(&d);
        json_object_set_new(f, "items", items ? items : json_array());
        /* ICD names, joined as the codes are */
        ih_buf names = IH_BUF_INIT;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", ih_row_str(&r, "diagnosis_codes"));
        for (char *save = NULL, *t = strtok_r(buf, "|", &save); t && e == IH_OK; t = strtok_r(NULL, "|", &save)) {
            char name[128];
            e = cl_icd_name(tx, t, name, sizeof name);
            if (e == IH_OK) {
                if (names.len) ih_buf_puts(&names, "|");
                ih_buf_puts(&names, name);
            }
        }
        json_object_set_new(f, "diagnosis_names", json_string(names.p ? names.p : ""));
        ih_buf_free(&names);
        json_t *p = NULL, *doc = NULL, *rev = NULL;
        if (e == IH_OK) e = person_patient(c, tx, ih_row_int(&r, "patient_id"), &p);
        if (e == IH_OK) e = person_staff(c, tx, ih_row_int(&r, "doctor_id"), &doc);
        if (e == IH_OK && ih_row_has(&r, "reviewer_id")) {
            e = person_staff(c, tx, ih_row_int(&r, "reviewer_id"), &rev);
            if (e == IH_OK && ih_row_str(&r, "review_reason"))
                json_object_set_new(rev, "reason", json_string(ih_row_str(&r, "review_reason")));
        }
        json_object_set_new(f, "patient", p ? p : json_null());
        json_object_set_new(f, "doctor", doc ? doc : json_null());
        json_object_set_new(f, "reviewer", rev ? rev : json_null());
        if (dispense) /* who handed it over: the courier firm, or the reviewing pharmacist */
            json_object_set_new(f, "delivery_people",
                                json_string(ih_row_str(&r, "delivery_firm") ? ih_row_str(&r, "delivery_firm")
                                            : rev ? json_string_value(json_object_get(rev, "name"))
                                                  : "药房"));
    }
    ih_row_free(&r);
    ih_row_free(&v);
    return e;
}

static ih_err evaluation_fact(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f)
{
    ih_row r, v;
    ih_row_init(&r, &ih_t_evaluation);
    ih_row_init(&v, &ih_t_visit);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_evaluation, id, &r, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "evaluation %lld", (long long)id);
    if (e == IH_OK) e = cl_visit_load(c, tx, ih_row_int(&r, "visit_id"), &v, false);
    if (e == IH_OK) {
        int64_t visit = ih_row_int(&r, "visit_id");
        const char *vk = !strcmp(ih_row_str(&v, "kind"), "followup") ? "followup" : "consult";
        json_object_set_new(f, "id", json_integer(id));
        json_object_set_new(f, "visit_id", json_integer(visit));
        json_object_set_new(f, "visit_kind", json_string(vk));
        json_object_set_new(f, "satisfaction", json_integer(ih_row_int(&r, "satisfaction")));
        json_object_set_new(f, "score", json_integer(ih_row_int(&r, "score")));
        json_object_set_new(f, "text", json_string(ih_row_str(&r, "text")));
        if (ih_row_str(&r, "complaint")) json_object_set_new(f, "complaint", json_string(ih_row_str(&r, "complaint")));
        set_time(f, "created_at", &r, "created_at");
        char key[48];
        snprintf(key, sizeof key, "visit-%lld", (long long)visit);
        json_object_set_new(f, "_depends", json_pack("{s:s, s:s}", "kind", vk, "key", key));
        e = cl_fact_visit_context(c, tx, &v, f);
        json_object_set_new(f, "patient_name",
                            json_string(json_string_value(json_object_get(json_object_get(f, "patient"), "name"))));
    }
    ih_row_free(&r);
    ih_row_free(&v);
    return e;
}

static ih_err adverse_fact(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f)
{
    ih_row r;
    ih_row_init(&r, &ih_t_adverse);
    bool found;
    ih_err e = ih_row_load(tx, c->o.keys, &ih_t_adverse, id, &r, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "adverse event %lld", (long long)id);
    if (e == IH_OK) {
        json_object_set_new(f, "id", json_integer(id));
        static const char *const texts[] = {"kind", "description", "cause", "measures", "damage_degree",
                                            "improvements", "event_date", NULL};
        for (const char *const *t = texts; *t; t++) json_object_set_new(f, *t, json_string(ih_row_str(&r, *t)));
        set_time(f, "reported_at", &r, "reported_at");
        json_t *dep = NULL, *rep = NULL;
        e = department(c, tx, ih_row_int(&r, "department_id"), &dep);
        if (e == IH_OK) e = person_staff(c, tx, ih_row_int(&r, "reporter_id"), &rep);
        json_object_set_new(f, "department_name", json_string(dep ? json_string_value(json_object_get(dep, "name")) : ""));
        json_object_set_new(f, "reporter_name", json_string(rep ? json_string_value(json_object_get(rep, "name")) : ""));
        json_decref(dep);
        json_decref(rep);
        if (e == IH_OK && ih_row_has(&r, "visit_id")) {
            ih_row v;
            ih_row_init(&v, &ih_t_visit);
            json_t *p = NULL;
            e = cl_visit_load(c, tx, ih_row_int(&r, "visit_id"), &v, false);
            if (e == IH_OK) e = person_patient(c, tx, ih_row_int(&v, "patient_id"), &p);
            if (p) {
                json_object_set_new(f, "patient_name", json_string(json_string_value(json_object_get(p, "name"))));
                json_object_set_new(f, "patient_phone", json_string(json_string_value(json_object_get(p, "phone"))));
                json_decref(p);
            }
            ih_row_free(&v);
        }
    }
    ih_row_free(&r);
    return e;
}


ih_err cl_report(ih_clinic *c, ih_tx *tx, const char *kind, int64_t id)
{
    if (!c->o.report) return IH_OK;
    json_t *f = json_object();
    IH_CHECK_ALLOC(f);
    char key[96];
    const char *k = kind;
    ih_err e;
    if (!strcmp(kind, "visit")) {
        snprintf(key, sizeof key, "visit-%lld", (long long)id);
        e = visit_fact(c, tx, id, &k, f);
    } else if (!strcmp(kind, "record"))
        e = record_fact(c, tx, id, f, key, sizeof key);
    else if (!strcmp(kind, "prescription") || !strcmp(kind, "dispense")) {
        snprintf(key, sizeof key, "%s-%lld", kind, (long long)id);
        e = rx_fact(c, tx, id, !strcmp(kind, "dispense"), f);
    } else if (!strcmp(kind, "evaluation")) {
        snprintf(key, sizeof key, "evaluation-%lld", (long long)id);
        e = evaluation_fact(c, tx, id, f);
    } else if (!strcmp(kind, "adverse")) {
        snprintf(key, sizeof key, "adverse-%lld", (long long)id);
        e = adverse_fact(c, tx, id, f);
    } else
        e = ih_fail(IH_E_INTERNAL, "no fact for %s", kind);
    if (e == IH_OK && k) e = cl_report_put(c, tx, k, key, f);
    json_decref(f);
    return e;
}

ih_err cl_fact_record(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f)
{
    char key[96];
    return record_fact(c, tx, id, f, key, sizeof key);
}

ih_err cl_fact_rx(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f) { return rx_fact(c, tx, id, false, f); }
