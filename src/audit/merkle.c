/* merkle.c — see merkle.h.  L3 8.1.4.3c / 8.1.4.7b: tamper-evident audit. */
#include "audit/merkle.h"

#include <string.h>

/* The digests take their input in one piece where it is small: each piece
 * is a call into the provider, and verification computes two digests per
 * event. */
ih_err ih_merkle_leaf(ih_md md, const void *entry, size_t n, uint8_t out[IH_HASH_LEN])
{
    uint8_t one_piece[1024];
    if (n < sizeof one_piece) {
        one_piece[0] = 0x00;
        memcpy(one_piece + 1, entry, n);
        return ih_digest(md, one_piece, n + 1, out);
    }
    static const uint8_t zero = 0x00;
    ih_iov v[] = {{&zero, 1}, {entry, n}};
    return ih_digest_v(md, v, 2, out);
}

ih_err ih_merkle_node(ih_md md, const uint8_t l[IH_HASH_LEN], const uint8_t r[IH_HASH_LEN], uint8_t out[IH_HASH_LEN])
{
    uint8_t in[1 + 2 * IH_HASH_LEN];
    in[0] = 0x01;
    memcpy(in + 1, l, IH_HASH_LEN);
    memcpy(in + 1 + IH_HASH_LEN, r, IH_HASH_LEN);
    return ih_digest(md, in, sizeof in, out);
}

ih_err ih_frontier_append(ih_md md, ih_frontier *f, const uint8_t leaf[IH_HASH_LEN], ih_merkle_node_cb cb, void *ctx)
{
    uint8_t cur[IH_HASH_LEN];
    memcpy(cur, leaf, IH_HASH_LEN);
    uint64_t idx = f->size;
    int level = 0;
    while (idx & 1) {
        if (f->n == 0) return ih_fail(IH_E_INTEGRITY, "frontier does not match its size");
        IH_TRY(ih_merkle_node(md, f->h[f->n - 1], cur, cur));
        f->n--;
        level++;
        idx >>= 1;
        if (cb) IH_TRY(cb(ctx, level, idx, cur));
    }
    if (f->n >= IH_MERKLE_MAX_DEPTH) return ih_fail(IH_E_INTEGRITY, "tree too large");
    memcpy(f->h[f->n++], cur, IH_HASH_LEN);
    f->size++;
    return IH_OK;
}

ih_err ih_frontier_root(ih_md md, const ih_frontier *f, uint8_t out[IH_HASH_LEN])
{
    if (f->n == 0) return ih_digest(md, "", 0, out);
    uint8_t r[IH_HASH_LEN];
    memcpy(r, f->h[f->n - 1], IH_HASH_LEN);
    for (int i = f->n - 2; i >= 0; i--) IH_TRY(ih_merkle_node(md, f->h[i], r, r));
    memcpy(out, r, IH_HASH_LEN);
    return IH_OK;
}

void ih_frontier_encode(const ih_frontier *f, uint8_t *out, size_t *len)
{
    for (int i = 0; i < f->n; i++) memcpy(out + (size_t)i * IH_HASH_LEN, f->h[i], IH_HASH_LEN);
    *len = (size_t)f->n * IH_HASH_LEN;
}

int ih_frontier_decode(ih_frontier *f, uint64_t size, const uint8_t *in, size_t len)
{
    int n = __builtin_popcountll(size);
    if (len != (size_t)n * IH_HASH_LEN) return -1;
    f->size = size;
    f->n = n;
    for (int i = 0; i < n; i++) memcpy(f->h[i], in + (size_t)i * IH_HASH_LEN, IH_HASH_LEN);
    return 0;
}

static uint64_t largest_pow2_below(uint64_t n) /* largest 2^k < n, n >= 2 */
{
    uint64_t k = 1;
    while (k << 1 < n) k <<= 1;
    return k;
}

/* Hash of leaves [a, b): either one stored perfect subtree or a split. */
static ih_err mth(ih_md md, uint64_t a, uint64_t b, ih_merkle_get_fn get, void *ctx, uint8_t out[IH_HASH_LEN])
{
    uint64_t n = b - a;
    if ((n & (n - 1)) == 0 && (a & (n - 1)) == 0) {
        int level = __builtin_ctzll(n);
        return get(ctx, level, a >> level, out);
    }
    uint64_t k = largest_pow2_below(n);
    uint8_t l[IH_HASH_LEN], r[IH_HASH_LEN];
    IH_TRY(mth(md, a, a + k, get, ctx, l));
    IH_TRY(mth(md, a + k, b, get, ctx, r));
    return ih_merkle_node(md, l, r, out);
}

/* PATH(m, D[a:b]) appended leaf-side first. */
static ih_err path(ih_md md, uint64_t m, uint64_t a, uint64_t b, ih_merkle_get_fn get, void *ctx,
                   uint8_t proof[][IH_HASH_LEN], int *count)
{
    uint64_t n = b - a;
    if (n <= 1) return IH_OK;
    uint64_t k = largest_pow2_below(n);
    if (*count >= IH_MERKLE_MAX_DEPTH) return ih_fail(IH_E_INTERNAL, "proof too long");
    if (m < k) {
        IH_TRY(path(md, m, a, a + k, get, ctx, proof, count));
        IH_TRY(mth(md, a + k, b, get, ctx, proof[(*count)++]));
    } else {
        IH_TRY(path(md, m - k, a + k, b, get, ctx, proof, count));
        IH_TRY(mth(md, a, a + k, get, ctx, proof[(*count)++]));
    }
    return IH_OK;
}

ih_err ih_merkle_prove(ih_md md, uint64_t m, uint64_t n, ih_merkle_get_fn get, void *ctx,
                       uint8_t proof[][IH_HASH_LEN], int *count)
{
    *count = 0;
    if (m >= n) return ih_fail(IH_E_INVALID, "leaf %llu is not in a tree of %llu", (unsigned long long)m,
                               (unsigned long long)n);
    return path(md, m, 0, n, get, ctx, proof, count);
}

ih_err ih_merkle_verify(ih_md md, uint64_t m, uint64_t n, const uint8_t leaf[IH_HASH_LEN],
                        const uint8_t proof[][IH_HASH_LEN], int count, const uint8_t root[IH_HASH_LEN])
{
    if (m >= n) return ih_fail(IH_E_INTEGRITY, "leaf index beyond tree size");
    uint64_t fn = m, sn = n - 1;
    uint8_t r[IH_HASH_LEN];
    memcpy(r, leaf, IH_HASH_LEN);
    for (int i = 0; i < count; i++) {
        if (sn == 0) return ih_fail(IH_E_INTEGRITY, "proof too long");
        if ((fn & 1) || fn == sn) {
            IH_TRY(ih_merkle_node(md, proof[i], r, r));
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            IH_TRY(ih_merkle_node(md, r, proof[i], r));
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || !ih_ct_equal(r, root, IH_HASH_LEN))
        return ih_fail(IH_E_INTEGRITY, "inclusion proof does not lead to the root");
    return IH_OK;
}
