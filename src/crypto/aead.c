/* aead.c — see aead.h.  L3 8.1.4.8b / 8.1.4.7b, GB/T 39786 8.4e/8.4g. */
#include "crypto/aead.h"

#include <string.h>

enum { FMT_GCM = 1, FMT_SM4_HMAC = 2 };

ih_err ih_dek_derive(ih_dek *k)
{
    if (k->suite == IH_SUITE_INTL) {
        memcpy(k->enc, k->root, 32);
        memset(k->mac, 0, 32);
        return IH_OK;
    }
    IH_TRY(ih_hkdf(IH_MD_SM3, k->root, 32, "ihos sm4-ctr key", k->enc, 16));
    memset(k->enc + 16, 0, 16);
    return ih_hkdf(IH_MD_SM3, k->root, 32, "ihos hmac-sm3 key", k->mac, 32);
}

size_t ih_aead_overhead(ih_suite s) { return IH_AEAD_HEADER + (s == IH_SUITE_GM ? 16 + 32 : 12 + 16); }

int64_t ih_aead_version(const void *ct, size_t n)
{
    const uint8_t *p = ct;
    if (n < IH_AEAD_HEADER || (p[0] != FMT_GCM && p[0] != FMT_SM4_HMAC)) return -1;
    return (int64_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
}

static void header(const ih_dek *k, uint8_t h[IH_AEAD_HEADER])
{
    h[0] = k->suite == IH_SUITE_GM ? FMT_SM4_HMAC : FMT_GCM;
    h[1] = (uint8_t)(k->version >> 24);
    h[2] = (uint8_t)(k->version >> 16);
    h[3] = (uint8_t)(k->version >> 8);
    h[4] = (uint8_t)k->version;
}

static ih_err gm_mac(const ih_dek *k, const uint8_t *hdr, const void *ad, size_t adlen, const uint8_t *iv,
                     const uint8_t *ct, size_t n, uint8_t out[32])
{
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)adlen >> (56 - 8 * i));
    ih_iov v[] = {{hdr, IH_AEAD_HEADER}, {len, 8}, {ad, adlen}, {iv, 16}, {ct, n}};
    return ih_hmac_v(IH_MD_SM3, k->mac, 32, v, 5, out);
}

ih_err ih_aead_seal(const ih_dek *k, const void *ad, size_t adlen, const void *pt, size_t n, ih_buf *out)
{
    if (n > (1u << 30)) return ih_fail(IH_E_TOO_LARGE, "plaintext too large");
    IH_TRY(ih_buf_reserve(out, n + ih_aead_overhead(k->suite)));
    EVP_CIPHER_CTX *c;
    uint8_t *base = (uint8_t *)out->p + out->len;
    header(k, base);
    int l1 = 0, l2 = 0;
    if (k->suite == IH_SUITE_INTL) {
        uint8_t *nonce = base + IH_AEAD_HEADER, *ct = nonce + 12;
        IH_TRY(ih_random(nonce, 12));
        if (!(c = ih_crypto_cipher_init(ih_cipher_aes256gcm(), k->enc, nonce, 1)) ||
            !EVP_EncryptUpdate(c, NULL, &l1, base, IH_AEAD_HEADER) ||
            (adlen && !EVP_EncryptUpdate(c, NULL, &l1, ad, (int)adlen)) ||
            !EVP_EncryptUpdate(c, ct, &l1, pt, (int)n) || !EVP_EncryptFinal_ex(c, ct + l1, &l2) ||
            !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ct + n))
            return ih_fail(IH_E_CRYPTO, "AES-GCM seal");
        out->len += IH_AEAD_HEADER + 12 + n + 16;
    } else {
        uint8_t *iv = base + IH_AEAD_HEADER, *ct = iv + 16;
        IH_TRY(ih_random(iv, 16));
        if (!(c = ih_crypto_cipher_init(ih_cipher_sm4ctr(), k->enc, iv, 1)) ||
            !EVP_EncryptUpdate(c, ct, &l1, pt, (int)n) || !EVP_EncryptFinal_ex(c, ct + l1, &l2))
            return ih_fail(IH_E_CRYPTO, "SM4-CTR seal");
        IH_TRY(gm_mac(k, base, ad, adlen, iv, ct, n, ct + n));
        out->len += IH_AEAD_HEADER + 16 + n + 32;
    }
    out->p[out->len] = '\0';
    return IH_OK;
}

ih_err ih_aead_open(const ih_dek *k, const void *ad, size_t adlen, const void *ctv, size_t n, ih_buf *out)
{
    const uint8_t *p = ctv;
    size_t over = ih_aead_overhead(k->suite);
    uint8_t want[IH_AEAD_HEADER];
    header(k, want);
    if (n < over || memcmp(p, want, IH_AEAD_HEADER) != 0)
        return ih_fail(IH_E_INTEGRITY, "ciphertext header or key version does not match");
    size_t len = n - over;
    IH_TRY(ih_buf_reserve(out, len));
    EVP_CIPHER_CTX *c;
    uint8_t *dst = (uint8_t *)out->p + out->len;
    int l1 = 0, l2 = 0;
    if (k->suite == IH_SUITE_INTL) {
        const uint8_t *nonce = p + IH_AEAD_HEADER, *ct = nonce + 12;
        uint8_t tag[16];
        memcpy(tag, ct + len, 16);
        if (!(c = ih_crypto_cipher_init(ih_cipher_aes256gcm(), k->enc, nonce, 0)) ||
            !EVP_DecryptUpdate(c, NULL, &l1, p, IH_AEAD_HEADER) ||
            (adlen && !EVP_DecryptUpdate(c, NULL, &l1, ad, (int)adlen)) ||
            !EVP_DecryptUpdate(c, dst, &l1, ct, (int)len) ||
            !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) || EVP_DecryptFinal_ex(c, dst + l1, &l2) <= 0) {
            ih_wipe(dst, len);
            return ih_fail(IH_E_INTEGRITY, "AES-GCM authentication failed");
        }
    } else {
        const uint8_t *iv = p + IH_AEAD_HEADER, *ct = iv + 16;
        uint8_t mac[32];
        IH_TRY(gm_mac(k, p, ad, adlen, iv, ct, len, mac));
        if (!ih_ct_equal(mac, ct + len, 32)) return ih_fail(IH_E_INTEGRITY, "HMAC-SM3 check failed");
        if (!(c = ih_crypto_cipher_init(ih_cipher_sm4ctr(), k->enc, iv, 0)) ||
            !EVP_DecryptUpdate(c, dst, &l1, ct, (int)len) || !EVP_DecryptFinal_ex(c, dst + l1, &l2))
            return ih_fail(IH_E_CRYPTO, "SM4-CTR open");
    }
    out->len += len;
    out->p[out->len] = '\0';
    return IH_OK;
}
