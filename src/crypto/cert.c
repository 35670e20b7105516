/* cert.c — see cert.h. */
#include "crypto/cert.h"

#include "core/fsutil.h"

#include <openssl/bio.h>
#include <stdbool.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static ih_err add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return ih_fail(IH_E_CRYPTO, "certificate extension %d", nid);
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? IH_OK : ih_fail(IH_E_CRYPTO, "add extension");
}

static ih_err write_bio(BIO *bio, const char *path, mode_t mode)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    return ih_file_create(path, data, (size_t)n, mode);
}

ih_err ih_cert_selfsigned(const char *key_path, const char *cert_path, const char *host, int days)
{
    ih_err e = IH_OK;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    if (!pkey || !x || !kb || !cb) {
        e = ih_fail(IH_E_CRYPTO, "key generation failed");
        goto out;
    }
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    BN_free(bn);
    if (!sn || !X509_set_serialNumber(x, sn)) e = ih_fail(IH_E_CRYPTO, "serial");
    ASN1_INTEGER_free(sn);
    if (e != IH_OK) goto out;
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -300);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"ihos", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, pkey);
    char san[512];
    bool ip = strchr(host, ':') || strspn(host, "0123456789.") == strlen(host);
    bool standard = !strcmp(host, "127.0.0.1") || !strcmp(host, "::1") || !strcmp(host, "localhost");
    if (standard) snprintf(san, sizeof san, "IP:127.0.0.1,IP:::1,DNS:localhost");
    else snprintf(san, sizeof san, "IP:127.0.0.1,IP:::1,DNS:localhost,%s:%s", ip ? "IP" : "DNS", host);
    if ((e = add_ext(x, NID_subject_alt_name, san)) != IH_OK ||
        (e = add_ext(x, NID_basic_constraints, "critical,CA:FALSE")) != IH_OK ||
        (e = add_ext(x, NID_key_usage, "critical,digitalSignature")) != IH_OK ||
        (e = add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth")) != IH_OK)
        goto out;
    if (!X509_sign(x, pkey, EVP_sha256())) {
        e = ih_fail(IH_E_CRYPTO, "certificate signing failed");
        goto out;
    }
    if (!PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL) || !PEM_write_bio_X509(cb, x)) {
        e = ih_fail(IH_E_CRYPTO, "PEM encoding failed");
        goto out;
    }
    if ((e = write_bio(kb, key_path, 0600)) != IH_OK) goto out;
    e = write_bio(cb, cert_path, 0600);
out:
    if (kb) {
        char *d;
        long n = BIO_get_mem_data(kb, &d);
        if (n > 0) OPENSSL_cleanse(d, (size_t)n);
    }
    BIO_free(kb);
    BIO_free(cb);
    X509_free(x);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return e;
}
