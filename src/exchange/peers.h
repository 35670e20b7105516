/* peers.h — the HIS, LIS, RIS and PACS systems ihos exchanges HL7 v2 with.
 *
 * Described in their own file ([exchange] peers in ihos.conf, default
 * DIR/exchange.conf; absent: no peers), one INI section per peer:
 *
 *   [peer his]
 *   address = 10.1.2.3:2575        ; where ihos connects (outbound), or
 *   listen = 0.0.0.0:2576          ; where ihos listens for it (inbound; port 0: any free
 *                                  ; port, logged as exchange.listening); one or both
 *   tls = true                     ; MLLP inside TLS
 *   trusted_network = false        ; plaintext off loopback only when true (the self-check reports it)
 *   charset = GB18030              ; UTF-8 | GB18030 (MSH-18 is often empty: this decides)
 *   version = 2.4                  ; 2.3 | 2.4 | 2.5 | 2.5.1
 *   sending_application = HIS      ; MSH-3/4 it uses, MSH-5/6 it expects
 *   sending_facility = HOSP
 *   receiving_application = IHOS
 *   receiving_facility = IH
 *   accept = ADT^A04,ADT^A08,ORU^R01   ; message types it may send us
 *   send = OML^O21,RDE^O11,DFT^P03,MDM^T02 ; message types we send it
 *   client_cert_sha256 = 3f:a1:…       ; optional, with tls and listen: the peer must
 *                                      ; present this certificate (SHA-256 of its DER)
 *   allow_from = 10.1.2.3,10.1.8.0/24  ; optional, with listen: connections from other
 *                                      ; addresses are closed unread (a listener off
 *                                      ; loopback needs this or client_cert_sha256)
 *   ca_file = /etc/ihos/his-ca.pem     ; optional, with tls and address: the CA that signed
 *                                      ; the peer's certificate (default: the system's)
 *   orders = lab                       ; which orders it takes: lab, imaging or lab,imaging
 *                                      ; (the default; a LIS takes lab, a RIS imaging)
 *   retry_max = 300                    ; seconds: the longest wait between delivery attempts
 *   ack_timeout = 30                   ; seconds to wait for the peer's ACK
 *
 * Parsing is strict like ihos.conf's: an unknown key, a duplicate, a bad
 * value or a missing one is "file:line: reason".  A peer not on loopback
 * must use TLS unless trusted_network is true; a listener off loopback must
 * name who may connect (client_cert_sha256, allow_from or both); a peer ihos
 * sends to (`send`) needs an address.
 */
#ifndef IH_EXCHANGE_PEERS_H
#define IH_EXCHANGE_PEERS_H

#include "core/err.h"
#include "net/cidr.h"

#include <stdbool.h>
#include <stddef.h>

#define IH_PEERS_MAX 16

typedef struct ih_peer {
    char name[32];
    char address[128], listen[128]; /* "" when not used */
    bool tls, trusted_network;
    char charset[16], version[8];
    char sending_app[64], sending_facility[64], receiving_app[64], receiving_facility[64];
    char accept[256], send[256];
    char client_cert_sha256[65]; /* lowercase hex; "" when the listener asks no certificate */
    char ca_file[256];           /* outbound TLS: the peer's CA ("" the system's) */
    char orders[16];             /* "lab", "imaging" or "lab,imaging" */
    ih_cidr_list allow_from;     /* listen: the only addresses it takes connections from (n = 0: any) */
    char allow_text[256];        /* as written, for the self-check */
    int retry_max_s, ack_timeout_s;
} ih_peer;

typedef struct ih_peers {
    ih_peer p[IH_PEERS_MAX];
    int n;
} ih_peers;

/* Parse the peers file; a missing file is no peers (IH_OK, n = 0). */
ih_err ih_peers_load(const char *path, ih_peers *out, char *err, size_t n);
/* The same from memory (`name` stands for the file in messages). */
ih_err ih_peers_parse(const char *text, const char *name, ih_peers *out, char *err, size_t n);
/* Is host:port (or [v6]:port) a loopback address? */
bool ih_peer_loopback(const char *hostport);

#endif
