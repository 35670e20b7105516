/* suite.c — see suite.h. */
#include "crypto/suite.h"

#include "core/buf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char *const md_names[IH_MD__COUNT] = {"SHA256", "SM3", "SHA1"};
static EVP_MD *mds[IH_MD__COUNT];
static EVP_MAC *hmac;
static EVP_CIPHER *aes256gcm, *sm4ctr;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static ih_err init_result = IH_E_INTERNAL;

typedef struct {
    const char *name;
    EVP_CIPHER *c;
} named_cipher;
static named_cipher extra[8];
static pthread_mutex_t extra_mu = PTHREAD_MUTEX_INITIALIZER;

/* Per thread: contexts reused across calls.  A MAC or cipher context keeps
 * its key schedule while the next call uses the same key (compared by
 * value, so a freed and reused key buffer can never select a stale
 * schedule); the copies are wiped with the contexts. */
typedef struct {
    EVP_MD_CTX *md;
    EVP_MD_CTX *fresh[IH_MD__COUNT]; /* initialised once: a digest starts as a copy */
    EVP_MAC_CTX *mac[IH_MD__COUNT];
    uint8_t mac_key[IH_MD__COUNT][64];
    size_t mac_keylen[IH_MD__COUNT]; /* 0: no key kept */
    EVP_CIPHER_CTX *cipher;
    const EVP_CIPHER *cipher_for; /* NULL: no key kept */
    uint8_t cipher_key[32];
} tl_ctx;

static pthread_key_t tl_key;

static void tl_free(void *p)
{
    tl_ctx *t = p;
    EVP_MD_CTX_free(t->md);
    for (int i = 0; i < IH_MD__COUNT; i++) {
        EVP_MD_CTX_free(t->fresh[i]);
        EVP_MAC_CTX_free(t->mac[i]);
    }
    EVP_CIPHER_CTX_free(t->cipher);
    OPENSSL_cleanse(t, sizeof *t);
    free(t);
}

static void do_init(void)
{
    if (sodium_init() < 0) return;
    if (pthread_key_create(&tl_key, tl_free) != 0) return;
    for (int i = 0; i < IH_MD__COUNT; i++)
        if (!(mds[i] = EVP_MD_fetch(NULL, md_names[i], NULL))) return;
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    sm4ctr = EVP_CIPHER_fetch(NULL, "SM4-CTR", NULL);
    if (!hmac || !aes256gcm || !sm4ctr) return;
    init_result = IH_OK;
}

ih_err ih_crypto_init(void)
{
    pthread_once(&init_once, do_init);
    if (init_result != IH_OK) {
        ERR_clear_error();
        return ih_fail(IH_E_CRYPTO, "OpenSSL lacks a required algorithm (SHA-256, SM3, SHA-1, HMAC, "
                                    "AES-256-GCM, SM4-CTR) or libsodium failed to start");
    }
    return IH_OK;
}

static tl_ctx *tl(void)
{
    tl_ctx *t = pthread_getspecific(tl_key);
    if (t) return t;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->md = EVP_MD_CTX_new();
    t->cipher = EVP_CIPHER_CTX_new();
    for (int i = 0; i < IH_MD__COUNT; i++) {
        t->fresh[i] = EVP_MD_CTX_new();
        if (!t->fresh[i] || !EVP_DigestInit_ex2(t->fresh[i], mds[i], NULL)) {
            tl_free(t);
            return NULL;
        }
        t->mac[i] = EVP_MAC_CTX_new(hmac);
        OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md_names[i], 0),
                          OSSL_PARAM_construct_end()};
        if (!t->mac[i] || !EVP_MAC_CTX_set_params(t->mac[i], p)) {
            tl_free(t);
            return NULL;
        }
    }
    if (!t->md || !t->cipher || pthread_setspecific(tl_key, t) != 0) {
        tl_free(t);
        return NULL;
    }
    return t;
}

