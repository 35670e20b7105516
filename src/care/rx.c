/* rx.c — prescriptions, from the treating doctor's signed issue through the
 * pharmacist's signed review to dispensing, delivery or expiry.
 *
 *   issued ──review approve──▶ approved ──dispense──▶ dispensed | delivered
 *     │ review reject ▶ rejected   │ validity over ▶ expired
 *     └ doctor cancels ▶ cancelled
 *
 * Only the doctor's own request creates one (no automatic prescriptions):
 * the treating doctor of an accepted follow-up visit, or of one closed less
 * than 24 hours ago, in a full two-factor session (a consultation gives
 * advice; treatment online is follow-up care only).  Items come from the active
 * catalogue; restricted drugs are refused; route, frequency, dosage,
 * quantity and days are required and days are bounded.  Item details are
 * snapshotted from the catalogue into the signed content. */
#include "care/care_impl.h"
#include "care/rx_impl.h"

#include "core/clock.h"
#include "core/log.h"
#include "crypto/protect.h"
#include "keys/keys.h"
#include "policy/detector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SM (IH_FF_SERVER | IH_FF_MAC)

static const ih_field fields[] = {
    {"visit_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"patient_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"doctor_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"recipe_no", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"recipe_type", IH_F_TEXT, IH_FF_REQUIRED | IH_FF_MAC, 1, 1, &ih_codes_drug_class, 0, IH_MASK_NONE, NULL},
    {"diagnosis_codes", IH_F_SEALED, SM, 1, 200, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"items", IH_F_SEALED, SM, 1, 65536, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"total_fee", IH_F_MONEY, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"effective_days", IH_F_INT, IH_FF_MAC, 1, 7, NULL, 0, IH_MASK_NONE, NULL},
    {"status", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"label", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"issued_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"sign_key_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"signature", IH_F_BLOB, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"reviewer_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"review_decision", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"review_reason_legacy", IH_F_TEXT, SM | IH_FF_LEGACY, 0, 0, NULL, 0, IH_MASK_NONE, NULL, "review_reason"},
    {"reviewed_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"review_key_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"review_signature", IH_F_BLOB, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"delivery_type", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"delivery_firm", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"finished_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"expires_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"updated_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* the pharmacist's reason, sealed (migration 14); the review signature covers its text */
    {"review_reason", IH_F_SEALED, SM | IH_FF_ADDED, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    /* migration 17: who dispensed; the doctor's reason for prescribing
     * against a recorded allergy (sealed) */
    {"dispenser_id", IH_F_INT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"allergy_override", IH_F_SEALED, SM | IH_FF_ADDED, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    /* migration 22: the patient's choice, "hospital" (the hospital pharmacy
     * gets it as RDE^O11) or "delivery" */
    {"dispensing", IH_F_TEXT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_rx = IH_TABLE("prescription", fields, true, "至少15年（门诊病历，自最后一次就诊）");

/* The one state machine: from → to, and who moves it. */
typedef enum { BY_DOCTOR, BY_PHARMACIST, BY_SYSTEM } mover;
static const struct {
    const char *from, *to;
    mover by;
} moves[] = {
    {"issued", "approved", BY_PHARMACIST}, {"issued", "rejected", BY_PHARMACIST}, {"issued", "cancelled", BY_DOCTOR},
    {"approved", "dispensed", BY_PHARMACIST}, {"approved", "delivered", BY_PHARMACIST},
    {"approved", "expired", BY_SYSTEM},
};

static ih_err move(ih_row *r, const char *to, mover by)
{
    const char *from = ih_row_str(r, "status");
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
        if (!strcmp(moves[i].from, from) && !strcmp(moves[i].to, to) && moves[i].by == by)
            return ih_row_set_str(r, "status", to);
    return ih_reject(IH_E_STATE, NULL, "A prescription that is %s cannot become %s.", from, to);
}

/* ---- canonical contents (shared with offline verification) ------------------------- */

ih_err rx_canon_issue(json_t *p, ih_buf *out)
{
    ih_canon c = {0};
    ih_canon_text(&c, "ihos-rx-v1");
    static const char *const ints[] = {"id", "visit_id", "patient_id", "doctor_id", "total_fee_fen", "effective_days",
                                       "issued_at_ms", NULL};
    static const char *const texts[] = {"recipe_no", "recipe_type", "diagnosis_codes", "items", NULL};
    for (const char *const *f = ints; *f; f++) ih_canon_int(&c, json_integer_value(json_object_get(p, *f)));
    for (const char *const *f = texts; *f; f++) ih_canon_text(&c, json_string_value(json_object_get(p, *f)));
    ih_err e = c.err != IH_OK ? c.err : ih_buf_append(out, c.b.p, c.b.len);
    ih_canon_free(&c);
    return e;
}

ih_err rx_canon_review(json_t *p, json_t *review, const uint8_t *doctor_sig, size_t siglen, ih_buf *out)
{
    ih_canon c = {0};
    ih_canon_text(&c, "ihos-rx-review-v1");
    ih_canon_int(&c, json_integer_value(json_object_get(p, "id")));
    ih_canon_text(&c, json_string_value(json_object_get(p, "recipe_no")));
    ih_canon_blob(&c, doctor_sig, siglen); /* the review is of exactly that signed prescription */
    ih_canon_text(&c, json_string_value(json_object_get(review, "decision")));
    ih_canon_text(&c, json_string_value(json_object_get(review, "reason")));
    ih_canon_int(&c, json_integer_value(json_object_get(review, "reviewer_id")));
    ih_canon_int(&c, json_integer_value(json_object_get(review, "reviewed_at_ms")));
    ih_err e = c.err != IH_OK ? c.err : ih_buf_append(out, c.b.p, c.b.len);
    ih_canon_free(&c);
    return e;
}

/* The signed fields of a prescription row, as the bundle carries them. */
static json_t *signed_fields(const ih_row *r)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id", (json_int_t)r->id, "visit_id",
                     (json_int_t)ih_row_int(r, "visit_id"), "patient_id", (json_int_t)ih_row_int(r, "patient_id"),
                     "doctor_id", (json_int_t)ih_row_int(r, "doctor_id"), "recipe_no", ih_row_str(r, "recipe_no"),
                     "recipe_type", ih_row_str(r, "recipe_type"), "diagnosis_codes", ih_row_str(r, "diagnosis_codes"),
                     "items", ih_row_str(r, "items"), "total_fee_fen", (json_int_t)ih_row_int(r, "total_fee"),
                     "effective_days", (json_int_t)ih_row_int(r, "effective_days"), "issued_at_ms",
                     (json_int_t)ih_row_int(r, "issued_at"));
}

static json_t *review_fields(const ih_row *r)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "decision", ih_row_str(r, "review_decision"), "reason",
                     ih_row_str(r, "review_reason") ? ih_row_str(r, "review_reason") : "", "reviewer_id",
                     (json_int_t)ih_row_int(r, "reviewer_id"), "reviewed_at_ms", (json_int_t)ih_row_int(r, "reviewed_at"));
}

/* ---- issue ------------------------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    int64_t id, visit;
    int limit;
    const ih_page *page; /* ih_rx_list: the page asked for, */
    int64_t next;        /* and where the next starts, or -1 */
    const char *status;
    ih_row r, vr;
    /* for the detector, gathered inside the transaction */
    int64_t doctor, drugs[16];
    int ndrugs;
    bool outside;
    int64_t restricted; /* a restricted drug asked for (refused, and audited) */
    /* per item: the drug's allergy classes (allergy.c) and name */
    unsigned allergy[5];
    char drug_name[5][65];
    int nitems;
    char override_codes[128]; /* allergy classes overridden (audited after the insert) */
    struct rx_shown *shown; /* lists: what each listed prescription showed */
    int nshown;
} rx_arg;

/* What the 防统方 detector counts of one prescription a reader saw. */
typedef struct rx_shown {
    int64_t id, doctor, drugs[16];
    int ndrugs;
    bool outside;
} rx_shown;

static void shown_of(const ih_row *r, bool outside, rx_shown *s)
{
    s->id = r->id;
    s->doctor = ih_row_int(r, "doctor_id");
    s->outside = outside;
    s->ndrugs = 0;
    json_t *items = ih_row_str(r, "items") ? json_loads(ih_row_str(r, "items"), 0, NULL) : NULL;
    size_t i;
    json_t *x;
    json_array_foreach(items, i, x) if (s->ndrugs < 16) s->drugs[s->ndrugs++] =
        json_integer_value(json_object_get(x, "drug_id"));
    json_decref(items);
}

static const char *const item_fields[] = {"drug_id", "route", "frequency", "dosage", "dose_unit", "quantity", "days",
                                          "remark", NULL};

/* Validate the items against the catalogue; build the snapshot array. */
static ih_err build_items(rx_arg *a, ih_tx *tx, json_t *items, json_t **snapshot, int64_t *total)
{
    if (!json_is_array(items) || json_array_size(items) < 1 || json_array_size(items) > 5)
        return ih_reject(IH_E_INVALID, "items", "Field 'items' must list 1 to 5 drugs.");
    json_t *snap = json_array();
    IH_CHECK_ALLOC(snap);
    *total = 0;
    size_t i;
    json_t *it;
    ih_row d;
    ih_row_init(&d, &ih_t_drug);
    ih_err e = IH_OK;
    json_array_foreach(items, i, it)
    {
        if (!json_is_object(it)) {
            e = ih_reject(IH_E_INVALID, "items", "Each item must be an object.");
            break;
        }
        int64_t drug_id = 0, quantity = 0, days = 0;
        const char *route, *freq, *dosage, *dose_unit, *remark;
        if ((e = ih_json_only(it, item_fields)) != IH_OK) break;
        if ((e = ih_json_int(it, "drug_id", true, 1, INT64_MAX, &drug_id)) != IH_OK) break;
        if ((e = ih_json_str(it, "route", true, 1, 3, IH_TEXT_LINE, &route)) != IH_OK) break;
        if ((e = ih_json_str(it, "frequency", true, 1, 8, IH_TEXT_LINE, &freq)) != IH_OK) break;
        if ((e = ih_json_str(it, "dosage", true, 1, 16, IH_TEXT_LINE, &dosage)) != IH_OK) break;
        if ((e = ih_json_str(it, "dose_unit", true, 1, 8, IH_TEXT_LINE, &dose_unit)) != IH_OK) break;
        if ((e = ih_json_int(it, "quantity", true, 1, 100, &quantity)) != IH_OK) break;
        if ((e = ih_json_int(it, "days", true, 1, a->c->o.rx_max_days, &days)) != IH_OK) break;
        if ((e = ih_json_str(it, "remark", false, 0, 100, IH_TEXT_LINE, &remark)) != IH_OK) break;
        if (!ih_code_name(&ih_codes_route, route)) {
            e = ih_code_reject(&ih_codes_route, "route");
            break;
        }
        if (!ih_code_name(&ih_codes_frequency, freq)) {
            e = ih_code_reject(&ih_codes_frequency, "frequency");
            break;
        }
        char *end;
        double dv = strtod(dosage, &end);
        if (*end || dv <= 0 || dv > 10000) {
            e = ih_reject(IH_E_INVALID, "dosage", "Field 'dosage' must be a positive number.");
            break;
        }
        bool found;
        if ((e = ih_row_load(tx, a->c->o.keys, &ih_t_drug, drug_id, &d, &found)) != IH_OK) break;
        if (!found || !ih_row_int(&d, "active")) {
            e = ih_reject(IH_E_INVALID, "drug_id", "Drug %lld is not in the active catalogue.", (long long)drug_id);
            break;
        }
        if (ih_row_int(&d, "restricted")) {
            a->restricted = drug_id;
            e = ih_reject(IH_E_INVALID, "drug_id",
                          "%s is a restricted drug (%s): it is never prescribed online.", ih_row_str(&d, "name"),
                          ih_row_str(&d, "restricted_class"));
            break;
        }
        if (a->nitems < 5) {
            a->allergy[a->nitems] = cl_allergy_class_bit(ih_row_str(&d, "allergy_class")) |
                                    cl_allergy_classes(ih_row_str(&d, "name")) |
                                    cl_allergy_classes(ih_row_str(&d, "trade_name"));
            snprintf(a->drug_name[a->nitems], sizeof a->drug_name[0], "%s", ih_row_str(&d, "name"));
            a->nitems++;
        }
        int64_t price = ih_row_int(&d, "price");
        *total += price * quantity;
        if (a->ndrugs < 16) a->drugs[a->ndrugs++] = drug_id;
        char p[24];
        ih_money_text(price, p, sizeof p);
        json_array_append_new(
            snap, json_pack("{s:I, s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s?}", "drug_id",
                            (json_int_t)drug_id, "hosp_code", ih_row_str(&d, "hosp_code"), "national_code",
                            ih_row_str(&d, "national_code"), "name", ih_row_str(&d, "name"), "spec",
                            ih_row_str(&d, "spec"), "unit", ih_row_str(&d, "unit"), "route", route, "frequency", freq,
                            "dosage", dosage, "dose_unit", dose_unit, "quantity", (json_int_t)quantity, "days",
                            (json_int_t)days, "price", p, "remark", remark));
    }
    ih_row_free(&d);
    if (e != IH_OK) {
        json_decref(snap);
        return e;
    }
    *snapshot = snap;
    return IH_OK;
}

static const char *const issue_fields[] = {"recipe_type", "diagnosis_codes", "items", "effective_days",
                                           "allergy_override", NULL};

/* A prescription follows the visit's medical record. */
static ih_err needs_record(rx_arg *a, ih_tx *tx)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM record WHERE visit_id = $1 LIMIT 1", &st));
    ih_stmt_int(st, 1, a->visit);
    IH_TRY(ih_stmt_step(st, &row));
    IH_TRY(ih_stmt_exec(st));
    if (!row)
        return ih_reject(IH_E_STATE, NULL,
                         "Write the visit's medical record first (POST /api/v1/visits/%lld/records): a prescription "
                         "follows a diagnosis on record.",
                         (long long)a->visit);
    return IH_OK;
}

/* A drug of a class the patient is recorded as allergic to needs the
 * doctor's explicit override with a real reason: kept sealed with the
 * prescription, and the override audited (naming classes and drugs, never
 * the reason). */
static ih_err allergy_check(rx_arg *a, ih_tx *tx)
{
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_patient, ih_row_int(&a->vr, "patient_id"), &p, &found);
    unsigned patient = e == IH_OK && found ? cl_allergy_classes(ih_row_str(&p, "allergies")) : 0;
    ih_row_free(&p);
    IH_TRY(e);
    unsigned hit = 0;
    int first = -1;
    for (int i = 0; i < a->nitems; i++)
        if (a->allergy[i] & patient) {
            hit |= a->allergy[i] & patient;
            if (first < 0) first = i;
        }
    if (!hit) return IH_OK;
    char names[128], codes[128];
    cl_allergy_names(hit, names, sizeof names);
    cl_allergy_codes(hit, codes, sizeof codes);
    json_t *ov = json_object_get(a->body, "allergy_override");
    if (!ov)
        return ih_reject(IH_E_STATE, "allergy_override",
                         "The patient is recorded as allergic to %s, and %s is one: to prescribe it anyway, give "
                         "allergy_override {\"reason\": \"…\"} with your clinical reason.",
                         names, a->drug_name[first]);
    static const char *const ov_fields[] = {"reason", NULL};
    const char *reason;
    if (!json_is_object(ov))
        return ih_reject(IH_E_INVALID, "allergy_override", "Field 'allergy_override' must be {\"reason\": \"…\"}.");
    IH_TRY(ih_json_only(ov, ov_fields));
    IH_TRY(ih_json_str(ov, "reason", true, 4, 300, IH_TEXT_MULTILINE, &reason));
    IH_TRY(cl_check_reason(NULL, "reason", reason));
    IH_TRY(ih_row_set_str(&a->r, "allergy_override", reason));
    snprintf(a->override_codes, sizeof a->override_codes, "%s", codes);
    return IH_OK;
}

