/* clinic_impl.h — inside the clinic service (registry/ and care/ over
 * table/): the service's state, the registry's table descriptors and the
 * helpers every file shares.  Care's own: care/care_impl.h. */
#ifndef IH_REGISTRY_CLINIC_IMPL_H
#define IH_REGISTRY_CLINIC_IMPL_H

#include "registry/clinic.h"
#include "table/record.h"
#include "identity/throttle.h"

typedef ih_err (*cl_relation_fn)(struct ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t patient_id,
                                 int64_t patient_account, ih_relation *rel);
typedef ih_err (*cl_visible_fn)(struct ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t after, int limit,
                                int64_t *ids, int *n);

struct ih_clinic {
    ih_clinic_opts o;
    ih_throttle *registrations;
    ih_table_ctx tables[36]; /* per described table: rotation and scan context */
    cl_relation_fn relation; /* care's answers (see cl_patient_relation) */
    cl_visible_fn visible;
};

/* The registry's tables (descriptors in each resource's file). */
extern ih_table ih_t_institution, ih_t_department, ih_t_staff, ih_t_drug, ih_t_schedule, ih_t_patient,
    ih_t_consent;

/* The staff record an account acts through, from its verified row (MAC and
 * version): what every clinical access decision reads (staff.c). */
typedef struct cl_staff {
    int64_t id;
    bool active; /* not suspended */
    bool online; /* a doctor enabled for online care */
    char kind[12];
    int64_t dept[8];
    int ndept;
} cl_staff;
/* IH_E_NOT_FOUND if the account has no staff record. */
ih_err cl_staff_load(ih_clinic *c, ih_tx *tx, int64_t account_id, cl_staff *out);
/* The same from a staff row already loaded (MAC and version checked). */
ih_err cl_staff_of_row(const ih_row *r, cl_staff *out);
bool cl_staff_in(const cl_staff *s, int64_t department);
/* Staff rows from before departments were MAC'd get theirs (once). */
ih_err cl_staff_upgrade(ih_clinic *c, int *n);
/* The same for a loaded (verified) staff row. */
bool cl_staff_row_in(const ih_row *staff, int64_t department);

/* Drug allergy classes (allergy.c), as bits by their index in
 * ih_codes_allergy_class: those a text names (a patient's recorded
 * allergies, a drug's name), the bit of one code, and a mask as Chinese
 * names ("青霉素类/磺胺类") or codes ("penicillin|sulfonamide"). */
unsigned cl_allergy_classes(const char *text);
unsigned cl_allergy_class_bit(const char *code);
void cl_allergy_names(unsigned mask, char *out, size_t n);
void cl_allergy_codes(unsigned mask, char *out, size_t n);


/* A patient row's cross-field rules: 身份证 consistency; a guardian under 6
 * (whole or none, and none for adults) (patient.c). */
ih_err cl_check_patient(ih_clinic *c, const ih_row *r);
/* Record the patient's consent to version `version` of document `doc`. */
ih_err cl_insert_consent(ih_clinic *c, ih_tx *tx, int64_t patient_id, const char *doc, const char *version);

/* Is this shift over (an earlier day, or today past its end; today and
 * now_hm local, cl_today/cl_now_hm)?  Then it takes no requests (schedule.c). */
bool cl_shift_over(const ih_row *s, const char *today, const char *now_hm);

/* A doctor's public face {id, name, title_code, title_name, practice_no}. */
ih_err cl_doctor_brief(ih_clinic *c, ih_tx *tx, int64_t staff_id, json_t **out);

/* Append an audit event inside tx for viewer v (object id as a number; 0 = none). */
ih_err cl_audit(ih_clinic *c, ih_tx *tx, const ih_viewer *v, const char *action, const char *object_type,
                int64_t object_id, const char *reason);
/* Record an event in its own transaction (reads, refusals). */
ih_err cl_audit_own(ih_clinic *c, const ih_viewer *v, const char *action, const char *object_type, int64_t object_id,
                    ih_err result, const char *reason);
/* A timeout job, one transaction: each row of table t that `sql` selects
 * (id only; its one parameter is now; at most 200 per run, the job runs
 * again for the rest) is loaded, changed by `change`, saved, audited as
 * `action` by the system, and given to `after` (NULL: nothing; care hands
 * the row to the supervision outbox there) in the same transaction.
 * object_type names the row in the audit event; *n: rows changed. */
typedef ih_err (*cl_timeout_change)(ih_row *r, int64_t now);
typedef ih_err (*cl_timeout_after)(ih_clinic *c, ih_tx *tx, int64_t id);
ih_err cl_timeout_run(ih_clinic *c, const ih_table *t, const char *sql, cl_timeout_change change, const char *action,
                      const char *object_type, cl_timeout_after after, int *n);
/* The ids a list query selected (first column of st, bound by the caller),
 * CL_LIST_MAX at most: lists load their rows only after the query is done. */
#define CL_LIST_MAX 200
ih_err cl_list_ids(ih_stmt *st, int64_t ids[CL_LIST_MAX], int *n);
/* A row failed its MAC: record integrity.violation (own transaction), alert. */
void cl_integrity_alert(ih_clinic *c, const char *table, int64_t id);
/* Today's local date "YYYY-MM-DD" (the instance's UTC offset). */
void cl_today(ih_clinic *c, char out[11]);
/* The local time now as "HH:MM"; a local day and time as epoch ms (0 if
 * either does not parse). */
void cl_now_hm(ih_clinic *c, char out[6]);
int64_t cl_local_ms(ih_clinic *c, const char *day, const char *hm);
/* Whole years from birth (YYYY-MM-DD) to today (YYYY-MM-DD); -1 if unparsable. */
int cl_age_years(const char *birth, const char *today);

