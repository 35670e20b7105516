/* pkcs11.c — see pkcs11.h. */
#include "crypto/pkcs11.h"

#include "crypto/suite.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IV_LEN 12
#define TAG_LEN 16

struct ih_p11 {
    void *lib;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE key;
    bool initialized; /* this one initialized the module: it finalizes it (another may share the library) */
    pthread_mutex_t mu;
    char id[17];
};

static ih_err p11_fail(const char *what, CK_RV rv)
{
    return ih_fail(IH_E_CRYPTO, "PKCS#11 %s failed (CKR 0x%lx)", what, (unsigned long)rv);
}

/* Token labels are 32 bytes padded with spaces. */
static bool label_is(const unsigned char label[32], const char *want)
{
    size_t n = strlen(want);
    if (n > 32 || memcmp(label, want, n)) return false;
    for (size_t i = n; i < 32; i++)
        if (label[i] != ' ') return false;
    return true;
}

static ih_err find_slot(ih_p11 *p, const char *token, CK_SLOT_ID *slot, char serial[17])
{
    CK_ULONG n = 0;
    CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK) return p11_fail("C_GetSlotList", rv);
    CK_SLOT_ID *slots = calloc(n ? n : 1, sizeof *slots);
    IH_CHECK_ALLOC(slots);
    rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
    ih_err e = rv == CKR_OK ? ih_fail(IH_E_CONFIG, "no PKCS#11 token labelled '%s'", token)
                            : p11_fail("C_GetSlotList", rv);
    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
        CK_TOKEN_INFO ti;
        if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || !label_is(ti.label, token)) continue;
        *slot = slots[i];
        memcpy(serial, ti.serialNumber, 16);
        serial[16] = 0;
        ih_err_clear();
        e = IH_OK;
        break;
    }
    free(slots);
    return e;
}

static ih_err find_key(ih_p11 *p, const char *label, bool *found)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_RV rv = p->f->C_FindObjectsInit(p->session, tmpl, 2);
    if (rv != CKR_OK) return p11_fail("C_FindObjectsInit", rv);
    CK_ULONG n = 0;
    CK_OBJECT_HANDLE h[2];
    rv = p->f->C_FindObjects(p->session, h, 2, &n);
    p->f->C_FindObjectsFinal(p->session);
    if (rv != CKR_OK) return p11_fail("C_FindObjects", rv);
    if (n > 1) return ih_fail(IH_E_CONFIG, "more than one key labelled '%s' on the token", label);
    *found = n == 1;
    if (n == 1) p->key = h[0];
    return IH_OK;
}

static ih_err create_key(ih_p11 *p, const char *label)
{
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &yes, sizeof yes},       {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},  {CKA_ENCRYPT, &yes, sizeof yes},
        {CKA_DECRYPT, &yes, sizeof yes},   {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_RV rv = p->f->C_GenerateKey(p->session, &mech, tmpl, sizeof tmpl / sizeof tmpl[0], &p->key);
    return rv == CKR_OK ? IH_OK : p11_fail("C_GenerateKey", rv);
}

ih_err ih_p11_open(const ih_p11_opts *o, ih_p11 **out)
{
    ih_p11 *p = calloc(1, sizeof *p);
    IH_CHECK_ALLOC(p);
    pthread_mutex_init(&p->mu, NULL);
    p->session = CK_INVALID_HANDLE;
    ih_err e = IH_OK;
    CK_RV rv;
    p->lib = dlopen(o->module, RTLD_NOW | RTLD_LOCAL);
    if (!p->lib) e = ih_fail(IH_E_CONFIG, "cannot load the PKCS#11 module %s: %s", o->module, dlerror());
    CK_C_GetFunctionList get = NULL;
    if (e == IH_OK) {
        *(void **)&get = dlsym(p->lib, "C_GetFunctionList");
        if (!get || get(&p->f) != CKR_OK || !p->f)
            e = ih_fail(IH_E_CONFIG, "%s is not a PKCS#11 module", o->module);
    }
    if (e == IH_OK) {
        CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
        rv = p->f->C_Initialize(&args);
        if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) e = p11_fail("C_Initialize", rv);
        p->initialized = rv == CKR_OK;
    }
    CK_SLOT_ID slot = 0;
    char serial[17] = "";
    if (e == IH_OK) e = find_slot(p, o->token, &slot, serial);
    if (e == IH_OK && (rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->session)) !=
                          CKR_OK)
        e = p11_fail("C_OpenSession", rv);
    if (e == IH_OK) {
        rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)o->pin, o->pin_len);
        if (rv == CKR_PIN_INCORRECT) e = ih_fail(IH_E_CONFIG, "the token refused the PIN");
        else if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) e = p11_fail("C_Login", rv);
    }
    bool found = false;
    if (e == IH_OK) e = find_key(p, o->key_label, &found);
    if (e == IH_OK && !found) {
        if (o->create) e = create_key(p, o->key_label);
        else e = ih_fail(IH_E_CONFIG, "no key labelled '%s' on token '%s'", o->key_label, o->token);
    }
    if (e == IH_OK) { /* names the key: the token's serial and the label, not the key */
        char what[128];
        uint8_t d[32];
        snprintf(what, sizeof what, "pkcs11:%s:%s", serial, o->key_label);
        e = ih_digest(IH_MD_SHA256, what, strlen(what), d);
        for (int i = 0; e == IH_OK && i < 8; i++) snprintf(p->id + 2 * i, 3, "%02x", d[i]);
    }
    if (e != IH_OK) {
        ih_p11_close(p);
        return e;
    }
    *out = p;
    return IH_OK;
}

