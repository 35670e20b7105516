/* test_merkle.c — RFC 6962 roots against the Certificate Transparency test
 * vectors; inclusion proofs for every (leaf, size) up to 40, and tampering. */
#include "support.h"

#include "audit/merkle.h"
#include "core/buf.h"

#include <string.h>

static const struct {
    const char *data;
    size_t n;
} leaves[8] = {
    {"", 0}, {"\x00", 1}, {"\x10", 1}, {"\x20\x21", 2}, {"\x30\x31", 2}, {"\x40\x41\x42\x43", 4},
    {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
    {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
};

static const char *roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* A flat store of every node: level-major, enough for 64 leaves. */
static uint8_t nodes[8][64][IH_HASH_LEN];

static ih_err keep(void *ctx, int level, uint64_t index, const uint8_t h[IH_HASH_LEN])
{
    (void)ctx;
    memcpy(nodes[level][index], h, IH_HASH_LEN);
    return IH_OK;
}

static ih_err get(void *ctx, int level, uint64_t index, uint8_t out[IH_HASH_LEN])
{
    (void)ctx;
    memcpy(out, nodes[level][index], IH_HASH_LEN);
    return IH_OK;
}

static void t_ct_vectors(void **state)
{
    (void)state;
    ih_frontier f = {0};
    for (int i = 0; i < 8; i++) {
        uint8_t leaf[32], root[32];
        T_OK(ih_merkle_leaf(IH_MD_SHA256, leaves[i].data, leaves[i].n, leaf));
        memcpy(nodes[0][i], leaf, 32);
        T_OK(ih_frontier_append(IH_MD_SHA256, &f, leaf, keep, NULL));
        T_OK(ih_frontier_root(IH_MD_SHA256, &f, root));
        char hex[65];
        ih_hex_encode(root, 32, hex, 0);
        assert_string_equal(hex, roots[i]);
    }
    /* The empty tree's root is the hash of nothing. */
    ih_frontier e = {0};
    uint8_t r[32];
    char hex[65];
    T_OK(ih_frontier_root(IH_MD_SHA256, &e, r));
    ih_hex_encode(r, 32, hex, 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void proofs_for(ih_md md)
{
    ih_frontier f = {0};
    uint8_t roots_by_size[41][32];
    for (int i = 0; i < 40; i++) {
        uint8_t leaf[32];
        char entry[32];
        snprintf(entry, sizeof entry, "event-%d", i);
        T_OK(ih_merkle_leaf(md, entry, strlen(entry), leaf));
        memcpy(nodes[0][i], leaf, 32);
        T_OK(ih_frontier_append(md, &f, leaf, keep, NULL));
        T_OK(ih_frontier_root(md, &f, roots_by_size[i + 1]));
    }
    /* Encode/decode keeps the frontier. */
    uint8_t enc[64 * 32];
    size_t len;
    ih_frontier g;
    ih_frontier_encode(&f, enc, &len);
    assert_int_equal(ih_frontier_decode(&g, f.size, enc, len), 0);
    assert_int_equal(ih_frontier_decode(&g, f.size + 1, enc, len), -1);
    for (uint64_t n = 1; n <= 40; n++) {
        for (uint64_t m = 0; m < n; m++) {
            uint8_t proof[IH_MERKLE_MAX_DEPTH][32];
            int count;
            T_OK(ih_merkle_prove(md, m, n, get, NULL, proof, &count));
            T_OK(ih_merkle_verify(md, m, n, nodes[0][m], proof, count, roots_by_size[n]));
            /* Wrong leaf, index, size or a bent proof hash fail. */
            uint8_t other = (uint8_t)((m + 1) % n);
            if (n > 1) {
                assert_int_equal(ih_merkle_verify(md, m, n, nodes[0][other], proof, count, roots_by_size[n]),
                                 IH_E_INTEGRITY);
                assert_int_equal(ih_merkle_verify(md, other, n, nodes[0][m], proof, count, roots_by_size[n]),
                                 IH_E_INTEGRITY);
                proof[0][5] ^= 1;
                assert_int_equal(ih_merkle_verify(md, m, n, nodes[0][m], proof, count, roots_by_size[n]),
                                 IH_E_INTEGRITY);
                proof[0][5] ^= 1;
            }
            if (n < 40)
                assert_int_equal(ih_merkle_verify(md, m, n + 1, nodes[0][m], proof, count, roots_by_size[n + 1]),
                                 IH_E_INTEGRITY);
        }
    }
}

static void t_inclusion_sha256(void **state)
{
    (void)state;
    proofs_for(IH_MD_SHA256);
}

static void t_inclusion_sm3(void **state)
{
    (void)state;
    proofs_for(IH_MD_SM3);
}

int main(void)
{
    if (ih_crypto_init() != IH_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_ct_vectors), cmocka_unit_test(t_inclusion_sha256), cmocka_unit_test(t_inclusion_sm3),
    };
    return cmocka_run_group_tests_name("merkle", tests, NULL, NULL);
}
