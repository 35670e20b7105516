/* sign.c — see sign.h.  GB/T 39786 8.4h (non-repudiation). */
#include "crypto/sign.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

struct ih_signkey {
    ih_suite suite;
    EVP_PKEY *pkey;
};

static const char sm2_id[] = "1234567812345678";

static ih_err ossl_fail(const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[200];
    ERR_error_string_n(e, msg, sizeof msg);
    ERR_clear_error();
    return ih_fail(IH_E_CRYPTO, "%s: %s", what, msg);
}

static ih_err wrap(ih_suite s, EVP_PKEY *p, ih_signkey **out)
{
    ih_signkey *k = malloc(sizeof *k);
    if (!k) {
        EVP_PKEY_free(p);
        return ih_fail(IH_E_NOMEM, "signkey");
    }
    k->suite = s;
    k->pkey = p;
    *out = k;
    return IH_OK;
}

ih_err ih_sign_generate(ih_suite s, ih_signkey **out)
{
    EVP_PKEY *p = s == IH_SUITE_GM ? EVP_PKEY_Q_keygen(NULL, NULL, "SM2") : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!p) return ossl_fail("key generation");
    return wrap(s, p, out);
}

ih_err ih_sign_private_der(const ih_signkey *k, ih_buf *out)
{
    unsigned char *der = NULL;
    int n = i2d_PrivateKey(k->pkey, &der);
    if (n <= 0) return ossl_fail("private key encoding");
    ih_err e = ih_buf_append(out, der, (size_t)n);
    OPENSSL_clear_free(der, (size_t)n);
    return e;
}

static bool type_ok(ih_suite s, EVP_PKEY *p)
{
    return s == IH_SUITE_GM ? (EVP_PKEY_is_a(p, "SM2") || EVP_PKEY_is_a(p, "EC")) : EVP_PKEY_is_a(p, "ED25519");
}

ih_err ih_sign_from_private_der(ih_suite s, const void *der, size_t n, ih_signkey **out)
{
    const unsigned char *p = der;
    EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)n);
    if (!k) return ossl_fail("private key decoding");
    if (!type_ok(s, k)) {
        EVP_PKEY_free(k);
        return ih_fail(IH_E_CRYPTO, "private key is not of the instance's suite");
    }
    return wrap(s, k, out);
}

ih_err ih_sign_public_raw(const ih_signkey *k, uint8_t *out, size_t cap, size_t *n)
{
    if (k->suite == IH_SUITE_INTL) {
        *n = cap;
        if (!EVP_PKEY_get_raw_public_key(k->pkey, out, n)) return ossl_fail("public key");
        return IH_OK;
    }
    if (!EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, cap, n))
        return ossl_fail("public key");
    return IH_OK;
}

ih_err ih_sign_public_pem(const ih_signkey *k, ih_buf *out)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_PUBKEY(b, k->pkey)) {
        BIO_free(b);
        return ossl_fail("public key PEM");
    }
    char *data;
    long len = BIO_get_mem_data(b, &data);
    ih_err e = ih_buf_append(out, data, (size_t)len);
    BIO_free(b);
    return e;
}

ih_err ih_sign_public_from_pem(const char *pem, size_t n, ih_signkey **out)
{
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    EVP_PKEY *p = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!p) return ossl_fail("public key PEM");
    ih_suite s;
    if (EVP_PKEY_is_a(p, "ED25519")) s = IH_SUITE_INTL;
    else if (EVP_PKEY_is_a(p, "SM2") || EVP_PKEY_is_a(p, "EC")) s = IH_SUITE_GM;
    else {
        EVP_PKEY_free(p);
        return ih_fail(IH_E_CRYPTO, "public key is neither Ed25519 nor SM2");
    }
    return wrap(s, p, out);
}

ih_suite ih_signkey_suite(const ih_signkey *k) { return k->suite; }

void ih_signkey_free(ih_signkey *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

/* An EVP_MD_CTX initialised for signing or verifying with k.  *owned is
 * the key context we created (SM2) and must free after the MD context. */
static EVP_MD_CTX *start(const ih_signkey *k, bool sign, EVP_PKEY_CTX **owned)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    *owned = NULL;
    if (!md) return NULL;
    int ok;
    if (k->suite == IH_SUITE_INTL) {
        ok = sign ? EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, k->pkey, NULL)
                  : EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, k->pkey, NULL);
    } else {
        /* SM2 needs its distinguishing id set on a context we create. */
        pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
        ok = pctx && EVP_PKEY_CTX_set1_id(pctx, sm2_id, sizeof sm2_id - 1) > 0;
        if (ok) {
            EVP_MD_CTX_set_pkey_ctx(md, pctx);
            ok = sign ? EVP_DigestSignInit_ex(md, NULL, "SM3", NULL, NULL, k->pkey, NULL)
                      : EVP_DigestVerifyInit_ex(md, NULL, "SM3", NULL, NULL, k->pkey, NULL);
        }
    }
    if (!ok) {
        EVP_MD_CTX_free(md);
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    *owned = pctx;
    return md;
}

static void finish(EVP_MD_CTX *md, EVP_PKEY_CTX *owned)
{
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(owned); /* EVP_MD_CTX_set_pkey_ctx does not transfer ownership */
}

ih_err ih_sign(const ih_signkey *k, const void *msg, size_t n, ih_buf *sig)
{
    EVP_PKEY_CTX *owned;
    EVP_MD_CTX *md = start(k, true, &owned);
    if (!md) return ossl_fail("sign init");
    size_t len = 0;
    ih_err e = IH_OK;
    if (!EVP_DigestSign(md, NULL, &len, msg, n)) e = ossl_fail("sign size");
    else if ((e = ih_buf_reserve(sig, len)) == IH_OK) {
        if (!EVP_DigestSign(md, (uint8_t *)sig->p + sig->len, &len, msg, n)) e = ossl_fail("sign");
        else sig->len += len;
    }
    finish(md, owned);
    return e;
}

ih_err ih_verify(const ih_signkey *k, const void *msg, size_t n, const void *sig, size_t siglen)
{
    EVP_PKEY_CTX *owned;
    EVP_MD_CTX *md = start(k, false, &owned);
    if (!md) return ossl_fail("verify init");
    int r = EVP_DigestVerify(md, sig, siglen, msg, n);
    finish(md, owned);
    ERR_clear_error();
    return r == 1 ? IH_OK : ih_fail(IH_E_INTEGRITY, "signature does not verify");
}
