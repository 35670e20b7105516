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
#ifndef IH_CLINIC_HIS_H
#define IH_CLINIC_HIS_H

#include "clinic/clinic.h"

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

#endif
