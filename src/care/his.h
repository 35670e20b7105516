/* his.h — what the hospital's HIS and LIS tell ihos (the exchange module
 * parses HL7 v2 and calls these; docs/exchange.md says field by field).
 *
 * One inbound message is one transaction: the message id (peer + MSH-10)
 * is recorded with the acknowledgement it earned, the change is applied and
 * audited, and only after the commit does the exchange ACK.  A message id
 * seen before is answered with the acknowledgement it got then and applied
 * no second time.
 *
 * Patients (ADT^A04/A08/A28/A31): the HIS patient (peer + MRN) is linked to
 * the ihos patient whose ID number has the same blind index — never by name.
 * When the names differ the link is held for a person to resolve; when no
 * ihos patient has that number it waits (unmatched) and is linked when a
 * person resolves it.  ADT^A40 moves a merged MRN's link to the survivor.
 * An ADT^A04/A08 with an outpatient PV1 (and DG1 diagnoses) records the
 * encounter: a follow-up the patient then requests carries the latest one
 * as checked evidence of the offline first diagnosis.
 * Results (ORU^R01) are attached to the link: a linked patient's treating
 * doctors and the patient see them under the care-relationship rules; a held
 * or unmatched link keeps them until resolved (nothing is lost).
 */
#ifndef IH_CARE_HIS_H
#define IH_CARE_HIS_H

#include "registry/clinic.h"

typedef enum { IH_HIS_PATIENT, IH_HIS_MERGE, IH_HIS_RESULT } ih_his_kind;

typedef struct ih_his_msg {
    const char *peer;       /* the peer's name (exchange.conf) */
    const char *control_id; /* MSH-10 */
    const char *type;       /* "ADT^A04", for the journal */
    ih_his_kind kind;
    /* the patient (PID) */
    const char *mrn;     /* PID-3 medical record number */
    const char *cert_no; /* PID-3 national ID (type NI/ID) or PID-19; NULL if none */
    const char *name;    /* PID-5 family+given, as one Chinese name */
    const char *prior_mrn; /* ADT^A40: MRG-1 */
    /* ORU^R01 */
    const char *order_no;    /* OBR-3 filler (or OBR-2 placer) order number */
    const char *placer_no;   /* OBR-2 placer order number: IHO<id> answers an order of ihos's */
    const char *result_kind; /* "lab" | "imaging" */
    const char *title;       /* OBR-4 text */
    const char *observed_at; /* OBR-7 as ISO time, or NULL */
    const char *content;     /* the observations as a JSON array (docs/exchange.md) */
    /* an outpatient encounter (PV1 with patient class O, and its DG1s), on
     * a patient message: the offline diagnosis a follow-up rests on */
    const char *visit_no;     /* PV1-19 */
    const char *department;   /* PV1-3 point of care, or PV1-10 */
    const char *doctor;       /* PV1-7 attending doctor's name */
    const char *encounter_at; /* PV1-44 as ISO time */
    const char *diagnoses;    /* DG1-3 as a JSON array [{code, name}] */
} ih_his_msg;

typedef struct ih_his_ack {
    char code[3];   /* AA or AE */
    char text[160]; /* why (for MSA-3/ERR); never personal data */
    bool duplicate; /* the message id was processed before: not applied again */
} ih_his_ack;

/* Apply m (see above).  IH_OK with ack filled whenever the outcome is an
 * acknowledgement (AA, or AE for content ihos cannot take); an error only
 * when nothing could be recorded (the exchange then answers AE and the
 * sender retries). */
ih_err ih_his_receive(ih_clinic *c, const ih_his_msg *m, ih_his_ack *ack);

/* The links waiting for a person (status held or unmatched), for the
 * system administrator: {"links":[{id, peer, mrn, status, reason, name,
 * cert_no (masked), patient_id}]}. */
ih_err ih_his_links_pending(ih_clinic *c, const ih_viewer *v, json_t **out);
/* A person resolves a waiting link: body {"patient_id": N} links it (after
 * checking the ID numbers agree), {"patient_id": null, "reason": …}
 * leaves it unlinked for good (status rejected). */
