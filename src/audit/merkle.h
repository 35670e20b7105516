/* merkle.h — RFC 6962 / RFC 9162 Merkle tree hashing.
 *
 *   leaf hash  H(0x00 || entry)        node hash  H(0x01 || left || right)
 * H is SHA-256 (suite intl) or SM3 (suite gm).  A tree of n leaves is kept
 * as its frontier: the roots of the perfect subtrees that make it up,
 * largest first (one per set bit of n).  Appending a leaf merges equal-sized
 * subtrees and reports each completed node so the caller can store it
 * (level >= 1, index at that level); with every node stored, any subtree
 * hash — and so any inclusion proof — needs O(log n) lookups.
 */
#ifndef IH_AUDIT_MERKLE_H
#define IH_AUDIT_MERKLE_H

#include "core/err.h"
#include "crypto/suite.h"

#include <stdint.h>

#define IH_MERKLE_MAX_DEPTH 64

typedef struct ih_frontier {
    uint64_t size; /* leaves */
    int n;         /* subtree roots, = popcount(size) */
    uint8_t h[IH_MERKLE_MAX_DEPTH][IH_HASH_LEN];
} ih_frontier;

ih_err ih_merkle_leaf(ih_md md, const void *entry, size_t n, uint8_t out[IH_HASH_LEN]);
ih_err ih_merkle_node(ih_md md, const uint8_t l[IH_HASH_LEN], const uint8_t r[IH_HASH_LEN], uint8_t out[IH_HASH_LEN]);

/* Called for each completed internal node while appending. */
typedef ih_err (*ih_merkle_node_cb)(void *ctx, int level, uint64_t index, const uint8_t h[IH_HASH_LEN]);
ih_err ih_frontier_append(ih_md md, ih_frontier *f, const uint8_t leaf[IH_HASH_LEN], ih_merkle_node_cb cb, void *ctx);
/* Root of the tree (the empty tree's root is H("")). */
ih_err ih_frontier_root(ih_md md, const ih_frontier *f, uint8_t out[IH_HASH_LEN]);
/* Serialise the subtree roots (n * 32 bytes) and back. */
void ih_frontier_encode(const ih_frontier *f, uint8_t *out, size_t *len);
int ih_frontier_decode(ih_frontier *f, uint64_t size, const uint8_t *in, size_t len);

/* Hash of the perfect subtree at (level, index); level 0 = leaves. */
typedef ih_err (*ih_merkle_get_fn)(void *ctx, int level, uint64_t index, uint8_t out[IH_HASH_LEN]);
/* Inclusion proof (RFC 9162 2.1.3.1) of leaf m in a tree of n leaves;
 * writes up to IH_MERKLE_MAX_DEPTH hashes into proof, count into *count. */
ih_err ih_merkle_prove(ih_md md, uint64_t m, uint64_t n, ih_merkle_get_fn get, void *ctx,
                       uint8_t proof[][IH_HASH_LEN], int *count);
/* Verify an inclusion proof (RFC 9162 2.1.3.2): IH_OK or IH_E_INTEGRITY. */
ih_err ih_merkle_verify(ih_md md, uint64_t m, uint64_t n, const uint8_t leaf[IH_HASH_LEN],
                        const uint8_t proof[][IH_HASH_LEN], int count, const uint8_t root[IH_HASH_LEN]);

#endif
