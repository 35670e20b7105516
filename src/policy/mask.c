/* mask.c — see mask.h. */
#include "policy/mask.h"

#include <ctype.h>
#include <string.h>

#define F IH_VIS_FULL
#define M IH_VIS_MASKED
#define H IH_VIS_HIDDEN

/* [role][relation][field]: name, id number, phone, address, birth date,
 * clinical text.
 * Clinicians see in full what treating the person needs and no more; the
 * administrators see enough to tell people apart; nobody but the person
 * sees another's full ID number outside care. */
static const unsigned char table[IH_ROLE__COUNT][IH_REL__COUNT][IH_FIELD__COUNT] = {
    [IH_ROLE_PATIENT] = {[IH_REL_SELF] = {F, F, F, F, F, F}, [IH_REL_CARE] = {H, H, H, H, H, H}, [IH_REL_OTHER] = {H, H, H, H, H, H}},
    [IH_ROLE_DOCTOR] = {[IH_REL_SELF] = {F, F, F, F, F, F}, [IH_REL_CARE] = {F, M, M, M, F, F}, [IH_REL_OTHER] = {M, H, H, H, H, H}},
    [IH_ROLE_PHARMACIST] = {[IH_REL_SELF] = {F, F, F, F, F, F}, [IH_REL_CARE] = {F, M, H, H, F, F}, [IH_REL_OTHER] = {M, H, H, H, H, H}},
    [IH_ROLE_NURSE] = {[IH_REL_SELF] = {F, F, F, F, F, F}, [IH_REL_CARE] = {F, M, F, M, F, F}, [IH_REL_OTHER] = {M, H, H, H, H, H}},
    [IH_ROLE_SYSADMIN] = {[IH_REL_SELF] = {F, F, F, F, F, F}, [IH_REL_CARE] = {M, M, M, H, M, H}, [IH_REL_OTHER] = {M, M, M, H, M, H}},
    [IH_ROLE_SECADMIN] = {[IH_REL_SELF] = {F, F, F, F, F, F}, [IH_REL_CARE] = {M, H, H, H, H, H}, [IH_REL_OTHER] = {M, H, H, H, H, H}},
    [IH_ROLE_AUDITADMIN] = {[IH_REL_SELF] = {F, F, F, F, F, F}, [IH_REL_CARE] = {H, H, H, H, H, H}, [IH_REL_OTHER] = {H, H, H, H, H, H}},
};

#undef F
#undef M
#undef H

ih_visibility ih_mask_visibility(ih_role viewer, ih_relation rel, ih_field_kind f)
{
    if ((int)viewer <= IH_ROLE_NONE || viewer >= IH_ROLE__COUNT || (int)rel < 0 || rel >= IH_REL__COUNT ||
        (int)f < 0 || f >= IH_FIELD__COUNT)
        return IH_VIS_HIDDEN;
    return (ih_visibility)table[viewer][rel][f];
}

const char *ih_field_kind_name(ih_field_kind f)
{
    static const char *const names[IH_FIELD__COUNT] = {"name", "id_number", "phone", "address", "birth_date", "clinical"};
    return (int)f >= 0 && f < IH_FIELD__COUNT ? names[f] : "?";
}

/* Length of the UTF-8 character at s (1 for a stray byte: never 0 on non-NUL). */
static size_t u8len(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) return 1;
    return n;
}

static size_t u8count(const char *s)
{
    size_t n = 0;
    for (; *s; s += u8len(s)) n++;
    return n;
}

static ih_err stars(ih_buf *out, size_t n)
{
    for (size_t i = 0; i < n; i++) IH_TRY(ih_buf_append(out, "*", 1));
    return IH_OK;
}

static ih_err mask_name(const char *v, ih_buf *out)
{
    if (!*v) return IH_OK;
    size_t first = u8len(v);
    IH_TRY(ih_buf_append(out, v, first));
    return stars(out, u8count(v + first));
}

char ih_idcard_check(const char *first17)
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (!isdigit((unsigned char)first17[i])) return '\0';
        sum += (first17[i] - '0') * w[i];
    }
    return "10X98765432"[sum % 11];
}

bool ih_idcard_valid(const char *s)
{
    if (!s || strlen(s) != 18) return false;
    char want = ih_idcard_check(s);
    if (!want || toupper((unsigned char)s[17]) != want) return false;
    int y = (s[6] - '0') * 1000 + (s[7] - '0') * 100 + (s[8] - '0') * 10 + (s[9] - '0');
    int m = (s[10] - '0') * 10 + (s[11] - '0');
    int d = (s[12] - '0') * 10 + (s[13] - '0');
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return false;
    if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return false;
    return true;
}

