/* tianjin_crypto.c — see tianjin_crypto.h.  SM4 and SM3 through OpenSSL's
 * EVP interface (SM4-CBC with padding off; the 7816-4 padding is ours
 * because OpenSSL only pads PKCS#7). */
#include "report/tianjin_crypto.h"

#include "crypto/suite.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Fetched once: OpenSSL 3 is slow when algorithms are fetched per call. */
static EVP_CIPHER *sm4cbc;
static pthread_once_t sm4_once = PTHREAD_ONCE_INIT;
static void fetch_sm4(void) { sm4cbc = EVP_CIPHER_fetch(NULL, "SM4-CBC", NULL); }

static ih_err iv(uint8_t out[16])
{
    size_t n;
    if (ih_hex_decode(IH_TJ_IV_HEX, 32, out, 16, &n) != 0 || n != 16) return ih_fail(IH_E_INTERNAL, "tianjin IV");
    return IH_OK;
}

static ih_err sm4_cbc(const uint8_t key[16], const uint8_t *in, size_t n, uint8_t *out, bool enc)
{
    uint8_t v[16];
    IH_TRY(iv(v));
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return ih_fail(IH_E_NOMEM, "sm4");
    pthread_once(&sm4_once, fetch_sm4);
    int l1 = 0, l2 = 0;
    bool ok = sm4cbc && n <= INT32_MAX && EVP_CipherInit_ex2(c, sm4cbc, key, v, enc ? 1 : 0, NULL) == 1 &&
              EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_CipherUpdate(c, out, &l1, in, (int)n) == 1 &&
              EVP_CipherFinal_ex(c, out + l1, &l2) == 1 && (size_t)(l1 + l2) == n;
    EVP_CIPHER_CTX_free(c);
    return ok ? IH_OK : ih_fail(IH_E_CRYPTO, "SM4-CBC failed (is SM4 available in this OpenSSL?)");
}

ih_err ih_tj_encrypt(const uint8_t key[16], const void *pt, size_t n, ih_buf *out)
{
    size_t padded = (n / 16 + 1) * 16; /* always at least one padding byte */
    uint8_t *buf = calloc(1, padded * 2);
    IH_CHECK_ALLOC(buf);
    memcpy(buf, pt, n);
    buf[n] = 0x80; /* ISO/IEC 7816-4: 0x80, then zeros */
    ih_err e = sm4_cbc(key, buf, padded, buf + padded, true);
    if (e == IH_OK) e = ih_buf_reserve(out, padded * 2);
    if (e == IH_OK) {
        ih_hex_encode(buf + padded, padded, out->p + out->len, 0);
        out->len += padded * 2;
    }
    ih_wipe(buf, padded * 2);
    free(buf);
    return e;
}

ih_err ih_tj_decrypt(const uint8_t key[16], const char *hex, size_t n, ih_buf *out)
{
    if (n == 0 || n % 32) return ih_fail(IH_E_INVALID, "ciphertext length %zu is not whole SM4 blocks", n);
    size_t len = n / 2, got;
    uint8_t *ct = malloc(len * 2);
    IH_CHECK_ALLOC(ct);
    ih_err e = ih_hex_decode(hex, n, ct, len, &got) == 0 && got == len ? IH_OK : ih_fail(IH_E_INVALID, "not hex");
    if (e == IH_OK) e = sm4_cbc(key, ct, len, ct + len, false);
    if (e == IH_OK) {
        size_t end = len;
        while (end > len - 16 && ct[len + end - 1] == 0x00) end--;
        if (ct[len + end - 1] != 0x80) e = ih_fail(IH_E_INVALID, "bad ISO 7816-4 padding");
        else e = ih_buf_append(out, ct + len, end - 1);
    }
    ih_wipe(ct, len * 2);
    free(ct);
    return e;
}

ih_err ih_tj_sm3_hex(const void *p, size_t n, char out[65])
{
    uint8_t h[32];
    IH_TRY(ih_digest(IH_MD_SM3, p, n, h));
    ih_hex_encode(h, 32, out, 1);
    return IH_OK;
}

ih_err ih_tj_canonical(const char *app_key, const char *nonce, const char *timestamp, const char *content_md5,
                       const char *method, ih_buf *out)
{
    /* already in name order: key, nonce, timestamp, content-md5, service-id, service-method */
    return ih_buf_printf(out, "x-ca-key:%s&x-ca-nonce:%s&x-ca-timestamp:%s&x-content-md5:%s&x-service-id:%s&"
                              "x-service-method:%s",
                         app_key, nonce, timestamp, content_md5, IH_TJ_SERVICE_ID, method);
}
