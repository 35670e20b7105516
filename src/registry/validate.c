/* validate.c — field checks for the registry (L3 8.1.4.4d): certificate
 * numbers per type (身份证 with its GB 11643 checksum), phones, dates,
 * codes.  Each names the field it refuses. */
#include "registry/clinic_impl.h"

#include "core/clock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool all(const char *s, int (*pred)(int))
{
    for (; *s; s++)
        if (!pred((unsigned char)*s)) return false;
    return true;
}

static int is_upper_alnum(int c) { return isdigit(c) || (c >= 'A' && c <= 'Z'); }

ih_err cl_check_cert_no(const ih_row *r, const char *field, const char *v)
{
    /* cert_no goes with cert_type, guardian_cert_no with guardian_cert_type */
    char type_field[48];
    snprintf(type_field, sizeof type_field, "%.*scert_type", (int)(strlen(field) - strlen("cert_no")), field);
    const char *type = ih_row_str(r, type_field);
    if (!type) return ih_reject(IH_E_INVALID, type_field, "Field '%s' is required with '%s'.", type_field, field);
    size_t n = strlen(v);
    bool ok;
    const char *what;
    switch (atoi(type)) {
    case 1:
        ok = ih_idcard_valid(v);
        what = "an 18-character resident ID number with a valid check character";
        break;
    case 2:
        ok = n >= 5 && n <= 17 && all(v, is_upper_alnum);
        what = "a passport number of 5 to 17 letters and digits";
        break;
    case 4:
        ok = n >= 8 && n <= 10 && all(v, is_upper_alnum);
        what = "a Taiwan compatriot permit number of 8 to 10 letters and digits";
        break;
    case 5:
        ok = n >= 9 && n <= 11 && (v[0] == 'H' || v[0] == 'M') && all(v + 1, isdigit);
        what = "a home-return permit number: H or M and 8 to 10 digits";
        break;
    default: /* officer's card, other */
        ok = n >= 4 && n <= 32 && all(v, is_upper_alnum);
        what = "4 to 32 letters and digits";
    }
    if (!ok) return ih_reject(IH_E_INVALID, field, "Field '%s' must be %s.", field, what);
    return IH_OK;
}

ih_err cl_check_phone(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    size_t n = strlen(v);
    bool mobile = n == 11 && v[0] == '1' && v[1] >= '3' && v[1] <= '9' && all(v, isdigit);
    bool landline = false;
    const char *dash = strchr(v, '-');
    if (!mobile && v[0] == '0' && dash) { /* 0AA(A)-NNNNNNN(N) */
        size_t area = (size_t)(dash - v), local = n - area - 1;
        char a[8] = "", l[12] = "";
        if (area >= 3 && area <= 4 && local >= 7 && local <= 8) {
            memcpy(a, v, area);
            memcpy(l, dash + 1, local);
            landline = all(a, isdigit) && all(l, isdigit);
        }
    }
    if (!mobile && !landline)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be an 11-digit mobile number or a landline like 022-23456789.",
                         field);
    return IH_OK;
}

ih_err cl_check_birth_date(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    int64_t ms;
    if (strlen(v) != 10 || ih_date_parse(v, &ms) != 0)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be a date YYYY-MM-DD.", field);
    if (ms > ih_now_ms() + 86400000LL || strncmp(v, "1900", 4) < 0)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be a date between 1900 and today.", field);
    return IH_OK;
}

ih_err cl_check_future_date(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    int64_t ms;
    if (strlen(v) != 10 || ih_date_parse(v, &ms) != 0)
        return ih_reject(IH_E_INVALID, field, "Field '%s' must be a date YYYY-MM-DD.", field);
    return IH_OK;
}

