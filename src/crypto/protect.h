/* protect.h — protecting individual fields and rows with the keyring.
 *
 *   ih_field_seal/open   AEAD a field with the purpose's current key; the
 *                        associated data binds table, column and row id, so
 *                        a ciphertext copied elsewhere does not open.
 *   ih_blind_index       HMAC of a normalised value under the index key, for
 *                        exact-match lookup without storing plaintext.
 *   ih_row_mac           HMAC of a row's canonical encoding under the
 *                        integrity key; reads recompute and compare it.
 *   ih_canon_*           the canonical encoding: for each item a type byte,
 *                        then a 4-byte big-endian length and the bytes
 *                        (integers: 8 bytes big-endian).  Unambiguous, so no
 *                        two different rows encode alike.
 */
#ifndef IH_CRYPTO_PROTECT_H
#define IH_CRYPTO_PROTECT_H

#include "core/buf.h"
#include "crypto/keyring.h"

typedef struct ih_canon {
    ih_buf b;
    ih_err err; /* first append failure */
} ih_canon;

void ih_canon_text(ih_canon *c, const char *s); /* NULL encodes as null */
void ih_canon_int(ih_canon *c, int64_t v);
void ih_canon_blob(ih_canon *c, const void *p, size_t n); /* NULL p encodes as null */
void ih_canon_free(ih_canon *c);

ih_err ih_field_seal(ih_keyring *k, ih_key_purpose p, const char *table, const char *column, int64_t row,
                     const void *pt, size_t n, ih_buf *out);
ih_err ih_field_open(ih_keyring *k, ih_key_purpose p, const char *table, const char *column, int64_t row,
                     const void *ct, size_t n, ih_buf *out);
/* Convenience: seal a NUL-terminated string; NULL in, *out left empty. */
ih_err ih_field_seal_str(ih_keyring *k, ih_key_purpose p, const char *table, const char *column, int64_t row,
                         const char *s, ih_buf *out);

#define IH_INDEX_LEN 32
ih_err ih_blind_index(ih_keyring *k, const char *domain, const char *normalized, uint8_t out[IH_INDEX_LEN]);

#define IH_MAC_LEN 32
ih_err ih_row_mac(ih_keyring *k, const char *table, int64_t row, const ih_canon *c, uint8_t out[IH_MAC_LEN]);
/* IH_OK if mac matches, IH_E_INTEGRITY otherwise. */
ih_err ih_row_mac_check(ih_keyring *k, const char *table, int64_t row, const ih_canon *c, const void *mac,
                        size_t maclen);

#endif
