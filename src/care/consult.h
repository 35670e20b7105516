/* consult.h — remote care between institutions (远程医疗服务管理规范（试行）,
 * 国卫医发〔2018〕25号; WS/T 529-2016): remote consultation (one expert),
 * MDT (several), remote outpatient, and remote imaging, ECG and pathology
 * diagnosis.
 *
 * Rules enforced here:
 *   - a request names a cooperation agreement with the partner institution
 *     that is valid today and covers the type (sysadmin records agreements;
 *     none valid, no request);
 *   - the requesting doctor treats the patient (an accepted or closed visit)
 *     and records the informed consent of the patient or guardian;
 *   - the request carries reason, purpose, proposed time, a summary of the
 *     record, the qualifications asked of the experts, the experts (one, or
 *     two or more for MDT) and the material: the patient's imaging studies
 *     and ECGs from the PACS, records, results from the HIS;
 *   - the medical office approves it (a doctor of a department of kind
 *     medoffice, not the requester); the lead expert accepts it for the
 *     invited side, or rejects it with a reason;
 *   - experts see only the material attached, from approval until the
 *     request closes, each opening audited; never the patient's other data;
 *   - the lead expert drafts the report (with the ECG measurements for an
 *     ECG), every invited expert signs it with their own key (SM2 in gm),
 *     the lead expert returns it: it goes to the hospital's HIS (MDM^T02 or
 *     ORU^R01, whichever each peer takes) in the same transaction;
 *   - the requesting doctor records their decision and closes it.
 * States: draft → submitted → approved → accepted (or rejected) →
 * scheduled → in_session → report_drafted → signed → returned →
 * acknowledged → closed; cancelled from draft … scheduled.  Any other
 * transition is 409 invalid_state and audited; every change is an audit
 * event on the consult.
 */
#ifndef IH_CARE_CONSULT_H
#define IH_CARE_CONSULT_H

#include "registry/clinic.h"

/* Sysadmin: {partner, partner_organ_id, document_no, services: [types],
 * valid_from, valid_to}. */
ih_err ih_agreement_add(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
ih_err ih_agreement_revoke(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
/* {"agreements": [...]} with "valid" (today) on each. */
ih_err ih_agreement_list(ih_clinic *c, const ih_viewer *v, json_t **out);

/* The treating doctor: a draft {visit_id, agreement_id, type, reason,
 * purpose, summary, qualifications?, proposed_at, consent_by,
 * guardian_name?, experts: [staff ids, the first leads], materials:
 * [{kind, ref_id}]}. */
ih_err ih_consult_create(ih_clinic *c, const ih_viewer *v, json_t *body, json_t **out);
/* One step of the state machine: submit, approve, accept, reject {reason},
 * schedule {scheduled_at}, start, report {report, hr?, pr?, qrs?, qt?, qtc?,
 * axis?}, sign, return, acknowledge {decision}, close, cancel. */
ih_err ih_consult_act(ih_clinic *c, const ih_viewer *v, int64_t id, const char *action, json_t *body, json_t **out);
/* The consult with its experts (signed or not) and material list, for the
 * requester, its experts and the medical office (audited). */
ih_err ih_consult_get(ih_clinic *c, const ih_viewer *v, int64_t id, json_t **out);
/* {"consults": [...]}: the viewer's as requester or expert, and for the
 * medical office those waiting for approval. */
ih_err ih_consult_list(ih_clinic *c, const ih_viewer *v, json_t **out);
/* Doctors who may be invited: {"experts": [{id, name, title_code, title_name, practice_no}]},
 * the first 200 of department dept_id (0: of any; a hospital with more doctors
 * picks the department first). */
ih_err ih_consult_experts(ih_clinic *c, const ih_viewer *v, int64_t dept_id, json_t **out);

/* Opening material n of consult id (audited consult.material_open):
 * *kind "study" | "ecg" | "record" | "result"; for studies and ECGs
 * study_uid (the caller asks the PACS), else *view the row itself. */
ih_err ih_consult_material(ih_clinic *c, const ih_viewer *v, int64_t id, int64_t material, bool audit_open,
                           char kind[16], char study_uid[65], json_t **view);

#endif
