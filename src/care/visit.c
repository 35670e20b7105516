/* visit.c — consultations (咨询) and follow-up visits (复诊) and their one
 * state machine:
 *
 *   requested ──accept──▶ accepted ──close──▶ closed
 *       │ refuse (doctor, reason)            refused
 *       │ timeout (promised response time)   expired   (refused, type 2)
 *       └ cancel (patient)                   cancelled
 *
 * A patient requests a shift (schedule) or a department (the earliest shift
 * with room).  A follow-up carries the evidence of its offline first
 * diagnosis and needs the doctor's explicit confirmation to be accepted;
 * a patient under 6 needs a guardian present.  Every transition is one
 * transaction with its audit event; anything else is 409 invalid_state. */
#include "care/care_impl.h"
#include "care/his.h"

#include "core/clock.h"
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>


#define SM (IH_FF_SERVER | IH_FF_MAC)
#define CLIN(nm, fl, hi) {nm, IH_F_SEALED, fl, 1, hi, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL}

static const ih_field fields[] = {
    {"kind", IH_F_TEXT, IH_FF_REQUIRED | IH_FF_FIXED | IH_FF_MAC, 1, 10, &ih_codes_visit_kind, 0, IH_MASK_NONE, NULL},
    {"patient_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"doctor_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"department_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"schedule_id", IH_F_INT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"consult_type", IH_F_TEXT, SM, 0, 0, &ih_codes_consult_type, 0, IH_MASK_NONE, NULL},
    {"attribute", IH_F_TEXT, IH_FF_FIXED | IH_FF_MAC, 1, 1, &ih_codes_attribute, 0, IH_MASK_NONE, NULL},
    {"fee", IH_F_MONEY, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"status", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    CLIN("complaint", IH_FF_REQUIRED | IH_FF_FIXED | IH_FF_MAC | IH_FF_MULTILINE, 500),
    CLIN("first_diagnosis", IH_FF_FIXED | IH_FF_MAC | IH_FF_MULTILINE, 500),
    CLIN("disease_history", IH_FF_FIXED | IH_FF_MAC | IH_FF_MULTILINE, 1000),
    {"guardian_present", IH_F_BOOL, IH_FF_FIXED | IH_FF_MAC, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"followup_confirmed", IH_F_BOOL, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"label", IH_F_INT, SM, 1, 5, NULL, 0, IH_MASK_NONE, NULL},
    {"requested_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"respond_by", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"accepted_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"refused_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"refuse_type", IH_F_TEXT, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* before migration 14 the reason was plaintext (moved at start, ih_clinic_upgrade) */
    {"refuse_reason_legacy", IH_F_TEXT, SM | IH_FF_LEGACY, 0, 0, NULL, 0, IH_MASK_NONE, NULL, "refuse_reason"},
    {"closed_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    {"updated_at", IH_F_TIME, SM, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
    /* free text, sealed (migration 14): why refused; why the label last changed */
    {"refuse_reason", IH_F_SEALED, SM | IH_FF_ADDED, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    {"label_reason", IH_F_SEALED, SM | IH_FF_ADDED | IH_FF_PRIVATE, 0, 0, NULL, IH_KP_CLINICAL, IH_FIELD_CLINICAL, NULL},
    /* the HIS outpatient encounter found when a follow-up was requested (migration 21) */
    {"his_encounter_id", IH_F_INT, SM | IH_FF_ADDED, 0, 0, NULL, 0, IH_MASK_NONE, NULL},
};
ih_table ih_t_visit = IH_TABLE("visit", fields, true, "至少15年（门诊病历，自最后一次就诊）");

/* ---- shared helpers (care_impl.h) ------------------------------------------------- */

/* A viewer's staff record, active and of the viewer's role, or FORBIDDEN. */
static ih_err my_staff_check(const ih_viewer *v, const cl_staff *s)
{
    if (!s->active)
        return ih_reject(IH_E_FORBIDDEN, NULL, "Your staff record is suspended: no clinical work until it is reinstated.");
    if (strcmp(s->kind, ih_role_name(v->role)))
        return ih_reject(IH_E_FORBIDDEN, NULL, "Your staff record is a %s's, not a %s's: the records office updates it "
                                               "before you work in your new role.",
                         s->kind, ih_role_name(v->role));
    return IH_OK;
}

ih_err cl_my_staff_full(ih_clinic *c, ih_tx *tx, const ih_viewer *v, cl_staff *s)
{
    ih_err e = cl_staff_load(c, tx, v->actor.id, s);
    if (e == IH_E_NOT_FOUND) return ih_reject(IH_E_FORBIDDEN, NULL, "Your account has no staff record.");
    IH_TRY(e);
    return my_staff_check(v, s);
}

/* The viewer's staff record: the visit's doctor's row read with the visit
 * when that doctor is the viewer (a staff row is its account's only one),
 * else read. */
static ih_err my_staff_known(ih_clinic *c, ih_tx *tx, const ih_viewer *v, const cl_parties *p, cl_staff *s)
{
    if (!p || !p->has_doctor || ih_row_int(&p->doctor, "account_id") != v->actor.id) return cl_my_staff_full(c, tx, v, s);
    IH_TRY(cl_staff_of_row(&p->doctor, s));
    return my_staff_check(v, s);
}

ih_err cl_my_staff(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t *staff_id)
{
    cl_staff s;
    IH_TRY(cl_my_staff_full(c, tx, v, &s));
    *staff_id = s.id;
    return IH_OK;
}

ih_err cl_visit_load(ih_clinic *c, ih_tx *tx, int64_t id, ih_row *r, bool open)
{
    bool found;
    IH_TRY(ih_row_load_opt(tx, c->o.keys, &ih_t_visit, id, r, &found, open));
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No visit %lld.", (long long)id);
    return IH_OK;
}

void cl_parties_init(cl_parties *p)
{
    *p = (cl_parties){0};
    ih_row_init(&p->patient, &ih_t_patient);
    ih_row_init(&p->doctor, &ih_t_staff);
}

void cl_parties_free(cl_parties *p)
{
    ih_row_free(&p->patient);
    ih_row_free(&p->doctor);
}

ih_err cl_visit_load_parties(ih_clinic *c, ih_tx *tx, int64_t id, ih_row *r, bool open, cl_parties *p)
{
    static ih_row_join j = {&ih_t_visit, {{"patient_id", &ih_t_patient}, {"doctor_id", &ih_t_staff}}, 2, NULL, {0}};
    ih_row *const refs[2] = {&p->patient, &p->doctor};
    bool found, got[2];
    ih_err e = ih_row_load_join(tx, c->o.keys, &j, id, r, open, refs, &found, got);
    p->has_patient = got[0];
    p->has_doctor = got[1];
    IH_TRY(e);
    if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No visit %lld.", (long long)id);
    return IH_OK;
}

ih_err cl_visit_patient_account(ih_clinic *c, ih_tx *tx, const ih_row *visit, const cl_parties *p, int64_t *account)
{
    if (p && p->has_patient) {
        *account = ih_row_int(&p->patient, "account_id");
        return IH_OK;
    }
    return cl_patient_account(c, tx, ih_row_int(visit, "patient_id"), account);
}

ih_err cl_patient_account(ih_clinic *c, ih_tx *tx, int64_t patient_id, int64_t *account_id)
{
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    ih_err e = ih_row_load_opt(tx, c->o.keys, &ih_t_patient, patient_id, &p, &found, false);
    if (e == IH_OK && !found) e = ih_reject(IH_E_NOT_FOUND, NULL, "No patient %lld.", (long long)patient_id);
    if (e == IH_OK) *account_id = ih_row_int(&p, "account_id");
    ih_row_free(&p);
    return e;
}

/* Every decision below reads rows whose MAC and version were checked: the
 * visit (loaded by the caller), the viewer's staff row, the patient row, a
 * break-glass grant. */
ih_err cl_visit_access(ih_clinic *c, ih_tx *tx, const ih_viewer *v, const ih_row *visit, bool write, bool *treating)
{
    return cl_visit_access_known(c, tx, v, visit, NULL, write, treating);
}

ih_err cl_visit_access_known(ih_clinic *c, ih_tx *tx, const ih_viewer *v, const ih_row *visit, const cl_parties *p,
                             bool write, bool *treating)
{
    *treating = false;
    int64_t label = ih_row_int(visit, "label");
    if (v->role == IH_ROLE_PATIENT) {
        int64_t account;
        IH_TRY(cl_visit_patient_account(c, tx, visit, p, &account));
        if (account == v->actor.id) return IH_OK;
    } else if (v->role == IH_ROLE_DOCTOR || v->role == IH_ROLE_NURSE) {
        cl_staff s;
        IH_TRY(my_staff_known(c, tx, v, p, &s));
        if (v->role == IH_ROLE_DOCTOR && ih_row_int(visit, "doctor_id") == s.id) {
            /* online care is what a doctor taken off it may no longer give */
            if (write && !s.online)
                return ih_reject(IH_E_FORBIDDEN, NULL, "You are not enabled for online care at the moment.");
            *treating = true;
            return IH_OK;
        }
        if (!write && label < 5) {
            bool yes = false;
            if (v->role == IH_ROLE_DOCTOR) IH_TRY(cl_break_glass_live(c, tx, s.id, ih_row_int(visit, "patient_id"), &yes));
            else yes = cl_staff_in(&s, ih_row_int(visit, "department_id"));
            if (yes) return IH_OK;
        }
    }
    if (label == 5) return ih_reject(IH_E_FORBIDDEN, NULL, "This visit is labelled level 5: only its doctor and patient.");
    return ih_reject(IH_E_FORBIDDEN, NULL, "You have no care relationship with this visit.");
}

void cl_refused(ih_clinic *c, const ih_viewer *v, const char *action, const char *object_type, int64_t id, ih_err e)
{
    if (e == IH_E_FORBIDDEN || e == IH_E_STATE)
        cl_audit_own(c, v, e == IH_E_FORBIDDEN ? "access.denied" : action, object_type, id, e, action);
}

/* ---- requests -------------------------------------------------------------------- */

typedef struct {
    ih_clinic *c;
    const ih_viewer *v;
    json_t *body, *out;
    ih_buf *text; /* ih_visit_get writes its view here */
    int64_t id, after;
    int limit;
    const ih_page *page; /* ih_visit_list: the page asked for, */
    int64_t next;        /* and where the next starts, or -1 */
    const char *status;
    ih_row r;
    ih_bus_audience to; /* who hears of the change */
} visit_arg;

static const char *const request_extra[] = {"schedule_id", "department_id", NULL};

/* The shift for a request: the one named, or the department's earliest with
 * room.  Checks the doctor is online and the shift has room. */
static ih_err pick_schedule(visit_arg *a, ih_tx *tx, ih_row *s)
{
    json_t *sid = json_object_get(a->body, "schedule_id"), *did = json_object_get(a->body, "department_id");
    if (!sid == !did)
        return ih_reject(IH_E_INVALID, "schedule_id", "Give either 'schedule_id' (a doctor's shift) or 'department_id'.");
    if ((sid && (!json_is_integer(sid) || json_integer_value(sid) <= 0)) ||
        (did && (!json_is_integer(did) || json_integer_value(did) <= 0)))
        return ih_reject(IH_E_INVALID, sid ? "schedule_id" : "department_id", "Field '%s' must be an id.",
                         sid ? "schedule_id" : "department_id");
    char today[11], now_hm[6];
    cl_today(a->c, today);
    cl_now_hm(a->c, now_hm);
    int64_t cand[64];
    int n = 0;
    ih_stmt *st;
    bool row;
    ih_err e;
    if (sid)
        cand[n++] = json_integer_value(sid);
    else {
        IH_TRY(ih_tx_prepare(tx, "SELECT id FROM schedule WHERE department_id = $1 AND day >= $2 AND cancelled = 0 "
                                 "ORDER BY day, start_time, id LIMIT 64", &st));
        ih_stmt_int(st, 1, json_integer_value(did));
        ih_stmt_text(st, 2, today);
        while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < 64) cand[n++] = ih_col_int(st, 0);
        IH_TRY(e);
    }
    for (int i = 0; i < n; i++) {
        bool found;
        IH_TRY(ih_row_load(tx, a->c->o.keys, &ih_t_schedule, cand[i], s, &found));
        /* a shift that is over takes no requests */
        if (!found || ih_row_int(s, "cancelled") || cl_shift_over(s, today, now_hm)) continue;
        ih_row doc;
        ih_row_init(&doc, &ih_t_staff);
        e = ih_row_load_opt(tx, a->c->o.keys, &ih_t_staff, ih_row_int(s, "staff_id"), &doc, &found, false);
        bool online = e == IH_OK && found && ih_row_int(&doc, "online") && !strcmp(ih_row_str(&doc, "status"), "active");
        ih_row_free(&doc);
        IH_TRY(e);
        if (!online) continue;
        IH_TRY(ih_tx_prepare(tx, "SELECT count(*) FROM visit WHERE schedule_id = $1 AND status IN "
                                 "('requested', 'accepted', 'closed')", &st));
        ih_stmt_int(st, 1, s->id);
        IH_TRY(ih_stmt_step(st, &row));
        if (ih_col_int(st, 0) < ih_row_int(s, "capacity")) return IH_OK;
    }
    if (sid) return ih_reject(IH_E_STATE, "schedule_id", "That shift is not open for requests (past, cancelled or full).");
    return ih_reject(IH_E_STATE, "department_id", "No shift of that department has room at the moment.");
}

static ih_err request_fn(ih_tx *tx, void *arg)
{
    visit_arg *a = arg;
    ih_row_free(&a->r);
    ih_row_init(&a->r, &ih_t_visit);
    int64_t patient;
    ih_err e = ih_patient_of_account(a->c, tx, a->v->actor.id, &patient);
    if (e == IH_E_NOT_FOUND) return ih_reject(IH_E_FORBIDDEN, NULL, "Only registered patients request visits.");
    IH_TRY(e);
    IH_TRY(ih_row_from_json(&a->r, a->body, true, request_extra));
    bool followup = !strcmp(ih_row_str(&a->r, "kind"), "followup");
    if (followup && !ih_row_has(&a->r, "first_diagnosis"))
        return ih_reject(IH_E_INVALID, "first_diagnosis",
                         "A follow-up needs the offline first diagnosis (hospital, date, diagnosis): first visits are "
                         "never online.");
    if (followup && !ih_row_has(&a->r, "disease_history"))
        return ih_reject(IH_E_INVALID, "disease_history", "A follow-up needs the disease history.");
    if (!followup && !ih_row_has(&a->r, "attribute")) IH_TRY(ih_row_set_str(&a->r, "attribute", "1"));
    /* A child under 6 is seen only with a guardian present. */
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    e = ih_row_load(tx, a->c->o.keys, &ih_t_patient, patient, &p, &found);
    char today[11];
    cl_today(a->c, today);
    int age = e == IH_OK ? cl_age_years(ih_row_str(&p, "birth_date"), today) : 0;
    ih_row_free(&p);
    IH_TRY(e);
    if (age < 6 && !ih_row_int(&a->r, "guardian_present"))
        return ih_reject(IH_E_INVALID, "guardian_present", "A patient under 6 is seen only with a guardian present.");
    ih_row s;
    ih_row_init(&s, &ih_t_schedule);
    e = pick_schedule(a, tx, &s);
    if (e == IH_OK) {
        int64_t now = ih_now_ms();
        ih_row_set_int(&a->r, "patient_id", patient);
        ih_row_set_int(&a->r, "doctor_id", ih_row_int(&s, "staff_id"));
        ih_row_set_int(&a->r, "department_id", ih_row_int(&s, "department_id"));
        ih_row_set_int(&a->r, "schedule_id", s.id);
        e = ih_row_set_str(&a->r, "consult_type", ih_row_str(&s, "consult_type"));
        ih_row_set_int(&a->r, "fee", ih_row_int(&s, "fee"));
        ih_row_set_int(&a->r, "label", 3); /* GB/T 39725: personal health information, moderately sensitive */
        ih_row_set_int(&a->r, "requested_at", now);
        /* the promised response time runs from the shift's start, or from now
         * when the shift has begun */
        int64_t start = cl_local_ms(a->c, ih_row_str(&s, "day"), ih_row_str(&s, "start_time"));
        ih_row_set_int(&a->r, "respond_by", (start > now ? start : now) + ih_row_int(&s, "response_minutes") * 60000);
        ih_row_set_int(&a->r, "updated_at", now);
        if (e == IH_OK) e = ih_row_set_str(&a->r, "status", V_REQUESTED);
        /* the offline first diagnosis, as the hospital's HIS recorded it */
        int64_t enc = 0;
        if (e == IH_OK && followup) e = ih_his_latest_encounter(a->c, tx, patient, &enc);
        if (enc) ih_row_set_int(&a->r, "his_encounter_id", enc);
    }
    ih_row_free(&s);
    IH_TRY(e);
    IH_TRY(ih_tx_next_id(tx, "visit", &a->r.id));
    IH_TRY(ih_row_insert(tx, a->c->o.keys, &a->r));
    IH_TRY(cl_visit_audience(a->c, tx, &a->r, &a->to));
    return cl_audit(a->c, tx, a->v, "visit.request", "visit", a->r.id, ih_row_str(&a->r, "kind"));
}

/* ---- transitions ------------------------------------------------------------------- */

typedef struct {
    const char *action, *from, *to;
    bool doctor; /* the treating doctor acts; else the patient */
} transition;

static const transition T_ACCEPT = {"visit.accept", V_REQUESTED, V_ACCEPTED, true};
static const transition T_REFUSE = {"visit.refuse", V_REQUESTED, "refused", true};
static const transition T_CLOSE = {"visit.close", V_ACCEPTED, V_CLOSED, true};
static const transition T_CANCEL = {"visit.cancel", V_REQUESTED, "cancelled", false};

typedef struct {
    visit_arg *a;
    const transition *t;
} trans_arg;

static ih_err transition_fn(ih_tx *tx, void *arg)
{
    trans_arg *ta = arg;
    visit_arg *a = ta->a;
    const transition *t = ta->t;
    IH_TRY(cl_visit_load(a->c, tx, a->id, &a->r, true));
    bool treating;
    IH_TRY(cl_visit_access(a->c, tx, a->v, &a->r, true, &treating));
    if (t->doctor != treating)
        return ih_reject(IH_E_FORBIDDEN, NULL, t->doctor ? "Only the visit's doctor can do that."
                                                         : "Only the patient can do that.");
    if (strcmp(ih_row_str(&a->r, "status"), t->from))
        return ih_reject(IH_E_STATE, NULL, "The visit is %s; %s needs it %s.", ih_row_str(&a->r, "status"),
                         t->action + 6, t->from);
    int64_t now = ih_now_ms();
    const char *reason = NULL;
    if (t == &T_ACCEPT) {
        static const char *const f[] = {"followup_confirmed", "label", NULL};
        bool confirmed = false;
        int64_t label = 0;
        IH_TRY(ih_json_only(a->body, f));
        IH_TRY(ih_json_bool(a->body, "followup_confirmed", false, &confirmed));
        IH_TRY(ih_json_int(a->body, "label", false, 1, 5, &label));
        if (!strcmp(ih_row_str(&a->r, "kind"), "followup") && !confirmed)
            return ih_reject(IH_E_INVALID, "followup_confirmed",
                             "Confirm that this is a follow-up of an offline first diagnosis (followup_confirmed: true).");
        ih_row_set_int(&a->r, "followup_confirmed", confirmed);
        if (label) ih_row_set_int(&a->r, "label", label);
        ih_row_set_int(&a->r, "accepted_at", now);
    } else if (t == &T_REFUSE) {
        static const char *const f[] = {"reason", NULL};
        IH_TRY(ih_json_only(a->body, f));
        IH_TRY(ih_json_str(a->body, "reason", true, 2, 200, IH_TEXT_LINE, &reason));
        ih_row_set_int(&a->r, "refused_at", now);
        IH_TRY(ih_row_set_str(&a->r, "refuse_type", "1"));
        IH_TRY(ih_row_set_str(&a->r, "refuse_reason", reason));
    } else if (t == &T_CLOSE) {
        ih_row_set_int(&a->r, "closed_at", now);
    }
    IH_TRY(ih_row_set_str(&a->r, "status", t->to));
    ih_row_set_int(&a->r, "updated_at", now);
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    (void)reason; /* sealed in the row: the journal names the visit, never the text */
    IH_TRY(cl_audit(a->c, tx, a->v, t->action, "visit", a->id, NULL));
    /* Final states are reported to the supervision platform. */
    if (t == &T_REFUSE || t == &T_CLOSE) IH_TRY(cl_report(a->c, tx, "visit", a->id));
    return cl_visit_audience(a->c, tx, &a->r, &a->to);
}

static ih_err visit_json(visit_arg *a, ih_relation rel, json_t **out)
{
    return ih_row_json(&a->r, a->v ? a->v->role : IH_ROLE_NONE, rel, out);
}

static ih_err run_transition(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, const transition *t,
                             json_t **out)
{
    json_t *empty = NULL;
    if (!body) body = empty = json_object();
    visit_arg a = {.c = c, .v = v, .id = id, .body = body};
    ih_row_init(&a.r, &ih_t_visit);
    trans_arg ta = {&a, t};
    ih_err e = ih_store_write(c->o.store, transition_fn, &ta);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "visit", id);
    cl_refused(c, v, t->action, "visit", id, e);
    if (e == IH_OK) cl_notify(c, &a.to, "visit", id, 0);
    if (e == IH_OK) e = visit_json(&a, v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_CARE, out);
    ih_row_free(&a.r);
    json_decref(empty);
    return e;
}

ih_err ih_visit_request(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out)
{
    visit_arg a = {.c = c, .v = v, .body = body};
    ih_row_init(&a.r, &ih_t_visit);
    ih_err e = ih_store_write(c->o.store, request_fn, &a);
    if (e == IH_OK) cl_notify(c, &a.to, "visit", a.r.id, 0);
    if (e == IH_OK) e = visit_json(&a, IH_REL_SELF, out);
    ih_row_free(&a.r);
    return e;
}

ih_err ih_visit_accept(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    return run_transition(c, v, id, body, &T_ACCEPT, out);
}

ih_err ih_visit_refuse(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    return run_transition(c, v, id, body, &T_REFUSE, out);
}

ih_err ih_visit_close(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    return run_transition(c, v, id, NULL, &T_CLOSE, out);
}

ih_err ih_visit_cancel(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out)
{
    return run_transition(c, v, id, NULL, &T_CANCEL, out);
}

/* ---- labels ------------------------------------------------------------------------- */

static ih_err label_fn(ih_tx *tx, void *arg)
{
    visit_arg *a = arg;
    static const char *const f[] = {"label", "reason", NULL};
    int64_t label = 0;
    const char *reason;
    IH_TRY(ih_json_only(a->body, f));
    IH_TRY(ih_json_int(a->body, "label", true, 1, 5, &label));
    IH_TRY(ih_json_str(a->body, "reason", true, 2, 200, IH_TEXT_LINE, &reason));
    IH_TRY(cl_visit_load(a->c, tx, a->id, &a->r, true));
    char why[48]; /* the levels only: the reason is sealed in the row */
    snprintf(why, sizeof why, "%lld -> %lld", (long long)ih_row_int(&a->r, "label"), (long long)label);
    IH_TRY(ih_row_set_str(&a->r, "label_reason", reason));
    ih_row_set_int(&a->r, "label", label);
    ih_row_set_int(&a->r, "updated_at", ih_now_ms());
    IH_TRY(ih_row_update(tx, a->c->o.keys, &a->r));
    return cl_audit(a->c, tx, a->v, "visit.label", "visit", a->id, why);
}

ih_err ih_visit_label(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out)
{
    visit_arg a = {.c = c, .v = v, .id = id, .body = body};
    ih_row_init(&a.r, &ih_t_visit);
    ih_err e = ih_store_write(c->o.store, label_fn, &a);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "visit", id);
    /* The security administrator sees the label, not the clinical content. */
    if (e == IH_OK)
        *out = json_pack("{s:I, s:I, s:s}", "id", (json_int_t)id, "label", (json_int_t)ih_row_int(&a.r, "label"),
                         "status", ih_row_str(&a.r, "status"));
    ih_row_free(&a.r);
    return e;
}

/* ---- reading ------------------------------------------------------------------------- */

static char messages_sql[512];
static pthread_once_t messages_once = PTHREAD_ONCE_INIT;

static void messages_sql_init(void)
{
    snprintf(messages_sql, sizeof messages_sql,
             "SELECT %s FROM message WHERE visit_id = $1 AND id > $2 ORDER BY id LIMIT $3",
             ih_table_columns(&ih_t_message));
}

/* The visit's messages after a->after, in one query, as the members of
 * a "messages" array written into w. */
static ih_err messages_write(visit_arg *a, ih_tx *tx, ih_jw *w)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    pthread_once(&messages_once, messages_sql_init);
    IH_TRY(ih_tx_prepare(tx, messages_sql, &st));
    ih_stmt_int(st, 1, a->id);
    ih_stmt_int(st, 2, a->after);
    ih_stmt_int(st, 3, a->limit);
    ih_row m;
    ih_row_init(&m, &ih_t_message);
    ih_relation rel = a->v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_CARE;
    ih_jw_key(w, "messages");
    ih_jw_open(w, '[');
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        if ((e = ih_row_from_stmt(st, 0, a->c->o.keys, &ih_t_message, &m)) != IH_OK) break;
        ih_jw_open(w, '{');
        ih_row_json_write(&m, a->v->role, rel, w);
        ih_jw_close(w, '}');
    }
    ih_jw_close(w, ']');
    ih_row_free(&m);
    return e != IH_OK ? e : w->err;
}

