/* tianjin_crypto.h — the Tianjin platform's wire crypto
 * (../shared/reference/tianjin-supervision.md), exposed for the golden
 * vector tests:
 *   body           lowercase hex of SM4-CBC(key = appSecret, IV fixed) of
 *                  the UTF-8 JSON, ISO/IEC 7816-4 padded (0x80 then 0x00s;
 *                  a full block when already aligned)
 *   X-Content-MD5  uppercase hex SM3 of the hex body string
 *   X-Ca-Signature uppercase hex SM3 of the canonical string: the six
 *                  signed headers sorted by name, "name:value" joined by '&'
 */
#ifndef IH_REPORT_TIANJIN_CRYPTO_H
#define IH_REPORT_TIANJIN_CRYPTO_H

#include "core/buf.h"

#include <stdint.h>

#define IH_TJ_IV_HEX "abcd0863ef9087ced675985321bedf67"
#define IH_TJ_SERVICE_ID "his.provinceDataUploadService"

/* Encrypt n bytes: out gets the lowercase hex ciphertext. */
ih_err ih_tj_encrypt(const uint8_t key[16], const void *pt, size_t n, ih_buf *out);
/* The reverse (the test double and tools): hex in, plaintext out. */
ih_err ih_tj_decrypt(const uint8_t key[16], const char *hex, size_t n, ih_buf *out);
/* Uppercase hex SM3 of n bytes into out (65 bytes). */
ih_err ih_tj_sm3_hex(const void *p, size_t n, char out[65]);
/* The canonical string to sign. */
ih_err ih_tj_canonical(const char *app_key, const char *nonce, const char *timestamp, const char *content_md5,
                       const char *method, ih_buf *out);

#endif