ih_err cl_check_hhmm(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    bool ok = strlen(v) == 5 && isdigit((unsigned char)v[0]) && isdigit((unsigned char)v[1]) && v[2] == ':' &&
              isdigit((unsigned char)v[3]) && isdigit((unsigned char)v[4]) &&
              (v[0] - '0') * 10 + (v[1] - '0') < 24 && (v[3] - '0') * 10 + (v[4] - '0') < 60;
    if (!ok) return ih_reject(IH_E_INVALID, field, "Field '%s' must be a time HH:MM.", field);
    return IH_OK;
}

static int is_token_char(int c) { return isalnum(c) || c == '_' || c == '-' || c == '.'; }

ih_err cl_check_token(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    if (!*v || !all(v, is_token_char))
        return ih_reject(IH_E_INVALID, field, "Field '%s' may hold only letters, digits, '.', '_' and '-'.", field);
    return IH_OK;
}

ih_err cl_check_organ_id(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    size_t n = strlen(v);
    if (n < 9 || n > 18 || !all(v, is_upper_alnum))
        return ih_reject(IH_E_INVALID, field,
                         "Field '%s' must be the organisation code: 9 to 18 capital letters and digits.", field);
    return IH_OK;
}

ih_err cl_check_id_consistency(const ih_row *r, const char *cert_field, const char *type_field)
{
    const char *type = ih_row_str(r, type_field), *no = ih_row_str(r, cert_field);
    if (!type || !no || strcmp(type, "1") || !ih_idcard_valid(no)) return IH_OK;
    const char *birth = ih_row_str(r, "birth_date"), *sex = ih_row_str(r, "sex");
    char from_id[11];
    snprintf(from_id, sizeof from_id, "%.4s-%.2s-%.2s", no + 6, no + 10, no + 12);
    if (birth && strcmp(birth, from_id))
        return ih_reject(IH_E_INVALID, "birth_date", "Field 'birth_date' does not match the ID number.");
    if (sex && strcmp(sex, "0")) {
        const char *want = ((no[16] - '0') % 2) ? "1" : "2";
        if (strcmp(sex, want)) return ih_reject(IH_E_INVALID, "sex", "Field 'sex' does not match the ID number.");
    }
    return IH_OK;
}

/* Next code point of valid UTF-8 (the text was checked on the way in). */
static uint32_t next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n > 1) c &= 0x3Fu >> (n - 1);
    for (int i = 1; i < n && s[i]; i++) c = c << 6 | (s[i] & 0x3F);
    *p += n;
    return c;
}

ih_err cl_check_reason(const ih_row *r, const char *field, const char *v)
{
    (void)r;
    enum { MAX = 512 };
    uint32_t cps[MAX];
    int n = 0, run = 1, longest = 1;
    for (const unsigned char *p = (const unsigned char *)v; *p && n < MAX;) {
        uint32_t c = next_cp(&p);
        /* what carries meaning: letters, digits, ideographs — not spaces or punctuation */
        if (c < 0x80 && !isalnum((int)c)) continue;
        if (c >= 0x3000 && c <= 0x303F) continue; /* CJK punctuation */
        if (c >= 0xFF00 && c <= 0xFF0F) continue; /* full-width punctuation */
        if (c < 0x80) c = (uint32_t)tolower((int)c);
        if (n && (c == cps[n - 1] + 1 || c + 1 == cps[n - 1])) {
            if (++run > longest) longest = run;
        } else
            run = 1;
        cps[n++] = c;
    }
    int distinct = 0, top = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        int count = 0;
        for (int j = 0; j < n; j++) {
            if (cps[j] != cps[i]) continue;
            if (j < i) seen = true;
            count++;
        }
        if (!seen) distinct++;
        if (count > top) top = count;
    }
    /* "aaaaaaaaaa", "1234567890", "abababab…": filler, not a reason */
    if (n < 6 || distinct < 5 || top * 10 > n * 4 || longest >= 5)
        return ih_reject(IH_E_INVALID, field,
                         "Field '%s' must say why in words (who, what emergency, what you need): repeated or "
                         "sequential characters are not a reason.",
                         field);
    return IH_OK;
}