/* Written as text, not built as jansson objects: this is the hottest read. */
static ih_err get_fn(ih_tx *tx, void *arg)
{
    visit_arg *a = arg;
    IH_TRY(cl_visit_load(a->c, tx, a->id, &a->r, true));
    bool treating;
    IH_TRY(cl_visit_access(a->c, tx, a->v, &a->r, false, &treating));
    ih_jw w;
    ih_jw_init(&w, a->text);
    ih_jw_open(&w, '{');
    ih_row_json_write(&a->r, a->v->role, a->v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_CARE, &w);
    IH_TRY(messages_write(a, tx, &w));
    ih_jw_close(&w, '}');
    return w.err;
}

ih_err ih_visit_get(ih_clinic *c, const ih_viewer *v, int64_t id, int64_t after, int limit, ih_buf *out)
{
    visit_arg a = {.c = c, .v = v, .id = id, .after = after, .limit = limit > 200 ? 200 : limit, .text = out};
    size_t start = out->len;
    ih_row_init(&a.r, &ih_t_visit);
    ih_err e = ih_store_read(c->o.store, get_fn, &a);
    ih_row_free(&a.r);
    if (e == IH_E_INTEGRITY) cl_integrity_alert(c, "visit", id);
    cl_refused(c, v, "visit.read", "visit", id, e);
    if (e == IH_OK) e = cl_audit_own(c, v, "visit.read", "visit", id, IH_OK, NULL);
    if (e != IH_OK && out->p) { /* nothing of it stays behind */
        ih_wipe(out->p + start, out->len - start);
        out->len = start;
        out->p[start] = '\0';
    }
    return e;
}