static ih_err issue_fn(ih_tx *tx, void *arg)
{
    rx_arg *a = arg;
    a->ndrugs = 0;
    a->nitems = 0;
    a->override_codes[0] = '\0';
    if (!a->v->strong) return ih_reject(IH_E_FORBIDDEN, NULL, "Signing needs your full two-factor session.");
    IH_TRY(cl_visit_load(a->c, tx, a->visit, &a->vr, false));
    bool treating;
    IH_TRY(cl_visit_access(a->c, tx, a->v, &a->vr, true, &treating));
    if (!treating) return ih_reject(IH_E_FORBIDDEN, NULL, "Only the treating doctor prescribes.");
    if (strcmp(ih_row_str(&a->vr, "kind"), "followup"))
        return ih_reject(IH_E_STATE, NULL, "Prescriptions belong to follow-up visits (复诊); a consultation gives advice.");
    int64_t now = ih_now_ms();
    const char *st = ih_row_str(&a->vr, "status");
    bool open = !strcmp(st, V_ACCEPTED),
         just_closed = !strcmp(st, V_CLOSED) && now - ih_row_int(&a->vr, "closed_at") < 24 * 3600000LL;
    if (!open && !just_closed)
        return ih_reject(IH_E_STATE, NULL, "Prescriptions belong to an accepted visit or one closed within 24 hours.");
    IH_TRY(needs_record(a, tx));
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_rx);
    IH_TRY(ih_json_only(a->body, issue_fields));
    IH_TRY(ih_row_from_json(&a->r, a->body, true, issue_fields));
    ih_buf codes = IH_BUF_INIT, items = IH_BUF_INIT;
    json_t *snap = NULL;
    int64_t total = 0;
    ih_err e = cl_icd_codes(tx, a->body, "diagnosis_codes", &codes);
    if (e == IH_OK) e = build_items(a, tx, json_object_get(a->body, "items"), &snap, &total);
    if (e == IH_OK) e = ih_json_dump(snap, JSON_COMPACT | JSON_SORT_KEYS, &items);
    json_decref(snap);
    if (e == IH_OK) e = ih_row_set_str(&a->r, "diagnosis_codes", codes.p);
    if (e == IH_OK) e = ih_row_set_str(&a->r, "items", items.p);
    ih_buf_free(&codes);
    ih_buf_wipe(&items);
    IH_TRY(e);
    IH_TRY(allergy_check(a, tx));
    int64_t staff;
    IH_TRY(cl_my_staff(a->c, tx, a->v, &staff));
    IH_TRY(ih_tx_next_id(tx, "prescription", &a->r.id));
    char no[40], day[11];
    cl_today(a->c, day);
    snprintf(no, sizeof no, "RX%.4s%.2s%.2s%08lld", day, day + 5, day + 8, (long long)a->r.id);
    IH_TRY(ih_row_set_str(&a->r, "recipe_no", no));
    ih_row_set_int(&a->r, "visit_id", a->visit);
    ih_row_set_int(&a->r, "patient_id", ih_row_int(&a->vr, "patient_id"));
    ih_row_set_int(&a->r, "doctor_id", staff);
    ih_row_set_int(&a->r, "total_fee", total);
    if (!ih_row_has(&a->r, "effective_days")) ih_row_set_int(&a->r, "effective_days", a->c->o.rx_valid_days);
    IH_TRY(ih_row_set_str(&a->r, "status", "issued"));
    ih_row_set_int(&a->r, "label", ih_row_int(&a->vr, "label"));
    ih_row_set_int(&a->r, "issued_at", now);
    ih_row_set_int(&a->r, "expires_at", now + ih_row_int(&a->r, "effective_days") * 86400000LL);
    ih_row_set_int(&a->r, "updated_at", now);
    json_t *sf = signed_fields(&a->r);
    ih_buf content = IH_BUF_INIT, sig = IH_BUF_INIT;
    int64_t key_id = 0;
    e = sf ? rx_canon_issue(sf, &content) : ih_fail(IH_E_NOMEM, "rx");
    json_decref(sf);
    if (e == IH_OK) e = cl_sign(a->c, tx, staff, &content, &key_id, &sig);
    ih_row_set_int(&a->r, "sign_key_id", key_id);
    if (e == IH_OK) e = ih_row_set_blob(&a->r, "signature", sig.p, sig.len);
    ih_buf_wipe(&content);
    ih_buf_free(&sig);
    IH_TRY(e);
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "rx.issue", "prescription", a->r.id, no));
    if (a->override_codes[0])
        IH_TRY(cl_audit(a->c, tx, a->v, "rx.allergy_override", "prescription", a->r.id, a->override_codes));
    return IH_OK;
}