static ih_err mask_id(const char *v, ih_buf *out)
{
    size_t n = strlen(v);
    if (ih_idcard_valid(v)) {
        IH_TRY(ih_buf_append(out, v, 6));
        IH_TRY(stars(out, 8));
        return ih_buf_append(out, v + 14, 4);
    }
    size_t chars = u8count(v);
    if (chars <= 6) return stars(out, chars);
    /* Other certificates: keep two characters at each end. */
    size_t a = u8len(v);
    a += u8len(v + a);
    const char *tail = v;
    size_t i = 0;
    for (; *tail && i < chars - 2; tail += u8len(tail)) i++;
    IH_TRY(ih_buf_append(out, v, a));
    IH_TRY(stars(out, chars - 4));
    return ih_buf_append(out, tail, (size_t)(v + n - tail));
}

static ih_err mask_phone(const char *v, ih_buf *out)
{
    size_t n = strlen(v), digits = 0;
    for (size_t i = 0; i < n; i++) digits += isdigit((unsigned char)v[i]) != 0;
    bool mobile = n == 11 && digits == 11 && v[0] == '1';
    if (mobile) {
        IH_TRY(ih_buf_append(out, v, 3));
        IH_TRY(stars(out, 4));
        return ih_buf_append(out, v + 7, 4);
    }
    /* Other numbers: digits but the last four become *; separators stay. */
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (isdigit(c)) {
            seen++;
            IH_TRY(ih_buf_append(out, digits > 4 && seen <= digits - 4 ? "*" : (const char *)&v[i], 1));
        } else if (c == '-' || c == ' ' || c == '+' || c == '(' || c == ')') {
            IH_TRY(ih_buf_append(out, &v[i], 1));
        } else {
            IH_TRY(ih_buf_append(out, "*", 1));
        }
    }
    return IH_OK;
}

static ih_err mask_address(const char *v, ih_buf *out)
{
    static const char *const units[] = {"省", "市", "区", "县", "旗", "镇", NULL};
    size_t keep = 0, chars = 0;
    const char *p = v;
    for (; *p && chars < 12; chars++) {
        size_t l = u8len(p);
        for (const char *const *u = units; *u; u++)
            if (l == strlen(*u) && !memcmp(p, *u, l)) keep = (size_t)(p + l - v);
        p += l;
    }
    if (!keep) { /* no administrative unit: the first three characters */
        p = v;
        for (int i = 0; *p && i < 3; i++) p += u8len(p);
        keep = (size_t)(p - v);
        if (!v[keep]) { /* too short to show anything */
            return stars(out, 4);
        }
    }
    IH_TRY(ih_buf_append(out, v, keep));
    return stars(out, 4);
}

static ih_err mask_birth(const char *v, ih_buf *out)
{
    /* YYYY-MM-DD → YYYY-**-**; anything else is hidden behind stars. */
    if (strlen(v) == 10 && isdigit((unsigned char)v[0]) && isdigit((unsigned char)v[1]) &&
        isdigit((unsigned char)v[2]) && isdigit((unsigned char)v[3]) && v[4] == '-') {
        IH_TRY(ih_buf_append(out, v, 4));
        return ih_buf_puts(out, "-**-**");
    }
    return ih_buf_puts(out, "****-**-**");
}

ih_err ih_mask_apply(ih_field_kind f, const char *value, ih_buf *out)
{
    ih_buf_reset(out);
    if (!value) return IH_OK;
    ih_err e;
    switch (f) {
    case IH_FIELD_NAME: e = mask_name(value, out); break;
    case IH_FIELD_ID_NUMBER: e = mask_id(value, out); break;
    case IH_FIELD_PHONE: e = mask_phone(value, out); break;
    case IH_FIELD_ADDRESS: e = mask_address(value, out); break;
    case IH_FIELD_BIRTH_DATE: e = mask_birth(value, out); break;
    case IH_FIELD_CLINICAL: e = stars(out, 3); break; /* never shown in part */
    default: e = ih_fail(IH_E_INTERNAL, "mask: unknown field kind %d", (int)f);
    }
    if (e == IH_OK) e = ih_buf_append(out, "", 0); /* NUL-terminated even when empty */
    if (e != IH_OK) ih_buf_reset(out);
    return e;
}

bool ih_mask_view(ih_role viewer, ih_relation rel, ih_field_kind f, const char *value, ih_buf *out)
{
    ih_buf_reset(out);
    if (!value) return false;
    switch (ih_mask_visibility(viewer, rel, f)) {
    case IH_VIS_FULL: return ih_buf_puts(out, value) == IH_OK;
    case IH_VIS_MASKED: return ih_mask_apply(f, value, out) == IH_OK;
    default: return false;
    }
}
