/* listener.h — the MLLP listeners: where the hospital's HIS and LIS send
 * ihos their HL7 v2 messages.
 *
 * One listening socket per peer with `listen` in exchange.conf, inside TLS
 * when the peer says tls = true (ihosd's certificate; peers.h refuses
 * plaintext off loopback unless the network is marked trusted).  A peer
 * with client_cert_sha256 must present that certificate: anyone else is
 * closed after the handshake (exchange.peer_refused, an alert).  Each
 * connection has its own thread (a hospital has a handful of interfaces, each
 * keeping one connection open); at most IH_MLLP_CONNS_PER_PEER at a time per
 * peer, more are closed at once.  A connection reads frames
 * (exchange/mllp.h, at most IH_MLLP_MAX_FRAME each), and answers each with its
 * ACK in order (exchange/inbound.h): the ACK leaves only after the message's
 * change committed.  A connection silent for IH_MLLP_IDLE_S seconds is
 * closed.  Stopping closes the listeners, ends every connection after the
 * message it is handling, and joins the threads.
 */
#ifndef IH_EXCHANGE_LISTENER_H
#define IH_EXCHANGE_LISTENER_H

#include "registry/clinic.h"
#include "exchange/peers.h"

#define IH_MLLP_CONNS_PER_PEER 4
#define IH_MLLP_MAX_FRAME (1u << 20)
#define IH_MLLP_IDLE_S 600

typedef struct ih_mllp_server ih_mllp_server;

/* Start a listener for every peer in peers (copied) with `listen`; none:
 * *out NULL.  cert/key: ihosd's TLS certificate, for peers with tls. */
ih_err ih_mllp_server_start(const ih_peers *peers, const char *cert_file, const char *key_file, ih_clinic *clinic,
                            ih_mllp_server **out);
/* The port peer's listener has (its `listen` may say port 0); 0 if none. */
int ih_mllp_server_port(const ih_mllp_server *s, const char *peer);
void ih_mllp_server_stop(ih_mllp_server *s);

#endif