/* ---- review, dispense, cancel ------------------------------------------------------- */

static ih_err load_rx(rx_arg *a, ih_tx *tx, bool open)
{
    bool found;
    IH_TRY(ih_row_load_opt(tx, a->c->o.keys, &ih_t_rx, a->id, &a->r, &found, open));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No prescription %lld.", (long long)a->id);
    return IH_OK;
}

static ih_err active_pharmacist(rx_arg *a, ih_tx *tx, int64_t *staff)
{
    IH_TRY(cl_my_staff(a->c, tx, a->v, staff));
    ih_row s;
    ih_row_init(&s, &ih_t_staff);
    bool found;
    ih_err e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_staff, *staff, &s, &found, false);
    if (e == IH_OK && (!found || strcmp(ih_row_str(&s, "kind"), "pharmacist") || strcmp(ih_row_str(&s, "status"), "active")))
        e = ih_reject(IH_E_FORBIDDEN, NULL, "Only an active pharmacist does that.");
    ih_row_free(&s);
    return e;
}

static const char *const review_body[] = {"decision", "reason", NULL};

static ih_err review_fn(ih_tx *tx, void *arg)
{
    rx_arg *a = arg;
    if (!a->v->strong) return ih_reject(IH_E_FORBIDDEN, NULL, "Signing needs your full two-factor session.");
    const char *decision, *reason = NULL;
    IH_TRY(ih_json_only(a->body, review_body));
    IH_TRY(ih_json_str(a->body, "decision", true, 1, 8, IH_TEXT_LINE, &decision));
    IH_TRY(ih_json_str(a->body, "reason", false, 0, 200, IH_TEXT_LINE, &reason));
    bool approve = !strcmp(decision, "approve");
    if (!approve && strcmp(decision, "reject"))
        return ih_reject(IH_E_INVALID, "decision", "Field 'decision' must be 'approve' or 'reject'.");
    if (!approve && (!reason || !*reason))
        return ih_reject(IH_E_INVALID, "reason", "A rejection says why (field 'reason').");
    int64_t staff;
    IH_TRY(active_pharmacist(a, tx, &staff));
    IH_TRY(load_rx(a, tx, true));
    IH_TRY(move(&a->r, approve ? "approved" : "rejected", BY_PHARMACIST));
    int64_t now = ih_now_ms();
    ih_row_set_int(&a->r, "reviewer_id", staff);
    IH_TRY(ih_row_set_str(&a->r, "review_decision", decision));
    IH_TRY(ih_row_set_str(&a->r, "review_reason", reason && *reason ? reason : NULL));
    ih_row_set_int(&a->r, "reviewed_at", now);
    ih_row_set_int(&a->r, "expires_at", now + ih_row_int(&a->r, "effective_days") * 86400000LL);
    ih_row_set_int(&a->r, "updated_at", now);
    json_t *sf = signed_fields(&a->r), *rf = review_fields(&a->r);
    size_t dl;
    const uint8_t *dsig = ih_row_blob(&a->r, "signature", &dl);
    ih_buf content = IH_BUF_INIT, sig = IH_BUF_INIT;
    int64_t key_id = 0;
    ih_err e = sf && rf ? rx_canon_review(sf, rf, dsig, dl, &content) : ih_fail(IH_E_NOMEM, "rx");
    json_decref(sf);
    json_decref(rf);
    if (e == IH_OK) e = cl_sign(a->c, tx, staff, &content, &key_id, &sig);
    ih_row_set_int(&a->r, "review_key_id", key_id);
    if (e == IH_OK) e = ih_row_set_blob(&a->r, "review_signature", sig.p, sig.len);
    ih_buf_wipe(&content);
    ih_buf_free(&sig);
    IH_TRY(e);
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, approve ? "rx.approve" : "rx.reject", "prescription", a->id, NULL));
    /* the pharmacist's read of it was work, not statistics */
    if (a->c->o.detector) IH_TRY(ih_detector_rx_reviewed(a->c->o.detector, tx, a->v->actor.id, a->id));
    /* the hospital pharmacy hears of it now, when the patient chose it */
    const char *at = ih_row_str(&a->r, "dispensing");
    if (approve && at && !strcmp(at, "hospital")) IH_TRY(cl_his_emit(a->c, tx, "prescription", a->id));
    return IH_OK; /* reported when final: dispensed, delivered or expired */
}

