/* hl7.c — see hl7.h. */
#include "exchange/hl7.h"

#include "core/json.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t start, len;
} span;

struct ih_hl7 {
    char *text;
    size_t n;
    ih_hl7_delims d;
    span *seg;
    int nseg;
};

void ih_hl7_free(ih_hl7 *m)
{
    if (!m) return;
    free(m->text);
    free(m->seg);
    free(m);
}

const ih_hl7_delims *ih_hl7_delims_of(const ih_hl7 *m) { return &m->d; }
int ih_hl7_segment_count(const ih_hl7 *m) { return m->nseg; }

ih_err ih_hl7_parse(const char *text, size_t n, ih_hl7 **out)
{
    *out = NULL;
    if (n > IH_HL7_MAX_TEXT) return ih_fail(IH_E_TOO_LARGE, "the message is larger than %u bytes", IH_HL7_MAX_TEXT);
    if (n < 8 || memcmp(text, "MSH", 3) != 0)
        return ih_reject(IH_E_INVALID, "MSH", "a message starts with an MSH segment");
    if (memchr(text, '\0', n)) return ih_reject(IH_E_INVALID, "MSH", "the message holds a NUL byte");
    if (ih_utf8_len(text, n) < 0) return ih_reject(IH_E_INVALID, "MSH", "the message is not valid UTF-8");
    ih_hl7_delims d = {text[3], '^', '~', '\\', '&'};
    /* MSH-2: component, repetition, escape, sub-component (a prefix may be given) */
    char *defaults[] = {&d.comp, &d.rep, &d.esc, &d.sub};
    size_t k = 4;
    for (int i = 0; i < 4 && k < n && text[k] != d.field && text[k] != '\r' && text[k] != '\n'; i++, k++)
        *defaults[i] = text[k];
    if (k >= n || text[k] != d.field)
        return ih_reject(IH_E_INVALID, "MSH-2", "MSH-2 holds at most four encoding characters, then the field separator");
    char all[5] = {d.field, d.comp, d.rep, d.esc, d.sub};
    for (int i = 0; i < 5; i++) {
        unsigned char c = (unsigned char)all[i];
        if (c < 0x21 || c > 0x7e || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
            return ih_reject(IH_E_INVALID, "MSH-1", "the delimiters must be printable ASCII punctuation");
        for (int j = 0; j < i; j++)
            if (all[j] == all[i]) return ih_reject(IH_E_INVALID, "MSH-2", "the delimiters must be distinct");
    }
    ih_hl7 *m = calloc(1, sizeof *m);
    IH_CHECK_ALLOC(m);
    m->text = malloc(n + 1);
    m->seg = calloc(64, sizeof *m->seg);
    int cap = 64;
    if (!m->text || !m->seg) {
        ih_hl7_free(m);
        return ih_fail(IH_E_NOMEM, "out of memory");
    }
    memcpy(m->text, text, n);
    m->text[n] = '\0';
    m->n = n;
    m->d = d;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && m->text[j] != '\r' && m->text[j] != '\n') j++;
        if (j > i) {
            if (m->nseg == IH_HL7_MAX_SEGMENTS) {
                ih_hl7_free(m);
                return ih_fail(IH_E_TOO_LARGE, "more than %d segments", IH_HL7_MAX_SEGMENTS);
            }
            if (m->nseg == cap) {
                span *s = realloc(m->seg, (size_t)cap * 2 * sizeof *s);
                if (!s) {
                    ih_hl7_free(m);
                    return ih_fail(IH_E_NOMEM, "out of memory");
                }
                m->seg = s, cap *= 2;
            }
            size_t len = j - i;
            bool ok = len >= 3;
            for (size_t q = 0; ok && q < 3; q++) {
                char c = m->text[i + q];
                ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            }
            if (ok && len > 3 && m->text[i + 3] != d.field) ok = false;
            size_t fields = 0;
            for (size_t q = i; ok && q < j; q++) fields += m->text[q] == d.field;
            if (!ok || fields > IH_HL7_MAX_FIELDS) {
                char where[24];
                snprintf(where, sizeof where, "segment %d", m->nseg + 1);
                ih_hl7_free(m);
                return ok ? ih_fail(IH_E_TOO_LARGE, "%s has more than %d fields", where, IH_HL7_MAX_FIELDS)
                          : ih_reject(IH_E_INVALID, where, "%s does not start with a segment name and a field separator",
                                      where);
            }
            m->seg[m->nseg++] = (span){i, len};
        }
        i = j + 1;
    }
    *out = m;
    return IH_OK;
}

