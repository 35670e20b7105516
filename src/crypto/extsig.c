/* extsig.c — see extsig.h. */
#include "crypto/extsig.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_RSA, S_P256, S_ED25519, S_SM2 } scheme;

struct ih_extsig {
    EVP_PKEY *pkey;
    scheme s;
};

static const char sm2_id[] = "1234567812345678";

static ih_err ossl_fail(ih_err code, const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[200] = "";
    if (e) ERR_error_string_n(e, msg, sizeof msg);
    ERR_clear_error();
    return ih_fail(code, "%s: %s", what, msg);
}

ih_err ih_extsig_load(const char *pem, size_t n, ih_extsig **out)
{
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    if (!b) return ih_fail(IH_E_NOMEM, "extsig");
    EVP_PKEY *p = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!p) return ossl_fail(IH_E_CONFIG, "not a PEM public key");
    scheme s;
    char curve[64] = "";
    if (EVP_PKEY_is_a(p, "RSA")) {
        s = S_RSA;
        if (EVP_PKEY_get_bits(p) < 2048) {
            EVP_PKEY_free(p);
            return ih_fail(IH_E_CONFIG, "an RSA key shorter than 2048 bits is refused");
        }
    } else if (EVP_PKEY_is_a(p, "ED25519")) {
        s = S_ED25519;
    } else if (EVP_PKEY_is_a(p, "SM2")) {
        s = S_SM2;
    } else if (EVP_PKEY_is_a(p, "EC") &&
               EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, NULL)) {
        if (!strcmp(curve, "prime256v1") || !strcmp(curve, "P-256")) s = S_P256;
        else if (!strcmp(curve, "SM2")) s = S_SM2;
        else {
            EVP_PKEY_free(p);
            return ih_fail(IH_E_CONFIG, "EC curve %s is not accepted (P-256 or SM2)", curve);
        }
    } else {
        EVP_PKEY_free(p);
        return ih_fail(IH_E_CONFIG, "key type not accepted (RSA, EC P-256, Ed25519 or SM2)");
    }
    ih_extsig *k = malloc(sizeof *k);
    if (!k) {
        EVP_PKEY_free(p);
        return ih_fail(IH_E_NOMEM, "extsig");
    }
    k->pkey = p;
    k->s = s;
    *out = k;
    return IH_OK;
}

const char *ih_extsig_scheme(const ih_extsig *k)
{
    static const char *const names[] = {"RSA-SHA256", "ECDSA-P256-SHA256", "Ed25519", "SM2-SM3"};
    return names[k->s];
}

ih_err ih_extsig_verify(const ih_extsig *k, const void *msg, size_t n, const void *sig, size_t siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (!md) return ih_fail(IH_E_NOMEM, "extsig");
    int ok;
    if (k->s == S_SM2) {
        /* the distinguishing id goes on a key context we make and free */
        pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
        ok = pctx && EVP_PKEY_CTX_set1_id(pctx, sm2_id, sizeof sm2_id - 1) > 0;
        if (ok) {
            EVP_MD_CTX_set_pkey_ctx(md, pctx);
            ok = EVP_DigestVerifyInit(md, NULL, EVP_sm3(), NULL, k->pkey) == 1;
        }
    } else {
        const EVP_MD *d = k->s == S_ED25519 ? NULL : EVP_sha256();
        ok = EVP_DigestVerifyInit(md, NULL, d, NULL, k->pkey) == 1;
    }
    int r = ok ? EVP_DigestVerify(md, sig, siglen, msg, n) : -1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(pctx);
    ERR_clear_error();
    if (!ok) return ih_fail(IH_E_CRYPTO, "extsig: cannot start verifying");
    return r == 1 ? IH_OK : ih_fail(IH_E_INTEGRITY, "signature does not verify");
}

void ih_extsig_free(ih_extsig *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey);
    free(k);
}
