/* suite.h — crypto suites, algorithm lookup and one-shot primitives.
 *
 * Two suites, chosen at `ihos init` and fixed for the instance:
 *   intl  AES-256-GCM, HMAC-SHA-256, SHA-256, Ed25519
 *   gm    SM4-CTR + HMAC-SM3 (encrypt-then-MAC), HMAC-SM3, SM3, SM2  (GB/T 39786)
 * Everything goes through OpenSSL 3's EVP interface.  ih_crypto_init()
 * fetches every algorithm once; each thread then reuses its own digest, MAC
 * and cipher contexts (fetching per call costs OpenSSL 3 a lot of speed).
 * Per-thread contexts are freed when the thread exits.
 */
#ifndef IH_CRYPTO_SUITE_H
#define IH_CRYPTO_SUITE_H

#include "core/err.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { IH_SUITE_INTL = 1, IH_SUITE_GM = 2 } ih_suite;
typedef enum { IH_MD_SHA256, IH_MD_SM3, IH_MD_SHA1, IH_MD__COUNT } ih_md;

#define IH_HASH_LEN 32

/* Once per process, before any other crypto call.  Idempotent. */
ih_err ih_crypto_init(void);
int ih_suite_parse(const char *name, ih_suite *out);
const char *ih_suite_name(ih_suite s);
/* The suite's hash: SHA-256 (intl) or SM3 (gm). */
ih_md ih_suite_md(ih_suite s);
const EVP_MD *ih_md_evp(ih_md md);
const char *ih_md_name(ih_md md);
size_t ih_md_size(ih_md md);

typedef struct ih_iov {
    const void *p;
    size_t n;
} ih_iov;

/* Digest of the concatenation of iov[0..n). out: ih_md_size(md) bytes. */
ih_err ih_digest_v(ih_md md, const ih_iov *iov, int n, uint8_t *out);
ih_err ih_digest(ih_md md, const void *data, size_t n, uint8_t *out);
/* A whole file's digest in lower-case hex (hex: 2 × ih_md_size(md) + 1);
 * IH_E_IO with the reason when it cannot be read. */
ih_err ih_digest_file_hex(ih_md md, const char *path, char *hex);
/* Incremental digest, for data too large to hold at once. */
typedef struct ih_hasher ih_hasher;
ih_err ih_hasher_new(ih_md md, ih_hasher **out);
ih_err ih_hasher_update(ih_hasher *h, const void *p, size_t n);
ih_err ih_hasher_final(ih_hasher *h, uint8_t *out);
void ih_hasher_free(ih_hasher *h);

/* HMAC of the concatenation of iov[0..n). */
ih_err ih_hmac_v(ih_md md, const void *key, size_t keylen, const ih_iov *iov, int n, uint8_t *out);
ih_err ih_hmac(ih_md md, const void *key, size_t keylen, const void *data, size_t n, uint8_t *out);
/* HKDF (RFC 5869) with the given digest. */
ih_err ih_hkdf(ih_md md, const void *key, size_t keylen, const char *info, uint8_t *out, size_t outlen);

/* Cryptographically secure random bytes. */
ih_err ih_random(void *out, size_t n);
/* Constant-time comparison; true when equal. */
bool ih_ct_equal(const void *a, const void *b, size_t n);
/* Wipe memory that held a secret. */
void ih_wipe(void *p, size_t n);

/* The calling thread's cipher context, initialised for cipher under key (32
 * bytes; SM4 uses the first 16) with iv, to encrypt (enc 1) or decrypt (0).
 * The key schedule is kept while cipher and key stay the same.  NULL on
 * failure.  Internal to crypto/. */
EVP_CIPHER_CTX *ih_crypto_cipher_init(const EVP_CIPHER *cipher, const uint8_t key[32], const uint8_t *iv, int enc);
const EVP_CIPHER *ih_cipher_aes256gcm(void);
const EVP_CIPHER *ih_cipher_sm4ctr(void);
const EVP_CIPHER *ih_cipher_by_name(const char *name); /* fetched once, cached */

#endif
