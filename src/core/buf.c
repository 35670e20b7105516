/* buf.c — growable buffer and encoders (see buf.h). */
#include "core/buf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ih_err ih_buf_reserve(ih_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len) return ih_fail(IH_E_NOMEM, "buffer too large");
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return IH_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    /* Not realloc: the old block may hold personal data and is wiped
     * before it goes back to the allocator. */
    char *p = malloc(cap);
    IH_CHECK_ALLOC(p);
    if (b->p) {
        memcpy(p, b->p, b->len + 1);
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    b->p = p;
    b->cap = cap;
    return IH_OK;
}

ih_err ih_buf_append(ih_buf *b, const void *data, size_t n)
{
    IH_TRY(ih_buf_reserve(b, n));
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return IH_OK;
}

ih_err ih_buf_puts(ih_buf *b, const char *s) { return ih_buf_append(b, s, strlen(s)); }

ih_err ih_buf_put_int(ih_buf *b, int64_t v)
{
    char t[24], *p = t + sizeof t;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    return ih_buf_append(b, p, (size_t)(t + sizeof t - p));
}

ih_err ih_buf_vprintf(ih_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return ih_fail(IH_E_INTERNAL, "bad format");
    IH_TRY(ih_buf_reserve(b, (size_t)n));
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return IH_OK;
}

ih_err ih_buf_printf(ih_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ih_err e = ih_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return e;
}

ih_err ih_buf_json_escape(ih_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    IH_TRY(ih_buf_reserve(b, n + 8));
    size_t run = 0; /* start of the bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
        IH_TRY(ih_buf_append(b, s + run, i - run));
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default: /* other control characters and DEL */
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        }
        IH_TRY(ih_buf_append(b, esc, k));
    }
    return ih_buf_append(b, s + run, n - run);
}

ih_err ih_buf_html_escape(ih_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': IH_TRY(ih_buf_puts(b, "&amp;")); break;
        case '<': IH_TRY(ih_buf_puts(b, "&lt;")); break;
        case '>': IH_TRY(ih_buf_puts(b, "&gt;")); break;
        case '"': IH_TRY(ih_buf_puts(b, "&quot;")); break;
        case '\'': IH_TRY(ih_buf_puts(b, "&#39;")); break;
        default: IH_TRY(ih_buf_append(b, s, 1));
        }
    }
    return IH_OK;
}

void ih_buf_reset(ih_buf *b)
{
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

void ih_buf_free(ih_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void ih_buf_wipe(ih_buf *b)
{
    if (b->p) OPENSSL_cleanse(b->p, b->cap);
    ih_buf_free(b);
}

void ih_hex_encode(const uint8_t *in, size_t n, char *out, int upper)
{
    const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* A digit's value plus one (0: not a digit) — a table, since every bytea
 * column PostgreSQL returns (sealed fields, MACs, hashes) comes through
 * here as hex. */
static const uint8_t hexval1[256] = {
    ['0'] = 1,   ['1'] = 2,   ['2'] = 3,   ['3'] = 4,   ['4'] = 5,   ['5'] = 6,   ['6'] = 7,   ['7'] = 8,
    ['8'] = 9,   ['9'] = 10,  ['a'] = 11,  ['b'] = 12,  ['c'] = 13,  ['d'] = 14,  ['e'] = 15,  ['f'] = 16,
    ['A'] = 11,  ['B'] = 12,  ['C'] = 13,  ['D'] = 14,  ['E'] = 15,  ['F'] = 16,
};

int ih_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen)
{
    if (inlen % 2 || inlen / 2 > outcap) return -1;
    const unsigned char *u = (const unsigned char *)in;
    unsigned ok = 1;
    for (size_t i = 0; i < inlen / 2; i++) {
        unsigned hi = hexval1[u[2 * i]], lo = hexval1[u[2 * i + 1]];
        ok &= (hi != 0) & (lo != 0);
        out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
    }
    if (!ok) return -1;
    if (outlen) *outlen = inlen / 2;
    return 0;
}

size_t ih_b64_encode(const uint8_t *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

long ih_b64_decode(const char *in, size_t n, uint8_t *out, size_t outcap)
{
    if (n % 4 || n / 4 * 3 > outcap + 2 || n > (size_t)1 << 30) return -1;
    if (n == 0) return 0;
    uint8_t *tmp = malloc(n / 4 * 3 + 1);
    if (!tmp) return -1;
    int len = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
    if (len < 0) {
        free(tmp);
        return -1;
    }
    /* EVP_DecodeBlock keeps the padding bytes; drop them. */
    if (in[n - 1] == '=') len--;
    if (in[n - 2] == '=') len--;
    if ((size_t)len > outcap) {
        free(tmp);
        return -1;
    }
    memcpy(out, tmp, (size_t)len);
    OPENSSL_cleanse(tmp, n / 4 * 3 + 1);
    free(tmp);
    return len;
}

size_t ih_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t len = ih_b64_encode(in, n, out);
    while (len && out[len - 1] == '=') out[--len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '+') out[i] = '-';
        else if (out[i] == '/') out[i] = '_';
    }
    return len;
}

bool ih_list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t len = strcspn(p, ","), end = len;
        while (end && p[end - 1] == ' ') end--;
        if (end == n && !strncmp(p, item, n)) return true;
        p += len;
    }
    return false;
}