int ih_suite_parse(const char *name, ih_suite *out)
{
    if (!strcmp(name, "intl")) *out = IH_SUITE_INTL;
    else if (!strcmp(name, "gm")) *out = IH_SUITE_GM;
    else return -1;
    return 0;
}

const char *ih_suite_name(ih_suite s) { return s == IH_SUITE_GM ? "gm" : "intl"; }
ih_md ih_suite_md(ih_suite s) { return s == IH_SUITE_GM ? IH_MD_SM3 : IH_MD_SHA256; }
const EVP_MD *ih_md_evp(ih_md md) { return mds[md]; }
const char *ih_md_name(ih_md md) { return md_names[md]; }
size_t ih_md_size(ih_md md) { return md == IH_MD_SHA1 ? 20 : 32; }

/* A digest starts as a copy of the thread's initialised context, not with
 * EVP_DigestInit_ex2: OpenSSL 3.0's init frees the provider's context,
 * consults the engine table and allocates a new one each time, half the
 * cost of a Merkle node's digest.  Verification computes two digests per
 * event: +6-8% events/s with the copy (docs/testing.md). */
ih_err ih_digest_v(ih_md md, const ih_iov *iov, int n, uint8_t *out)
{
    tl_ctx *t = tl();
    if (!t) return ih_fail(IH_E_NOMEM, "digest context");
    if (!EVP_MD_CTX_copy_ex(t->md, t->fresh[md])) return ih_fail(IH_E_CRYPTO, "digest init");
    for (int i = 0; i < n; i++)
        if (iov[i].n && !EVP_DigestUpdate(t->md, iov[i].p, iov[i].n)) return ih_fail(IH_E_CRYPTO, "digest");
    if (!EVP_DigestFinal_ex(t->md, out, NULL)) return ih_fail(IH_E_CRYPTO, "digest final");
    return IH_OK;
}

ih_err ih_digest(ih_md md, const void *data, size_t n, uint8_t *out)
{
    ih_iov v = {data, n};
    return ih_digest_v(md, &v, 1, out);
}

ih_err ih_digest_file_hex(ih_md md, const char *path, char *hex)
{
    FILE *f = fopen(path, "rbe");
    if (!f) return ih_fail(IH_E_IO, "cannot read %s: %s", path, strerror(errno));
    ih_hasher *h = NULL;
    ih_err e = ih_hasher_new(md, &h);
    uint8_t buf[16384];
    size_t n;
    while (e == IH_OK && (n = fread(buf, 1, sizeof buf, f)) > 0) e = ih_hasher_update(h, buf, n);
    if (e == IH_OK && ferror(f)) e = ih_fail(IH_E_IO, "cannot read %s", path);
    uint8_t d[64];
    if (e == IH_OK) e = ih_hasher_final(h, d);
    if (e == IH_OK) ih_hex_encode(d, ih_md_size(md), hex, 0);
    ih_hasher_free(h);
    fclose(f);
    return e;
}

struct ih_hasher {
    EVP_MD_CTX *c;
};

ih_err ih_hasher_new(ih_md md, ih_hasher **out)
{
    ih_hasher *h = malloc(sizeof *h);
    IH_CHECK_ALLOC(h);
    h->c = EVP_MD_CTX_new();
    if (!h->c || !EVP_DigestInit_ex2(h->c, mds[md], NULL)) {
        EVP_MD_CTX_free(h->c);
        free(h);
        return ih_fail(IH_E_CRYPTO, "digest init");
    }
    *out = h;
    return IH_OK;
}

ih_err ih_hasher_update(ih_hasher *h, const void *p, size_t n)
{
    return (n == 0 || EVP_DigestUpdate(h->c, p, n)) ? IH_OK : ih_fail(IH_E_CRYPTO, "digest");
}

ih_err ih_hasher_final(ih_hasher *h, uint8_t *out)
{
    return EVP_DigestFinal_ex(h->c, out, NULL) ? IH_OK : ih_fail(IH_E_CRYPTO, "digest final");
}

void ih_hasher_free(ih_hasher *h)
{
    if (!h) return;
    EVP_MD_CTX_free(h->c);
    free(h);
}

