/* test_crypto.c — primitives against fixed vectors, AEAD, signatures
 * (checked by the openssl command-line tool), keyring, field protection. */
#include "support.h"

#include "core/buf.h"
#include "core/fsutil.h"
#include "crypto/aead.h"
#include "crypto/extsig.h"
#include "crypto/keyring.h"
#include "crypto/protect.h"
#include "crypto/sign.h"
#include "crypto/suite.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const uint8_t *p, size_t n, char *out) { ih_hex_encode(p, n, out, 1); }

static void t_digest_vectors(void **state)
{
    (void)state;
    uint8_t out[32];
    char h[65];
    T_OK(ih_digest(IH_MD_SM3, "abc", 3, out));
    hex(out, 32, h);
    assert_string_equal(h, "66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0");
    T_OK(ih_digest(IH_MD_SHA256, "abc", 3, out));
    hex(out, 32, h);
    assert_string_equal(h, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
    /* Multi-part equals one-shot. */
    ih_iov v[] = {{"a", 1}, {"", 0}, {"bc", 2}};
    uint8_t out2[32];
    T_OK(ih_digest_v(IH_MD_SM3, v, 3, out2));
    T_OK(ih_digest(IH_MD_SM3, "abc", 3, out));
    assert_memory_equal(out, out2, 32);
    /* RFC 4231 test case 2. */
    T_OK(ih_hmac(IH_MD_SHA256, "Jefe", 4, "what do ya want for nothing?", 28, out));
    hex(out, 32, h);
    assert_string_equal(h, "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843");
    /* Same key again after another key: the kept key schedule gives the same MAC. */
    uint8_t again[32], other[32];
    T_OK(ih_hmac(IH_MD_SHA256, "Jefe!", 5, "what do ya want for nothing?", 28, other));
    T_OK(ih_hmac(IH_MD_SHA256, "Jefe", 4, "what do ya want for nothing?", 28, again));
    assert_memory_equal(out, again, 32);
    assert_memory_not_equal(out, other, 32);
    T_OK(ih_hmac(IH_MD_SHA256, "Jefe", 4, "what do ya want for nothing?", 28, again));
    assert_memory_equal(out, again, 32);
    /* RFC 2202 HMAC-SHA1 test case 2. */
    T_OK(ih_hmac(IH_MD_SHA1, "Jefe", 4, "what do ya want for nothing?", 28, out));
    hex(out, 20, h);
    assert_string_equal(h, "EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79");
}

static void make_dek(ih_suite s, uint32_t version, ih_dek *d)
{
    memset(d, 0, sizeof *d);
    d->suite = s;
    d->version = version;
    for (int i = 0; i < 32; i++) d->root[i] = (uint8_t)(i * 7 + version);
    T_OK(ih_dek_derive(d));
}

static void aead_suite(ih_suite s)
{
    ih_dek k, other;
    make_dek(s, 3, &k);
    make_dek(s, 4, &other);
    const char *pt = "张三 13800138000 — a message body";
    ih_buf ct = IH_BUF_INIT, back = IH_BUF_INIT;
    T_OK(ih_aead_seal(&k, "ad", 2, pt, strlen(pt), &ct));
    assert_int_equal(ct.len, strlen(pt) + ih_aead_overhead(s));
    assert_int_equal(ih_aead_version(ct.p, ct.len), 3);
    assert_null(memmem(ct.p, ct.len, "13800138000", 11));
    T_OK(ih_aead_open(&k, "ad", 2, ct.p, ct.len, &back));
    assert_int_equal(back.len, strlen(pt));
    assert_memory_equal(back.p, pt, back.len);
    /* Two seals of the same text differ (fresh nonce/IV). */
    ih_buf ct2 = IH_BUF_INIT;
    T_OK(ih_aead_seal(&k, "ad", 2, pt, strlen(pt), &ct2));
    assert_true(ct.len == ct2.len && memcmp(ct.p, ct2.p, ct.len) != 0);
    /* Wrong AD, wrong key, any flipped bit: refused. */
    ih_buf_reset(&back);
    assert_int_equal(ih_aead_open(&k, "AD", 2, ct.p, ct.len, &back), IH_E_INTEGRITY);
    assert_int_equal(ih_aead_open(&other, "ad", 2, ct.p, ct.len, &back), IH_E_INTEGRITY);
    for (size_t i = 0; i < ct.len; i += 7) {
        ct.p[i] ^= 0x01;
        assert_int_equal(ih_aead_open(&k, "ad", 2, ct.p, ct.len, &back), IH_E_INTEGRITY);
        ct.p[i] ^= 0x01;
    }
    assert_int_equal(ih_aead_open(&k, "ad", 2, ct.p, ct.len - 1, &back), IH_E_INTEGRITY);
    /* The thread keeps a key schedule between calls: after failures, after
     * another key and after a seal, each open still gives the exact text
     * (the odd length leaves a CTR block half used). */
    ih_buf ct3 = IH_BUF_INIT;
    T_OK(ih_aead_seal(&other, "ad", 2, pt, strlen(pt), &ct3));
    const ih_buf *order[] = {&ct, &ct2, &ct3, &ct, &ct3, &ct2};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        ih_buf_reset(&back);
        T_OK(ih_aead_open(order[i] == &ct3 ? &other : &k, "ad", 2, order[i]->p, order[i]->len, &back));
        assert_int_equal(back.len, strlen(pt));
        assert_memory_equal(back.p, pt, back.len);
        ih_buf_reset(&back);
        assert_int_equal(ih_aead_open(&k, "ad", 2, ct3.p, ct3.len, &back), IH_E_INTEGRITY);
    }
    ih_buf_free(&ct3);
    /* Empty plaintext works. */
    ih_buf_reset(&ct);
    ih_buf_reset(&back);
    T_OK(ih_aead_seal(&k, NULL, 0, "", 0, &ct));
    T_OK(ih_aead_open(&k, NULL, 0, ct.p, ct.len, &back));
    assert_int_equal(back.len, 0);
    ih_buf_free(&ct);
    ih_buf_free(&ct2);
    ih_buf_free(&back);
}