ih_err ih_his_link_resolve(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
/* The patient's latest outpatient encounter at the hospital (linked HIS
 * patient) before now, for a follow-up being requested: its id, 0 if none.
 * In the caller's transaction (visit.c records it on the visit). */
ih_err ih_his_latest_encounter(ih_clinic *c, ih_tx *tx, int64_t patient_id, int64_t *encounter_id);
/* A visit's HIS evidence, for those who may see the visit:
 * {"encounter": {visit_no, department, doctor, encounter_at, diagnoses} | null}. */
ih_err ih_his_visit_evidence(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t **out);

/* A patient's results from the hospital (patient_id 0: the viewer's own),
 * for those who may see them:
 * {"results":[{id, kind, title, order_no, observed_at, observations}]}. */
ih_err ih_his_results(ih_clinic *c, const ih_viewer *v, int64_t patient_id, json_t **out);

/* ---- to the hospital: orders, and the outbound outbox ----------------------------------
 *
 * What the HIS must hear of — a lab or imaging order placed in a visit, a
 * prescription approved for the hospital pharmacy, a charge paid, a signed
 * visit record — is written into the outbox in the transaction that made it
 * (cl_his_emit), one row per peer whose `send` takes the message:
 *   order (lab)       OML^O21, else ORM^O01
 *   order (imaging)   OMG^O19, else ORM^O01
 *   prescription      RDE^O11 (only when the patient chose the hospital pharmacy)
 *   charge            DFT^P03
 *   record            MDM^T02
 * The row holds the fact in our own terms (sealed; the exchange writes the
 * HL7 at delivery in the peer's version and charset) and a control id (MSH-10)
 * fixed for all its attempts, so a peer that de-duplicates applies a resent
 * message once.  Delivery (exchange/sender.h) is in row order per peer — so
 * in order per patient — at least once:
 *   pending   waiting, or retried after a connection error with capped backoff
 *   sending   claimed (committed before it is written to the socket)
 *   sent      the peer answered AA (or CA)
 *   dead      the peer answered AE or AR: kept with its answer, an alert and an
 *             audit event; later rows keep flowing; a person retries it
 *   unknown   written and no answer came, or the process died while sending:
 *             sent again with the same control id (exchange.possible_duplicate)
 */
typedef struct ih_his_route {
    const char *peer; /* its name in exchange.conf */
    const char *send; /* its `send` list: "OML^O21,DFT^P03" */
    const char *orders; /* the orders it takes: "lab", "imaging" or "lab,imaging" */
} ih_his_route;

typedef enum { IH_HIS_OUT_SENT, IH_HIS_OUT_DEAD, IH_HIS_OUT_RETRY, IH_HIS_OUT_UNKNOWN } ih_his_outcome;

typedef struct ih_his_out {
    int64_t id;
    char type[12];       /* "OML^O21" */
    char control_id[24]; /* MSH-10 */
    int64_t attempts;    /* this one included */
    bool resend;         /* it was sent before with no answer */
    json_t *fact;        /* what to say (owned) */
    /* the outcome, set by the sender for ih_his_out_finish */
    ih_his_outcome outcome;
    char ack_code[3];
    char error[16];      /* the peer's error code (ERR-3), shown to operators */
    char detail[160];    /* the peer's words (MSA-3/ERR: sealed, never shown or logged) or the connection error */
} ih_his_out;

/* One outbox row for peer, inside tx: what cl_his_emit writes for each
 * peer (the fact is copied, sealed); for tools and benches too. */
ih_err ih_his_out_put(ih_clinic *c, ih_tx *tx, const char *peer, const char *type, int64_t patient_id,
                      const char *object, const json_t *fact);

struct ih_lease;
/* Claim up to limit rows of peer that are due, in row order, stopping at the
 * first that is not (order is kept); committed as `sending` before return.
 * fence: the sender's lease, checked in the same transaction (NULL: none). */
ih_err ih_his_out_claim(ih_clinic *c, const char *peer, const struct ih_lease *fence, int64_t now, ih_his_out *rows,
                        int limit, int *n);
/* Record the outcomes of claimed rows in one transaction (dead rows with an
 * audit event); rows[i].fact is freed.  retry_max_ms caps the backoff. */
ih_err ih_his_out_finish(ih_clinic *c, ih_his_out *rows, int n, int64_t retry_max_ms);
void ih_his_out_free(ih_his_out *rows, int n);
/* Rows a dead process left `sending`, of peer: `unknown`, due now; *n of them. */
ih_err ih_his_out_recover(ih_clinic *c, const char *peer, int *n);
/* The earliest time a row of peer is due (0: none waiting). */
ih_err ih_his_out_next_due(ih_clinic *c, const char *peer, int64_t *at);
/* Operators (sysadmin): rows in a state, newest first: {"messages":[{id,
 * peer, type, control_id, object, state, attempts, ack_code, error_code,
 * detail, created_at, sent_at}]} — detail only for ihos's own delivery
 * errors: what the peer wrote may name the patient and stays sealed (the
 * control id finds it in the peer's own log); a dead row back to pending
 * (audited). */
ih_err ih_his_out_list(ih_clinic *c, const ih_viewer *v, const char *state, json_t **out);
ih_err ih_his_out_retry(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
/* ihos_exchange_outbox{peer,state} and the oldest waiting row's age. */
ih_err ih_his_out_metrics(ih_clinic *c, struct ih_buf *out);

/* The treating doctor orders a lab test or an imaging study in an accepted
 * visit: body {"kind": "lab"|"imaging", "code", "name", "note"?,
 * "modality"? (imaging: CT, MR, DX, CR, US, MG, NM, PT, XA, RF, ECG)}.
 * The order gets its number (placer order number, ORC-2) and, for imaging,
 * an accession number, and goes to the HIS/RIS in the same transaction. */
ih_err ih_his_order_place(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t *body, json_t **out);
/* The treating doctor withdraws an order still `placed` (no study has
 * arrived): body {"reason"} (2–200 characters, sealed in the order).  The
 * order becomes `cancelled`, and every peer that had it (its placing went
 * there and is not dead) gets the same message type again with ORC-1 CA
 * (ORC-16 the reason), in the same transaction; an imaging order leaves the
 * worklist at the next poll.  IH_E_STATE for an order imaged, resulted or
 * already cancelled.  A dead placing of a cancelled order is not retried
 * (ih_his_out_retry: IH_E_STATE). */
ih_err ih_his_order_cancel(ih_clinic *c, const ih_viewer *v, int64_t order_id, json_t *body, json_t **out);
/* A visit's orders, for those who may see the visit: {"orders":[…]}. */
ih_err ih_his_orders(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t **out);

/* ---- imaging orders and the PACS (imaging.c; exchange/pacs.h drives them) ---------------
 *
 * An imaging order waits (`placed`) until a study with its accession number
 * arrives in the PACS; the PACS link then records the study (`imaged`, or
 * `resulted` when its report came first).
 * Opening it is a read of the visit: the same care-relationship and label
 * rules, checked per request, and audited when the study is opened. */

/* Imaging orders still waiting for their study, newest first, for the
 * worklist: [{id, accession, modality, code, name, created_at,
 * patient: {id, name, sex, birth_date}, doctor}]. */
ih_err ih_his_imaging_pending(ih_clinic *c, int limit, json_t **out);
/* An event of the PACS link about an order, in the journal
 * ("pacs.worklist_written", "pacs.worklist_removed"). */
ih_err ih_his_imaging_event(ih_clinic *c, int64_t order_id, const char *action);
/* The study with the order's accession number arrived (audited once). */
ih_err ih_his_order_study(ih_clinic *c, int64_t order_id, const char *study_uid);
/* May v open the order's study?  Its UID into study_uid; audit_open: the
 * opening is journaled (pacs.study_open) before the answer; a refusal is
 * journaled too (403 for another doctor, 404 while no study arrived). */
ih_err ih_his_study_access(ih_clinic *c, const ih_viewer *v, int64_t order_id, bool audit_open, char study_uid[65]);
/* A DICOM UID: digits and single dots, at most 64 characters. */
bool ih_dicom_uid_ok(const char *uid);

#endif
