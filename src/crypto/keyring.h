/* keyring.h — the key-encryption key and the data-encryption keys.
 *
 * Hierarchy: KEK (32 bytes, DIR/keys/kek or derived from a passphrase) →
 * DEKs, one series of versions per purpose, each stored only wrapped by the
 * KEK (AEAD, associated data "ihos-dek", purpose, version).  Unwrapped keys
 * live in libsodium secure memory (mlock'ed, guard pages) and are wiped when
 * the keyring is freed.  Purely in memory: persistence of wrapped keys is the
 * caller's (src/keys/).
 *
 * Thread-safe: lookups take a read lock; adding a version takes a write lock.
 * Returned key pointers stay valid until ih_keyring_free().
 */
#ifndef IH_CRYPTO_KEYRING_H
#define IH_CRYPTO_KEYRING_H

#include "core/buf.h"
#include "crypto/aead.h"

#include <stdbool.h>

typedef enum {
    IH_KP_PERSONAL = 1, /* names, ID numbers, phones, addresses */
    IH_KP_CLINICAL,     /* messages, records, diagnoses, prescriptions */
    IH_KP_TOTP,         /* second-factor secrets */
    IH_KP_SIGNING,      /* private signing keys (audit, doctors, pharmacists) */
    IH_KP_INDEX,        /* blind-index HMAC key (not rotated: indexes depend on it) */
    IH_KP_INTEGRITY,    /* row-integrity HMAC key */
    IH_KP_SECRET,       /* credentials for outside systems (platform appSecret) */
    IH_KP__COUNT
} ih_key_purpose;

#define IH_KEY_MAX_VERSIONS 64

typedef struct ih_keyring ih_keyring;

const char *ih_key_purpose_name(ih_key_purpose p);
int ih_key_purpose_parse(const char *name); /* -1 if unknown */

ih_err ih_keyring_new(ih_suite s, const uint8_t kek[32], ih_keyring **out);
void ih_keyring_free(ih_keyring *k);
ih_suite ih_keyring_suite(const ih_keyring *k);
/* 16 hex characters identifying the KEK (an HMAC of a constant). */
void ih_keyring_kek_id(const ih_keyring *k, char out[17]);

/* Unwrap a stored DEK and add it.  IH_E_INTEGRITY if the KEK is wrong. */
ih_err ih_keyring_add_wrapped(ih_keyring *k, ih_key_purpose p, uint32_t version, const void *w, size_t n);
/* Generate version `version` of purpose p and return it wrapped, WITHOUT
 * adding it: store it first, then ih_keyring_add_wrapped() once the store
 * has committed — so memory never holds a key the database lacks. */
ih_err ih_keyring_mint(ih_keyring *k, ih_key_purpose p, uint32_t version, ih_buf *wrapped);
/* Wrap an existing DEK under another KEK (KEK rotation). */
ih_err ih_keyring_rewrap(const ih_keyring *k, const uint8_t new_kek[32], ih_key_purpose p, uint32_t version,
                         ih_buf *wrapped);
/* Wrap an existing DEK under the KEK of another keyring (moving to a token). */
ih_err ih_keyring_rewrap_to(const ih_keyring *k, const ih_keyring *target, ih_key_purpose p, uint32_t version,
                            ih_buf *wrapped);
/* Copy the KEK out (for a backup, which seals it to the recovery key).
 * IH_E_STATE for a KEK held in a token: it never leaves it. */
ih_err ih_keyring_kek_export(const ih_keyring *k, uint8_t out[32]);
/* Replace the KEK in memory after all DEKs were rewrapped and stored. */
ih_err ih_keyring_set_kek(ih_keyring *k, const uint8_t kek[32]);

/* A KEK held outside the process (a PKCS#11 token, crypto/pkcs11.h):
 * wrapping and unwrapping happen there and the key never enters this
 * process.  seal appends the wrapped form of plain to out; open writes the
 * 32 unwrapped bytes (IH_E_INTEGRITY if they do not authenticate); id
 * names the key; free releases ctx with the keyring. */
typedef struct ih_kek_ops {
    ih_err (*seal)(void *ctx, const uint8_t *ad, size_t adn, const uint8_t *plain, size_t n, ih_buf *out);
    ih_err (*open)(void *ctx, const uint8_t *ad, size_t adn, const uint8_t *w, size_t n, uint8_t out[32]);
    void (*id)(void *ctx, char out[17]);
    void (*free)(void *ctx);
} ih_kek_ops;
ih_err ih_keyring_new_external(ih_suite s, const ih_kek_ops *ops, void *ctx, ih_keyring **out);
bool ih_keyring_kek_external(const ih_keyring *k);

/* The highest version (what new writes use); NULL if the purpose has none. */
const ih_dek *ih_keyring_current(ih_keyring *k, ih_key_purpose p);
const ih_dek *ih_keyring_get(ih_keyring *k, ih_key_purpose p, uint32_t version);
/* Versions present for p, ascending, into out (cap entries); returns count. */
int ih_keyring_versions(ih_keyring *k, ih_key_purpose p, uint32_t *out, int cap);

#endif
