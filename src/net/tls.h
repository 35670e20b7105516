/* tls.h — the server's TLS context (OpenSSL 3).
 *
 * TLS 1.2 and 1.3 only; TLS 1.2 restricted to ECDHE with AEAD ciphers;
 * no renegotiation, no compression; ALPN offers http/1.1 only.  The private
 * key file must be owner-only (0600) or the server refuses to start.
 * L3 8.1.4.7a, 8.1.4.8a; 39786 8.4d/f: AEAD suites protect integrity and
 * confidentiality of everything in transit.
 */
#ifndef IH_NET_TLS_H
#define IH_NET_TLS_H

#include "core/err.h"

#include <openssl/ssl.h>

ih_err ih_tls_server_ctx(const char *cert_file, const char *key_file, SSL_CTX **out);
/* SHA-256 fingerprint "AB:CD:..." of the certificate in cert_file. */
ih_err ih_tls_fingerprint(const char *cert_file, char *out, size_t n);

#endif
