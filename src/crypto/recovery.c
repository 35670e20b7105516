/* recovery.c — see recovery.h.  L3 8.1.4.9a (backups restorable on their own). */
#include "crypto/recovery.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

struct ih_recovery {
    ih_suite suite;
    EVP_PKEY *key;
    bool has_private;
};

static ih_err ossl(const char *what)
{
    char msg[200];
    ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
    ERR_clear_error();
    return ih_fail(IH_E_CRYPTO, "%s: %s", what, msg);
}

static ih_err pem_out(EVP_PKEY *k, bool priv, ih_buf *out)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = b && (priv ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(b, k));
    if (!ok) {
        BIO_free(b);
        return ossl("PEM");
    }
    char *d;
    long n = BIO_get_mem_data(b, &d);
    ih_err e = ih_buf_append(out, d, (size_t)n);
    if (priv) OPENSSL_cleanse(d, (size_t)n);
    BIO_free(b);
    return e;
}

ih_err ih_recovery_generate(ih_suite s, ih_buf *private_pem, ih_buf *public_pem)
{
    EVP_PKEY *k = s == IH_SUITE_GM ? EVP_PKEY_Q_keygen(NULL, NULL, "SM2") : EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    if (!k) return ossl("recovery key generation");
    ih_err e = pem_out(k, true, private_pem);
    if (e == IH_OK) e = pem_out(k, false, public_pem);
    EVP_PKEY_free(k);
    return e;
}

ih_err ih_recovery_load(const char *pem, size_t n, ih_recovery **out)
{
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    if (!b) return ih_fail(IH_E_NOMEM, "bio");
    bool priv = memmem(pem, n, "PRIVATE KEY-----", 16) != NULL;
    EVP_PKEY *k = priv ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!k) return ossl("recovery key PEM");
    ih_suite s;
    if (EVP_PKEY_is_a(k, "X25519")) s = IH_SUITE_INTL;
    else if (EVP_PKEY_is_a(k, "SM2") || EVP_PKEY_is_a(k, "EC")) s = IH_SUITE_GM;
    else {
        EVP_PKEY_free(k);
        return ih_fail(IH_E_CRYPTO, "not an X25519 or SM2 recovery key");
    }
    ih_recovery *r = malloc(sizeof *r);
    if (!r) {
        EVP_PKEY_free(k);
        return ih_fail(IH_E_NOMEM, "recovery");
    }
    *r = (ih_recovery){s, k, priv};
    *out = r;
    return IH_OK;
}

void ih_recovery_free(ih_recovery *r)
{
    if (!r) return;
    EVP_PKEY_free(r->key);
    free(r);
}

ih_suite ih_recovery_suite(const ih_recovery *r) { return r->suite; }
const char *ih_recovery_alg(const ih_recovery *r) { return r->suite == IH_SUITE_GM ? "sm2-encrypt" : "x25519-hkdf-sha256"; }

/* HKDF-SHA256(shared, salt = e.pub || R.pub) -> 32 bytes */
static ih_err derive(const uint8_t *shared, size_t sn, const uint8_t *epub, const uint8_t *rpub, uint8_t key[32])
{
    uint8_t salt[64];
    memcpy(salt, epub, 32);
    memcpy(salt + 32, rpub, 32);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!c) return ossl("HKDF");
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)shared, sn),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof salt),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)"ihos backup data key", 20),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(c, key, 32, p);
    EVP_KDF_CTX_free(c);
    return ok ? IH_OK : ossl("HKDF derive");
}

static ih_err ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t out[32])
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    size_t n = 32;
    int ok = c && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_derive_set_peer(c, peer) > 0 && EVP_PKEY_derive(c, out, &n) > 0 &&
             n == 32;
    EVP_PKEY_CTX_free(c);
    return ok ? IH_OK : ossl("X25519");
}

ih_err ih_recovery_seal(const ih_recovery *pub, uint8_t key[32], ih_buf *blob)
{
    if (pub->suite == IH_SUITE_GM) {
        IH_TRY(ih_random(key, 32));
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub->key, NULL);
        size_t n = 0;
        ih_err e = IH_OK;
        if (!c || EVP_PKEY_encrypt_init(c) <= 0 || EVP_PKEY_encrypt(c, NULL, &n, key, 32) <= 0) e = ossl("SM2 encrypt");
        else if ((e = ih_buf_reserve(blob, n)) == IH_OK) {
            if (EVP_PKEY_encrypt(c, (uint8_t *)blob->p + blob->len, &n, key, 32) <= 0) e = ossl("SM2 encrypt");
            else blob->len += n;
        }
        EVP_PKEY_CTX_free(c);
        return e;
    }
    EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    if (!eph) return ossl("X25519 keygen");
    uint8_t shared[32], epub[32], rpub[32];
    size_t en = 32, rn = 32;
    ih_err e = IH_OK;
    if (!EVP_PKEY_get_raw_public_key(eph, epub, &en) || !EVP_PKEY_get_raw_public_key(pub->key, rpub, &rn))
        e = ossl("X25519 public key");
    if (e == IH_OK) e = ecdh(eph, pub->key, shared);
    if (e == IH_OK) e = derive(shared, 32, epub, rpub, key);
    if (e == IH_OK) e = ih_buf_append(blob, epub, 32);
    OPENSSL_cleanse(shared, sizeof shared);
    EVP_PKEY_free(eph);
    return e;
}

ih_err ih_recovery_open(const ih_recovery *priv, const uint8_t *blob, size_t n, uint8_t key[32])
{
    if (!priv->has_private) return ih_fail(IH_E_CRYPTO, "the recovery key given is only the public half");
    if (priv->suite == IH_SUITE_GM) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv->key, NULL);
        uint8_t out[64];
        size_t on = sizeof out;
        int ok = c && EVP_PKEY_decrypt_init(c) > 0 && EVP_PKEY_decrypt(c, out, &on, blob, n) > 0 && on == 32;
        EVP_PKEY_CTX_free(c);
        if (!ok) {
            ERR_clear_error();
            return ih_fail(IH_E_INTEGRITY, "the recovery key does not open this backup");
        }
        memcpy(key, out, 32);
        OPENSSL_cleanse(out, sizeof out);
        return IH_OK;
    }
    if (n != 32) return ih_fail(IH_E_INTEGRITY, "malformed backup key blob");
    EVP_PKEY *eph = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, blob, 32);
    if (!eph) return ossl("X25519 public key");
    uint8_t shared[32], rpub[32];
    size_t rn = 32;
    ih_err e = EVP_PKEY_get_raw_public_key(priv->key, rpub, &rn) ? IH_OK : ossl("X25519 public key");
    if (e == IH_OK) e = ecdh(priv->key, eph, shared);
    if (e == IH_OK) e = derive(shared, 32, blob, rpub, key);
    OPENSSL_cleanse(shared, sizeof shared);
    EVP_PKEY_free(eph);
    return e;
}
