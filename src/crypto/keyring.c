/* keyring.c — see keyring.h.  L3 8.1.4.8b; GB/T 39786 8.4e key hierarchy. */
#include "crypto/keyring.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char *const purpose_names[IH_KP__COUNT] = {
    [IH_KP_PERSONAL] = "personal", [IH_KP_CLINICAL] = "clinical", [IH_KP_TOTP] = "totp",
    [IH_KP_SIGNING] = "signing",   [IH_KP_INDEX] = "index",       [IH_KP_INTEGRITY] = "integrity",
    [IH_KP_SECRET] = "secret",
};

typedef struct {
    ih_dek *keys[IH_KEY_MAX_VERSIONS]; /* sorted by version */
    int n;
} series;

struct ih_keyring {
    ih_suite suite;
    ih_dek *kek; /* the KEK, used as a DEK of version 0 for wrapping (NULL when external) */
    const ih_kek_ops *ext; /* a KEK in a token: these wrap and unwrap */
    void *ext_ctx;
    series s[IH_KP__COUNT];
    pthread_rwlock_t lock;
};

const char *ih_key_purpose_name(ih_key_purpose p)
{
    return (p > 0 && p < IH_KP__COUNT) ? purpose_names[p] : "unknown";
}

int ih_key_purpose_parse(const char *name)
{
    for (int i = 1; i < IH_KP__COUNT; i++)
        if (!strcmp(purpose_names[i], name)) return i;
    return -1;
}

static ih_dek *dek_alloc(void)
{
    ih_dek *d = sodium_malloc(sizeof *d);
    if (d) memset(d, 0, sizeof *d);
    return d;
}

static ih_err make_kek(ih_suite s, const uint8_t kek[32], ih_dek **out)
{
    ih_dek *d = dek_alloc();
    if (!d) return ih_fail(IH_E_NOMEM, "secure memory");
    d->suite = s;
    d->version = 0;
    memcpy(d->root, kek, 32);
    ih_err e = ih_dek_derive(d);
    if (e != IH_OK) {
        sodium_free(d);
        return e;
    }
    *out = d;
    return IH_OK;
}

ih_err ih_keyring_new(ih_suite s, const uint8_t kek[32], ih_keyring **out)
{
    IH_TRY(ih_crypto_init());
    ih_keyring *k = calloc(1, sizeof *k);
    IH_CHECK_ALLOC(k);
    k->suite = s;
    ih_err e = make_kek(s, kek, &k->kek);
    if (e != IH_OK) {
        free(k);
        return e;
    }
    pthread_rwlock_init(&k->lock, NULL);
    *out = k;
    return IH_OK;
}

ih_err ih_keyring_new_external(ih_suite s, const ih_kek_ops *ops, void *ctx, ih_keyring **out)
{
    IH_TRY(ih_crypto_init());
    ih_keyring *k = calloc(1, sizeof *k);
    IH_CHECK_ALLOC(k);
    k->suite = s;
    k->ext = ops;
    k->ext_ctx = ctx;
    pthread_rwlock_init(&k->lock, NULL);
    *out = k;
    return IH_OK;
}

bool ih_keyring_kek_external(const ih_keyring *k) { return k->ext != NULL; }

void ih_keyring_free(ih_keyring *k)
{
    if (!k) return;
    for (int p = 0; p < IH_KP__COUNT; p++)
        for (int i = 0; i < k->s[p].n; i++) sodium_free(k->s[p].keys[i]); /* wipes */
    if (k->kek) sodium_free(k->kek);
    if (k->ext && k->ext->free) k->ext->free(k->ext_ctx);
    pthread_rwlock_destroy(&k->lock);
    free(k);
}

ih_suite ih_keyring_suite(const ih_keyring *k) { return k->suite; }