void ih_p11_close(ih_p11 *p)
{
    if (!p) return;
    if (p->f && p->session != CK_INVALID_HANDLE) {
        p->f->C_Logout(p->session);
        p->f->C_CloseSession(p->session);
    }
    if (p->f && p->initialized) p->f->C_Finalize(NULL);
    if (p->lib) dlclose(p->lib);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static ih_err p11_seal(void *ctx, const uint8_t *ad, size_t adn, const uint8_t *plain, size_t n, ih_buf *out)
{
    ih_p11 *p = ctx;
    uint8_t iv[IV_LEN];
    IH_TRY(ih_random(iv, sizeof iv));
    CK_GCM_PARAMS gcm = {.pIv = iv, .ulIvLen = IV_LEN, .ulIvBits = IV_LEN * 8, .pAAD = (uint8_t *)ad,
                         .ulAADLen = adn, .ulTagBits = TAG_LEN * 8};
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof gcm};
    uint8_t ct[64 + TAG_LEN];
    CK_ULONG ctn = sizeof ct;
    if (n > 64) return ih_fail(IH_E_INVALID, "a data key is at most 64 bytes");
    pthread_mutex_lock(&p->mu);
    CK_RV rv = p->f->C_EncryptInit(p->session, &mech, p->key);
    if (rv == CKR_OK) rv = p->f->C_Encrypt(p->session, (CK_BYTE_PTR)plain, n, ct, &ctn);
    pthread_mutex_unlock(&p->mu);
    if (rv != CKR_OK) return p11_fail("C_Encrypt", rv);
    IH_TRY(ih_buf_append(out, iv, sizeof iv));
    return ih_buf_append(out, ct, ctn);
}

static ih_err p11_open(void *ctx, const uint8_t *ad, size_t adn, const uint8_t *w, size_t n, uint8_t out[32])
{
    ih_p11 *p = ctx;
    if (n != IV_LEN + 32 + TAG_LEN) return ih_fail(IH_E_INTEGRITY, "not a data key wrapped by the token");
    CK_GCM_PARAMS gcm = {.pIv = (uint8_t *)w, .ulIvLen = IV_LEN, .ulIvBits = IV_LEN * 8, .pAAD = (uint8_t *)ad,
                         .ulAADLen = adn, .ulTagBits = TAG_LEN * 8};
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof gcm};
    uint8_t plain[32 + TAG_LEN];
    CK_ULONG pn = sizeof plain;
    pthread_mutex_lock(&p->mu);
    CK_RV rv = p->f->C_DecryptInit(p->session, &mech, p->key);
    if (rv == CKR_OK) rv = p->f->C_Decrypt(p->session, (CK_BYTE_PTR)w + IV_LEN, n - IV_LEN, plain, &pn);
    pthread_mutex_unlock(&p->mu);
    if (rv != CKR_OK || pn != 32) {
        ih_wipe(plain, sizeof plain);
        return rv == CKR_OK || rv == CKR_ENCRYPTED_DATA_INVALID ? ih_fail(IH_E_INTEGRITY, "the token cannot unwrap it")
                                                                 : p11_fail("C_Decrypt", rv);
    }
    memcpy(out, plain, 32);
    ih_wipe(plain, sizeof plain);
    return IH_OK;
}

static void p11_id(void *ctx, char out[17]) { memcpy(out, ((ih_p11 *)ctx)->id, 17); }
static void p11_free(void *ctx) { ih_p11_close(ctx); }

const ih_kek_ops ih_p11_kek_ops = {p11_seal, p11_open, p11_id, p11_free};
