/* inbound.h — one HL7 v2 message from a peer, to its acknowledgement.
 *
 * ih_inbound_map() reads a parsed message into what the clinic takes
 * (care/his.h) without touching anything: the message type must be one
 * the peer may send ([peer] accept) and one ihos understands (ADT^A04, A08,
 * A28, A31, A40; ORU^R01), MSH-10 must be there, MSH-5/6 (when sent) must
 * name ihos as the peer's file says.  What is refused here is refused with
 * AR (the sender should not retry it as it is); what the clinic refuses for
 * its content is AE; AA only after the change is committed.
 *
 * ih_inbound_handle() does the whole round for one frame's payload: the
 * peer's charset to UTF-8, parse, map, ih_his_receive, and the ACK (MSA
 * with the sender's control id, ERR with the reason for AE/AR), converted
 * back to the peer's charset.  Docs: docs/exchange.md, field by field.
 */
#ifndef IH_EXCHANGE_INBOUND_H
#define IH_EXCHANGE_INBOUND_H

#include "care/his.h"
#include "core/buf.h"
#include "exchange/hl7.h"
#include "exchange/peers.h"

/* The strings ih_his_msg points into. */
typedef struct ih_inbound_text {
    ih_buf type, control_id, mrn, cert_no, name, prior_mrn, order_no, placer_no, title, observed_at, content;
    ih_buf visit_no, department, doctor, encounter_at, diagnoses;
    char kind[8];
} ih_inbound_text;

void ih_inbound_text_free(ih_inbound_text *t);

/* IH_OK with *out filled, or the reason for an AR in why (an error code). */
ih_err ih_inbound_map(const ih_hl7 *m, const ih_peer *peer, ih_his_msg *out, ih_inbound_text *t, char *why,
                      size_t why_n);

/* The ACK for m (NULL when the frame could not be parsed: MSA-2 empty) in
 * UTF-8, appended to out. */
ih_err ih_inbound_ack(const ih_hl7 *m, const ih_peer *peer, const char *code, const char *text, ih_buf *out);

/* Handle one frame's payload from peer; the framed ACK (in the peer's
 * charset) is appended to ack. */
ih_err ih_inbound_handle(ih_clinic *c, const ih_peer *peer, const char *payload, size_t n, ih_buf *ack);

#endif
