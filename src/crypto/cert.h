/* cert.h — the instance's self-signed TLS certificate.
 *
 * ECDSA P-256 in both crypto suites: Debian's TLS stacks have no 国密 (SM2)
 * TLS, and browsers would not speak it.  The key file is created 0600.
 */
#ifndef IH_CRYPTO_CERT_H
#define IH_CRYPTO_CERT_H

#include "core/err.h"

/* Generate key + certificate (SANs: IP 127.0.0.1, ::1, DNS localhost and
 * `host` when it is not one of those), valid for `days`.  Extended key
 * usage serverAuth (HTTPS, the MLLP listeners) and clientAuth (the exchange
 * sender shows it to a HIS that asks who connects). */
ih_err ih_cert_selfsigned(const char *key_path, const char *cert_path, const char *host, int days);

#endif