static void t_aead_intl(void **state)
{
    (void)state;
    aead_suite(IH_SUITE_INTL);
}

static void t_aead_gm(void **state)
{
    (void)state;
    aead_suite(IH_SUITE_GM);
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void sign_suite(ih_suite s)
{
    ih_signkey *k, *k2, *pub;
    T_OK(ih_sign_generate(s, &k));
    const char msg[] = "prescription 42 approved by pharmacist 7";
    ih_buf sig = IH_BUF_INIT, der = IH_BUF_INIT, pem = IH_BUF_INIT;
    T_OK(ih_sign(k, msg, sizeof msg - 1, &sig));
    T_OK(ih_verify(k, msg, sizeof msg - 1, sig.p, sig.len));
    assert_int_equal(ih_verify(k, msg, sizeof msg - 2, sig.p, sig.len), IH_E_INTEGRITY);
    /* Private key round trip; public key from PEM verifies. */
    T_OK(ih_sign_private_der(k, &der));
    T_OK(ih_sign_from_private_der(s, der.p, der.len, &k2));
    T_OK(ih_sign_public_pem(k2, &pem));
    T_OK(ih_sign_public_from_pem(pem.p, pem.len, &pub));
    assert_int_equal(ih_signkey_suite(pub), s);
    T_OK(ih_verify(pub, msg, sizeof msg - 1, sig.p, sig.len));
    uint8_t raw[100];
    size_t rawn;
    T_OK(ih_sign_public_raw(pub, raw, sizeof raw, &rawn));
    assert_int_equal(rawn, s == IH_SUITE_GM ? 65 : 32);
    /* An independent implementation (the openssl CLI) agrees. */
    char *dir = t_tempdir();
    char path[600], cmd[2400];
    snprintf(path, sizeof path, "%s/pub.pem", dir);
    T_OK(ih_file_create(path, pem.p, pem.len, 0600));
    snprintf(path, sizeof path, "%s/msg", dir);
    T_OK(ih_file_create(path, msg, sizeof msg - 1, 0600));
    snprintf(path, sizeof path, "%s/sig", dir);
    T_OK(ih_file_create(path, sig.p, sig.len, 0600));
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -verify -pubin -inkey %s/pub.pem -rawin -in %s/msg -sigfile %s/sig %s >/dev/null 2>&1",
             dir, dir, dir, s == IH_SUITE_GM ? "-digest sm3 -pkeyopt distid:1234567812345678" : "");
    assert_int_equal(run(cmd), 0);
    /* ...and rejects a signature over other bytes. */
    snprintf(path, sizeof path, "%s/msg2", dir);
    T_OK(ih_file_create(path, "other", 5, 0600));
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -verify -pubin -inkey %s/pub.pem -rawin -in %s/msg2 -sigfile %s/sig %s >/dev/null 2>&1",
             dir, dir, dir, s == IH_SUITE_GM ? "-digest sm3 -pkeyopt distid:1234567812345678" : "");
    assert_int_not_equal(run(cmd), 0);
    t_rmtree(dir);
    free(dir);
    ih_buf_free(&sig);
    ih_buf_wipe(&der);
    ih_buf_free(&pem);
    ih_signkey_free(k);
    ih_signkey_free(k2);
    ih_signkey_free(pub);
}

