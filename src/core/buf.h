/* buf.h — a growable byte buffer.
 *
 * Always NUL-terminated after len (so text can be used as a C string).
 * Appends never fail silently: they return IH_E_NOMEM and leave the buffer as
 * it was.  ih_buf_wipe() zeroes the memory before freeing, for buffers that
 * held secrets.
 */
#ifndef IH_CORE_BUF_H
#define IH_CORE_BUF_H

#include "core/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ih_buf {
    char *p;
    size_t len;
    size_t cap;
} ih_buf;

#define IH_BUF_INIT {NULL, 0, 0}

ih_err ih_buf_reserve(ih_buf *b, size_t extra);
ih_err ih_buf_append(ih_buf *b, const void *data, size_t n);
ih_err ih_buf_puts(ih_buf *b, const char *s);
/* Append v in decimal (without printf: this is on the hot paths of JSON and
 * HTTP headers). */
ih_err ih_buf_put_int(ih_buf *b, int64_t v);
ih_err ih_buf_printf(ih_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ih_err ih_buf_vprintf(ih_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Append s as the body of a JSON string (no quotes), escaping as RFC 8259. */
ih_err ih_buf_json_escape(ih_buf *b, const char *s, size_t n);
/* Append s escaped for HTML text and attribute values. */
ih_err ih_buf_html_escape(ih_buf *b, const char *s);
void ih_buf_reset(ih_buf *b);
void ih_buf_free(ih_buf *b);
void ih_buf_wipe(ih_buf *b);

/* Whether the comma-separated list (NULL: empty) names item; spaces around
 * each name are not part of it ("ADT^A04, ORU^R01", "syslog,webhook:ok"). */
bool ih_list_has(const char *list, const char *item);

/* Hex and base64 helpers used across modules. */
void ih_hex_encode(const uint8_t *in, size_t n, char *out, int upper); /* out: 2n+1 */
/* Decodes exactly 2*n hex chars into n bytes; -1 on a bad character. */
int ih_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen);
/* Standard base64 with padding. out needs 4*((n+2)/3)+1 bytes. */
size_t ih_b64_encode(const uint8_t *in, size_t n, char *out);
/* Returns decoded length or -1.  Accepts padded standard base64 only. */
long ih_b64_decode(const char *in, size_t n, uint8_t *out, size_t outcap);
/* base64url without padding (tokens). out needs 4*((n+2)/3)+1 bytes. */
size_t ih_b64url_encode(const uint8_t *in, size_t n, char *out);

#endif
