/* care_impl.h — inside the care workflow: tables and helpers shared by
 * visit.c, message.c, emr.c, rx.c and the rest. */
#ifndef IH_CARE_CARE_IMPL_H
#define IH_CARE_CARE_IMPL_H

#include "care/care.h"
#include "registry/clinic_impl.h"
#include "core/bus.h"

/* What the hospital's HIS/LIS sent and what ihos sends it (his.c, his_out.c). */
/* A visit's calls and system B's signalling (call.c); remote care between
 * institutions (consult.c). */
extern ih_table ih_t_call, ih_t_call_signal, ih_t_call_recording, ih_t_agreement, ih_t_consult, ih_t_consult_expert, ih_t_consult_material;

extern ih_table ih_t_his_link, ih_t_his_inbound, ih_t_his_result, ih_t_his_encounter, ih_t_his_order, ih_t_his_outbox;

/* A reportable fact reached its final state inside tx: hand it to the
 * supervision outbox (report/report.h) in the same transaction (facts.c).
 * kind: visit, record, prescription, dispense, evaluation, adverse. */
ih_err cl_report(ih_clinic *c, ih_tx *tx, const char *kind, int64_t id);

/* Care's answers to who may see a patient (relation.c; see
 * registry/clinic_impl.h). */
ih_err care_patient_relation(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t patient_id, int64_t patient_account,
                             ih_relation *rel);
ih_err care_patients_visible(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t after, int limit, int64_t *ids,
                             int *n);

extern ih_table ih_t_visit, ih_t_message, ih_t_media, ih_t_emr, ih_t_rx, ih_t_payment, ih_t_evaluation, ih_t_adverse,
    ih_t_break_glass, ih_t_stats;

/* Visit states (visit.c) and prescription states (rx.c). */
#define V_REQUESTED "requested"
#define V_ACCEPTED "accepted"
#define V_CLOSED "closed"

/* The viewer's staff record, verified, for clinical work: IH_E_FORBIDDEN if
 * they have none, it is suspended, or it is of another profession than
 * their role.  cl_my_staff gives just its id. */
ih_err cl_my_staff_full(ih_clinic *c, ih_tx *tx, const ih_viewer *v, cl_staff *s);
ih_err cl_my_staff(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t *staff_id);
/* Does staff member `staff` hold a live break-glass grant on the patient?
 * Only a grant row whose MAC and version verify counts (oversight.c). */
ih_err cl_break_glass_live(ih_clinic *c, ih_tx *tx, int64_t staff, int64_t patient, bool *live);
/* Is the prescription paid for (or free, or post-paid by policy)?  Only
 * an order the channel confirmed counts (payment.c). */
ih_err cl_rx_paid(ih_clinic *c, ih_tx *tx, const ih_row *rx, bool *paid);
/* What the patient still has to do about paying prescription rx: "none"
 * (it costs nothing, or [payment] prescription_postpaid), "paid", "pending"
 * (an order waits for the channel's confirmation) or "due". */
ih_err cl_rx_pay_state(ih_clinic *c, ih_tx *tx, const ih_row *rx, const char **state);
/* May v act on / read this visit?  Sets *treating when v is its doctor.
 * Patients: their own.  Doctors: theirs, or a live break-glass on the
 * patient (read only, never label 5).  Nurses: their departments' (read
 * only, never label 5).  Others: no.  IH_E_FORBIDDEN otherwise. */
ih_err cl_visit_access(ih_clinic *c, ih_tx *tx, const ih_viewer *v, const ih_row *visit, bool write, bool *treating);
/* Load a visit (MAC-checked; sealed fields opened when open). */
ih_err cl_visit_load(ih_clinic *c, ih_tx *tx, int64_t id, ih_row *r, bool open);
/* A visit's patient and doctor rows (MAC-checked, unopened), read with the
 * visit in one statement by cl_visit_load_parties for the hot paths, and
 * used by the _known variants below instead of reading them again. */
typedef struct cl_parties {
    ih_row patient, doctor;
    bool has_patient, has_doctor;
} cl_parties;
void cl_parties_init(cl_parties *p);
void cl_parties_free(cl_parties *p);
ih_err cl_visit_load_parties(ih_clinic *c, ih_tx *tx, int64_t id, ih_row *r, bool open, cl_parties *p);
ih_err cl_visit_access_known(ih_clinic *c, ih_tx *tx, const ih_viewer *v, const ih_row *visit, const cl_parties *p,
                             bool write, bool *treating);
