/* pkcs11.h — the key-encryption key inside a PKCS#11 token (a cipher
 * machine, a smart card, SoftHSM2 in tests).
 *
 * The KEK is an AES-256 secret-key object on the token, created there
 * (CKA_SENSITIVE, not CKA_EXTRACTABLE) and found again by its label.  Data
 * keys are wrapped and unwrapped inside the token with AES-GCM (C_Encrypt /
 * C_Decrypt, a fresh 12-byte IV each time, the caller's associated data):
 * the KEK never enters this process.  The module is loaded with dlopen from
 * the configured path; the PIN is read by the caller and wiped after login.
 * One session, used under a lock (unwrapping happens at start and after
 * rotations, wrapping when a key is minted: rarely).
 *
 * Plugs into the keyring through ih_kek_ops (crypto/keyring.h).
 */
#ifndef IH_CRYPTO_PKCS11_H
#define IH_CRYPTO_PKCS11_H

#include "crypto/keyring.h"

typedef struct ih_p11 ih_p11;

typedef struct ih_p11_opts {
    const char *module;    /* path of the PKCS#11 module (.so) */
    const char *token;     /* token label */
    const char *key_label; /* the KEK object's label */
    const char *pin;       /* user PIN */
    size_t pin_len;
    bool create;           /* generate the key on the token when it is absent (ihos init) */
} ih_p11_opts;

ih_err ih_p11_open(const ih_p11_opts *o, ih_p11 **out);
void ih_p11_close(ih_p11 *p);

/* The operations the keyring calls (ctx: the ih_p11; free closes it). */
extern const ih_kek_ops ih_p11_kek_ops;

#endif