static void t_sign_ed25519(void **state)
{
    (void)state;
    sign_suite(IH_SUITE_INTL);
}

static void t_sign_sm2(void **state)
{
    (void)state;
    sign_suite(IH_SUITE_GM);
}

/* mint + add, as the keys module does after its transaction commits */
static ih_err gen(ih_keyring *k, ih_key_purpose p, uint32_t v, ih_buf *w)
{
    size_t at = w->len;
    IH_TRY(ih_keyring_mint(k, p, v, w));
    return ih_keyring_add_wrapped(k, p, v, w->p + at, w->len - at);
}

static void keyring_suite(ih_suite s)
{
    uint8_t kek[32], kek2[32];
    memset(kek, 0x11, 32);
    memset(kek2, 0x22, 32);
    ih_keyring *k, *k2, *wrong;
    T_OK(ih_keyring_new(s, kek, &k));
    ih_buf w1 = IH_BUF_INIT, w2 = IH_BUF_INIT;
    T_OK(gen(k, IH_KP_PERSONAL, 1, &w1));
    /* Minting alone does not make a key current. */
    ih_buf tmp = IH_BUF_INIT;
    T_OK(ih_keyring_mint(k, IH_KP_PERSONAL, 9, &tmp));
    assert_int_equal(ih_keyring_current(k, IH_KP_PERSONAL)->version, 1);
    ih_buf_free(&tmp);
    T_OK(gen(k, IH_KP_PERSONAL, 2, &w2));
    size_t before = w2.len;
    assert_int_equal(ih_keyring_mint(k, IH_KP_PERSONAL, 2, &w2), IH_E_EXISTS);
    assert_int_equal(w2.len, before);
    assert_int_equal(ih_keyring_current(k, IH_KP_PERSONAL)->version, 2);
    assert_null(ih_keyring_current(k, IH_KP_CLINICAL));
    /* A second keyring with the same KEK unwraps to the same keys. */
    T_OK(ih_keyring_new(s, kek, &k2));
    T_OK(ih_keyring_add_wrapped(k2, IH_KP_PERSONAL, 2, w2.p, w2.len));
    assert_memory_equal(ih_keyring_get(k2, IH_KP_PERSONAL, 2)->root, ih_keyring_get(k, IH_KP_PERSONAL, 2)->root, 32);
    /* Wrapped under one purpose/version, it does not pass for another. */
    assert_int_equal(ih_keyring_add_wrapped(k2, IH_KP_CLINICAL, 2, w2.p, w2.len), IH_E_INTEGRITY);
    assert_int_equal(ih_keyring_add_wrapped(k2, IH_KP_PERSONAL, 3, w2.p, w2.len), IH_E_INTEGRITY);
    /* The wrong KEK cannot unwrap. */
    T_OK(ih_keyring_new(s, kek2, &wrong));
    assert_int_equal(ih_keyring_add_wrapped(wrong, IH_KP_PERSONAL, 1, w1.p, w1.len), IH_E_INTEGRITY);
    /* KEK rotation: rewrap under kek2, which `wrong` (holding kek2) can then open. */
    ih_buf rw = IH_BUF_INIT;
    T_OK(ih_keyring_rewrap(k, kek2, IH_KP_PERSONAL, 1, &rw));
    T_OK(ih_keyring_add_wrapped(wrong, IH_KP_PERSONAL, 1, rw.p, rw.len));
    char id1[17], id2[17];
    ih_keyring_kek_id(k, id1);
    T_OK(ih_keyring_set_kek(k, kek2));
    ih_keyring_kek_id(k, id2);
    assert_string_not_equal(id1, id2);
    uint32_t v[8];
    assert_int_equal(ih_keyring_versions(k, IH_KP_PERSONAL, v, 8), 2);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 2);
    ih_buf_free(&w1);
    ih_buf_free(&w2);
    ih_buf_free(&rw);
    ih_keyring_free(k);
    ih_keyring_free(k2);
    ih_keyring_free(wrong);
}

