/* outbound.h — the HL7 v2 messages ihos sends the hospital, written from the
 * outbox's facts (care/his.h), and the reading of the peer's ACK.
 *
 * ih_outbound_build() writes one message in UTF-8 (the sender converts it to
 * the peer's charset): MSH (MSH-3/4 our names as the peer's file gives them,
 * MSH-5/6 the peer's, MSH-10 the outbox row's control id, MSH-12 the peer's
 * version, MSH-18 its charset), PID (PID-3 the peer's MRN when the patient
 * is linked, the ihos patient id, the ID number as NI), PV1 (outpatient, the
 * department, the doctor, the ihos visit number), then by type:
 *   OML^O21 / OMG^O19 / ORM^O01   ORC (NW) + OBR (the order; imaging: the
 *                                 accession number and modality)
 *   RDE^O11                       ORC + one RXE/RXR per item
 *   DFT^P03                       EVN + FT1 (the amount in yuan)
 *   MDM^T02                       EVN + TXA (authenticated) + one OBX per
 *                                 section of the signed record
 * docs/exchange.md lists every field.  Text from the fact is escaped; line
 * breaks become \.br\.
 *
 * ih_outbound_ack() reads the answer: AA/CA accepted; AE/AR/CE/CR refused
 * (the error code shown to the operator, the peer's free text kept sealed:
 * it may name the patient); an answer for another control id, or no MSA, is
 * a protocol error (the message is sent again).
 */
#ifndef IH_EXCHANGE_OUTBOUND_H
#define IH_EXCHANGE_OUTBOUND_H

#include "core/buf.h"
#include "core/err.h"
#include "exchange/peers.h"

#include <jansson.h>
#include <stdint.h>

/* Append the message to out.  utc_offset_minutes: local time for the
 * timestamps (HL7 TS without a zone is local). */
ih_err ih_outbound_build(const ih_peer *peer, const char *type, const char *control_id, const json_t *fact, int64_t now_ms,
                         int utc_offset_minutes, ih_buf *out);

typedef enum { IH_ACK_ACCEPTED, IH_ACK_REFUSED, IH_ACK_PROTOCOL } ih_ack_kind;

typedef struct ih_ack_reply {
    char code[3];   /* MSA-1 */
    char error[16]; /* the peer's error code: ERR-3.1 (v2.5), else ERR-1.4 (v2.3/2.4); a token or "" */
    char text[160]; /* its words (ERR-8, else MSA-3), or why the reply is no ACK; may name a patient */
} ih_ack_reply;

/* Classify a reply (UTF-8) to control_id. */
ih_ack_kind ih_outbound_ack(const char *reply, size_t n, const char *control_id, ih_ack_reply *out);

#endif
