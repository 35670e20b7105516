/* note.c — checkpoints as C2SP signed notes (c2sp.org/signed-note,
 * c2sp.org/tlog-checkpoint):
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n
 *   \n
 *   — <origin> <base64(key id || signature)>\n
 *
 * key id = SHA-256(key name || 0x0A || type || public key)[:4]; type 0x01
 * with the 32-byte key for Ed25519; for SM2 (no assigned byte) 0xff followed
 * by "ihos-sm2-sm3", with the 65-byte uncompressed point. */
#include "audit/audit_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_DASH "\xe2\x80\x94"

static ih_err key_id(const ih_signkey *k, ih_suite s, const char *name, uint8_t id[4])
{
    uint8_t pub[128], h[32];
    size_t n;
    IH_TRY(ih_sign_public_raw(k, pub, sizeof pub, &n));
    static const uint8_t nl = 0x0a, ed = 0x01;
    static const char sm2[] = "\xff" "ihos-sm2-sm3";
    ih_iov v[] = {{name, strlen(name)}, {&nl, 1},
                  {s == IH_SUITE_GM ? (const void *)sm2 : (const void *)&ed, s == IH_SUITE_GM ? sizeof sm2 - 1 : 1},
                  {pub, n}};
    IH_TRY(ih_digest_v(IH_MD_SHA256, v, 4, h));
    memcpy(id, h, 4);
    return IH_OK;
}

ih_err note_sign(const ih_signkey *k, ih_suite s, const char *origin, uint64_t size, const uint8_t root[IH_HASH_LEN],
                 ih_buf *out)
{
    char b64[64];
    ih_b64_encode(root, IH_HASH_LEN, b64);
    size_t text_start = out->len;
    IH_TRY(ih_buf_printf(out, "%s\n%llu\n%s\n", origin, (unsigned long long)size, b64));
    size_t text_len = out->len - text_start;
    ih_buf sig = IH_BUF_INIT;
    uint8_t id[4];
    ih_err e = key_id(k, s, origin, id);
    if (e == IH_OK) e = ih_buf_append(&sig, id, 4);
    if (e == IH_OK) e = ih_sign(k, out->p + text_start, text_len, &sig);
    if (e == IH_OK) {
        char *enc = malloc(sig.len * 2 + 8);
        if (!enc) e = ih_fail(IH_E_NOMEM, "note");
        else {
            ih_b64_encode((const uint8_t *)sig.p, sig.len, enc);
            e = ih_buf_printf(out, "\n" EM_DASH " %s %s\n", origin, enc);
            free(enc);
        }
    }
    ih_buf_free(&sig);
    return e;
}

static bool parse_u64(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 19 || (n > 1 && s[0] == '0')) return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        *v = *v * 10 + (uint64_t)(s[i] - '0');
    }
    return true;
}

ih_err note_verify(const char *note, size_t n, const ih_signkey *pub, const char *origin, uint64_t *size,
                   uint8_t root[IH_HASH_LEN])
{
    const char *sep = NULL;
    for (size_t i = 0; i + 1 < n; i++)
        if (note[i] == '\n' && note[i + 1] == '\n') {
            sep = note + i;
            break;
        }
    if (!sep) return ih_fail(IH_E_INTEGRITY, "not a signed note (no blank line before signatures)");
    size_t text_len = (size_t)(sep - note) + 1;
    /* Text: origin, size, root (extension lines, if any, are ignored). */
    const char *p = note, *end = note + text_len;
    const char *l1 = memchr(p, '\n', (size_t)(end - p));
    if (!l1 || (size_t)(l1 - p) != strlen(origin) || memcmp(p, origin, (size_t)(l1 - p)) != 0)
        return ih_fail(IH_E_INTEGRITY, "checkpoint origin is not '%s'", origin);
    p = l1 + 1;
    const char *l2 = memchr(p, '\n', (size_t)(end - p));
    if (!l2 || !parse_u64(p, (size_t)(l2 - p), size)) return ih_fail(IH_E_INTEGRITY, "checkpoint size line malformed");
    p = l2 + 1;
    const char *l3 = memchr(p, '\n', (size_t)(end - p));
    uint8_t rb[48];
    if (!l3 || ih_b64_decode(p, (size_t)(l3 - p), rb, sizeof rb) != IH_HASH_LEN)
        return ih_fail(IH_E_INTEGRITY, "checkpoint root line malformed");
    memcpy(root, rb, IH_HASH_LEN);

    uint8_t want[4];
    IH_TRY(key_id(pub, ih_signkey_suite(pub), origin, want));
    bool found = false;
    for (const char *s = sep + 2; s < note + n;) {
        const char *nl = memchr(s, '\n', (size_t)(note + n - s));
        if (!nl) return ih_fail(IH_E_INTEGRITY, "signature line not terminated");
        size_t len = (size_t)(nl - s), pre = strlen(EM_DASH " ");
        if (len < pre || memcmp(s, EM_DASH " ", pre) != 0) return ih_fail(IH_E_INTEGRITY, "malformed signature line");
        const char *name = s + pre;
        const char *sp = memchr(name, ' ', (size_t)(nl - name));
        if (!sp) return ih_fail(IH_E_INTEGRITY, "malformed signature line");
        uint8_t sig[512];
        long sl = ih_b64_decode(sp + 1, (size_t)(nl - sp - 1), sig, sizeof sig);
        if (sl < 5) return ih_fail(IH_E_INTEGRITY, "malformed signature");
        if ((size_t)(sp - name) == strlen(origin) && !memcmp(name, origin, strlen(origin)) && !memcmp(sig, want, 4)) {
            if (ih_verify(pub, note, text_len, sig + 4, (size_t)sl - 4) != IH_OK)
                return ih_fail(IH_E_INTEGRITY, "checkpoint signature does not verify with the audit public key");
            found = true;
        }
        s = nl + 1;
    }
    if (!found) return ih_fail(IH_E_INTEGRITY, "checkpoint carries no signature by the audit key");
    return IH_OK;
}