ih_err ih_hmac_v(ih_md md, const void *key, size_t keylen, const ih_iov *iov, int n, uint8_t *out)
{
    tl_ctx *t = tl();
    if (!t) return ih_fail(IH_E_NOMEM, "mac context");
    EVP_MAC_CTX *c = t->mac[md];
    bool same = keylen && t->mac_keylen[md] == keylen && CRYPTO_memcmp(t->mac_key[md], key, keylen) == 0;
    if (!same) t->mac_keylen[md] = 0;
    if (!EVP_MAC_init(c, same ? NULL : key, same ? 0 : keylen, NULL)) return ih_fail(IH_E_CRYPTO, "hmac init");
    if (!same && keylen && keylen <= sizeof t->mac_key[md]) {
        memcpy(t->mac_key[md], key, keylen);
        t->mac_keylen[md] = keylen;
    }
    for (int i = 0; i < n; i++)
        if (iov[i].n && !EVP_MAC_update(c, iov[i].p, iov[i].n)) return ih_fail(IH_E_CRYPTO, "hmac");
    size_t outl;
    if (!EVP_MAC_final(c, out, &outl, ih_md_size(md))) return ih_fail(IH_E_CRYPTO, "hmac final");
    return IH_OK;
}

ih_err ih_hmac(ih_md md, const void *key, size_t keylen, const void *data, size_t n, uint8_t *out)
{
    ih_iov v = {data, n};
    return ih_hmac_v(md, key, keylen, &v, 1, out);
}

ih_err ih_hkdf(ih_md md, const void *key, size_t keylen, const char *info, uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *k = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!k) return ih_fail(IH_E_CRYPTO, "HKDF unavailable");
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md_names[md], 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(k, out, outlen, p);
    EVP_KDF_CTX_free(k);
    return ok ? IH_OK : ih_fail(IH_E_CRYPTO, "HKDF derive");
}

ih_err ih_random(void *out, size_t n)
{
    if (RAND_bytes(out, (int)n) != 1) return ih_fail(IH_E_CRYPTO, "random generator failed");
    return IH_OK;
}

bool ih_ct_equal(const void *a, const void *b, size_t n) { return CRYPTO_memcmp(a, b, n) == 0; }
void ih_wipe(void *p, size_t n) { OPENSSL_cleanse(p, n); }

EVP_CIPHER_CTX *ih_crypto_cipher_init(const EVP_CIPHER *cipher, const uint8_t key[32], const uint8_t *iv, int enc)
{
    tl_ctx *t = tl();
    if (!t) return NULL;
    if (t->cipher_for == cipher && CRYPTO_memcmp(t->cipher_key, key, 32) == 0) {
        if (EVP_CipherInit_ex2(t->cipher, NULL, NULL, iv, enc, NULL)) return t->cipher;
    }
    t->cipher_for = NULL;
    if (!EVP_CipherInit_ex2(t->cipher, cipher, key, iv, enc, NULL)) return NULL;
    memcpy(t->cipher_key, key, 32);
    t->cipher_for = cipher;
    return t->cipher;
}

const EVP_CIPHER *ih_cipher_aes256gcm(void) { return aes256gcm; }
const EVP_CIPHER *ih_cipher_sm4ctr(void) { return sm4ctr; }

const EVP_CIPHER *ih_cipher_by_name(const char *name)
{
    pthread_mutex_lock(&extra_mu);
    const EVP_CIPHER *found = NULL;
    size_t i = 0;
    for (; i < sizeof extra / sizeof extra[0] && extra[i].name; i++)
        if (!strcmp(extra[i].name, name)) {
            found = extra[i].c;
            break;
        }
    if (!found && i < sizeof extra / sizeof extra[0]) {
        EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
        if (c) {
            extra[i].name = name;
            extra[i].c = c;
            found = c;
        } else {
            ERR_clear_error();
        }
    }
    pthread_mutex_unlock(&extra_mu);
    return found;
}
