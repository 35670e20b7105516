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

/* Runs inside a key-changing transaction (for its audit event). */
typedef ih_err (*ih_keys_tx_hook)(ih_tx *tx, void *ctx, uint32_t version);

/* Read the 32-byte KEK from path (must be owner-only). */
ih_err ih_kek_read_file(const char *path, uint8_t kek[32]);
/* Derive the KEK from a passphrase with Argon2id (256 MiB, 3 passes) and
 * the 16-byte salt in salt_path. */
ih_err ih_kek_from_passphrase(const char *pass, size_t n, const char *salt_path, uint8_t kek[32]);
/* Read a passphrase from a file descriptor (up to EOF or newline). */
ih_err ih_kek_passphrase_fd(int fd, char *out, size_t cap, size_t *n);
/* Replace the KEK: a new random KEK is written to kek_path.new, every
 * active DEK is rewrapped under it (one transaction, audited through
 * tx_hook), then kek_path.new becomes kek_path.  A crash in between is
 * finished at the next start (ih_kek_recover). */
ih_err ih_keys_rotate_kek(ih_store *s, ih_keyring *k, const char *kek_path, ih_keys_tx_hook hook, void *ctx);
/* Passphrase instances: a new random salt goes to salt_path.new, the KEK
 * derived from the new passphrase rewraps every DEK, then salt_path.new
 * becomes salt_path (ih_kek_recover_passphrase finishes a crash between). */
ih_err ih_keys_change_passphrase(ih_store *s, ih_keyring *k, const char *pass, size_t n, const char *salt_path,
                                 ih_keys_tx_hook hook, void *ctx);
/* Rewrap every active DEK under the KEK of `target` (a keyring whose KEK is
 * held in a token), in one transaction audited through hook.  The caller
 * then points the configuration at the token. */
ih_err ih_keys_move_kek(ih_store *s, ih_keyring *k, ih_keyring *target, ih_keys_tx_hook hook, void *ctx);
/* If the stored DEKs name another KEK than `kek` and kek_path.new holds
 * that one, finish an interrupted rotation; returns the KEK to use. */
ih_err ih_kek_recover(ih_store *s, ih_suite suite, const char *kek_path, uint8_t kek[32]);
/* The same for a passphrase KEK (derived with salt_path into kek): try
 * salt_path.new; a passphrase matching neither is refused as wrong. */
ih_err ih_kek_recover_passphrase(ih_store *s, ih_suite suite, const char *pass, size_t n, const char *salt_path,
                                 uint8_t kek[32]);

/* At init: mint version 1 of every purpose, store it, load it. */
ih_err ih_keys_bootstrap(ih_store *s, ih_keyring *k);
/* At startup (and periodically, to pick up rotations): load every active
 * stored DEK not yet loaded.  IH_E_INTEGRITY if a key is wrapped by another
 * KEK than the keyring's (after a KEK rotation: re-read the KEK file). */
ih_err ih_keys_load(ih_store *s, ih_keyring *k);
/* ih_field_open inside a transaction: a ciphertext under a version this
 * process has not loaded yet (another process or node rotated moments ago
 * and already wrote with it) loads the new versions from the store in tx
 * and tries again, rather than failing until the next periodic reload. */
ih_err ih_keys_field_open(ih_tx *tx, ih_keyring *k, ih_key_purpose p, const char *table, const char *column,
                          int64_t row, const void *ct, size_t n, ih_buf *out);
/* Add version n+1 of purpose p (stored, then loaded).  *version (may be NULL) receives it.
 * `tx_hook` (may be NULL) runs inside the same transaction (for auditing). */
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
/* Public key PEM of key id into out (the row verified). */
ih_err ih_signkey_public(ih_tx *tx, ih_keyring *k, int64_t id, ih_buf *pem);
/* Re-seal key id's private half under the current key version. */
ih_err ih_signkey_reseal(ih_tx *tx, ih_keyring *k, int64_t id);
/* Signing-key rows carry a MAC (owner, keys, state, version); rows from
 * before it are believed when their public key is their private key's.
 * Scan: check every row (failures alerted).  Upgrade: give the rows that
 * pass without a MAC their MAC. */
ih_err ih_signkey_scan(ih_store *s, ih_keyring *k, uint64_t *rows, uint64_t *bad);
ih_err ih_signkey_upgrade(ih_store *s, ih_keyring *k);

#endif
