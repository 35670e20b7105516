/* clinic.h — the hospital registry: institution, departments, staff, drug
 * catalogue, schedules, patients with real name and consent.
 *
 * Every change runs in one store transaction with its audit event; every
 * read of personal data writes its audit event before the data is returned.
 * Personal fields are sealed and blind-indexed (src/table/record.h), and
 * every view goes through the masking table (src/policy/mask.h) for the
 * viewer's role and relationship to the person.
 *
 * Functions take the viewer (who asks, for the journal and the rules) and
 * return JSON ready for the API; they check the rules the route table
 * cannot (own data only, care relationships, qualifications) and name the
 * field at fault when input is wrong.
 */
#ifndef IH_REGISTRY_CLINIC_H
#define IH_REGISTRY_CLINIC_H

#include "audit/audit.h"
#include "identity/identity.h"
#include "store/store.h"

#include <jansson.h>

typedef struct ih_clinic ih_clinic;

typedef struct ih_clinic_opts {
    ih_store *store;
    ih_keyring *keys;
    ih_audit *audit;
    ih_identity *identity;
    int utc_offset_minutes;
    const char *privacy_version;   /* the privacy policy version patients accept */
    const char *agreement_version; /* the user agreement version */
    const char *realname_command;  /* real-name verification: a program, or */
    const char *realname_url;      /* an HTTPS endpoint; neither = not verified */
    int realname_timeout_s;
    int registrations_per_minute;  /* self-registrations per source address */
    const char *sms_command;       /* the SMS gateway: a program, or */
    const char *sms_url;           /* an HTTPS endpoint; neither = no self-registration or reset */
    int sms_timeout_s;
    int code_minutes;              /* how long an SMS code lives */
    int codes_per_phone_hour;      /* SMS codes one phone number may get */
    int rx_max_days;               /* days of medication per prescription */
    int rx_valid_days;             /* days an approved prescription may be dispensed */
    int break_glass_hours;
    bool single_pharmacist;        /* the reviewing pharmacist may also dispense */
    const char *pay_command;       /* the payment channel: a program, or */
    const char *pay_url;           /* an HTTPS endpoint (op create / refund) */
    int pay_timeout_s;
    const struct ih_extsig *pay_notify_key; /* the channel's signature key; NULL: notifications refused */
    int pay_notify_tolerance_s;
    bool rx_postpaid;              /* dispensing does not wait for payment */
    int break_glass_per_hour, break_glass_per_day; /* grants per doctor (0: the defaults, 3 and 10) */
    int break_glass_unreviewed;                    /* unreviewed grants a doctor may hold (0: 5) */
    struct ih_detector *detector;  /* 防统方 (policy/detector.h); NULL: none */
    struct ih_bus *bus;            /* live updates after each change (core/bus.h); NULL: none */
    bool detect_block;             /* end the session of a user the detector flags */
    struct ih_report *report;      /* supervision uploads (report/report.h); NULL: none */
    const struct ih_his_route *his_routes; /* peers ihos sends HL7 to (care/his.h) */
    int his_nroutes;
} ih_clinic_opts;

typedef struct ih_viewer {
    ih_actor actor;     /* actor.id is the account id */
    ih_role role;
    int64_t session_id; /* 0 outside a session */
    bool strong;        /* a full session: both factors where the role needs two */
} ih_viewer;

ih_err ih_clinic_new(const ih_clinic_opts *o, ih_clinic **out);
/* Every table the clinic describes, registry and care (the one list;
 * care/service.c assembles it): rotation, scans and `ihos tables` walk it. */
struct ih_table;
struct ih_table *const *ih_clinic_tables(size_t *n);
void ih_clinic_free(ih_clinic *c);

/* Doctors need this many years of independent practice for online care. */
#define IH_MIN_PRACTICE_YEARS 3

/* ---- institution (one per instance) ------------------------------------------ */
ih_err ih_institution_get(ih_clinic *c, json_t **out);
ih_err ih_institution_put(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);

/* ---- departments ------------------------------------------------------------ */
ih_err ih_department_list(ih_clinic *c, bool include_inactive, json_t **out);
ih_err ih_department_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
ih_err ih_department_update(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);

/* ---- staff -------------------------------------------------------------------- */
/* body: the staff fields plus "departments": [ids]; the account must hold
 * the matching clinical role and have no staff record yet. */
