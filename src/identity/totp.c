/* totp.c — see totp.h.  L3 8.1.4.1d; GB/T 39786 8.4a (SM3 tokens). */
#include "identity/totp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int ih_totp_alg_parse(const char *name, ih_totp_alg *out)
{
    if (!strcmp(name, "SHA1")) *out = IH_TOTP_SHA1;
    else if (!strcmp(name, "SHA256")) *out = IH_TOTP_SHA256;
    else if (!strcmp(name, "SM3")) *out = IH_TOTP_SM3;
    else return -1;
    return 0;
}

const char *ih_totp_alg_name(ih_totp_alg a)
{
    return a == IH_TOTP_SM3 ? "SM3" : a == IH_TOTP_SHA256 ? "SHA256" : "SHA1";
}

size_t ih_totp_secret_len(ih_totp_alg a) { return a == IH_TOTP_SHA1 ? 20 : 32; }

static ih_md md_of(ih_totp_alg a) { return a == IH_TOTP_SM3 ? IH_MD_SM3 : a == IH_TOTP_SHA256 ? IH_MD_SHA256 : IH_MD_SHA1; }

ih_err ih_hotp(ih_totp_alg a, const uint8_t *key, size_t keylen, uint64_t counter, int digits, char *out)
{
    if (digits < 6 || digits > 8) return ih_fail(IH_E_INVALID, "digits must be 6 to 8");
    uint8_t msg[8], mac[32];
    for (int i = 0; i < 8; i++) msg[i] = (uint8_t)(counter >> (56 - 8 * i));
    ih_md md = md_of(a);
    IH_TRY(ih_hmac(md, key, keylen, msg, 8, mac));
    size_t len = ih_md_size(md);
    int off = mac[len - 1] & 0x0f;
    uint32_t bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 | (uint32_t)mac[off + 2] << 8 |
                   mac[off + 3];
    uint32_t mod = 1;
    for (int i = 0; i < digits; i++) mod *= 10;
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%0*u", digits, bin % mod);
    memcpy(out, tmp, (size_t)digits + 1);
    ih_wipe(mac, sizeof mac);
    return IH_OK;
}

ih_err ih_totp_check(ih_totp_alg a, const uint8_t *key, size_t keylen, int digits, const char *code, int64_t now_s,
                     int64_t last_step, int64_t *step)
{
    if (!code || strlen(code) != (size_t)digits) return ih_fail(IH_E_AUTH_FAILED, "code has the wrong length");
    for (const char *p = code; *p; p++)
        if (!isdigit((unsigned char)*p)) return ih_fail(IH_E_AUTH_FAILED, "code is not numeric");
    int64_t t = now_s / IH_TOTP_PERIOD;
    bool matched = false;
    int64_t hit = 0;
    /* Check all three steps (constant work), keep the latest match. */
    for (int64_t s = t - 1; s <= t + 1; s++) {
        char want[9];
        IH_TRY(ih_hotp(a, key, keylen, (uint64_t)s, digits, want));
        if (ih_ct_equal(want, code, (size_t)digits)) {
            matched = true;
            hit = s;
        }
    }
    if (!matched) return ih_fail(IH_E_AUTH_FAILED, "wrong code");
    if (hit <= last_step) return ih_fail(IH_E_AUTH_FAILED, "code already used");
    *step = hit;
    return IH_OK;
}

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t ih_base32_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    uint32_t buf = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buf = buf << 8 | in[i];
        bits += 8;
        while (bits >= 5 && o + 1 < cap) {
            out[o++] = b32[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0 && o + 1 < cap) out[o++] = b32[(buf << (5 - bits)) & 31];
    out[o] = '\0';
    return o;
}

long ih_base32_decode(const char *in, uint8_t *out, size_t cap)
{
    uint32_t buf = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '=' || *p == ' ') continue;
        const char *q = strchr(b32, toupper((unsigned char)*p));
        if (!q || !*q) return -1;
        buf = buf << 5 | (uint32_t)(q - b32);
        bits += 5;
        if (bits >= 8) {
            if (o >= cap) return -1;
            out[o++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    return (long)o;
}

/* Percent-encode a label component (RFC 3986 unreserved kept). */
static void pct(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
    }
    out[o] = '\0';
}

ih_err ih_totp_uri(ih_totp_alg a, const uint8_t *key, size_t keylen, int digits, const char *issuer,
                   const char *account, char *out, size_t cap)
{
    char sec[128], iss[128], acc[200];
    ih_base32_encode(key, keylen, sec, sizeof sec);
    pct(issuer, iss, sizeof iss);
    pct(account, acc, sizeof acc);
    int n = snprintf(out, cap, "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=%s&digits=%d&period=%d", iss, acc,
                     sec, iss, ih_totp_alg_name(a), digits, IH_TOTP_PERIOD);
    ih_wipe(sec, sizeof sec);
    if (n < 0 || (size_t)n >= cap) return ih_fail(IH_E_INTERNAL, "otpauth URI too long");
    return IH_OK;
}