/* A clinician's list names each visit's patient, as the mask table lets
 * the viewer see the name (a patient's own list needs no name). */
static ih_err add_patient_name(visit_arg *a, ih_tx *tx, ih_relation rel, json_t *j)
{
    ih_row p;
    ih_row_init(&p, &ih_t_patient);
    bool found;
    ih_err e = ih_row_load(tx, a->c->o.keys, &ih_t_patient, ih_row_int(&a->r, "patient_id"), &p, &found);
    ih_buf name = IH_BUF_INIT;
    if (e == IH_OK && found && ih_mask_view(a->v->role, rel, IH_FIELD_NAME, ih_row_str(&p, "name"), &name))
        json_object_set_new(j, "patient_name", json_stringn(name.p, name.len));
    ih_buf_wipe(&name);
    ih_row_free(&p);
    return e;
}

static ih_err list_fn(ih_tx *tx, void *arg)
{
    visit_arg *a = arg;
    const char *whose; /* the viewer's visits, selected as "id" */
    int64_t who;
    cl_staff s = {0};
    if (a->v->role == IH_ROLE_PATIENT) {
        ih_err e = ih_patient_of_account(a->c, tx, a->v->actor.id, &who);
        if (e == IH_E_NOT_FOUND) return IH_OK;
        IH_TRY(e);
        whose = "visit WHERE patient_id = $1 AND ($3 = '' OR status = $3)";
    } else if (a->v->role == IH_ROLE_DOCTOR) {
        IH_TRY(cl_my_staff(a->c, tx, a->v, &who));
        whose = "visit WHERE doctor_id = $1 AND ($3 = '' OR status = $3)";
    } else if (a->v->role == IH_ROLE_NURSE) {
        IH_TRY(cl_my_staff_full(a->c, tx, a->v, &s));
        who = s.id;
        whose = "visit v JOIN staff_department d ON d.department_id = v.department_id WHERE d.staff_id = $1 "
                "AND ($3 = '' OR v.status = $3) AND v.label < 5";
    } else
        return ih_reject(IH_E_FORBIDDEN, NULL, "Visits are listed for patients and clinicians.");
    const ih_page *pg = a->page;
    const char *id = a->v->role == IH_ROLE_NURSE ? "v.id" : "id";
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT %s FROM %s AND %s > $2 AND %s < $5 ORDER BY %s%s LIMIT $4", id, whose, id, id, id,
             pg->newest ? " DESC" : "");
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, sql, &st));
    ih_stmt_int(st, 1, who);
    ih_stmt_int(st, 2, pg->after);
    ih_stmt_text(st, 3, a->status ? a->status : "");
    ih_stmt_int(st, 4, a->limit);
    ih_stmt_int(st, 5, pg->before > 0 ? pg->before : INT64_MAX);
    int64_t ids[CL_LIST_MAX];
    int n;
    IH_TRY(cl_list_ids(st, ids, &n));
    a->next = n == a->limit ? ids[n - 1] : -1; /* what the query chose, before the check below drops any */
    for (int i = 0; i < n; i++) {
        IH_TRY(cl_visit_load(a->c, tx, ids[i], &a->r, true));
        /* the join chose candidates; the verified staff row decides */
        if (a->v->role == IH_ROLE_NURSE &&
            (!cl_staff_in(&s, ih_row_int(&a->r, "department_id")) || ih_row_int(&a->r, "label") >= 5))
            continue;
        json_t *j;
        ih_relation rel = a->v->role == IH_ROLE_PATIENT ? IH_REL_SELF : IH_REL_CARE;
        IH_TRY(visit_json(a, rel, &j));
        json_array_append_new(a->out, j);
        if (rel != IH_REL_SELF) IH_TRY(add_patient_name(a, tx, rel, j));
    }
    return IH_OK;
}

