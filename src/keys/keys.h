/* keys.h — the keyring's persistence: wrapped DEKs and signing keys in the store.
 *
 * Table dek(purpose, version, wrapped, kek_id, state, created_at, retired_at):
 * each DEK stored only wrapped by the KEK.  Table signing_key: per owner
 * (the audit journal, a doctor, a pharmacist) a public key in PEM and the
 * private key as PKCS#8 sealed under the `signing` DEK, bound to its row.
 *
 * Order that keeps memory and database in step: mint wrapped keys, store
 * them in a transaction, and only after the commit add them to the keyring.
 */
#ifndef IH_KEYS_KEYS_H
#define IH_KEYS_KEYS_H

#include "crypto/keyring.h"
#include "crypto/sign.h"
#include "store/store.h"

/* Read the 32-byte KEK from path (must be owner-only). */
ih_err ih_kek_read_file(const char *path, uint8_t kek[32]);

/* At init: mint version 1 of every purpose, store it, load it. */
ih_err ih_keys_bootstrap(ih_store *s, ih_keyring *k);
/* At startup: load every active stored DEK.  IH_E_INTEGRITY if the KEK
 * does not match the one the keys were wrapped with. */
ih_err ih_keys_load(ih_store *s, ih_keyring *k);
/* Add version n+1 of purpose p (stored, then loaded).  *version receives it.
 * `tx_hook` (may be NULL) runs inside the same transaction (for auditing). */
typedef ih_err (*ih_keys_tx_hook)(ih_tx *tx, void *ctx, uint32_t version);
ih_err ih_keys_rotate(ih_store *s, ih_keyring *k, ih_key_purpose p, ih_keys_tx_hook hook, void *ctx,
                      uint32_t *version);
/* Mark a version retired and delete its wrapped key (nothing may still use it). */
ih_err ih_keys_retire(ih_tx *tx, ih_key_purpose p, uint32_t version, int64_t now);

/* Signing keys. */
ih_err ih_signkey_create(ih_tx *tx, ih_keyring *k, const char *owner_kind, int64_t owner_id, ih_signkey *key,
                         int64_t *id);
/* The owner's active key (private part decrypted). */
ih_err ih_signkey_load(ih_tx *tx, ih_keyring *k, const char *owner_kind, int64_t owner_id, ih_signkey **out,
                       int64_t *id);
/* Public key PEM of key id into out. */
ih_err ih_signkey_public(ih_tx *tx, int64_t id, ih_buf *pem);

#endif