static void t_keyring(void **state)
{
    (void)state;
    keyring_suite(IH_SUITE_INTL);
    keyring_suite(IH_SUITE_GM);
}

static void t_field_protection(void **state)
{
    (void)state;
    uint8_t kek[32];
    memset(kek, 0x33, 32);
    for (int si = 0; si < 2; si++) {
        ih_suite s = si ? IH_SUITE_GM : IH_SUITE_INTL;
        ih_keyring *k;
        T_OK(ih_keyring_new(s, kek, &k));
        ih_buf w = IH_BUF_INIT;
        T_OK(gen(k, IH_KP_PERSONAL, 1, &w));
        T_OK(gen(k, IH_KP_INDEX, 1, &w));
        T_OK(gen(k, IH_KP_INTEGRITY, 1, &w));
        ih_buf ct = IH_BUF_INIT, back = IH_BUF_INIT;
        T_OK(ih_field_seal_str(k, IH_KP_PERSONAL, "patient", "name", 7, "李四", &ct));
        T_OK(ih_field_open(k, IH_KP_PERSONAL, "patient", "name", 7, ct.p, ct.len, &back));
        assert_string_equal(back.p, "李四");
        /* Copied to another row or column, it no longer opens. */
        assert_int_equal(ih_field_open(k, IH_KP_PERSONAL, "patient", "name", 8, ct.p, ct.len, &back), IH_E_INTEGRITY);
        assert_int_equal(ih_field_open(k, IH_KP_PERSONAL, "patient", "phone", 7, ct.p, ct.len, &back), IH_E_INTEGRITY);
        assert_int_equal(ih_field_open(k, IH_KP_PERSONAL, "staff", "name", 7, ct.p, ct.len, &back), IH_E_INTEGRITY);
        /* After rotation new seals use v2 and old ciphertext still opens. */
        T_OK(gen(k, IH_KP_PERSONAL, 2, &w));
        ih_buf ct2 = IH_BUF_INIT;
        T_OK(ih_field_seal_str(k, IH_KP_PERSONAL, "patient", "name", 7, "李四", &ct2));
        assert_int_equal(ih_aead_version(ct2.p, ct2.len), 2);
        ih_buf_reset(&back);
        T_OK(ih_field_open(k, IH_KP_PERSONAL, "patient", "name", 7, ct.p, ct.len, &back));
        /* Blind index: deterministic, domain-separated, keyed. */
        uint8_t a[32], b[32], c[32];
        T_OK(ih_blind_index(k, "id_number", "110101199003077777", a));
        T_OK(ih_blind_index(k, "id_number", "110101199003077777", b));
        T_OK(ih_blind_index(k, "phone", "110101199003077777", c));
        assert_memory_equal(a, b, 32);
        assert_memory_not_equal(a, c, 32);
        /* Row MAC notices any change of content or row. */
        ih_canon cn = {0};
        ih_canon_int(&cn, 42);
        ih_canon_text(&cn, "doctor");
        ih_canon_text(&cn, NULL);
        uint8_t mac[32];
        T_OK(ih_row_mac(k, "account", 5, &cn, mac));
        T_OK(ih_row_mac_check(k, "account", 5, &cn, mac, 32));
        assert_int_equal(ih_row_mac_check(k, "account", 6, &cn, mac, 32), IH_E_INTEGRITY);
        ih_canon cn2 = {0};
        ih_canon_int(&cn2, 42);
        ih_canon_text(&cn2, "sysadmin");
        ih_canon_text(&cn2, NULL);
        assert_int_equal(ih_row_mac_check(k, "account", 5, &cn2, mac, 32), IH_E_INTEGRITY);
        /* text "" and NULL encode differently */
        ih_canon e1 = {0}, e2 = {0};
        ih_canon_text(&e1, "");
        ih_canon_text(&e2, NULL);
        assert_true(e1.b.len == e2.b.len && memcmp(e1.b.p, e2.b.p, e1.b.len) != 0);
        ih_canon_free(&cn);
        ih_canon_free(&cn2);
        ih_canon_free(&e1);
        ih_canon_free(&e2);
        ih_buf_free(&w);
        ih_buf_free(&ct);
        ih_buf_free(&ct2);
        ih_buf_free(&back);
        ih_keyring_free(k);
    }
}