/* A fact in our own terms for the supervision outbox (report/report.h),
 * inside the business transaction, with the institution's codes added
 * (common.c); the drug catalogue's fact (drug.c).  Care's facts: care_impl.h. */
ih_err cl_report_put(ih_clinic *c, ih_tx *tx, const char *kind, const char *key, json_t *fact);
ih_err cl_report_drug(ih_clinic *c, ih_tx *tx, int64_t id);

/* ICD codes (icd.c): the name of a loaded code; a JSON list of codes
 * validated against the list and joined with '|'. */
ih_err cl_icd_name(ih_tx *tx, const char *code, char *name, size_t n);
ih_err cl_icd_codes(ih_tx *tx, json_t *body, const char *field, ih_buf *joined);
/* The API's one form of diagnosis codes: [{"code", "name"}] from the stored
 * "A|B" (names from the loaded list; "" for a code no longer in it). */
json_t *cl_icd_view(ih_tx *tx, const char *joined);
/* The demo's care data: a sample of ICD-10 codes (icd.c). */
ih_err cl_demo_seed_care(ih_clinic *c, const ih_viewer *v);

/* Call a service the hospital does not own (outside.c): `command` (JSON on
 * stdin and stdout) or else `url` (HTTPS POST); IH_E_UNAVAILABLE on any
 * failure, neither configured included.  *answer: a JSON object. */
ih_err cl_outside_call(const char *what, const char *command, const char *url, int timeout_s, json_t *req,
                       json_t **answer);
/* Send an SMS through the configured gateway: {"phone","template","params"}
 * in, {"sent": true} out.  Failures are logged as alerts. */
ih_err cl_sms_send(ih_clinic *c, const char *phone, const char *template, json_t *params);

/* Self-service over the network (registration, reset) needs the SMS
 * gateway, and counts against the address's per-minute limit. */
ih_err cl_self_service_open(ih_clinic *c, const ih_actor *anon);

/* One-time codes sent by SMS (smscode.c): the proof that someone holds a
 * phone.  Issue: the per-phone limit is checked, the row written and
 * audited as `action` (its reason the kind), then the SMS sent (template
 * with {code, minutes}, or with {} when !with_code: nothing waits for a
 * code and the row's code was sent to nobody).  token gets 43 characters. */
extern ih_table ih_t_sms_code;
#define CL_CODE_TRIES 5
typedef struct cl_code_req {
    const char *kind;     /* "register" | "reset" */
    const char *phone;    /* where the SMS goes */
    const char *template; /* the gateway's template name */
    bool with_code;
    const char *body;     /* kept sealed until used (NULL: none) */
    int64_t account_id;   /* 0: none */
    const ih_actor *anon; /* who asked (address) */
    const char *action;
} cl_code_req;
ih_err cl_code_issue(ih_clinic *c, const cl_code_req *q, char token[64], int64_t *expires_at);
/* Inside the caller's write transaction: find the live code of `kind` that
 * token names, count this try (written with the transaction), compare, and
 * audit the try as `action` by `who`.  *ok false for a wrong code and for no
 * live code at all (unknown token, expired, used, tries spent): the caller
 * answers cl_code_wrong() for both and still commits.  r (initialised for
 * ih_t_sms_code) holds the row when *ok. */
ih_err cl_code_try(ih_clinic *c, ih_tx *tx, const char *kind, const char *token, const char *code,
                   const ih_actor *who, const char *action, ih_row *r, bool *ok);
/* Row `id` again in a later transaction, once a try proved it: *live if
 * it is still of this kind, unused and unexpired. */
ih_err cl_code_live(ih_clinic *c, ih_tx *tx, int64_t id, const char *kind, ih_row *r, bool *live);
/* Mark the code used and clear it and the details that waited for it. */
ih_err cl_code_use(ih_clinic *c, ih_tx *tx, ih_row *r);
/* The one answer for a code that does not open anything. */
ih_err cl_code_wrong(void);

/* Ask the configured real-name service (realname.c).  Not configured:
 * IH_OK with *verified false.  A mismatch is IH_E_INVALID on "name"; a
 * service failure IH_E_UNAVAILABLE. */
ih_err cl_realname_verify(ih_clinic *c, const char *name, const char *cert_type, const char *cert_no, bool *verified);

/* Who may see a patient follows from care (visits, break-glass grants):
 * care/relation.c answers, installed in the service by care/service.c, and
 * the registry asks through these (common.c).  The viewer's relationship to
 * a patient; the patient ids the viewer may list after `after`, at most
 * limit (<= 500). */
ih_err cl_patient_relation(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t patient_id, int64_t patient_account,
                           ih_relation *rel);
ih_err cl_patients_visible(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t after, int limit, int64_t *ids, int *n);

/* Field checks used by descriptors (validate.c). */
ih_err cl_check_cert_no(const ih_row *r, const char *field, const char *value);
ih_err cl_check_phone(const ih_row *r, const char *field, const char *value);
ih_err cl_check_birth_date(const ih_row *r, const char *field, const char *value);
ih_err cl_check_hhmm(const ih_row *r, const char *field, const char *value);
ih_err cl_check_token(const ih_row *r, const char *field, const char *value);
ih_err cl_check_organ_id(const ih_row *r, const char *field, const char *value);
ih_err cl_check_future_date(const ih_row *r, const char *field, const char *value);
/* Free text that must carry meaning (a break-glass reason): enough distinct
 * letters or characters, none dominating, no keyboard or alphabet run. */
ih_err cl_check_reason(const ih_row *r, const char *field, const char *value);
/* A 身份证 holder's birth date and sex must agree with the number. */
ih_err cl_check_id_consistency(const ih_row *r, const char *cert_field, const char *type_field);

#endif