static const char *const dispensing_body[] = {"dispensing", NULL};

/* The patient chooses where the medicine comes from, before it is dispensed. */
static ih_err dispensing_fn(ih_tx *tx, void *arg)
{
    rx_arg *a = arg;
    const char *at;
    IH_TRY(ih_json_only(a->body, dispensing_body));
    IH_TRY(ih_json_str(a->body, "dispensing", true, 1, 8, IH_TEXT_LINE, &at));
    if (strcmp(at, "hospital") && strcmp(at, "delivery"))
        return ih_reject(IH_E_INVALID, "dispensing", "Field 'dispensing' must be 'hospital' or 'delivery'.");
    IH_TRY(load_rx(a, tx, true));
    int64_t account;
    IH_TRY(cl_patient_account(a->c, tx, ih_row_int(&a->r, "patient_id"), &account));
    if (a->v->role != IH_ROLE_PATIENT || account != a->v->actor.id)
        return ih_reject(IH_E_FORBIDDEN, NULL, "Only the patient chooses where the medicine comes from.");
    const char *st = ih_row_str(&a->r, "status"), *was = ih_row_str(&a->r, "dispensing");
    if (strcmp(st, "issued") && strcmp(st, "approved"))
        return ih_reject(IH_E_STATE, NULL, "The prescription is %s: too late to choose.", st);
    if (was && !strcmp(was, "hospital") && !strcmp(st, "approved"))
        return ih_reject(IH_E_STATE, NULL, "The hospital pharmacy already has this prescription.");
    if (was && !strcmp(was, at)) return IH_OK;
    IH_TRY(ih_row_set_str(&a->r, "dispensing", at));
    ih_row_set_int(&a->r, "updated_at", ih_now_ms());
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "rx.dispensing", "prescription", a->id, at));
    if (!strcmp(st, "approved") && !strcmp(at, "hospital")) IH_TRY(cl_his_emit(a->c, tx, "prescription", a->id));
    return IH_OK;
}