ih_err ih_visit_list(ih_clinic *c, const ih_viewer *v, const char *status, const ih_page *page, json_t **out,
                     int64_t *next)
{
    visit_arg a = {.c = c, .v = v, .status = status, .page = page, .limit = page->limit > 200 ? 200 : page->limit,
                   .next = -1, .out = json_array()};
    IH_CHECK_ALLOC(a.out);
    ih_row_init(&a.r, &ih_t_visit);
    ih_err e = ih_store_read(c->o.store, list_fn, &a);
    ih_row_free(&a.r);
    if (e == IH_OK) {
        char n[24];
        snprintf(n, sizeof n, "%zu listed", json_array_size(a.out));
        e = cl_audit_own(c, v, "visit.list", "visit", 0, IH_OK, n);
    }
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    *out = a.out;
    if (next) *next = a.next;
    return IH_OK;
}

/* ---- timeouts ---------------------------------------------------------------------- */

static ih_err expire_change(ih_row *r, int64_t now)
{
    IH_TRY(ih_row_set_str(r, "status", "expired"));
    IH_TRY(ih_row_set_str(r, "refuse_type", "2"));
    IH_TRY(ih_row_set_str(r, "refuse_reason", "no answer within the promised response time"));
    ih_row_set_int(r, "refused_at", now);
    ih_row_set_int(r, "updated_at", now);
    return IH_OK;
}

/* An expired request is reported as the visit it never became. */
static ih_err visit_expired(ih_clinic *c, ih_tx *tx, int64_t id) { return cl_report(c, tx, "visit", id); }

ih_err ih_visit_expire_due(ih_clinic *c, int *n)
{
    return cl_timeout_run(c, &ih_t_visit,
                          "SELECT id FROM visit WHERE status = 'requested' AND respond_by < $1 ORDER BY id LIMIT 200",
                          expire_change, "visit.expire", "visit", visit_expired, n);
}