void ih_keyring_kek_id(const ih_keyring *k, char out[17])
{
    if (k->ext) {
        k->ext->id(k->ext_ctx, out);
        return;
    }
    uint8_t mac[32];
    memset(mac, 0, sizeof mac);
    ih_hmac(ih_suite_md(k->suite), k->kek->root, 32, "ihos kek id", 11, mac);
    for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static void wrap_ad(ih_key_purpose p, uint32_t version, uint8_t ad[14])
{
    memcpy(ad, "ihos-dek", 8);
    ad[8] = 0;
    ad[9] = (uint8_t)p;
    ad[10] = (uint8_t)(version >> 24);
    ad[11] = (uint8_t)(version >> 16);
    ad[12] = (uint8_t)(version >> 8);
    ad[13] = (uint8_t)version;
}

/* Insert d into its series, keeping versions sorted.  Caller holds the write lock. */
static ih_err insert(ih_keyring *k, ih_dek *d)
{
    series *s = &k->s[d->purpose];
    for (int i = 0; i < s->n; i++)
        if (s->keys[i]->version == d->version) return ih_fail(IH_E_EXISTS, "key version already present");
    if (s->n >= IH_KEY_MAX_VERSIONS) return ih_fail(IH_E_STATE, "too many key versions for one purpose");
    int i = s->n;
    while (i > 0 && s->keys[i - 1]->version > d->version) {
        s->keys[i] = s->keys[i - 1];
        i--;
    }
    s->keys[i] = d;
    s->n++;
    return IH_OK;
}

static bool valid_purpose(ih_key_purpose p) { return p > 0 && p < IH_KP__COUNT; }

ih_err ih_keyring_add_wrapped(ih_keyring *k, ih_key_purpose p, uint32_t version, const void *w, size_t n)
{
    if (!valid_purpose(p) || version == 0) return ih_fail(IH_E_INVALID, "bad key purpose or version");
    uint8_t ad[14];
    wrap_ad(p, version, ad);
    ih_buf plain = IH_BUF_INIT;
    ih_err e;
    if (k->ext) {
        uint8_t raw[32];
        e = k->ext->open(k->ext_ctx, ad, sizeof ad, w, n, raw);
        if (e == IH_OK) e = ih_buf_append(&plain, raw, sizeof raw);
        ih_wipe(raw, sizeof raw);
    } else {
        e = ih_aead_open(k->kek, ad, sizeof ad, w, n, &plain);
    }
    if (e != IH_OK || plain.len != 32) {
        ih_buf_wipe(&plain);
        return ih_fail(IH_E_INTEGRITY, "cannot unwrap %s key v%u: wrong KEK or damaged key",
                       ih_key_purpose_name(p), version);
    }
    ih_dek *d = dek_alloc();
    if (!d) {
        ih_buf_wipe(&plain);
        return ih_fail(IH_E_NOMEM, "secure memory");
    }
    d->suite = k->suite;
    d->version = version;
    d->purpose = p;
    memcpy(d->root, plain.p, 32);
    ih_buf_wipe(&plain);
    e = ih_dek_derive(d);
    if (e == IH_OK) {
        pthread_rwlock_wrlock(&k->lock);
        e = insert(k, d);
        pthread_rwlock_unlock(&k->lock);
    }
    if (e != IH_OK) sodium_free(d);
    return e;
}

static ih_err wrap_with(const ih_dek *kek, const ih_dek *d, ih_buf *out)
{
    uint8_t ad[14];
    wrap_ad((ih_key_purpose)d->purpose, d->version, ad);
    return ih_aead_seal(kek, ad, sizeof ad, d->root, 32, out);
}

/* Wrap under the keyring's own KEK, wherever it lives. */
static ih_err wrap_own(const ih_keyring *k, const ih_dek *d, ih_buf *out)
{
    if (!k->ext) return wrap_with(k->kek, d, out);
    uint8_t ad[14];
    wrap_ad((ih_key_purpose)d->purpose, d->version, ad);
    return k->ext->seal(k->ext_ctx, ad, sizeof ad, d->root, 32, out);
}

ih_err ih_keyring_mint(ih_keyring *k, ih_key_purpose p, uint32_t version, ih_buf *wrapped)
{
    if (!valid_purpose(p) || version == 0) return ih_fail(IH_E_INVALID, "bad key purpose or version");
    if (ih_keyring_get(k, p, version)) return ih_fail(IH_E_EXISTS, "key version already present");
    size_t had = wrapped->len; /* on failure, leave the caller's buffer as it was */
    ih_dek *d = dek_alloc();
    if (!d) return ih_fail(IH_E_NOMEM, "secure memory");
    d->suite = k->suite;
    d->version = version;
    d->purpose = p;
    ih_err e = ih_random(d->root, 32);
    if (e == IH_OK) {
        pthread_rwlock_rdlock(&k->lock);
        e = wrap_own(k, d, wrapped);
        pthread_rwlock_unlock(&k->lock);
    }
    sodium_free(d); /* wipes */
    if (e != IH_OK) {
        wrapped->len = had;
        if (wrapped->p) wrapped->p[had] = '\0';
    }
    return e;
}

ih_err ih_keyring_rewrap(const ih_keyring *k, const uint8_t new_kek[32], ih_key_purpose p, uint32_t version,
                         ih_buf *wrapped)
{
    if (k->ext) return ih_fail(IH_E_STATE, "the KEK is held in a token; rotate it with the token's tools");
    const ih_dek *d = ih_keyring_get((ih_keyring *)k, p, version);
    if (!d) return ih_fail(IH_E_NOT_FOUND, "no %s key v%u", ih_key_purpose_name(p), version);
    ih_dek *kek;
    IH_TRY(make_kek(k->suite, new_kek, &kek));
    ih_err e = wrap_with(kek, d, wrapped);
    sodium_free(kek);
    return e;
}

ih_err ih_keyring_rewrap_to(const ih_keyring *k, const ih_keyring *target, ih_key_purpose p, uint32_t version,
                            ih_buf *wrapped)
{
    const ih_dek *d = ih_keyring_get((ih_keyring *)k, p, version);
    if (!d) return ih_fail(IH_E_NOT_FOUND, "no %s key v%u", ih_key_purpose_name(p), version);
    return wrap_own(target, d, wrapped);
}

ih_err ih_keyring_kek_export(const ih_keyring *k, uint8_t out[32])
{
    if (k->ext) return ih_fail(IH_E_STATE, "the KEK is held in a token and never leaves it");
    pthread_rwlock_rdlock((pthread_rwlock_t *)&k->lock);
    memcpy(out, k->kek->root, 32);
    pthread_rwlock_unlock((pthread_rwlock_t *)&k->lock);
    return IH_OK;
}

ih_err ih_keyring_set_kek(ih_keyring *k, const uint8_t kek[32])
{
    if (k->ext) return ih_fail(IH_E_STATE, "the KEK is held in a token; rotate it with the token's tools");
    ih_dek *nk;
    IH_TRY(make_kek(k->suite, kek, &nk));
    pthread_rwlock_wrlock(&k->lock);
    ih_dek *old = k->kek;
    k->kek = nk;
    pthread_rwlock_unlock(&k->lock);
    sodium_free(old);
    return IH_OK;
}

const ih_dek *ih_keyring_current(ih_keyring *k, ih_key_purpose p)
{
    if (!valid_purpose(p)) return NULL;
    pthread_rwlock_rdlock(&k->lock);
    const ih_dek *d = k->s[p].n ? k->s[p].keys[k->s[p].n - 1] : NULL;
    pthread_rwlock_unlock(&k->lock);
    return d;
}

const ih_dek *ih_keyring_get(ih_keyring *k, ih_key_purpose p, uint32_t version)
{
    if (!valid_purpose(p)) return NULL;
    const ih_dek *found = NULL;
    pthread_rwlock_rdlock(&k->lock);
    for (int i = 0; i < k->s[p].n; i++)
        if (k->s[p].keys[i]->version == version) {
            found = k->s[p].keys[i];
            break;
        }
    pthread_rwlock_unlock(&k->lock);
    return found;
}

int ih_keyring_versions(ih_keyring *k, ih_key_purpose p, uint32_t *out, int cap)
{
    if (!valid_purpose(p)) return 0;
    pthread_rwlock_rdlock(&k->lock);
    int n = 0;
    for (int i = 0; i < k->s[p].n && n < cap; i++) out[n++] = k->s[p].keys[i]->version;
    pthread_rwlock_unlock(&k->lock);
    return n;
}
