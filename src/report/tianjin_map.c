/* tianjin_map.c — the field mapping of the Tianjin profile.  Every record
 * carries organID, unitID and organName; times are Beijing time
 * "yyyy-MM-dd HH:mm:ss"; money is yuan with two decimals.  Field names and
 * which are required follow ../shared/reference/tianjin-supervision.md;
 * a fact lacking a required field is refused here, naming it, so the row is
 * parked rather than sent to be refused by the platform. */
#include "report/tianjin_map.h"

#include "core/clock.h"
#include "policy/mask.h"

#include <stdio.h>
#include <string.h>

static const char *s(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static json_int_t i(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static void put_s(json_t *r, const char *k, const char *v)
{
    if (v) json_object_set_new(r, k, json_string(v));
}

static void put_time(json_t *r, const char *k, json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    if (!json_is_integer(v) || json_integer_value(v) <= 0) return;
    char t[24];
    ih_time_beijing(json_integer_value(v), t, sizeof t);
    json_object_set_new(r, k, json_string(t));
}

static void put_money(json_t *r, const char *k, json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    if (!json_is_integer(v)) return;
    json_int_t fen = json_integer_value(v);
    char t[32];
    snprintf(t, sizeof t, "%lld.%02lld", (long long)(fen / 100), (long long)(fen % 100));
    json_object_set_new(r, k, json_string(t));
}

static json_t *base(const ih_profile_ctx *ctx)
{
    json_t *r = json_object();
    put_s(r, "organID", ctx->organ_id[0] ? ctx->organ_id : NULL);
    put_s(r, "unitID", ctx->unit_id[0] ? ctx->unit_id : NULL);
    put_s(r, "organName", ctx->organ_name[0] ? ctx->organ_name : NULL);
    return r;
}

/* Required fields per method (what the platform refuses with -99). */
static ih_err require(json_t *r, const char *const *fields, const char *method)
{
    for (const char *const *f = fields; *f; f++) {
        json_t *v = json_object_get(r, *f);
        if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
            return ih_reject(IH_E_INVALID, *f, "%s: required field %s is missing.", method, *f);
    }
    return IH_OK;
}

static void patient_fields(json_t *r, json_t *p)
{
    put_s(r, "patientCertType", s(p, "cert_type"));
    put_s(r, "patientCertID", s(p, "cert_no"));
    put_s(r, "patientName", s(p, "name"));
    json_object_set_new(r, "age", json_integer(i(p, "age")));
    put_s(r, "sex", s(p, "sex"));
    put_s(r, "mobile", s(p, "phone"));
}

static void doctor_fields(json_t *r, json_t *d)
{
    json_object_set_new(r, "doctorId", json_sprintf("%lld", (long long)i(d, "id")));
    put_s(r, "doctorCertID", s(d, "cert_no"));
    put_s(r, "doctorName", s(d, "name"));
}

static void dept_fields(json_t *r, json_t *d)
{
    put_s(r, "subjectCode", s(d, "subject_code"));
    put_s(r, "subjectName", s(d, "subject_name"));
    json_object_set_new(r, "deptID", json_sprintf("%lld", (long long)i(d, "id")));
    put_s(r, "deptName", s(d, "name"));
}

static void payment_fields(json_t *r, json_t *pay)
{
    if (json_is_object(pay)) {
        put_s(r, "paymentChannel", s(pay, "channel"));
        put_s(r, "tradeNo", s(pay, "trade_no"));
    }
    json_object_set_new(r, "isPay", json_string(json_is_object(pay) && json_is_true(json_object_get(pay, "paid")) ? "1" : "0"));
}

static const char *const consult_req[] = {"organID", "unitID", "organName", "bussID", "subjectCode", "subjectName",
                                          "deptID", "deptName", "doctorId", "doctorCertID", "doctorName",
                                          "patientCertType", "patientCertID", "patientName", "age", "sex", "mobile",
                                          "consultationType", "consultationAttribute", "applyDate",
                                          "consultationPrice", "content", "answerFlag", "updateTime", NULL};
static const char *const referral_req[] = {"organID", "unitID", "organName", "bussID", "subjectCode", "subjectName",
                                           "deptID", "deptName", "doctorId", "doctorCertID", "doctorName",
                                           "patientCertType", "patientCertID", "patientName", "age", "sex", "mobile",
                                           "consultationType", "applyDate", "returnVisitType", "diseasesHistory",
                                           "mainDiagnoseCode", "thisDiagnosis", "referralFlag", "returnVisitPrice",
                                           "updateTime", NULL};

static ih_err map_visit(bool followup, json_t *f, const ih_profile_ctx *ctx, json_t **out)
{
    json_t *r = base(ctx), *p = json_object_get(f, "patient");
    json_object_set_new(r, "bussID", json_sprintf("%lld", (long long)i(f, "id")));
    dept_fields(r, json_object_get(f, "department"));
    doctor_fields(r, json_object_get(f, "doctor"));
    patient_fields(r, p);
    put_s(r, "consultationType", s(f, "consult_type"));
    put_time(r, "applyDate", f, "requested_at");
    put_time(r, "startDate", f, "accepted_at");
    put_time(r, "endDate", f, "closed_at");
    payment_fields(r, json_object_get(f, "payment"));
    bool answered = !strcmp(s(f, "status") ? s(f, "status") : "", "closed");
    json_object_set_new(r, "answerFlag", json_string(answered ? "1" : "0"));
    if (!answered) {
        put_time(r, "refuseTime", f, "refused_at");
        put_s(r, "refuseReason", s(f, "refuse_reason"));
        put_s(r, "refuseType", s(f, "refuse_type"));
    }
    put_time(r, "updateTime", f, "updated_at");
    const char *const *req;
    if (!followup) {
        put_s(r, "consultationAttribute", s(f, "attribute"));
        put_money(r, "consultationPrice", f, "fee");
        put_s(r, "content", s(f, "complaint"));
        req = consult_req;
    } else {
        put_s(r, "firstDiagnosis", s(f, "first_diagnosis"));
        put_s(r, "diseasesHistory", s(f, "disease_history"));
        json_object_set_new(r, "returnVisitType", json_string("1")); /* online follow-up */
        json_object_set_new(r, "referralFlag", json_string(json_is_true(json_object_get(f, "followup_confirmed")) ? "1" : "0"));
        put_money(r, "returnVisitPrice", f, "fee");
        json_t *dx = json_object_get(f, "diagnosis");
        put_s(r, "mainDiagnoseCode", s(dx, "main_code"));
        put_s(r, "thisDiagnosis", s(dx, "text"));
        put_s(r, "originalDiagnosis", s(f, "first_diagnosis"));
        json_t *g = json_object_get(p, "guardian");
        if (json_is_object(g)) {
            put_s(r, "guardianName", s(g, "name"));
            put_s(r, "guardianCertType", s(g, "cert_type"));
            put_s(r, "guardianCertID", s(g, "cert_no"));
            put_s(r, "guardianMobile", s(g, "phone"));
        }
        req = referral_req;
    }
    ih_err e = require(r, req, followup ? "uploadReferralIndicators" : "uploadConsultIndicators");
    if (e != IH_OK) {
        json_decref(r);
        return e;
    }
    *out = r;
    return IH_OK;
}

static const char *const emr_req[] = {"organID", "unitID", "organName", "deptID", "deptName", "caseNo", "doctorID",
                                      "doctorName", "doctorCertID", "furtherConsultNo", "diagnosisCode",
                                      "furtherConsultDiagnosis", "patientName", "patientSex", "patientAge",
                                      "patientCertType", "patientCertID", "patientMobile", "chiefComplaint",
                                      "presentHistory", "diagnosticOpinion", "updateTime", NULL};

static ih_err map_record(json_t *f, const ih_profile_ctx *ctx, json_t **out)
{
    json_t *r = base(ctx), *p = json_object_get(f, "patient"), *d = json_object_get(f, "doctor"),
           *dep = json_object_get(f, "department");
    json_object_set_new(r, "deptID", json_sprintf("%lld", (long long)i(dep, "id")));
    put_s(r, "deptName", s(dep, "name"));
    json_object_set_new(r, "caseNo", json_sprintf("%lld", (long long)i(f, "visit_id")));
    json_object_set_new(r, "doctorID", json_sprintf("%lld", (long long)i(d, "id")));
    put_s(r, "doctorName", s(d, "name"));
    put_s(r, "doctorCertID", s(d, "cert_no"));
    json_object_set_new(r, "furtherConsultNo", json_sprintf("%lld", (long long)i(f, "visit_id")));
    put_s(r, "diagnosisCode", s(f, "diagnosis_codes"));
    put_s(r, "furtherConsultDiagnosis", s(f, "diagnosis"));
    put_time(r, "visitDate", f, "visit_date");
    put_s(r, "patientName", s(p, "name"));
    put_s(r, "patientSex", s(p, "sex"));
    json_object_set_new(r, "patientAge", json_integer(i(p, "age")));
    put_s(r, "patientCertType", s(p, "cert_type"));
    put_s(r, "patientCertID", s(p, "cert_no"));
    put_s(r, "patientMobile", s(p, "phone"));
    put_s(r, "chiefComplaint", s(f, "chief_complaint"));
    put_s(r, "presentHistory", s(f, "present_history"));
    put_s(r, "assistResult", s(f, "assist_result"));
    put_s(r, "diagnosticOpinion", s(f, "opinion"));
    put_time(r, "updateTime", f, "created_at");
    ih_err e = require(r, emr_req, "uploadElectMedicalRecord");
    if (e != IH_OK) {
        json_decref(r);
        return e;
    }
    *out = r;
    return IH_OK;
}

static const char *const rx_req[] = {"organID", "unitID", "organName", "bussID", "doctorId", "doctorCertID",
                                     "doctorName", "auditDoctorId", "auditDoctorCertID", "auditDoctor",
                                     "patientCertType", "patientCertID", "patientName", "diseasesHistory",
                                     "recipeUniqueID", "recipeID", "rationalFlag", "icdCode", "icdName", "recipeType",
                                     "datein", "effectivePeriod", "startDate", "endDate", "totalFee", "isPay",
                                     "updateTime", "orderList", NULL};
static const char *const item_req[] = {"drcode", "drname", "drmodel", "admission", "frequency", "dosage", "drunit",
                                       "dosageTotal", "doseUnit", "useDays", "otcFlag", NULL};

static ih_err map_rx(json_t *f, const ih_profile_ctx *ctx, json_t **out)
{
    json_t *r = base(ctx), *p = json_object_get(f, "patient"), *rev = json_object_get(f, "reviewer");
    json_object_set_new(r, "bussID", json_sprintf("%lld", (long long)i(f, "visit_id")));
    json_object_set_new(r, "bussSource", json_string(!strcmp(s(f, "visit_kind") ? s(f, "visit_kind") : "", "followup")
                                                         ? "4"
                                                         : "1"));
    doctor_fields(r, json_object_get(f, "doctor"));
    json_object_set_new(r, "auditDoctorId", json_sprintf("%lld", (long long)i(rev, "id")));
    put_s(r, "auditDoctorCertID", s(rev, "cert_no"));
    put_s(r, "auditDoctor", s(rev, "name"));
    put_time(r, "checkDate", f, "reviewed_at");
    patient_fields(r, p);
    put_s(r, "allergyInfo", s(p, "allergies"));
    put_s(r, "diseasesHistory", s(f, "disease_history") ? s(f, "disease_history") : s(f, "complaint"));
    put_s(r, "recipeUniqueID", s(f, "recipe_no"));
    put_s(r, "recipeID", s(f, "recipe_no"));
    put_s(r, "recipeStatus", s(f, "status"));
    json_object_set_new(r, "rationalFlag", json_string("1")); /* reviewed and approved by a pharmacist */
    put_s(r, "rationalDrug", s(rev, "reason"));
    put_s(r, "icdCode", s(f, "diagnosis_codes"));
    put_s(r, "icdName", s(f, "diagnosis_names"));
    put_s(r, "recipeType", s(f, "recipe_type"));
    put_time(r, "datein", f, "issued_at");
    json_object_set_new(r, "effectivePeriod", json_integer(i(f, "effective_days")));
    put_time(r, "startDate", f, "reviewed_at");
    put_time(r, "endDate", f, "expires_at");
    put_money(r, "totalFee", f, "total_fee");
    payment_fields(r, json_object_get(f, "payment"));
    put_time(r, "updateTime", f, "updated_at");
    json_t *list = json_array();
    size_t k;
    json_t *it;
    ih_err e = IH_OK;
    json_array_foreach(json_object_get(f, "items"), k, it)
    {
        json_t *o = json_object();
        put_s(o, "drcode", s(it, "hosp_code"));
        put_s(o, "drname", s(it, "name"));
        put_s(o, "drmodel", s(it, "spec"));
        put_s(o, "pack", s(it, "spec"));
        put_s(o, "packUnit", s(it, "unit"));
        put_s(o, "drugManf", s(it, "manufacturer"));
        put_s(o, "admission", s(it, "route"));
        put_s(o, "frequency", s(it, "frequency"));
        put_s(o, "dosage", s(it, "dosage"));
        put_s(o, "drunit", s(it, "dose_unit"));
        json_object_set_new(o, "dosageTotal", json_sprintf("%lld", (long long)i(it, "quantity")));
        put_s(o, "doseUnit", s(it, "unit"));
        json_object_set_new(o, "useDays", json_integer(i(it, "days")));
        put_s(o, "countrydrcode", s(it, "national_code"));
        json_object_set_new(o, "otcFlag", json_string(json_is_true(json_object_get(it, "otc")) ? "1" : "0"));
        put_s(o, "remark", s(it, "remark"));
        if (e == IH_OK) e = require(o, item_req, "uploadRecipeIndicators orderList");
        json_array_append_new(list, o);
    }
    json_object_set_new(r, "orderList", list);
    if (e == IH_OK && !json_array_size(list)) e = ih_reject(IH_E_INVALID, "orderList", "uploadRecipeIndicators: no items.");
    if (e == IH_OK) e = require(r, rx_req, "uploadRecipeIndicators");
    if (e != IH_OK) {
        json_decref(r);
        return e;
    }
    *out = r;
    return IH_OK;
}

static const char *const disp_req[] = {"organID", "unitID", "organName", "recipeUniqueID", "recipeID", "deliveryType",
                                       "VerificationTime", "deliveryPeople", "totalFee", "isPay", "updateTime", NULL};

static ih_err map_dispense(json_t *f, const ih_profile_ctx *ctx, json_t **out)
{
    json_t *r = base(ctx);
    put_s(r, "recipeUniqueID", s(f, "recipe_no"));
    put_s(r, "recipeID", s(f, "recipe_no"));
    put_s(r, "deliveryType", s(f, "delivery_type"));
    put_time(r, "VerificationTime", f, "finished_at");
    put_s(r, "deliveryFirm", s(f, "delivery_firm"));
    put_s(r, "deliveryPeople", s(f, "delivery_people"));
    put_money(r, "totalFee", f, "total_fee");
    payment_fields(r, json_object_get(f, "payment"));
    put_time(r, "updateTime", f, "finished_at");
    ih_err e = require(r, disp_req, "uploadRecipeVerificationIndicators");
    if (e != IH_OK) {
        json_decref(r);
        return e;
    }
    *out = r;
    return IH_OK;
}

static const char *const drug_req[] = {"organID",         "unitID",      "organName",      "drugClass",
                                       "hospDrcode",      "hospDrugName", "hospDrugPacking", "hospDrugManuf",
                                       "useFlag",         "updateTime",  NULL};

static ih_err map_drug(json_t *f, const ih_profile_ctx *ctx, json_t **out)
{
    json_t *r = base(ctx);
    put_s(r, "drugClass", s(f, "drug_class"));
    put_s(r, "countrydrcode", s(f, "national_code"));
    put_s(r, "hospDrcode", s(f, "hosp_code"));
    put_s(r, "hospDrugName", s(f, "name"));
    put_s(r, "hospTradeName", s(f, "trade_name"));
    put_s(r, "hospDrugPacking", s(f, "spec"));
    put_s(r, "hospDrugManuf", s(f, "manufacturer"));
    put_money(r, "drugPrice", f, "price");
    json_object_set_new(r, "useFlag", json_string(json_is_true(json_object_get(f, "active")) ? "1" : "2"));
    put_time(r, "updateTime", f, "updated_at");
    ih_err e = require(r, drug_req, "uploadDrugCatalogue");
    if (e != IH_OK) {
        json_decref(r);
        return e;
    }
    *out = r;
    return IH_OK;
}

static const char *const eval_req[] = {"organID", "unitID", "organName", "evaluateID", "bussID", "businessType",
                                       "deptName", "doctorName", "satisfaction", "scoring", "evaluation",
                                       "evaluationPeople", "evaluationTime", NULL};

static ih_err map_evaluation(json_t *f, const ih_profile_ctx *ctx, json_t **out)
{
    json_t *r = base(ctx), *dep = json_object_get(f, "department"), *d = json_object_get(f, "doctor");
    json_object_set_new(r, "evaluateID", json_sprintf("%lld", (long long)i(f, "id")));
    json_object_set_new(r, "bussID", json_sprintf("%lld", (long long)i(f, "visit_id")));
    json_object_set_new(r, "businessType",
                        json_string(!strcmp(s(f, "visit_kind") ? s(f, "visit_kind") : "", "followup") ? "2" : "1"));
    json_object_set_new(r, "deptID", json_sprintf("%lld", (long long)i(dep, "id")));
    put_s(r, "deptName", s(dep, "name"));
    json_object_set_new(r, "doctorId", json_sprintf("%lld", (long long)i(d, "id")));
    put_s(r, "doctorName", s(d, "name"));
    json_object_set_new(r, "satisfaction", json_integer(i(f, "satisfaction")));
    json_object_set_new(r, "scoring", json_integer(i(f, "score")));
    put_s(r, "evaluation", s(f, "text"));
    put_s(r, "complaints", s(f, "complaint"));
    put_s(r, "evaluationPeople", s(f, "patient_name"));
    put_time(r, "evaluationTime", f, "created_at");
    ih_err e = require(r, eval_req, "uploadBusinessInfoAfter");
    if (e != IH_OK) {
        json_decref(r);
        return e;
    }
    *out = r;
    return IH_OK;
}

static const char *const ae_req[] = {"organID", "unitID", "organName", "eventID", "businessType", "patientName",
                                     "mobile", "eventDescription", "eventDate", "eventReason", "takeSteps",
                                     "damageDegree", "Improvements", "reportDept", "reportPerson", "reportDate",
                                     "updateTime", NULL};

static ih_err map_adverse(json_t *f, const ih_profile_ctx *ctx, json_t **out)
{
    json_t *r = base(ctx);
    json_object_set_new(r, "eventID", json_sprintf("%lld", (long long)i(f, "id")));
    put_s(r, "businessType", s(f, "kind"));
    /* an event without a visit has no patient: the platform requires the
     * fields, so they say so */
    put_s(r, "patientName", s(f, "patient_name") ? s(f, "patient_name") : "无");
    put_s(r, "mobile", s(f, "patient_phone") ? s(f, "patient_phone") : "无");
    put_s(r, "eventDescription", s(f, "description"));
    char d[24];
    snprintf(d, sizeof d, "%s 00:00:00", s(f, "event_date") ? s(f, "event_date") : "");
    put_s(r, "eventDate", s(f, "event_date") ? d : NULL);
    put_s(r, "eventReason", s(f, "cause"));
    put_s(r, "takeSteps", s(f, "measures"));
    put_s(r, "damageDegree", s(f, "damage_degree"));
    put_s(r, "Improvements", s(f, "improvements"));
    put_s(r, "reportDept", s(f, "department_name"));
    put_s(r, "reportPerson", s(f, "reporter_name"));
    put_time(r, "reportDate", f, "reported_at");
    put_time(r, "updateTime", f, "reported_at");
    ih_err e = require(r, ae_req, "pushMedicalDispute");
    if (e != IH_OK) {
        json_decref(r);
        return e;
    }
    *out = r;
    return IH_OK;
}

ih_err ih_tj_map(const char *kind, json_t *fact, const ih_profile_ctx *ctx, json_t **record)
{
    *record = NULL;
    if (!strcmp(kind, "consult")) return map_visit(false, fact, ctx, record);
    if (!strcmp(kind, "followup")) return map_visit(true, fact, ctx, record);
    if (!strcmp(kind, "record")) return map_record(fact, ctx, record);
    if (!strcmp(kind, "prescription")) return map_rx(fact, ctx, record);
    if (!strcmp(kind, "dispense")) return map_dispense(fact, ctx, record);
    if (!strcmp(kind, "evaluation")) return map_evaluation(fact, ctx, record);
    if (!strcmp(kind, "adverse")) return map_adverse(fact, ctx, record);
    if (!strcmp(kind, "drug")) return map_drug(fact, ctx, record);
    if (!strcmp(kind, "adverse_empty")) return IH_OK; /* no record: the call carries an empty list */
    return ih_fail(IH_E_INTERNAL, "tianjin: no mapping for %s", kind);
}

/* Every key ih_tj_map writes that holds personal data, by kind: names of
 * patients, guardians and evaluators; certificate numbers (staff's too);
 * phones; and clinical text and codes, which a masked view hides whole.
 * Doctors' names are public (亮证); codes of tables, ids, money and times
 * are not personal. */
static const struct {
    const char *key;
    ih_field_kind kind;
} personal_keys[] = {
    {"patientName", IH_FIELD_NAME},          {"guardianName", IH_FIELD_NAME},
    {"evaluationPeople", IH_FIELD_NAME},     {"deliveryPeople", IH_FIELD_NAME},
    {"reportPerson", IH_FIELD_NAME},         {"patientCertID", IH_FIELD_ID_NUMBER},
    {"guardianCertID", IH_FIELD_ID_NUMBER},  {"doctorCertID", IH_FIELD_ID_NUMBER},
    {"auditDoctorCertID", IH_FIELD_ID_NUMBER}, {"mobile", IH_FIELD_PHONE},
    {"patientMobile", IH_FIELD_PHONE},       {"guardianMobile", IH_FIELD_PHONE},
    {"allergyInfo", IH_FIELD_CLINICAL},      {"assistResult", IH_FIELD_CLINICAL},
    {"chiefComplaint", IH_FIELD_CLINICAL},   {"complaints", IH_FIELD_CLINICAL},
    {"content", IH_FIELD_CLINICAL},          {"diagnosisCode", IH_FIELD_CLINICAL},
    {"diagnosticOpinion", IH_FIELD_CLINICAL}, {"diseasesHistory", IH_FIELD_CLINICAL},
    {"evaluation", IH_FIELD_CLINICAL},       {"eventDescription", IH_FIELD_CLINICAL},
    {"eventReason", IH_FIELD_CLINICAL},      {"firstDiagnosis", IH_FIELD_CLINICAL},
    {"furtherConsultDiagnosis", IH_FIELD_CLINICAL}, {"icdCode", IH_FIELD_CLINICAL},
    {"icdName", IH_FIELD_CLINICAL},          {"Improvements", IH_FIELD_CLINICAL},
    {"mainDiagnoseCode", IH_FIELD_CLINICAL}, {"originalDiagnosis", IH_FIELD_CLINICAL},
    {"presentHistory", IH_FIELD_CLINICAL},   {"refuseReason", IH_FIELD_CLINICAL},
    {"takeSteps", IH_FIELD_CLINICAL},        {"thisDiagnosis", IH_FIELD_CLINICAL},
};

int ih_tj_personal(const char *key)
{
    for (size_t i = 0; i < sizeof personal_keys / sizeof personal_keys[0]; i++)
        if (!strcmp(personal_keys[i].key, key)) return (int)personal_keys[i].kind;
    return -1;
}