static const char *const dispense_body[] = {"delivery_type", "delivery_firm", NULL};

static ih_err dispense_fn(ih_tx *tx, void *arg)
{
    rx_arg *a = arg;
    const char *type, *firm = NULL;
    IH_TRY(ih_json_only(a->body, dispense_body));
    IH_TRY(ih_json_str(a->body, "delivery_type", true, 1, 1, IH_TEXT_LINE, &type));
    IH_TRY(ih_json_str(a->body, "delivery_firm", false, 1, 64, IH_TEXT_LINE, &firm));
    if (!ih_code_name(&ih_codes_delivery_type, type)) return ih_code_reject(&ih_codes_delivery_type, "delivery_type");
    if (!strcmp(type, "1") && !firm) return ih_reject(IH_E_INVALID, "delivery_firm", "A delivery names its firm.");
    int64_t staff;
    IH_TRY(active_pharmacist(a, tx, &staff));
    IH_TRY(load_rx(a, tx, true));
    /* four eyes: who reviewed does not also dispense, unless the hospital
     * has one pharmacist on duty ([care] single_pharmacist) */
    if (!a->c->o.single_pharmacist && ih_row_int(&a->r, "reviewer_id") == staff)
        return ih_reject(IH_E_FORBIDDEN, NULL,
                         "You reviewed this prescription: another pharmacist dispenses it ([care] single_pharmacist "
                         "allows one).");
    int64_t now = ih_now_ms();
    if (!strcmp(ih_row_str(&a->r, "status"), "approved") && ih_row_int(&a->r, "expires_at") <= now)
        return ih_reject(IH_E_STATE, NULL, "The prescription's validity is over; it will be marked expired.");
    bool paid;
    IH_TRY(cl_rx_paid(a->c, tx, &a->r, &paid));
    if (!paid)
        return ih_reject(IH_E_STATE, NULL,
                         "The prescription is not paid yet: the patient pays it (POST /api/v1/visits/%lld/payments "
                         "with prescription_id) and the payment channel confirms it.",
                         (long long)ih_row_int(&a->r, "visit_id"));
    IH_TRY(move(&a->r, !strcmp(type, "1") ? "delivered" : "dispensed", BY_PHARMACIST));
    IH_TRY(ih_row_set_str(&a->r, "delivery_type", type));
    IH_TRY(ih_row_set_str(&a->r, "delivery_firm", firm));
    ih_row_set_int(&a->r, "dispenser_id", staff);
    ih_row_set_int(&a->r, "finished_at", now);
    ih_row_set_int(&a->r, "updated_at", now);
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_audit(a->c, tx, a->v, "rx.dispense", "prescription", a->id, ih_row_str(&a->r, "status")));
    /* the dispensing pharmacist's read of it was work, not statistics */
    if (a->c->o.detector) IH_TRY(ih_detector_rx_reviewed(a->c->o.detector, tx, a->v->actor.id, a->id));
    /* final: the platform's prescription and dispensing records go now,
     * with the pay state as it is (they cannot be corrected later) */
    IH_TRY(cl_report(a->c, tx, "prescription", a->id));
    return cl_report(a->c, tx, "dispense", a->id);
}

static ih_err cancel_fn(ih_tx *tx, void *arg)
{
    rx_arg *a = arg;
    IH_TRY(load_rx(a, tx, true));
    int64_t staff;
    IH_TRY(cl_my_staff(a->c, tx, a->v, &staff));
    if (ih_row_int(&a->r, "doctor_id") != staff)
        return ih_reject(IH_E_FORBIDDEN, NULL, "Only the prescribing doctor cancels a prescription.");
    IH_TRY(move(&a->r, "cancelled", BY_DOCTOR));
    ih_row_set_int(&a->r, "updated_at", ih_now_ms());
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "rx.cancel", "prescription", a->id, NULL);
}

