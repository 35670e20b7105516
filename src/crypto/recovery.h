/* recovery.h — the recovery key: what opens backups, kept off the server.
 *
 * An asymmetric pair made at `ihos init`: the instance keeps only the public
 * half (keys/recovery.pub), so ihosd can make backups it cannot itself open.
 * Each backup has a fresh 32-byte data key, delivered to the recovery key:
 *   intl  X25519: ephemeral key e, data key = HKDF-SHA256(ECDH(e, R),
 *         info "ihos backup data key", salt e.pub || R.pub); blob = e.pub
 *   gm    SM2 public-key encryption (GB/T 32918.4) of a random data key;
 *         blob = the SM2 ciphertext
 * The private half is printed once as PEM (and can be written to a file);
 * restoring a backup needs it and nothing from the old server.
 */
#ifndef IH_CRYPTO_RECOVERY_H
#define IH_CRYPTO_RECOVERY_H

#include "core/buf.h"
#include "crypto/suite.h"

typedef struct ih_recovery ih_recovery; /* a loaded public or private recovery key */

ih_err ih_recovery_generate(ih_suite s, ih_buf *private_pem, ih_buf *public_pem);
/* Load from PEM: a PRIVATE KEY block if present (restore), else PUBLIC KEY. */
ih_err ih_recovery_load(const char *pem, size_t n, ih_recovery **out);
void ih_recovery_free(ih_recovery *r);
ih_suite ih_recovery_suite(const ih_recovery *r);
const char *ih_recovery_alg(const ih_recovery *r); /* "x25519-hkdf-sha256" | "sm2-encrypt" */

/* A fresh data key and the blob that lets the private key recover it. */
ih_err ih_recovery_seal(const ih_recovery *pub, uint8_t key[32], ih_buf *blob);
/* Recover the data key (needs the private half). */
ih_err ih_recovery_open(const ih_recovery *priv, const uint8_t *blob, size_t n, uint8_t key[32]);

#endif
