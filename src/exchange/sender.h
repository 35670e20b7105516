/* sender.h — delivers the outbound outbox (care/his.h) to the hospital
 * over MLLP: the client side of exchange/listener.h.
 *
 * One thread per peer with an `address` and a `send` list.  It keeps one
 * connection open (TCP_NODELAY; inside TLS when the peer says tls = true,
 * verifying the peer's certificate against ca_file or the system's CAs and
 * its host name or address, and presenting ihosd's own certificate), and
 * repeats: claim up to IH_SENDER_BATCH due rows in row order (committed as
 * `sending` first), write each as the peer's charset in an MLLP frame, wait
 * up to ack_timeout for its ACK, and record every outcome in one
 * transaction.  One message at a time per connection: the ACK of one
 * precedes the next, so the peer sees them in order.
 *
 *   ACK AA/CA            sent
 *   ACK AE/AR/CE/CR      dead: exchange.dead (an alert), audited; the rest go on
 *   cannot connect       the row and those after it wait (backoff to retry_max)
 *   no ACK, wrong ACK    unknown: the connection is closed and the row sent
 *                        again (same MSH-10: exchange.possible_duplicate)
 *
 * At start, rows left `sending` by a killed process become `unknown`.  In a
 * cluster ([cluster] node_name), a peer's sender runs on the node holding
 * the lease "exchange-PEER" (store/lease.h), checked in every claim.
 */
#ifndef IH_EXCHANGE_SENDER_H
#define IH_EXCHANGE_SENDER_H

#include "registry/clinic.h"
#include "core/buf.h"
#include "exchange/peers.h"

#define IH_SENDER_BATCH 100

typedef struct ih_mllp_sender ih_mllp_sender;

typedef struct ih_sender_opts {
    const ih_peers *peers; /* copied */
    ih_clinic *clinic;
    ih_store *store;
    const char *cert_file, *key_file; /* ihosd's certificate, shown to TLS peers */
    const char *base_dir;             /* a relative ca_file is under it */
    int utc_offset_minutes;
    const char *node; /* this node's lease name; NULL: no lease (one node) */
} ih_sender_opts;

/* Start a sender for every peer with address and send; none: *out NULL. */
ih_err ih_mllp_sender_start(const ih_sender_opts *o, ih_mllp_sender **out);
void ih_mllp_sender_stop(ih_mllp_sender *s);
/* Wake the senders now (rows were just written). */
void ih_mllp_sender_kick(ih_mllp_sender *s);
/* ihos_exchange_sent_total / _dead_total per peer. */
ih_err ih_mllp_sender_metrics(ih_mllp_sender *s, ih_buf *out);

#endif