/* ---- reading ------------------------------------------------------------------------ */

/* Who may read a prescription: its patient, its doctor, a pharmacist while
 * it awaits review or after they reviewed it, and (with a live break-glass)
 * another doctor.  *outside: the read is not the reader's own work. */
static ih_err rx_access(rx_arg *a, ih_tx *tx, bool *outside)
{
    *outside = false;
    if (a->v->role == IH_ROLE_PATIENT) {
        int64_t account;
        IH_TRY(cl_patient_account(a->c, tx, ih_row_int(&a->r, "patient_id"), &account));
        if (account == a->v->actor.id) return IH_OK;
    } else if (a->v->role == IH_ROLE_DOCTOR) {
        int64_t staff;
        IH_TRY(cl_my_staff(a->c, tx, a->v, &staff));
        if (ih_row_int(&a->r, "doctor_id") == staff) return IH_OK;
        IH_TRY(cl_visit_load(a->c, tx, ih_row_int(&a->r, "visit_id"), &a->vr, false));
        bool treating;
        if (cl_visit_access(a->c, tx, a->v, &a->vr, false, &treating) == IH_OK) {
            *outside = !treating;
            return IH_OK;
        }
    } else if (a->v->role == IH_ROLE_PHARMACIST) {
        int64_t staff;
        IH_TRY(cl_my_staff(a->c, tx, a->v, &staff));
        if (ih_row_int(&a->r, "reviewer_id") == staff || ih_row_int(&a->r, "dispenser_id") == staff) return IH_OK;
        const char *st = ih_row_str(&a->r, "status");
        if (!strcmp(st, "issued") || !strcmp(st, "approved")) {
            *outside = true; /* becomes work once they review or dispense it */
            return IH_OK;
        }
    }
    return ih_reject(IH_E_FORBIDDEN, NULL, "You have no relationship with this prescription.");
}

/* The view: the stored item snapshot shown as the array it is, the codes
 * as [{code, name}] as everywhere (only where the viewer may see them at
 * all).  tx NULL: a read transaction of its own for the names. */
typedef struct {
    rx_arg *a;
    ih_relation rel;
    json_t **out;
} view_arg;

/* While approved, whether it is paid, into j (the patient's page offers to
 * pay only while it is due; dispensing waits for it).  Before approval
 * there is nothing to pay, after it nothing left to decide: no lookup. */
static ih_err pay_state_into(rx_arg *a, ih_tx *tx, json_t *j)
{
    const char *st = ih_row_str(&a->r, "status"), *pay;
    if (!st || strcmp(st, "approved")) return IH_OK;
    IH_TRY(cl_rx_pay_state(a->c, tx, &a->r, &pay));
    json_object_set_new(j, "pay_state", json_string(pay));
    return IH_OK;
}

static ih_err rx_json_tx(ih_tx *tx, void *arg)
{
    view_arg *va = arg;
    IH_TRY(ih_row_json(&va->a->r, va->a->v->role, va->rel, va->out));
    json_t *j = *va->out;
    const char *it = json_string_value(json_object_get(j, "items"));
    json_t *items = it ? json_loads(it, 0, NULL) : NULL; /* our own canonical JSON */
    if (items) json_object_set_new(j, "items", items);
    const char *dc = json_string_value(json_object_get(j, "diagnosis_codes"));
    if (dc) json_object_set_new(j, "diagnosis_codes", cl_icd_view(tx, dc));
    ih_err e = pay_state_into(va->a, tx, j);
    if (e != IH_OK) {
        json_decref(j);
        *va->out = NULL;
    }
    return e;
}

static ih_err rx_json(rx_arg *a, ih_tx *tx, ih_relation rel, json_t **out)
{
    view_arg va = {a, rel, out};
    return tx ? rx_json_tx(tx, &va) : ih_store_read(a->c->o.store, rx_json_tx, &va);
}

static ih_err get_fn(ih_tx *tx, void *arg)
{
    rx_arg *a = arg;
    IH_TRY(load_rx(a, tx, true));
    IH_TRY(rx_access(a, tx, &a->outside));
    rx_shown s;
    shown_of(&a->r, a->outside, &s);
    a->doctor = s.doctor;
    a->ndrugs = s.ndrugs;
    memcpy(a->drugs, s.drugs, sizeof a->drugs);
    return rx_json(a, tx, a->v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_CARE, &a->out);
}

/* A read's audit event and its count in the detector, committed together. */
typedef struct {
    rx_arg *a;
    const char *action, *reason;
    bool list;
    ih_verdict vd;
} seen_arg;

static ih_err seen_fn(ih_tx *tx, void *arg)
{
    seen_arg *s = arg;
    rx_arg *a = s->a;
    IH_TRY(cl_audit(a->c, tx, a->v, s->action, "prescription", s->list ? 0 : a->id, s->reason));
    if (!a->c->o.detector || a->v->role == IH_ROLE_PATIENT) return IH_OK;
    int64_t now = ih_now_ms();
    if (!s->list)
        return ih_detector_rx_read(a->c->o.detector, tx, a->v->actor.id, a->id, a->doctor, a->drugs, a->ndrugs,
                                   a->outside, now, &s->vd);
    IH_TRY(ih_detector_list_page(a->c->o.detector, tx, a->v->actor.id, now, &s->vd));
    /* A list shows each prescription's doctor, drugs and quantities: each
     * counts as read, however many a page held. */
    for (int i = 0; i < a->nshown; i++) {
        const rx_shown *x = &a->shown[i];
        ih_verdict one = {0};
        IH_TRY(ih_detector_rx_read(a->c->o.detector, tx, a->v->actor.id, x->id, x->doctor, x->drugs, x->ndrugs,
                                   x->outside, now, &one));
        if (one.alert && !s->vd.alert) s->vd = one;
    }
    return IH_OK;
}

/* On a detector alert: record it and, when configured, end the session.
 * Returns IH_E_UNAUTHENTICATED when the session was ended. */