ih_err ih_staff_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
ih_err ih_staff_update(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
ih_err ih_staff_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
/* By id after `after`; of one kind (doctor, pharmacist, nurse; NULL or "" for
 * any) and of department dept_id (0 for any). */
ih_err ih_staff_list(ih_clinic *c, const ih_viewer *v, const char *kind, int64_t dept_id, int64_t after, int limit,
                     json_t **out);
/* Active doctors', pharmacists' and nurses' accounts that have no staff
 * record yet, newest first below the account id `before` (0: from the
 * newest), at most `limit` (each as ih_identity_list gives it): what a
 * registrar may register.  Walks the clinical accounts a page at a time
 * until `limit` are found or none are left; audited as account.list. */
ih_err ih_staff_candidates(ih_clinic *c, const ih_viewer *v, int64_t before, int limit, json_t **out);
/* Enable or disable a doctor for online care (audited; needs the years). */
ih_err ih_staff_set_online(ih_clinic *c, const ih_viewer *v, int64_t id, bool online, const char *reason,
                           json_t **out);
ih_err ih_staff_set_status(ih_clinic *c, const ih_viewer *v, int64_t id, const char *status, const char *reason,
                           json_t **out);
/* The staff id of an account (IH_E_NOT_FOUND if it has none). */
ih_err ih_staff_of_account(ih_clinic *c, ih_tx *tx, int64_t account_id, int64_t *staff_id);

/* ---- drug catalogue ----------------------------------------------------------- */
ih_err ih_drug_list(ih_clinic *c, const char *q, bool include_inactive, int64_t after, int limit, json_t **out);
ih_err ih_drug_get(ih_clinic *c, int64_t id, json_t **out);
ih_err ih_drug_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
ih_err ih_drug_update(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
/* CSV with a header row (see docs/registry.md); valid rows are created or
 * updated (by hosp_code) in one transaction, invalid rows are reported per
 * line and not applied.  *out: {"created","updated","errors":[…]}. */
ih_err ih_drug_import_csv(ih_clinic *c, const ih_viewer *v, const char *csv, size_t n, json_t **out);
/* Parse and validate only (no store): for the fuzz target and dry runs. */
ih_err ih_drug_csv_check(const char *csv, size_t n, json_t **report);

/* ---- schedules ---------------------------------------------------------------- */
/* Shifts not cancelled from from_day to to_day, each with "open": whether it
 * still takes requests (not over, in the hospital's local time). */
ih_err ih_schedule_list(ih_clinic *c, const char *from_day, const char *to_day, int64_t staff_id, json_t **out);
ih_err ih_schedule_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
ih_err ih_schedule_cancel(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);

/* ---- patients ----------------------------------------------------------------- */
/* Self-registration (public, rate-limited), in two steps so that nobody
 * learns who is registered without proving a phone (registration.c):
 * start validates, checks the real name, hashes the password and sends a
 * code by SMS to the phone given: *out {"registration": token,
 * "expires_at"}, the same for every valid request.  verify takes
 * {registration, code[, username]} and creates account + patient + consents:
 * *out {"patient", "account_id", "username"}; a taken username or an ID
 * number already registered is IH_E_EXISTS naming the field.  Both need the
 * SMS gateway (IH_E_UNAVAILABLE without). */
ih_err ih_patient_register_start(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out);
ih_err ih_patient_register_verify(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out);
/* Both steps at once, for local seeding (the demo): no phone is proved. */
ih_err ih_patient_register(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out);
/* A patient's own password reset through the phone they registered
 * (reset.c): start {cert_no, phone} answers {"reset": token, "expires_at"}
 * whether or not they match; confirm {reset, code, new_password} sets it. */
ih_err ih_patient_reset_start(ih_clinic *c, const ih_actor *anon, json_t *body, json_t **out);
ih_err ih_patient_reset_confirm(ih_clinic *c, const ih_actor *anon, json_t *body);
/* SMS codes past their time lose the code and what waited for it. */
ih_err ih_sms_codes_expire_due(ih_clinic *c, int *n);
ih_err ih_patient_me(ih_clinic *c, const ih_viewer *v, json_t **out);
ih_err ih_patient_me_update(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
/* One patient as this viewer may see them (403 without a relationship
 * where one is needed). */
ih_err ih_patient_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
/* Exact lookup by certificate number or phone (blind index). */
ih_err ih_patient_find(ih_clinic *c, const ih_viewer *v, const char *cert_no, const char *phone, json_t **out);
ih_err ih_patient_list(ih_clinic *c, const ih_viewer *v, int64_t after, int limit, json_t **out);
ih_err ih_consent_list(ih_clinic *c, const ih_viewer *v, json_t **out);
ih_err ih_consent_accept(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
/* The patient id of an account (IH_E_NOT_FOUND if it has none). */
ih_err ih_patient_of_account(ih_clinic *c, ih_tx *tx, int64_t account_id, int64_t *patient_id);

/* ---- the public 亮证 information -------------------------------------------------- */
/* Institution, departments, doctors enabled for online care with title,
 * department, practising-certificate number and upcoming schedule, promised
 * response times and fees: what the public page shows, nothing more. */
ih_err ih_public_info(ih_clinic *c, json_t **out);

/* ---- maintenance ---------------------------------------------------------------- */
/* Rows written by an earlier release, brought up to this one's rules: each
 * only once it verifies as it was written; idempotent (run at every start). */
ih_err ih_clinic_upgrade(ih_clinic *c);

/* Every registry and care table, for key rotation and integrity scans
 * (keys/protected.h); MAC failures are recorded as integrity.violation. */
struct ih_sealed_column;
struct ih_mac_scan;
size_t ih_clinic_sealed_columns(ih_clinic *c, struct ih_sealed_column *out, size_t cap);
size_t ih_clinic_mac_scans(ih_clinic *c, struct ih_mac_scan *out, size_t cap);

/* ---- ICD-10 (national clinical edition) ---------------------------------------- */
/* CSV "code,name" with a header row; rows upserted; errors per row. */
ih_err ih_icd_import_csv(ih_clinic *c, const ih_viewer *v, const char *csv, size_t n, json_t **out);
ih_err ih_icd_search(ih_clinic *c, const char *q, int limit, json_t **out);
/* Parse and validate only (the fuzz target, dry runs): {codes, errors}. */
ih_err ih_icd_csv_check(const char *csv, size_t n, json_t **report);

#endif
