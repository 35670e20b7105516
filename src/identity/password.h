/* password.h — password policy and Argon2id hashing (libsodium).
 *
 * Policy (L3 8.1.4.1a; defaults are the floor, configuration may only
 * tighten): at least min_length characters and min_classes of the four
 * classes (lower, upper, digit, other); not containing the username; no
 * run of 4 or more sequential (abcd, 4321), repeated (aaaa) or keyboard-row
 * (qwer) characters; not a common password (the shipped list, also after
 * stripping leading/trailing digits and symbols: "Password1!" is refused);
 * not one of the last N passwords (checked by the caller with
 * ih_password_verify against stored hashes), and not changed again by its
 * owner within min_age_days (so the history cannot be cycled through).
 *
 * Hashes are libsodium's Argon2id strings ($argon2id$v=19$m=..,t=..,p=1$...),
 * so parameters travel with each hash and can be raised later:
 * ih_password_needs_rehash() tells when a login should re-hash.
 */
#ifndef IH_IDENTITY_PASSWORD_H
#define IH_IDENTITY_PASSWORD_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>

#define IH_PW_HASH_MAX 128 /* crypto_pwhash_STRBYTES */
#define IH_PW_MAX_LEN 256

typedef struct ih_pw_policy {
    int min_length;  /* >= 8 */
    int min_classes; /* 3 or 4 */
    int history;     /* >= 5 */
    int max_age_days;/* 1..365 */
    int min_age_days;/* >= 1: a password stays this long before its owner may change it again (0: tests only) */
} ih_pw_policy;

typedef struct ih_pw_params {
    unsigned long long opslimit; /* Argon2 t, >= 2 */
    size_t memlimit;             /* bytes, >= 19 MiB */
} ih_pw_params;

/* IH_OK, or IH_E_WEAK_PASSWORD with a public message naming the rule and
 * `field` (the request field that carried the password). */
ih_err ih_password_check(const ih_pw_policy *p, const char *username, const char *password, const char *field);
/* Is the password on the common list (case-insensitive, also stripped)? */
bool ih_password_is_common(const char *password);

ih_err ih_password_hash(const ih_pw_params *p, const char *password, char out[IH_PW_HASH_MAX]);
/* true when password matches hash. */
bool ih_password_verify(const char *hash, const char *password);
bool ih_password_needs_rehash(const ih_pw_params *p, const char *hash);

/* A random password that satisfies the default policy (for one-time and
 * demo passwords): `len` characters from four classes, no runs. */
ih_err ih_password_generate(char *out, size_t len);

#endif
