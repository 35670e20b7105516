/* totp.h — RFC 6238 time-based one-time passwords (and RFC 4226 HOTP).
 *
 * HMAC via OpenSSL with SHA-1 (what authenticator apps use; the default),
 * SHA-256 or SM3 (国密 dynamic-password tokens), dynamic truncation as in
 * RFC 4226/6238 (offset from the last byte of the MAC).  A code is accepted
 * within ±1 time step, and only if its step is later than the last step
 * accepted for the account (no replay).
 */
#ifndef IH_IDENTITY_TOTP_H
#define IH_IDENTITY_TOTP_H

#include "core/err.h"
#include "crypto/suite.h"

#include <stddef.h>
#include <stdint.h>

#define IH_TOTP_PERIOD 30
#define IH_TOTP_SECRET_MAX 64

typedef enum { IH_TOTP_SHA1, IH_TOTP_SHA256, IH_TOTP_SM3 } ih_totp_alg;

int ih_totp_alg_parse(const char *name, ih_totp_alg *out); /* "SHA1" | "SHA256" | "SM3" */
const char *ih_totp_alg_name(ih_totp_alg a);
/* Secret length that suits the algorithm (20 or 32 bytes). */
size_t ih_totp_secret_len(ih_totp_alg a);

/* The code for a counter value (RFC 4226) as `digits` decimal digits. */
ih_err ih_hotp(ih_totp_alg a, const uint8_t *key, size_t keylen, uint64_t counter, int digits, char *out);
/* Check `code` at time `now_s`.  On success *step is the matched step;
 * steps <= last_step are refused (replay).  IH_OK or IH_E_AUTH_FAILED. */
ih_err ih_totp_check(ih_totp_alg a, const uint8_t *key, size_t keylen, int digits, const char *code, int64_t now_s,
                     int64_t last_step, int64_t *step);

/* RFC 4648 base32 without padding (what otpauth:// URIs carry). */
size_t ih_base32_encode(const uint8_t *in, size_t n, char *out, size_t cap);
/* Returns the decoded length, or -1 (accepts lower case, ignores '=' and spaces). */
long ih_base32_decode(const char *in, uint8_t *out, size_t cap);
/* otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=...&digits=...&period=30 */
ih_err ih_totp_uri(ih_totp_alg a, const uint8_t *key, size_t keylen, int digits, const char *issuer,
                   const char *account, char *out, size_t cap);

#endif
