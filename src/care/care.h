/* care.h — the care workflow: visits (consultations 咨询 and follow-ups 复诊),
 * messages, media sessions, medical-record revisions, signed prescriptions
 * with pharmacist review, payments, evaluations, adverse events,
 * break-glass, security labels and the approved 统方 report.
 *
 * Rules enforced here (../shared/reference/health-rules.md):
 *   - a follow-up needs evidence of the offline first diagnosis and the
 *     doctor's explicit confirmation; a patient under 6 needs a guardian
 *     present;
 *   - only the treating doctor of an open (or, for 24 hours, just-closed)
 *     visit prescribes, in person, from a full two-factor session, signing
 *     the canonical content with their own key; restricted drugs never;
 *     days per prescription bounded ([care] rx_max_days);
 *   - a pharmacist reviews and signs every prescription; only approved ones
 *     are dispensed or delivered; each status change follows one state
 *     machine (illegal transitions: 409 invalid_state, audited);
 *   - records are never changed or deleted: a correction is a new signed
 *     revision; every revision stays readable;
 *   - (L3 8.1.4.2g; 39786 8.4c: labels are in the row MAC) security label
 *     5 (HIV, psychiatric, …) is readable only by the treating
 *     doctor and the patient; break-glass never opens it.
 * Access: a patient sees their own; clinicians through a care relationship
 * (relation.c); refusals are 403 and audited.  Every state change carries
 * its audit event in the same transaction; reads record theirs before
 * anything is returned.
 */
#ifndef IH_CARE_CARE_H
#define IH_CARE_CARE_H

#include "registry/clinic.h"

/* ---- visits ------------------------------------------------------------------ */
/* Patient: {kind: consult|followup, schedule_id | department_id, complaint,
 * attribute?, first_diagnosis (followup), disease_history?, guardian_present?} */
