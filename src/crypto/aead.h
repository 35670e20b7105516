/* aead.h — authenticated encryption of fields and wrapped keys.
 *
 * Ciphertext = header || body:
 *   header  1 byte format, 4 bytes key version (big-endian)
 *   format 1 (intl)  12-byte nonce || AES-256-GCM ciphertext || 16-byte tag,
 *                    the header and the caller's associated data authenticated
 *   format 2 (gm)    16-byte IV || SM4-CTR ciphertext || 32-byte HMAC-SM3 over
 *                    header || len(ad) || ad || IV || ciphertext (encrypt-then-
 *                    MAC; OpenSSL 3.0 has no SM4-GCM)
 * Opening checks integrity before anything is decrypted and fails with
 * IH_E_INTEGRITY, so a ciphertext moved to another row, column or key
 * version (all bound through the associated data) does not open.
 */
#ifndef IH_CRYPTO_AEAD_H
#define IH_CRYPTO_AEAD_H

#include "core/buf.h"
#include "crypto/suite.h"

/* A data-encryption key ready for use.  Lives in locked memory (keyring). */
typedef struct ih_dek {
    ih_suite suite;
    uint32_t version;
    int purpose;
    uint8_t root[32]; /* the random key as stored (wrapped) */
    uint8_t enc[32];  /* intl: AES-256 key; gm: first 16 bytes are the SM4 key */
    uint8_t mac[32];  /* gm: HMAC-SM3 key */
} ih_dek;

/* Derive enc/mac from root for the suite. */
ih_err ih_dek_derive(ih_dek *k);

#define IH_AEAD_HEADER 5
/* Bytes added to the plaintext by sealing. */
size_t ih_aead_overhead(ih_suite s);

ih_err ih_aead_seal(const ih_dek *k, const void *ad, size_t adlen, const void *pt, size_t n, ih_buf *out);
ih_err ih_aead_open(const ih_dek *k, const void *ad, size_t adlen, const void *ct, size_t n, ih_buf *out);
/* Key version named in a ciphertext's header; -1 if malformed. */
int64_t ih_aead_version(const void *ct, size_t n);

#endif
