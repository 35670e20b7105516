/* rx_impl.h — the canonical contents a prescription's signatures cover
 * (rx.c), shared with offline verification (rx_verify.c).  Both take the
 * JSON fields a bundle carries, so the verifier needs nothing else. */
#ifndef IH_CARE_RX_IMPL_H
#define IH_CARE_RX_IMPL_H

#include "core/buf.h"

#include <jansson.h>

/* "ihos-rx-v1", then id, visit_id, patient_id, doctor_id, total_fee_fen,
 * effective_days, issued_at_ms, recipe_no, recipe_type, diagnosis_codes,
 * items, in the canonical encoding (crypto/protect.h). */
ih_err rx_canon_issue(json_t *prescription, ih_buf *out);
/* "ihos-rx-review-v1", the prescription's id and number, the doctor's
 * signature bytes, decision, reason, reviewer_id, reviewed_at_ms. */
ih_err rx_canon_review(json_t *prescription, json_t *review, const uint8_t *doctor_sig, size_t siglen, ih_buf *out);

#endif