/* The patient's account id (MAC-checked). */
ih_err cl_patient_account(ih_clinic *c, ih_tx *tx, int64_t patient_id, int64_t *account_id);
/* The account of a visit's patient: from p when it was read with the visit
 * (p may be NULL), else read (cl_patient_account). */
ih_err cl_visit_patient_account(ih_clinic *c, ih_tx *tx, const ih_row *visit, const cl_parties *p, int64_t *account);

/* Live updates (notify.c): the accounts of a visit's patient and doctor
 * (nothing when the clinic has no bus), and the event, published after the
 * commit. */
ih_err cl_visit_audience(ih_clinic *c, ih_tx *tx, const ih_row *visit, ih_bus_audience *to);
/* The same when cl_visit_access found the viewer `party` to be the visit's
 * patient or its treating doctor: their own account is not read again. */
ih_err cl_visit_audience_of(ih_clinic *c, ih_tx *tx, const ih_row *visit, const ih_viewer *party, ih_bus_audience *to);
ih_err cl_visit_audience_known(ih_clinic *c, ih_tx *tx, const ih_row *visit, const ih_viewer *party,
                               const cl_parties *p, ih_bus_audience *to);
void cl_notify(ih_clinic *c, const ih_bus_audience *to, const char *event, int64_t visit, int64_t rx);
/* The same from outside a transaction (reads the audience in its own), to
 * the visit's patient and doctor and every holder of roles (1 << role). */
void cl_notify_after(ih_clinic *c, int64_t visit, unsigned roles, const char *event, int64_t rx);

/* Facts in our own terms (facts.c), for the supervision outbox and the
 * hospital exchange: a visit's patient, doctor and department into f; a
 * signed record; a prescription with its items and reviewer. */
ih_err cl_fact_visit_context(ih_clinic *c, ih_tx *tx, const ih_row *visit, json_t *f);
ih_err cl_fact_record(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f);
ih_err cl_fact_rx(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f);
/* A staff member as facts name them; a returned remote-care report with its
 * experts (consult.c) under "consult". */
ih_err cl_fact_staff(ih_clinic *c, ih_tx *tx, int64_t staff, json_t **out);
ih_err cl_fact_consult(ih_clinic *c, ih_tx *tx, int64_t id, json_t *f);
/* To the hospital (his_out.c), inside the business transaction: what
 * happened ("order", "record", "prescription", "charge", "consult") and its id; one
 * outbox row for every peer whose `send` takes that message (none: nothing). */
ih_err cl_his_emit(ih_clinic *c, ih_tx *tx, const char *what, int64_t id);
/* The results that answer order of patient (his.c), at most max, by id:
 * attached when they came (his_result.order_id), or naming it by placer
 * number on a link a person confirmed for the patient later (placer_no). */
ih_err cl_order_results(ih_tx *tx, int64_t order, int64_t patient, int64_t *ids, int max, int *n);


/* After a call ended with e: if e is a refusal (forbidden 403, or a state
 * that does not allow the action 409), record it against the object in its
 * own transaction; any other e is left to the caller. */
void cl_refused(ih_clinic *c, const ih_viewer *v, const char *action, const char *object_type, int64_t id, ih_err e);


/* Who v is to remote consultation `consult` (consult.c): in it as requester
 * or invited expert (the lead among them), its visit, patient, type, state
 * and how many experts; *p->in false for anyone else.  Doctors only. */
typedef struct cl_consult_party {
    bool in, requester, expert, lead;
    int64_t visit_id, patient_id;
    int nexperts;
    char status[16], type[12];
} cl_consult_party;
ih_err cl_consult_party_of(ih_clinic *c, ih_tx *tx, const ih_viewer *v, int64_t consult, cl_consult_party *p);
/* The accounts of a consultation's requester and experts. */
ih_err cl_consult_audience(ih_clinic *c, ih_tx *tx, int64_t consult, ih_bus_audience *to);

/* Sign bytes with the staff member's key (created on first use) inside tx:
 * *key_id and the signature out. */
ih_err cl_sign(ih_clinic *c, ih_tx *tx, int64_t staff_id, const ih_buf *content, int64_t *key_id, ih_buf *sig);

#endif