static ih_err watch(ih_clinic *c, const ih_viewer *v, ih_verdict *vd)
{
    if (!vd->alert) return IH_OK;
    ih_log(IH_LOG_ERROR, "tongfang.suspected", "alert", "true", "notify", "secadmin", "reason", vd->reason, NULL);
    cl_audit_own(c, v, "tongfang.suspected", "account", v->actor.id, IH_E_FORBIDDEN, vd->reason);
    if (!c->o.detect_block || !v->session_id) return IH_OK;
    ih_err e = ih_identity_end_session(c->o.identity, v->actor.id, v->session_id, &v->actor, "统方 detector");
    if (e != IH_OK) return e;
    return ih_reject(IH_E_UNAUTHENTICATED, NULL, "Your session was ended: this pattern of reading prescriptions needs "
                                                 "an approved statistics request.");
}

ih_err ih_rx_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    rx_arg a = {.c = c, .v = v, .id = id};
    ih_row_init(&a.r, &ih_t_rx);
    ih_row_init(&a.vr, &ih_t_visit);
    ih_err e = ih_store_read(c->o.store, get_fn, &a);
    ih_row_free(&a.r);
    ih_row_free(&a.vr);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "prescription", id);
    cl_refused(c, v, "rx.read", "prescription", id, e);
    seen_arg s = {.a = &a, .action = "rx.read"};
    if (e == IH_OK) e = ih_store_write(c->o.store, seen_fn, &s);
    if (e == IH_OK) e = watch(c, v, &s.vd);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    return IH_OK;
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    rx_arg *a = arg;
    int64_t who;
    int which;
    static const char *const whose[4] = {"patient_id = $1 AND ($3 = '' OR status = $3)",
                                         "doctor_id = $1 AND ($3 = '' OR status = $3)",
                                         "status = $3 AND $1 = $1", /* a pharmacists' queue */
                                         "reviewer_id = $1 AND ($3 = '' OR status = $3)"};
    if (a->v->role == IH_ROLE_PATIENT) {
        ih_err e = ih_patient_of_account(a->c, tx, a->v->actor.id, &who);
        if (e == IH_E_NOT_FOUND) return IH_OK;
        IH_TRY(e);
        which = 0;
    } else if (a->v->role == IH_ROLE_DOCTOR) {
        IH_TRY(cl_my_staff(a->c, tx, a->v, &who));
        which = 1;
    } else if (a->v->role == IH_ROLE_PHARMACIST) {
        IH_TRY(cl_my_staff(a->c, tx, a->v, &who));
        /* the review queue, the dispensing queue, or what this pharmacist reviewed */
        which = a->status && (!strcmp(a->status, "issued") || !strcmp(a->status, "approved")) ? 2 : 3;
    } else
        return ih_reject(IH_E_FORBIDDEN, NULL, "Prescriptions are listed for patients, doctors and pharmacists.");
    const ih_page *pg = a->page;
    char sql[320]; /* one visit's (through its index), or all of them, a page either way */
    snprintf(sql, sizeof sql, "SELECT id FROM prescription WHERE %s%s AND id > $2 AND id < $5 ORDER BY id%s LIMIT $4",
             whose[which], a->visit ? " AND visit_id = $6" : "", pg->newest ? " DESC" : "");
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, sql, &st));
    ih_stmt_int(st, 1, who);
    ih_stmt_int(st, 2, pg->after);
    ih_stmt_text(st, 3, a->status ? a->status : "");
    ih_stmt_int(st, 4, a->limit);
    ih_stmt_int(st, 5, pg->before > 0 ? pg->before : INT64_MAX);
    if (a->visit) ih_stmt_int(st, 6, a->visit);
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    a->next = n == a->limit ? ids[n - 1] : -1;
    a->nshown = 0;
    if (n && !(a->shown = calloc((size_t)n, sizeof *a->shown))) return ih_fail(IH_E_NOMEM, "list");
    for (int i = 0; i < n; i++) {
        a->id = ids[i];
        IH_TRY(load_rx(a, tx, true));
        /* The pharmacists' queue is not yet their work: it lists what picks
         * the next item, not who prescribed what (a list of doctors and
         * drugs is statistics).  Opening one is a counted read until it is
         * reviewed.  What a list shows in full is counted as read. */
        json_t *j;
        if (a->v->role == IH_ROLE_PHARMACIST && ih_row_int(&a->r, "reviewer_id") != who) {
            const char *type = ih_row_str(&a->r, "recipe_type");
            char issued[32], expires[32];
            ih_time_iso(ih_row_int(&a->r, "issued_at"), issued, sizeof issued);
            ih_time_iso(ih_row_int(&a->r, "expires_at"), expires, sizeof expires);
            j = json_pack("{s:I, s:s, s:s, s:s?, s:s, s:s, s:s}", "id", (json_int_t)a->r.id, "recipe_no",
                          ih_row_str(&a->r, "recipe_no"), "recipe_type", type, "recipe_type_name",
                          ih_code_name(&ih_codes_drug_class, type), "status", ih_row_str(&a->r, "status"), "issued_at",
                          issued, "expires_at", expires);
            IH_CHECK_ALLOC(j);
            ih_err pe = pay_state_into(a, tx, j); /* which of them may be dispensed */
            if (pe != IH_OK) {
                json_decref(j);
                return pe;
            }
        } else {
            shown_of(&a->r, false, &a->shown[a->nshown++]);
            IH_TRY(rx_json(a, tx, a->v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_CARE, &j));
        }
        json_array_append_new(a->out, j);
    }
    return IH_OK;
}