const char *ih_hl7_segment_name(const ih_hl7 *m, int seg)
{
    static _Thread_local char name[4];
    if (seg < 0 || seg >= m->nseg) return "";
    memcpy(name, m->text + m->seg[seg].start, 3);
    name[3] = '\0';
    return name;
}

int ih_hl7_find(const ih_hl7 *m, const char *name, int nth)
{
    for (int i = 0; i < m->nseg; i++)
        if (!strncmp(m->text + m->seg[i].start, name, 3) && nth-- == 0) return i;
    return -1;
}

/* The part of [p, end) between the k-th (from 0) and the next separator c. */
static bool nth_part(const char **p, const char **end, char c, int k)
{
    const char *s = *p;
    for (; k > 0; k--) {
        const char *q = memchr(s, c, (size_t)(*end - s));
        if (!q) return false;
        s = q + 1;
    }
    const char *q = memchr(s, c, (size_t)(*end - s));
    *p = s;
    if (q) *end = q;
    return true;
}

/* The raw text of a field. */
static bool field_span(const ih_hl7 *m, int seg, int field, const char **p, const char **end)
{
    if (seg < 0 || seg >= m->nseg || field < 1) return false;
    const char *s = m->text + m->seg[seg].start, *e = s + m->seg[seg].len;
    bool msh = !strncmp(s, "MSH", 3);
    if (msh && field == 1) { /* the field separator itself */
        *p = s + 3, *end = s + 4;
        return true;
    }
    if (e - s <= 3) return false;
    s += 4; /* past the name and the first separator */
    int k = msh ? field - 2 : field - 1;
    if (!nth_part(&s, &e, m->d.field, k)) return false;
    *p = s, *end = e;
    return true;
}

