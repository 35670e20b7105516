/* extsig.h — signatures made by parties outside the hospital (a payment
 * channel's notifications), checked with their public key.
 *
 * The key is a PEM SubjectPublicKeyInfo; its type picks the scheme:
 *   RSA        RSASSA-PKCS1-v1_5 with SHA-256 (WeChat Pay v3, Alipay RSA2)
 *   EC P-256   ECDSA with SHA-256, DER signature
 *   Ed25519    pure Ed25519
 *   SM2        SM2 with SM3, the default identifier "1234567812345678"
 * Anything else is refused when the key is loaded.
 */
#ifndef IH_CRYPTO_EXTSIG_H
#define IH_CRYPTO_EXTSIG_H

#include "core/err.h"

#include <stddef.h>

typedef struct ih_extsig ih_extsig;

ih_err ih_extsig_load(const char *pem, size_t n, ih_extsig **out);
/* "RSA-SHA256", "ECDSA-P256-SHA256", "Ed25519", "SM2-SM3". */
const char *ih_extsig_scheme(const ih_extsig *k);
/* IH_OK if sig is a valid signature of msg; IH_E_INTEGRITY if not. */
ih_err ih_extsig_verify(const ih_extsig *k, const void *msg, size_t n, const void *sig, size_t siglen);
void ih_extsig_free(ih_extsig *k);

#endif