ih_err ih_rx_list(ih_clinic *c, const ih_viewer *v, const char *status, int64_t visit, const ih_page *page,
                  json_t **out, int64_t *next)
{
    rx_arg a = {.c = c, .v = v, .status = status, .visit = visit, .page = page, .limit = page->limit > 200 ? 200 : page->limit,
                .next = -1, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_row_init(&a.r, &ih_t_rx);
    ih_row_init(&a.vr, &ih_t_visit);
    ih_err e = ih_store_read(c->o.store, list_fn, &a);
    ih_row_free(&a.r);
    ih_row_free(&a.vr);
    char n[32];
    snprintf(n, sizeof n, "%zu listed", json_array_size(a.out));
    seen_arg s = {.a = &a, .action = "rx.list", .reason = n, .list = true};
    if (e == IH_OK) e = ih_store_write(c->o.store, seen_fn, &s);
    free(a.shown);
    if (e == IH_OK) e = watch(c, v, &s.vd);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    if (next) *next = a.next;
    return IH_OK;
}

/* ---- running the changes ----------------------------------------------------------------- */

static ih_err run(rx_arg *a, ih_tx_fn fn, const char *action, json_t **out)
{
    ih_row_init(&a->r, &ih_t_rx);
    ih_row_init(&a->vr, &ih_t_visit);
    ih_err e = ih_store_write(a->c->o.store, fn, a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(a->c, "prescription", a->id ? a->id : a->visit);
    cl_refused(a->c, a->v, action, a->id ? "prescription" : "visit", a->id ? a->id : a->visit, e);
    if (e != IH_OK && a->restricted) { /* asking for a restricted drug online is worth a record */
        char why[48];
        snprintf(why, sizeof why, "restricted drug %lld", (long long)a->restricted);
        ih_err ae = cl_audit_own(a->c, a->v, action, "visit", a->visit, e, why);
        if (ae != IH_OK) e = ae;
    }
    if (e == IH_OK) /* the pharmacists' queue changes with every step */
        cl_notify_after(a->c, ih_row_int(&a->r, "visit_id"), 1u << IH_ROLE_PHARMACIST, "rx", a->r.id);
    if (e == IH_OK) e = rx_json(a, NULL, IH_REL_CARE, out);
    ih_row_free(&a->r);
    ih_row_free(&a->vr);
    return e;
}

ih_err ih_rx_issue(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out)
{
    rx_arg a = {.c = c, .v = v, .body = body, .visit = visit_id};
    return run(&a, issue_fn, "rx.issue", out);
}

ih_err ih_rx_review(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    rx_arg a = {.c = c, .v = v, .body = body, .id = id};
    return run(&a, review_fn, "rx.review", out);
}

ih_err ih_rx_dispense(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    rx_arg a = {.c = c, .v = v, .body = body, .id = id};
    return run(&a, dispense_fn, "rx.dispense", out);
}

ih_err ih_rx_dispensing(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    rx_arg a = {.c = c, .v = v, .body = body, .id = id};
    return run(&a, dispensing_fn, "rx.dispensing", out);
}

ih_err ih_rx_cancel(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    rx_arg a = {.c = c, .v = v, .id = id};
    return run(&a, cancel_fn, "rx.cancel", out);
}

/* ---- expiry --------------------------------------------------------------------------------- */

/* An expired prescription is final: the platform's prescription and dispensing records go. */
static ih_err rx_expired(ih_clinic *c, ih_tx *tx, int64_t id)
{
    IH_TRY(cl_report(c, tx, "prescription", id));
    return cl_report(c, tx, "dispense", id);
}

static ih_err expire_change(ih_row *r, int64_t now)
{
    IH_TRY(move(r, "expired", BY_SYSTEM));
    IH_TRY(ih_row_set_str(r, "delivery_type", "4"));
    ih_row_set_int(r, "finished_at", now);
    ih_row_set_int(r, "updated_at", now);
    return IH_OK;
}

ih_err ih_rx_expire_due(ih_clinic *c, int *n)
{
    return cl_timeout_run(c, &ih_t_rx,
                          "SELECT id FROM prescription WHERE status = 'approved' AND expires_at < $1 ORDER BY id LIMIT 200",
                          expire_change, "rx.expire", "prescription", rx_expired, n);
}

/* ---- offline verification ---------------------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    int64_t id;
    json_t *out;
} bundle_arg;

static ih_err pem_of(ih_tx *tx, ih_clinic *c, int64_t key_id, json_t **out)
{
    ih_buf pem = IH_BUF_INIT;
    ih_err e = ih_signkey_public(tx, c->o.keys, key_id, &pem);
    if (e == IH_OK) *out = json_string(pem.p);
    ih_buf_free(&pem);
    return e;
}

static ih_err bundle_fn(ih_tx *tx, void *arg)
{
    bundle_arg *b = arg;
    ih_row r;
    ih_row_init(&r, &ih_t_rx);
    bool found;
    ih_err e = ih_row_load(tx, b->c->o.keys, &ih_t_rx, b->id, &r, &found);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No prescription %lld.", (long long)b->id);
    json_t *doc_pem = NULL, *rev_pem = NULL;
    if (e == IH_OK) e = pem_of(tx, b->c, ih_row_int(&r, "sign_key_id"), &doc_pem);
    if (e == IH_OK && ih_row_has(&r, "review_key_id")) e = pem_of(tx, b->c, ih_row_int(&r, "review_key_id"), &rev_pem);
    if (e == IH_OK) {
        json_t *j;
        e = ih_row_json(&r, IH_ROLE_NONE, IH_REL_SELF, &j); /* for the base64 of the signatures */
        if (e == IH_OK) {
            b->out = json_pack("{s:s, s:s, s:o, s:{s:O, s:o}}", "format", "ihos-rx-bundle-v1", "suite",
                               ih_suite_name(ih_keyring_suite(b->c->o.keys)), "prescription", signed_fields(&r),
                               "doctor", "signature", json_object_get(j, "signature"), "public_key", doc_pem);
            doc_pem = NULL;
            if (b->out && rev_pem) {
                json_t *rv = review_fields(&r);
                json_object_set(rv, "signature", json_object_get(j, "review_signature"));
                json_object_set_new(rv, "public_key", rev_pem);
                rev_pem = NULL;
                json_object_set_new(b->out, "review", rv);
            }
            json_decref(j);
        }
    }
    json_decref(doc_pem);
    json_decref(rev_pem);
    ih_row_free(&r);
    return e;
}

ih_err ih_rx_bundle(ih_clinic *c, int64_t id, json_t **out)
{
    bundle_arg b = {c, id, NULL};
    IH_TRY(ih_store_read(c->o.store, bundle_fn, &b));
    if (!b.out) return ih_fail(IH_E_NOMEM, "bundle");
    *out = b.out;
    return IH_OK;
}