/* A payment channel's signature, made here with OpenSSL the way a channel
 * makes it, checked by extsig; a changed byte and another key fail; keys
 * of other kinds or too short are refused at load. */
static void one_scheme(EVP_PKEY *k, const char *scheme)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    ih_extsig *x = NULL;
    T_OK(ih_extsig_load(pem, (size_t)n, &x));
    BIO_free(b);
    assert_string_equal(ih_extsig_scheme(x), scheme);
    const char msg[] = "1790050400\nnonce\n{\"event\":\"paid\",\"amount\":\"21.50\"}\n";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *d = !strcmp(scheme, "Ed25519") ? NULL : !strcmp(scheme, "SM2-SM3") ? EVP_sm3() : EVP_sha256();
    if (!strcmp(scheme, "SM2-SM3")) {
        pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
        assert_true(EVP_PKEY_CTX_set1_id(pctx, "1234567812345678", 16) > 0);
        EVP_MD_CTX_set_pkey_ctx(md, pctx);
    }
    unsigned char sig[600];
    size_t sl = sizeof sig;
    assert_int_equal(EVP_DigestSignInit(md, NULL, d, NULL, k), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &sl, (const unsigned char *)msg, sizeof msg - 1), 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(pctx);
    T_OK(ih_extsig_verify(x, msg, sizeof msg - 1, sig, sl));
    char bad[sizeof msg];
    memcpy(bad, msg, sizeof msg);
    bad[sizeof msg - 5] ^= 1;
    assert_int_equal(ih_extsig_verify(x, bad, sizeof msg - 1, sig, sl), IH_E_INTEGRITY);
    sig[sl / 2] ^= 1;
    assert_int_equal(ih_extsig_verify(x, msg, sizeof msg - 1, sig, sl), IH_E_INTEGRITY);
    ih_extsig_free(x);
    ih_err_clear();
}

static void t_extsig_schemes(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    one_scheme(k, "RSA-SHA256");
    EVP_PKEY_free(k);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    one_scheme(k, "ECDSA-P256-SHA256");
    EVP_PKEY_free(k);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    one_scheme(k, "Ed25519");
    EVP_PKEY_free(k);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    one_scheme(k, "SM2-SM3");
    EVP_PKEY_free(k);
    /* too weak, or not a key */
    k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    ih_extsig *x = NULL;
    assert_int_equal(ih_extsig_load(pem, (size_t)n, &x), IH_E_CONFIG);
    BIO_free(b);
    EVP_PKEY_free(k);
    assert_int_equal(ih_extsig_load("not a key", 9, &x), IH_E_CONFIG);
    ih_err_clear();
}

int main(void)
{
    if (ih_crypto_init() != IH_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_digest_vectors), cmocka_unit_test(t_aead_intl), cmocka_unit_test(t_aead_gm),
        cmocka_unit_test(t_sign_ed25519),   cmocka_unit_test(t_sign_sm2), cmocka_unit_test(t_keyring),
        cmocka_unit_test(t_field_protection), cmocka_unit_test(t_extsig_schemes),
    };
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
