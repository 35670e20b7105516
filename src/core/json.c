/* json.c — see json.h. */
#include "core/json.h"

#include "core/clock.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each block is prefixed with its size so that free can wipe it. */
typedef union {
    size_t n;
    max_align_t align;
} block_head;

static void *wipe_malloc(size_t n)
{
    block_head *h = malloc(sizeof *h + n);
    if (!h) return NULL;
    h->n = n;
    return h + 1;
}

static void wipe_free(void *p)
{
    if (!p) return;
    block_head *h = (block_head *)p - 1;
    OPENSSL_cleanse(p, h->n);
    free(h);
}

void ih_json_init(void) { json_set_alloc_funcs(wipe_malloc, wipe_free); }

static int dump_cb(const char *p, size_t n, void *ud) { return ih_buf_append(ud, p, n) == IH_OK ? 0 : -1; }

ih_err ih_json_dump(const json_t *j, size_t flags, ih_buf *out)
{
    if (json_dump_callback(j, dump_cb, out, flags) != 0) return ih_fail(IH_E_NOMEM, "json dump");
    return IH_OK;
}

ih_err ih_json_parse_object(const char *body, size_t len, json_t **out)
{
    json_error_t jerr;
    if (!body || len == 0) return ih_reject(IH_E_MALFORMED_JSON, NULL, "The request body is empty.");
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return ih_reject(IH_E_MALFORMED_JSON, NULL, "Malformed JSON at line %d column %d.",
                         jerr.line, jerr.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return ih_reject(IH_E_MALFORMED_JSON, NULL, "The request body must be a JSON object.");
    }
    *out = j;
    return IH_OK;
}

ih_err ih_json_only(json_t *obj, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, k)) {
                ok = true;
                break;
            }
        if (!ok) {
            char safe[48];
            size_t i = 0;
            for (; k[i] && i < sizeof safe - 1; i++)
                safe[i] = (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\'') ? k[i] : '?';
            safe[i] = '\0';
            return ih_reject(IH_E_INVALID, safe, "Unknown field '%s'.", safe);
        }
    }
    return IH_OK;
}

long ih_utf8_len(const char *s, size_t n)
{
    long count = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t extra;
        if (c < 0x80) extra = 0;
        else if ((c & 0xe0) == 0xc0 && c >= 0xc2) extra = 1;
        else if ((c & 0xf0) == 0xe0) extra = 2;
        else if ((c & 0xf8) == 0xf0 && c <= 0xf4) extra = 3;
        else return -1;
        for (size_t k = 1; k <= extra; k++)
            if (i + k >= n || (p[i + k] & 0xc0) != 0x80) return -1;
        /* no overlong forms, no surrogates, nothing past U+10FFFF */
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0) || (c == 0xf0 && p[i + 1] < 0x90) ||
            (c == 0xf4 && p[i + 1] >= 0x90))
            return -1;
        i += extra + 1;
        count++;
    }
    return count;
}

ih_err ih_json_str(json_t *obj, const char *field, bool required, size_t minlen, size_t maxlen,
                   int flags, const char **out)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) return ih_reject(IH_E_INVALID, field, "Field '%s' is required.", field);
        return IH_OK;
    }
    if (!json_is_string(v)) return ih_reject(IH_E_INVALID, field, "Field '%s' must be a string.", field);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    long chars = ih_utf8_len(s, n);
    if (chars < 0 || strlen(s) != n)
        return ih_reject(IH_E_INVALID, field, "Field '%s' is not valid text.", field);
    if ((size_t)chars < minlen || (size_t)chars > maxlen) {
        if (minlen == maxlen)
            return ih_reject(IH_E_INVALID, field, "Field '%s' must be %zu characters long.", field, minlen);
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be %zu to %zu characters long.", field,
                         minlen, maxlen);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0x7f || (c < 0x20 && !((flags & IH_TEXT_MULTILINE) && (c == '\n' || c == '\t' || c == '\r'))))
            return ih_reject(IH_E_INVALID, field, "Field '%s' contains a control character.", field);
        /* C1 controls U+0080..U+009F */
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0)
            return ih_reject(IH_E_INVALID, field, "Field '%s' contains a control character.", field);
        /* Bidirectional embeddings, overrides and isolates (U+202A..U+202E,
         * U+2066..U+2069) reorder what a reader sees against what is stored
         * ("Trojan Source"): a dose or a name could read otherwise than it is.
         * Line and paragraph separators (U+2028, U+2029) break a single line. */
        if (c == 0xe2 && i + 2 < n) {
            unsigned char b = (unsigned char)s[i + 1], d = (unsigned char)s[i + 2];
            if ((b == 0x80 && d >= 0xaa && d <= 0xae) || (b == 0x81 && d >= 0xa6 && d <= 0xa9))
                return ih_reject(IH_E_INVALID, field,
                                 "Field '%s' contains a bidirectional control character (U+202A-U+202E, U+2066-U+2069).",
                                 field);
            if (b == 0x80 && (d == 0xa8 || d == 0xa9) && !(flags & IH_TEXT_MULTILINE))
                return ih_reject(IH_E_INVALID, field, "Field '%s' contains a line separator.", field);
        }
    }
    if (required && chars == 0) return ih_reject(IH_E_INVALID, field, "Field '%s' is required.", field);
    *out = s;
    return IH_OK;
}

ih_err ih_json_int(json_t *obj, const char *field, bool required, int64_t min, int64_t max,
                   int64_t *out)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v)) {
        if (required) return ih_reject(IH_E_INVALID, field, "Field '%s' is required.", field);
        return IH_OK;
    }
    if (!json_is_integer(v))
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be an integer.", field);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be from %lld to %lld.", field,
                         (long long)min, (long long)max);
    *out = x;
    return IH_OK;
}

ih_err ih_json_bool(json_t *obj, const char *field, bool required, bool *out)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v)) {
        if (required) return ih_reject(IH_E_INVALID, field, "Field '%s' is required.", field);
        return IH_OK;
    }
    if (!json_is_boolean(v)) return ih_reject(IH_E_INVALID, field, "Field '%s' must be true or false.", field);
    *out = json_is_true(v);
    return IH_OK;
}

ih_err ih_json_money(json_t *obj, const char *field, bool required, int64_t *fen)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v)) {
        if (required) return ih_reject(IH_E_INVALID, field, "Field '%s' is required.", field);
        return IH_OK;
    }
    char tmp[32];
    const char *s;
    if (json_is_string(v)) s = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
        s = tmp;
    } else
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be an amount like \"12.50\".", field);
    int64_t whole = 0, frac = 0;
    int fd = 0, wd = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9' && wd <= 9; p++, wd++) whole = whole * 10 + (*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9' && fd <= 2; p++, fd++) frac = frac * 10 + (*p - '0');
    if (*p || wd == 0 || wd > 9 || fd > 2)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be an amount like \"12.50\".", field);
    if (fd == 1) frac *= 10;
    *fen = whole * 100 + frac;
    return IH_OK;
}

json_t *ih_json_time(int64_t ms)
{
    if (!ms) return json_null();
    char iso[40];
    ih_time_iso(ms, iso, sizeof iso);
    return json_string(iso);
}