int ih_hl7_reps(const ih_hl7 *m, int seg, int field)
{
    const char *p, *e;
    if (!field_span(m, seg, field, &p, &e) || p == e) return 0;
    if (!strncmp(m->text + m->seg[seg].start, "MSH", 3) && field <= 2) return 1;
    int n = 1;
    for (const char *q = p; q < e; q++) n += *q == m->d.rep;
    return n;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode escapes of [p, e) into out. */
static ih_err unescape(const ih_hl7_delims *d, const char *p, const char *e, ih_buf *out)
{
    while (p < e) {
        const char *q = memchr(p, d->esc, (size_t)(e - p));
        if (!q) return ih_buf_append(out, p, (size_t)(e - p));
        IH_TRY(ih_buf_append(out, p, (size_t)(q - p)));
        const char *close = memchr(q + 1, d->esc, (size_t)(e - q - 1));
        if (!close) return ih_buf_append(out, q, (size_t)(e - q)); /* a lone escape character: as written */
        const char *s = q + 1;
        size_t len = (size_t)(close - s);
        char one = 0;
        if (len == 1) one = *s == 'F' ? d->field : *s == 'S' ? d->comp : *s == 'T' ? d->sub : *s == 'R' ? d->rep
                                   : *s == 'E' ? d->esc : 0;
        if (one) IH_TRY(ih_buf_append(out, &one, 1));
        else if (len == 1 && (*s == 'H' || *s == 'N')) { /* highlighting on/off: no text */
        } else if (len == 3 && !memcmp(s, ".br", 3)) IH_TRY(ih_buf_append(out, "\n", 1));
        else if (len >= 3 && *s == 'X' && len % 2 == 1) {
            for (size_t i = 1; i < len; i += 2) {
                int hi = hexval(s[i]), lo = hexval(s[i + 1]);
                if (hi < 0 || lo < 0) return ih_fail(IH_E_INVALID, "a \\X\\ escape holds something other than hex digits");
                char byte = (char)(hi * 16 + lo);
                IH_TRY(ih_buf_append(out, &byte, 1));
            }
        } else IH_TRY(ih_buf_append(out, q, (size_t)(close - q + 1))); /* not ours to interpret */
        p = close + 1;
    }
    return IH_OK;
}

bool ih_hl7_get(const ih_hl7 *m, int seg, int field, int rep, int comp, int sub, ih_buf *out, ih_err *e)
{
    if (e) *e = IH_OK;
    ih_buf_reset(out);
    const char *p, *end;
    if (rep < 1 || comp < 1 || sub < 1 || !field_span(m, seg, field, &p, &end)) return false;
    bool literal = !strncmp(m->text + m->seg[seg].start, "MSH", 3) && field <= 2;
    if (literal) {
        if (rep != 1 || comp != 1 || sub != 1 || p == end) return false;
        return ih_buf_append(out, p, (size_t)(end - p)) == IH_OK;
    }
    if (!nth_part(&p, &end, m->d.rep, rep - 1) || !nth_part(&p, &end, m->d.comp, comp - 1) ||
        !nth_part(&p, &end, m->d.sub, sub - 1) || p == end)
        return false;
    ih_err r = unescape(&m->d, p, end, out);
    if (r == IH_OK && (memchr(out->p ? out->p : "", '\0', out->len) || ih_utf8_len(out->p ? out->p : "", out->len) < 0))
        r = ih_fail(IH_E_INVALID, "an escaped value is not valid UTF-8 text");
    if (r != IH_OK) {
        if (e) *e = r;
        ih_buf_reset(out);
        return false;
    }
    return out->len > 0;
}

bool ih_hl7_value(const ih_hl7 *m, const char *name, int field, int comp, ih_buf *out)
{
    return ih_hl7_get(m, ih_hl7_find(m, name, 0), field, 1, comp, 1, out, NULL);
}

ih_err ih_hl7_escape(ih_buf *out, const char *s, const ih_hl7_delims *d)
{
    for (; *s; s++) {
        char c = *s;
        const char *rep = c == d->field ? "F" : c == d->comp ? "S" : c == d->sub ? "T" : c == d->rep ? "R"
                        : c == d->esc ? "E" : c == '\r' || c == '\n' ? ".br" : NULL;
        if (c == '\r' && s[1] == '\n') continue; /* CRLF: one break */
        if (rep) IH_TRY(ih_buf_printf(out, "%c%s%c", d->esc, rep, d->esc));
        else IH_TRY(ih_buf_append(out, &c, 1));
    }
    return IH_OK;
}

static ih_err convert(const char *to, const char *from, const void *in, size_t n, ih_buf *out)
{
    iconv_t cd = iconv_open(to, from);
    if (cd == (iconv_t)-1) return ih_fail(IH_E_CONFIG, "no conversion from %s to %s", from, to);
    ih_buf_reset(out);
    ih_err e = ih_buf_reserve(out, n * 2 + 16);
    char *ip = (char *)in;
    size_t il = n;
    while (e == IH_OK && il > 0) {
        char *op = out->p + out->len;
        size_t ol = out->cap - out->len - 1;
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        out->len = (size_t)(op - out->p);
        if (r == (size_t)-1 && errno == E2BIG) e = ih_buf_reserve(out, out->cap);
        else if (r == (size_t)-1) e = ih_fail(IH_E_INVALID, "the message is not valid %s text", from);
    }
    iconv_close(cd);
    if (e == IH_OK && out->p) out->p[out->len] = '\0';
    return e;
}

static bool is_gb18030(const char *charset) { return !strcasecmp(charset, "GB18030") || !strcasecmp(charset, "GBK"); }

ih_err ih_hl7_to_utf8(const char *charset, const void *in, size_t n, ih_buf *out)
{
    if (is_gb18030(charset)) return convert("UTF-8", "GB18030", in, n, out);
    if (strcasecmp(charset, "UTF-8")) return ih_fail(IH_E_CONFIG, "charset %s: UTF-8 or GB18030", charset);
    if (ih_utf8_len(in, n) < 0) return ih_fail(IH_E_INVALID, "the message is not valid UTF-8");
    ih_buf_reset(out);
    return ih_buf_append(out, in, n);
}

ih_err ih_hl7_from_utf8(const char *charset, const char *in, size_t n, ih_buf *out)
{
    if (is_gb18030(charset)) return convert("GB18030", "UTF-8", in, n, out);
    ih_buf_reset(out);
    return ih_buf_append(out, in, n);
}
