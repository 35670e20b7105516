/* sign.h — signatures: Ed25519 (suite intl) or SM2 with SM3 (suite gm).
 *
 * SM2 uses the default distinguishing identifier "1234567812345678"
 * (GB/T 32918.2).  Private keys leave this module only as PKCS#8 DER (for the
 * caller to encrypt with the keyring); public keys as raw bytes (Ed25519: 32,
 * SM2: 65-byte uncompressed point) or SubjectPublicKeyInfo PEM, which
 * `openssl pkeyutl` can check independently.
 */
#ifndef IH_CRYPTO_SIGN_H
#define IH_CRYPTO_SIGN_H

#include "core/buf.h"
#include "crypto/suite.h"

typedef struct ih_signkey ih_signkey;

ih_err ih_sign_generate(ih_suite s, ih_signkey **out);
ih_err ih_sign_private_der(const ih_signkey *k, ih_buf *out);
ih_err ih_sign_from_private_der(ih_suite s, const void *der, size_t n, ih_signkey **out);
ih_err ih_sign_public_raw(const ih_signkey *k, uint8_t *out, size_t cap, size_t *n);
ih_err ih_sign_public_pem(const ih_signkey *k, ih_buf *out);
/* Load a public key (PEM SPKI); the suite follows from the key type. */
ih_err ih_sign_public_from_pem(const char *pem, size_t n, ih_signkey **out);
ih_suite ih_signkey_suite(const ih_signkey *k);
void ih_signkey_free(ih_signkey *k);

ih_err ih_sign(const ih_signkey *k, const void *msg, size_t n, ih_buf *sig);
/* IH_OK if valid, IH_E_INTEGRITY if not. */
ih_err ih_verify(const ih_signkey *k, const void *msg, size_t n, const void *sig, size_t siglen);

#endif