ih_err ih_visit_request(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
/* Doctor: {followup_confirmed (followups: must be true), label?} */
ih_err ih_visit_accept(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
/* Doctor: {reason} */
ih_err ih_visit_refuse(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
ih_err ih_visit_cancel(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
ih_err ih_visit_close(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
/* Secadmin: {label 1-5, reason} */
ih_err ih_visit_label(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
/* The visit with its messages after message id `after` (at most limit), as
 * JSON text appended to out (left as it was on failure). */
ih_err ih_visit_get(ih_clinic *c, const ih_viewer *v, int64_t id, int64_t after, int limit, ih_buf *out);
/* One page of a list by id: after < id < before (0: no bound), oldest or
 * newest first, at most limit. */
typedef struct ih_page {
    int64_t after, before;
    bool newest;
    int limit;
} ih_page;
/* The viewer's visits: a patient's own, a doctor's, a nurse's departments'.
 * *next (may be NULL): where the next page starts (after / before), or -1. */
ih_err ih_visit_list(ih_clinic *c, const ih_viewer *v, const char *status, const ih_page *page, json_t **out,
                     int64_t *next);
/* Requests past their promised response time become `expired` (refused,
 * type 2 "timed out").  *n: how many.  Run by the job thread. */
ih_err ih_visit_expire_due(ih_clinic *c, int *n);

/* ---- messages and media ------------------------------------------------------ */
ih_err ih_message_post(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out);
/* Doctor: {kind: phone|video, started_at, ended_at, recording_ref?, recording_hash?} */
ih_err ih_media_record(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out);

/* ---- medical records ---------------------------------------------------------- */
/* Doctor: {chief_complaint, present_history, diagnosis_codes: [ICD], diagnosis,
 * opinion, assist_result?, label?, correction_reason (revisions after the first)} */
ih_err ih_record_add(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out);
ih_err ih_record_list(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t **out);

/* ---- prescriptions -------------------------------------------------------------- */
/* Doctor: {recipe_type, diagnosis_codes, items: [{drug_id, route, frequency,
 * dosage, dose_unit, quantity, days, remark?}], effective_days?} */
ih_err ih_rx_issue(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out);
/* Pharmacist: {decision: approve|reject, reason} */
ih_err ih_rx_review(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
/* Pharmacist: {delivery_type: 0 pharmacy | 1 delivery | 2 outside pharmacy, delivery_firm?} */
ih_err ih_rx_dispense(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
/* The patient chooses where the medicine comes from, while the prescription
 * is issued or approved: {"dispensing": "hospital" | "delivery"}.  An
 * approved prescription for the hospital goes to its pharmacy (RDE^O11,
 * care/his.h); once there, the choice stands. */
ih_err ih_rx_dispensing(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
ih_err ih_rx_cancel(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
ih_err ih_rx_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
/* A pharmacist's queue (status=issued) or their reviewed ones; a doctor's
 * issued ones; a patient's own — of one visit when visit is not 0.  *next
 * as ih_visit_list's. */
ih_err ih_rx_list(ih_clinic *c, const ih_viewer *v, const char *status, int64_t visit, const ih_page *page,
                  json_t **out, int64_t *next);
/* Approved prescriptions past their validity become `expired`. */
ih_err ih_rx_expire_due(ih_clinic *c, int *n);
/* The offline verification bundle of prescription id (for ihos rx export). */
ih_err ih_rx_bundle(ih_clinic *c, int64_t id, json_t **out);
/* Check a bundle offline: both signatures over their canonical contents
 * with the public keys it carries.  msg gets a summary. */
ih_err ih_rx_bundle_verify(json_t *bundle, char *msg, size_t n);

/* ---- money, evaluations, adverse events ------------------------------------------ */
/* Payments through the channel (payment.c): the patient orders (*out
 * {"payment", "pay": the channel's prepay parameters}); only the channel's
 * signed notification marks an order paid or refunded; the system
 * administrator refunds a payment for a service not given. */
ih_err ih_payment_order(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out);
ih_err ih_payment_notify(ih_clinic *c, const char *timestamp, const char *nonce, const char *signature,
                         const char *body, size_t n);
ih_err ih_payment_refund(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
ih_err ih_payment_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
/* Patient, visit closed: {satisfaction 1-5, score 0-10, text, complaint?} */
ih_err ih_evaluation_add(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out);
ih_err ih_adverse_report(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
ih_err ih_adverse_list(ih_clinic *c, const ih_viewer *v, json_t **out);

/* ---- break-glass ------------------------------------------------------------------ */
/* Doctor: {reason (>= 10 characters, a real one)}: a time-limited care
 * relationship, audited and alerted to the security administrator; within
 * per-hour, per-day and unreviewed-grant limits (IH_E_RATE_LIMITED). */
ih_err ih_break_glass(ih_clinic *c, const ih_viewer *v, int64_t patient_id, json_t *body, json_t **out);
/* The same for the patient with the ID number in body {cert_no, reason}: a
 * doctor in an emergency who has the patient's ID card in hand.  Nothing
 * else ever tells a doctor whether a number is registered (searches show
 * only their own patients); this request is itself the audited, alerted,
 * rate-limited emergency access, and the answer is the grant. */
ih_err ih_break_glass_by_cert(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
/* Secadmin: every grant (newest first), or those still to review (oldest first). */
ih_err ih_break_glass_list(ih_clinic *c, const ih_viewer *v, bool pending, json_t **out);
/* Secadmin: {verdict: justified|unjustified, note?} — once per grant; an
 * unjustified grant ends at once and is an alert. */
ih_err ih_break_glass_review(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);

/* ---- 统方: the one approved statistics report ---------------------------------------- */
/* {report: drug_usage|doctor_prescribing, purpose, from, to} */
ih_err ih_stats_request(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
/* Secadmin, not the requester: {approve, reason} */
ih_err ih_stats_decide(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
/* The requester runs an approved request once; run and row count audited. */
ih_err ih_stats_run(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
ih_err ih_stats_list(ih_clinic *c, const ih_viewer *v, json_t **out);

#endif
