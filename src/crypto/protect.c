/* protect.c — see protect.h.  L3 8.1.4.7b/8.1.4.8b; GB/T 39786 8.4b/c/e/g. */
#include "crypto/protect.h"

#include <string.h>

enum { T_NULL = 0, T_TEXT = 1, T_INT = 2, T_BLOB = 3 };

static void put(ih_canon *c, uint8_t type, const void *p, size_t n)
{
    if (c->err != IH_OK) return;
    uint8_t h[5] = {type, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    c->err = ih_buf_append(&c->b, h, 5);
    if (c->err == IH_OK && n) c->err = ih_buf_append(&c->b, p, n);
}

void ih_canon_text(ih_canon *c, const char *s)
{
    if (s) put(c, T_TEXT, s, strlen(s));
    else put(c, T_NULL, NULL, 0);
}

void ih_canon_int(ih_canon *c, int64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    put(c, T_INT, b, 8);
}

void ih_canon_blob(ih_canon *c, const void *p, size_t n)
{
    if (p) put(c, T_BLOB, p, n);
    else put(c, T_NULL, NULL, 0);
}

void ih_canon_free(ih_canon *c) { ih_buf_wipe(&c->b); }

/* table \0 column \0 row(8 bytes) */
static ih_err field_ad(const char *table, const char *column, int64_t row, ih_buf *ad)
{
    IH_TRY(ih_buf_append(ad, table, strlen(table) + 1));
    IH_TRY(ih_buf_append(ad, column, strlen(column) + 1));
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)row >> (56 - 8 * i));
    return ih_buf_append(ad, b, 8);
}

ih_err ih_field_seal(ih_keyring *k, ih_key_purpose p, const char *table, const char *column, int64_t row,
                     const void *pt, size_t n, ih_buf *out)
{
    const ih_dek *d = ih_keyring_current(k, p);
    if (!d) return ih_fail(IH_E_CRYPTO, "no %s key loaded", ih_key_purpose_name(p));
    ih_buf ad = IH_BUF_INIT;
    IH_TRY(field_ad(table, column, row, &ad));
    ih_err e = ih_aead_seal(d, ad.p, ad.len, pt, n, out);
    ih_buf_free(&ad);
    return e;
}

ih_err ih_field_open(ih_keyring *k, ih_key_purpose p, const char *table, const char *column, int64_t row,
                     const void *ct, size_t n, ih_buf *out)
{
    int64_t v = ih_aead_version(ct, n);
    const ih_dek *d = v > 0 ? ih_keyring_get(k, p, (uint32_t)v) : NULL;
    if (!d) return ih_fail(IH_E_INTEGRITY, "%s.%s row %lld: unknown key version", table, column, (long long)row);
    ih_buf ad = IH_BUF_INIT;
    IH_TRY(field_ad(table, column, row, &ad));
    ih_err e = ih_aead_open(d, ad.p, ad.len, ct, n, out);
    ih_buf_free(&ad);
    if (e == IH_E_INTEGRITY)
        return ih_fail(e, "%s.%s row %lld: ciphertext fails authentication", table, column, (long long)row);
    return e;
}

ih_err ih_field_seal_str(ih_keyring *k, ih_key_purpose p, const char *table, const char *column, int64_t row,
                         const char *s, ih_buf *out)
{
    if (!s) return IH_OK;
    return ih_field_seal(k, p, table, column, row, s, strlen(s), out);
}

static ih_err keyed_mac(ih_keyring *k, ih_key_purpose p, const ih_iov *iov, int n, uint8_t out[32])
{
    /* Index and integrity keys are never rotated in place: version 1. */
    const ih_dek *d = ih_keyring_get(k, p, 1);
    if (!d) return ih_fail(IH_E_CRYPTO, "no %s key loaded", ih_key_purpose_name(p));
    return ih_hmac_v(ih_suite_md(d->suite), d->root, 32, iov, n, out);
}

ih_err ih_blind_index(ih_keyring *k, const char *domain, const char *normalized, uint8_t out[IH_INDEX_LEN])
{
    ih_iov v[] = {{domain, strlen(domain) + 1}, {normalized, strlen(normalized)}};
    return keyed_mac(k, IH_KP_INDEX, v, 2, out);
}

ih_err ih_row_mac(ih_keyring *k, const char *table, int64_t row, const ih_canon *c, uint8_t out[IH_MAC_LEN])
{
    if (c->err != IH_OK) return c->err;
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)row >> (56 - 8 * i));
    ih_iov v[] = {{table, strlen(table) + 1}, {b, 8}, {c->b.p, c->b.len}};
    return keyed_mac(k, IH_KP_INTEGRITY, v, 3, out);
}

ih_err ih_row_mac_check(ih_keyring *k, const char *table, int64_t row, const ih_canon *c, const void *mac,
                        size_t maclen)
{
    uint8_t want[IH_MAC_LEN];
    IH_TRY(ih_row_mac(k, table, row, c, want));
    if (maclen != IH_MAC_LEN || !ih_ct_equal(want, mac, IH_MAC_LEN))
        return ih_fail(IH_E_INTEGRITY, "%s row %lld: integrity check failed", table, (long long)row);
    return IH_OK;
}
