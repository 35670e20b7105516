/* keys.c — see keys.h.  L3 8.1.4.8b; GB/T 39786 8.4e (key management). */
#include "keys/keys.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "audit/audit.h"
#include "core/log.h"
#include "crypto/protect.h"

#include <errno.h>
#include <sodium.h>
#include <unistd.h>

#include <stdio.h>
#include <string.h>

ih_err ih_kek_read_file(const char *path, uint8_t kek[32])
{
    IH_TRY(ih_check_private(path));
    ih_buf b = IH_BUF_INIT;
    ih_err e = ih_file_read(path, 64, &b);
    if (e == IH_OK && b.len != 32) e = ih_fail(IH_E_CONFIG, "%s: a KEK file holds exactly 32 bytes", path);
    if (e == IH_OK) memcpy(kek, b.p, 32);
    ih_buf_wipe(&b);
    return e;
}

typedef struct {
    ih_buf wrapped[IH_KP__COUNT];
    const char *kek_id;
} boot_arg;

static ih_err insert_dek(ih_tx *tx, int purpose, uint32_t version, const ih_buf *w, const char *kek_id)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO dek(purpose, version, wrapped, kek_id, state, created_at) "
                             "VALUES ($1, $2, $3, $4, 'active', $5)", &st));
    ih_stmt_int(st, 1, purpose);
    ih_stmt_int(st, 2, version);
    ih_stmt_blob(st, 3, w->p, w->len);
    ih_stmt_text(st, 4, kek_id);
    ih_stmt_int(st, 5, ih_now_ms());
    return ih_stmt_exec(st);
}

static ih_err boot_fn(ih_tx *tx, void *arg)
{
    boot_arg *a = arg;
    for (int p = 1; p < IH_KP__COUNT; p++) IH_TRY(insert_dek(tx, p, 1, &a->wrapped[p], a->kek_id));
    return IH_OK;
}

ih_err ih_keys_bootstrap(ih_store *s, ih_keyring *k)
{
    char kek_id[17];
    ih_keyring_kek_id(k, kek_id);
    boot_arg a = {.kek_id = kek_id};
    ih_err e = IH_OK;
    for (int p = 1; p < IH_KP__COUNT && e == IH_OK; p++) e = ih_keyring_mint(k, (ih_key_purpose)p, 1, &a.wrapped[p]);
    if (e == IH_OK) e = ih_store_write(s, boot_fn, &a);
    for (int p = 1; p < IH_KP__COUNT && e == IH_OK; p++)
        e = ih_keyring_add_wrapped(k, (ih_key_purpose)p, 1, a.wrapped[p].p, a.wrapped[p].len);
    for (int p = 1; p < IH_KP__COUNT; p++) ih_buf_free(&a.wrapped[p]);
    return e;
}

typedef struct {
    ih_keyring *k;
    char kek_id[17];
    int loaded;
} load_arg;

static ih_err load_fn(ih_tx *tx, void *arg)
{
    load_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT purpose, version, wrapped, kek_id FROM dek WHERE state = 'active' "
                             "ORDER BY purpose, version", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        int p = (int)ih_col_int(st, 0);
        uint32_t v = (uint32_t)ih_col_int(st, 1);
        if (strcmp(ih_col_text(st, 3), a->kek_id) != 0)
            return ih_fail(IH_E_INTEGRITY, "%s key v%u is wrapped by KEK %s, but the KEK given is %s",
                           ih_key_purpose_name((ih_key_purpose)p), v, ih_col_text(st, 3), a->kek_id);
        if (ih_keyring_get(a->k, (ih_key_purpose)p, v)) continue; /* reload after rotation */
        size_t n;
        const uint8_t *w = ih_col_blob(st, 2, &n);
        IH_TRY(ih_keyring_add_wrapped(a->k, (ih_key_purpose)p, v, w, n));
        a->loaded++;
    }
    return e;
}

ih_err ih_keys_field_open(ih_tx *tx, ih_keyring *k, ih_key_purpose p, const char *table, const char *column,
                          int64_t row, const void *ct, size_t n, ih_buf *out)
{
    int64_t v = ih_aead_version(ct, n);
    if (v > 0 && !ih_keyring_get(k, p, (uint32_t)v)) {
        load_arg a = {.k = k};
        ih_keyring_kek_id(k, a.kek_id);
        IH_TRY(load_fn(tx, &a));
        if (a.loaded) ih_log(IH_LOG_INFO, "keys.loaded_on_demand", "purpose", ih_key_purpose_name(p), NULL);
    }
    return ih_field_open(k, p, table, column, row, ct, n, out);
}

ih_err ih_keys_load(ih_store *s, ih_keyring *k)
{
    load_arg a = {.k = k};
    ih_keyring_kek_id(k, a.kek_id);
    IH_TRY(ih_store_read(s, load_fn, &a));
    for (int p = 1; p < IH_KP__COUNT; p++)
        if (!ih_keyring_current(k, (ih_key_purpose)p))
            return ih_fail(IH_E_CONFIG, "no %s key in the database", ih_key_purpose_name((ih_key_purpose)p));
    return IH_OK;
}

typedef struct {
    ih_keyring *k;
    ih_key_purpose p;
    uint32_t version;
    ih_buf wrapped;
    char kek_id[17];
    ih_keys_tx_hook hook;
    void *ctx;
} rot_arg;

static ih_err rotate_fn(ih_tx *tx, void *arg)
{
    rot_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(max(version), 0) FROM dek WHERE purpose = $1", &st));
    ih_stmt_int(st, 1, a->p);
    IH_TRY(ih_stmt_step(st, &row));
    uint32_t next = (uint32_t)ih_col_int(st, 0) + 1;
    if (next != a->version) /* another process rotated meanwhile */
        return ih_fail(IH_E_CONFLICT, "key version %u already exists; retry", a->version);
    IH_TRY(insert_dek(tx, a->p, a->version, &a->wrapped, a->kek_id));
    if (a->hook) IH_TRY(a->hook(tx, a->ctx, a->version));
    return IH_OK;
}

ih_err ih_keys_rotate(ih_store *s, ih_keyring *k, ih_key_purpose p, ih_keys_tx_hook hook, void *ctx,
                      uint32_t *version)
{
    if (p == IH_KP_INDEX || p == IH_KP_INTEGRITY)
        return ih_reject(IH_E_INVALID, "purpose", "The %s key is not rotated in place (stored indexes and MACs "
                                                  "depend on it).", ih_key_purpose_name(p));
    IH_TRY(ih_keys_load(s, k)); /* pick up rotations by other processes */
    uint32_t v[IH_KEY_MAX_VERSIONS];
    int n = ih_keyring_versions(k, p, v, IH_KEY_MAX_VERSIONS);
    rot_arg a = {.k = k, .p = p, .version = n ? v[n - 1] + 1 : 1, .hook = hook, .ctx = ctx};
    ih_keyring_kek_id(k, a.kek_id);
    ih_err e = ih_keyring_mint(k, p, a.version, &a.wrapped);
    if (e == IH_OK) e = ih_store_write(s, rotate_fn, &a);
    if (e == IH_OK) e = ih_keyring_add_wrapped(k, p, a.version, a.wrapped.p, a.wrapped.len);
    ih_buf_free(&a.wrapped);
    if (e == IH_OK && version) *version = a.version;
    return e;
}

ih_err ih_keys_retire(ih_tx *tx, ih_key_purpose p, uint32_t version, int64_t now)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "UPDATE dek SET state = 'retired', wrapped = NULL, retired_at = $3 "
                             "WHERE purpose = $1 AND version = $2 AND state = 'active'", &st));
    ih_stmt_int(st, 1, p);
    ih_stmt_int(st, 2, version);
    ih_stmt_int(st, 3, now);
    return ih_stmt_exec(st);
}

/* ---- signing keys -------------------------------------------------------- */

/* A signing_key row.  Its MAC covers owner, suite, public key, sealed
 * private key, state, creation and version: a public key swapped in the
 * database (to pass a forged signature) or a retired key made active again
 * is refused.  Rows from before the MAC (mac NULL) are believed only when
 * their public key is the one their sealed private key derives. */
typedef struct signrow {
    int64_t id, owner_id, created_at, rv;
    char owner_kind[16], suite[8], state[12];
    ih_buf pem, enc;
    bool legacy; /* no MAC yet */
} signrow;

static void signrow_free(signrow *r)
{
    ih_buf_free(&r->pem);
    ih_buf_free(&r->enc);
}

static ih_err signrow_mac(ih_keyring *k, const signrow *r, uint8_t mac[IH_MAC_LEN])
{
    ih_canon c = {0};
    ih_canon_text(&c, r->owner_kind);
    ih_canon_int(&c, r->owner_id);
    ih_canon_text(&c, r->suite);
    ih_canon_text(&c, r->pem.p);
    ih_canon_blob(&c, r->enc.p, r->enc.len);
    ih_canon_text(&c, r->state);
    ih_canon_int(&c, r->created_at);
    ih_canon_text(&c, "rv");
    ih_canon_int(&c, r->rv);
    ih_err e = ih_row_mac(k, "signing_key", r->id, &c, mac);
    ih_canon_free(&c);
    return e;
}

#define SK_COLS "id, owner_kind, owner_id, suite, public_pem, private_enc, state, created_at, rv, mac"
/* A read's columns: the row, then the newest version the journal knows. */
#define SK_SELECT SK_COLS ", " IH_AUDIT_KNOWN_RV("signing_key")

/* The private key of r, opened (caller frees). */
static ih_err signrow_private(ih_tx *tx, ih_keyring *k, const signrow *r, ih_signkey **out)
{
    ih_buf der = IH_BUF_INIT;
    ih_err e = ih_keys_field_open(tx, k, IH_KP_SIGNING, "signing_key", "private", r->id, r->enc.p, r->enc.len, &der);
    if (e == IH_OK) e = ih_sign_from_private_der(ih_keyring_suite(k), der.p, der.len, out);
    ih_buf_wipe(&der);
    return e;
}

/* The current row of st into r, verified (see signrow). */
static ih_err signrow_read(ih_tx *tx, ih_keyring *k, ih_stmt *st, signrow *r)
{
    signrow_free(r);
    memset(r, 0, sizeof *r);
    r->id = ih_col_int(st, 0);
    snprintf(r->owner_kind, sizeof r->owner_kind, "%s", ih_col_text(st, 1));
    r->owner_id = ih_col_int(st, 2);
    snprintf(r->suite, sizeof r->suite, "%s", ih_col_text(st, 3));
    IH_TRY(ih_buf_puts(&r->pem, ih_col_text(st, 4)));
    size_t n;
    const uint8_t *enc = ih_col_blob(st, 5, &n);
    IH_TRY(ih_buf_append(&r->enc, enc, n));
    snprintf(r->state, sizeof r->state, "%s", ih_col_text(st, 6));
    r->created_at = ih_col_int(st, 7);
    r->rv = ih_col_int(st, 8);
    const uint8_t *mac = ih_col_blob(st, 9, &n);
    if (!mac) {
        r->legacy = true;
        ih_signkey *key = NULL;
        ih_buf pem = IH_BUF_INIT;
        ih_err e = signrow_private(tx, k, r, &key);
        if (e == IH_OK) e = ih_sign_public_pem(key, &pem);
        if (e == IH_OK && (pem.len != r->pem.len || memcmp(pem.p, r->pem.p, pem.len)))
            e = ih_fail(IH_E_INTEGRITY, "signing key %lld: its public key is not its private key's", (long long)r->id);
        ih_signkey_free(key);
        ih_buf_free(&pem);
        return e == IH_E_CRYPTO ? ih_fail(IH_E_INTEGRITY, "signing key %lld does not open", (long long)r->id) : e;
    }
    uint8_t want[IH_MAC_LEN];
    IH_TRY(signrow_mac(k, r, want));
    if (n != IH_MAC_LEN || !ih_ct_equal(mac, want, IH_MAC_LEN))
        return ih_fail(IH_E_INTEGRITY, "signing key %lld: the row MAC does not verify", (long long)r->id);
    return ih_audit_version_known("signing_key", r->id, r->rv, ih_col_int(st, 10));
}

/* Write r (a new version) with its MAC. */
static ih_err signrow_write(ih_tx *tx, ih_keyring *k, signrow *r, bool insert)
{
    int64_t old = r->rv;
    r->rv = insert ? 1 : old + 1;
    uint8_t mac[IH_MAC_LEN];
    IH_TRY(signrow_mac(k, r, mac));
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, insert ? "INSERT INTO signing_key(" SK_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                                      "$9, $10)"
                                    : "UPDATE signing_key SET owner_kind = $2, owner_id = $3, suite = $4, "
                                      "public_pem = $5, private_enc = $6, state = $7, created_at = $8, rv = $9, "
                                      "mac = $10 WHERE id = $1 AND rv = $11",
                         &st));
    ih_stmt_int(st, 1, r->id);
    ih_stmt_text(st, 2, r->owner_kind);
    ih_stmt_int(st, 3, r->owner_id);
    ih_stmt_text(st, 4, r->suite);
    ih_stmt_text(st, 5, r->pem.p);
    ih_stmt_blob(st, 6, r->enc.p, r->enc.len);
    ih_stmt_text(st, 7, r->state);
    ih_stmt_int(st, 8, r->created_at);
    ih_stmt_int(st, 9, r->rv);
    ih_stmt_blob(st, 10, mac, sizeof mac);
    if (!insert) ih_stmt_int(st, 11, old);
    IH_TRY(ih_stmt_exec(st));
    if (!insert && ih_stmt_changes(st) != 1)
        return ih_fail(IH_E_BUSY, "signing key %lld changed since it was read", (long long)r->id);
    r->legacy = false;
    ih_tx_note_row(tx, "signing_key", r->id, r->rv);
    return IH_OK;
}

/* Load row id (verified) into r; *found false if none. */
static ih_err signrow_load(ih_tx *tx, ih_keyring *k, int64_t id, signrow *r, bool *found)
{
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, "SELECT " SK_SELECT " FROM signing_key WHERE id = $1", &st));
    ih_stmt_int(st, 1, id);
    IH_TRY(ih_stmt_step(st, found));
    if (!*found) return IH_OK;
    ih_err e = signrow_read(tx, k, st, r);
    ih_stmt_exec(st);
    return e;
}

/* The ids of an owner's active keys (at most one, unless the table was edited). */
static ih_err signrow_active(ih_tx *tx, const char *owner_kind, int64_t owner_id, int64_t ids[4], int *n)
{
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM signing_key WHERE owner_kind = $1 AND owner_id = $2 AND state = 'active' "
                             "ORDER BY id", &st));
    ih_stmt_text(st, 1, owner_kind);
    ih_stmt_int(st, 2, owner_id);
    *n = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        if (*n < 4) ids[(*n)++] = ih_col_int(st, 0);
    return e;
}

ih_err ih_signkey_create(ih_tx *tx, ih_keyring *k, const char *owner_kind, int64_t owner_id, ih_signkey *key,
                         int64_t *id)
{
    signrow r = {0};
    ih_buf der = IH_BUF_INIT;
    int64_t old[4];
    int nold = 0;
    ih_err e = signrow_active(tx, owner_kind, owner_id, old, &nold);
    for (int i = 0; e == IH_OK && i < nold; i++) { /* the owner's previous key retires */
        bool found;
        e = signrow_load(tx, k, old[i], &r, &found);
        if (e == IH_OK && found) {
            snprintf(r.state, sizeof r.state, "retired");
            e = signrow_write(tx, k, &r, false);
        }
    }
    signrow_free(&r);
    memset(&r, 0, sizeof r);
    if (e == IH_OK) e = ih_tx_next_id(tx, "signing_key", &r.id);
    if (e == IH_OK) e = ih_sign_public_pem(key, &r.pem);
    if (e == IH_OK) e = ih_sign_private_der(key, &der);
    if (e == IH_OK) e = ih_field_seal(k, IH_KP_SIGNING, "signing_key", "private", r.id, der.p, der.len, &r.enc);
    if (e == IH_OK) {
        snprintf(r.owner_kind, sizeof r.owner_kind, "%s", owner_kind);
        r.owner_id = owner_id;
        snprintf(r.suite, sizeof r.suite, "%s", ih_suite_name(ih_keyring_suite(k)));
        snprintf(r.state, sizeof r.state, "active");
        r.created_at = ih_now_ms();
        e = signrow_write(tx, k, &r, true);
    }
    if (e == IH_OK) *id = r.id;
    ih_buf_wipe(&der);
    signrow_free(&r);
    return e;
}

ih_err ih_signkey_load(ih_tx *tx, ih_keyring *k, const char *owner_kind, int64_t owner_id, ih_signkey **out,
                       int64_t *id)
{
    int64_t ids[4];
    int n;
    IH_TRY(signrow_active(tx, owner_kind, owner_id, ids, &n));
    if (n == 0) return ih_fail(IH_E_NOT_FOUND, "no active %s signing key for %lld", owner_kind, (long long)owner_id);
    if (n > 1) return ih_fail(IH_E_INTEGRITY, "%s %lld has %d active signing keys", owner_kind, (long long)owner_id, n);
    signrow r = {0};
    bool found;
    ih_err e = signrow_load(tx, k, ids[0], &r, &found);
    if (e == IH_OK && (!found || strcmp(r.owner_kind, owner_kind) || r.owner_id != owner_id || strcmp(r.state, "active")))
        e = ih_fail(IH_E_INTEGRITY, "signing key %lld changed under its owner", (long long)ids[0]);
    if (e == IH_OK) e = signrow_private(tx, k, &r, out);
    if (e == IH_OK && id) *id = r.id;
    signrow_free(&r);
    return e;
}

ih_err ih_signkey_public(ih_tx *tx, ih_keyring *k, int64_t id, ih_buf *pem)
{
    signrow r = {0};
    bool found;
    ih_err e = signrow_load(tx, k, id, &r, &found);
    if (e == IH_OK && !found) e = ih_fail(IH_E_NOT_FOUND, "signing key %lld", (long long)id);
    if (e == IH_OK) e = ih_buf_append(pem, r.pem.p, r.pem.len);
    signrow_free(&r);
    return e;
}

ih_err ih_signkey_reseal(ih_tx *tx, ih_keyring *k, int64_t id)
{
    signrow r = {0};
    bool found;
    ih_buf der = IH_BUF_INIT;
    ih_err e = signrow_load(tx, k, id, &r, &found);
    if (e == IH_OK && found)
        e = ih_keys_field_open(tx, k, IH_KP_SIGNING, "signing_key", "private", r.id, r.enc.p, r.enc.len, &der);
    if (e == IH_OK && found) {
        ih_buf_reset(&r.enc);
        e = ih_field_seal(k, IH_KP_SIGNING, "signing_key", "private", r.id, der.p, der.len, &r.enc);
    }
    if (e == IH_OK && found) e = signrow_write(tx, k, &r, false); /* a legacy row gets its MAC here too */
    ih_buf_wipe(&der);
    signrow_free(&r);
    return e;
}

/* ---- integrity scan and upgrade ---------------------------------------------------- */

typedef struct {
    ih_keyring *k;
    int64_t after;
    int got;
    uint64_t rows, bad;
    bool upgrade; /* give legacy rows their MAC */
    int64_t bad_ids[64];
    int nbad;
} signrow_scan_arg;

static ih_err signrow_scan_fn(ih_tx *tx, void *arg)
{
    signrow_scan_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    int64_t ids[200];
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM signing_key WHERE id > $1 ORDER BY id LIMIT 200", &st));
    ih_stmt_int(st, 1, a->after);
    a->got = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) ids[a->got++] = ih_col_int(st, 0);
    IH_TRY(e);
    signrow r = {0};
    for (int i = 0; i < a->got; i++) {
        bool found;
        a->after = ids[i];
        a->rows++;
        e = signrow_load(tx, a->k, ids[i], &r, &found);
        if (e == IH_E_INTEGRITY) {
            a->bad++;
            if (a->nbad < 64) a->bad_ids[a->nbad++] = ids[i];
            ih_err_clear();
            e = IH_OK;
            continue;
        }
        if (e == IH_OK && found && a->upgrade && r.legacy) e = signrow_write(tx, a->k, &r, false);
        if (e != IH_OK) break;
    }
    signrow_free(&r);
    return e;
}

static ih_err signrow_scan(ih_store *s, ih_keyring *k, bool upgrade, uint64_t *rows, uint64_t *bad)
{
    signrow_scan_arg a = {.k = k, .upgrade = upgrade};
    do {
        IH_TRY(upgrade ? ih_store_write(s, signrow_scan_fn, &a) : ih_store_read(s, signrow_scan_fn, &a));
    } while (a.got == 200);
    for (int i = 0; i < a.nbad; i++) {
        char row[24];
        snprintf(row, sizeof row, "%lld", (long long)a.bad_ids[i]);
        ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", "signing_key", "row", row, NULL);
    }
    if (rows) *rows += a.rows;
    if (bad) *bad += a.bad;
    return IH_OK;
}

ih_err ih_signkey_upgrade(ih_store *s, ih_keyring *k) { return signrow_scan(s, k, true, NULL, NULL); }

ih_err ih_signkey_scan(ih_store *s, ih_keyring *k, uint64_t *rows, uint64_t *bad)
{
    return signrow_scan(s, k, false, rows, bad);
}

/* ---- KEK sources and rotation ---------------------------------------------------- */

ih_err ih_kek_from_passphrase(const char *pass, size_t n, const char *salt_path, uint8_t kek[32])
{
    ih_buf salt = IH_BUF_INIT;
    ih_err e = ih_file_read(salt_path, 64, &salt);
    if (e == IH_OK && salt.len != crypto_pwhash_SALTBYTES)
        e = ih_fail(IH_E_CONFIG, "%s must hold %d bytes", salt_path, crypto_pwhash_SALTBYTES);
    if (e == IH_OK && n < 12) e = ih_fail(IH_E_CONFIG, "the KEK passphrase must be at least 12 characters");
    if (e == IH_OK && crypto_pwhash(kek, 32, pass, n, (const unsigned char *)salt.p, crypto_pwhash_OPSLIMIT_MODERATE,
                                    crypto_pwhash_MEMLIMIT_MODERATE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        e = ih_fail(IH_E_NOMEM, "Argon2id needs 256 MiB to derive the KEK");
    ih_buf_free(&salt);
    return e;
}

ih_err ih_kek_passphrase_fd(int fd, char *out, size_t cap, size_t *n)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = read(fd, out + len, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || out[len] == '\n') break;
        len++;
    }
    out[len] = '\0';
    if (len && out[len - 1] == '\r') out[--len] = '\0';
    *n = len;
    return len ? IH_OK : ih_fail(IH_E_CONFIG, "no KEK passphrase on file descriptor %d", fd);
}

typedef struct {
    ih_keyring *k;
    const uint8_t *newkek;  /* the new KEK's bytes, or */
    ih_keyring *target;     /* a keyring holding it (a token's) */
    char new_id[17];
    ih_keys_tx_hook hook;
    void *ctx;
} rekek_arg;

static ih_err rekek_fn(ih_tx *tx, void *arg)
{
    rekek_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    int p[IH_KP__COUNT * IH_KEY_MAX_VERSIONS];
    uint32_t v[IH_KP__COUNT * IH_KEY_MAX_VERSIONS];
    int n = 0;
    IH_TRY(ih_tx_prepare(tx, "SELECT purpose, version FROM dek WHERE state = 'active'", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row && n < (int)(sizeof p / sizeof p[0])) {
        p[n] = (int)ih_col_int(st, 0);
        v[n++] = (uint32_t)ih_col_int(st, 1);
    }
    IH_TRY(e);
    for (int i = 0; i < n; i++) {
        ih_buf w = IH_BUF_INIT;
        e = a->target ? ih_keyring_rewrap_to(a->k, a->target, (ih_key_purpose)p[i], v[i], &w)
                      : ih_keyring_rewrap(a->k, a->newkek, (ih_key_purpose)p[i], v[i], &w);
        if (e == IH_OK) e = ih_tx_prepare(tx, "UPDATE dek SET wrapped = $3, kek_id = $4 WHERE purpose = $1 AND version = $2", &st);
        if (e == IH_OK) {
            ih_stmt_int(st, 1, p[i]);
            ih_stmt_int(st, 2, v[i]);
            ih_stmt_blob(st, 3, w.p, w.len);
            ih_stmt_text(st, 4, a->new_id);
            e = ih_stmt_exec(st);
        }
        ih_buf_free(&w);
        IH_TRY(e);
    }
    return a->hook ? a->hook(tx, a->ctx, 0) : IH_OK;
}

/* Rewrap every active DEK under new_kek in one transaction (audited through
 * hook); after the commit, rename `staged` over `final` — the file that lets
 * the next start find new_kek — and switch the keyring.  A crash between
 * commit and rename is finished by ih_kek_recover*() at the next start. */
static ih_err rekek(ih_store *s, ih_keyring *k, const uint8_t new_kek[32], const char *staged, const char *final,
                    ih_keys_tx_hook hook, void *ctx)
{
    ih_keyring *probe; /* only to learn the new KEK's id */
    IH_TRY(ih_keyring_new(ih_keyring_suite(k), new_kek, &probe));
    rekek_arg a = {k, new_kek, NULL, "", hook, ctx};
    ih_keyring_kek_id(probe, a.new_id);
    ih_keyring_free(probe);
    ih_err e = ih_store_write(s, rekek_fn, &a);
    if (e != IH_OK) {
        unlink(staged); /* nothing changed in the database */
        return e;
    }
    if (rename(staged, final) != 0) return ih_fail(IH_E_IO, "rename %s: %s", staged, strerror(errno));
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", final);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    ih_fsync_dir(slash ? dir : ".");
    return ih_keyring_set_kek(k, new_kek);
}

ih_err ih_keys_move_kek(ih_store *s, ih_keyring *k, ih_keyring *target, ih_keys_tx_hook hook, void *ctx)
{
    rekek_arg a = {k, NULL, target, "", hook, ctx};
    ih_keyring_kek_id(target, a.new_id);
    return ih_store_write(s, rekek_fn, &a);
}

ih_err ih_keys_rotate_kek(ih_store *s, ih_keyring *k, const char *kek_path, ih_keys_tx_hook hook, void *ctx)
{
    uint8_t kek[32];
    char tmp[4200];
    IH_TRY(ih_path(tmp, sizeof tmp, "%s.new", kek_path));
    IH_TRY(ih_keys_load(s, k));
    IH_TRY(ih_random(kek, sizeof kek));
    ih_err e = ih_file_create(tmp, kek, sizeof kek, 0600);
    if (e == IH_OK) e = rekek(s, k, kek, tmp, kek_path, hook, ctx);
    ih_wipe(kek, sizeof kek);
    return e;
}

ih_err ih_keys_change_passphrase(ih_store *s, ih_keyring *k, const char *pass, size_t n, const char *salt_path,
                                 ih_keys_tx_hook hook, void *ctx)
{
    uint8_t kek[32], salt[crypto_pwhash_SALTBYTES];
    char tmp[4200];
    IH_TRY(ih_path(tmp, sizeof tmp, "%s.new", salt_path));
    IH_TRY(ih_keys_load(s, k));
    IH_TRY(ih_random(salt, sizeof salt));
    unlink(tmp); /* a leftover from a rotation that never reached its commit */
    ih_err e = ih_file_create(tmp, salt, sizeof salt, 0600);
    if (e == IH_OK) {
        e = ih_kek_from_passphrase(pass, n, tmp, kek);
        if (e != IH_OK) unlink(tmp);
    }
    if (e == IH_OK) e = rekek(s, k, kek, tmp, salt_path, hook, ctx);
    ih_wipe(kek, sizeof kek);
    return e;
}

typedef struct {
    char kek_id[17];
    bool found;
} kekid_arg;

static ih_err kekid_fn(ih_tx *tx, void *arg)
{
    kekid_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT kek_id FROM dek WHERE state = 'active' LIMIT 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    a->found = row;
    if (row) snprintf(a->kek_id, sizeof a->kek_id, "%s", ih_col_text(st, 0));
    return IH_OK;
}

/* Does kek wrap the stored DEKs?  (*any: are there stored DEKs at all.) */
static ih_err kek_matches(ih_store *s, ih_suite suite, const uint8_t kek[32], bool *match, char stored[17])
{
    kekid_arg a = {0};
    IH_TRY(ih_store_read(s, kekid_fn, &a));
    snprintf(stored, 17, "%s", a.kek_id);
    if (!a.found) {
        *match = true;
        return IH_OK;
    }
    ih_keyring *k;
    char id[17];
    IH_TRY(ih_keyring_new(suite, kek, &k));
    ih_keyring_kek_id(k, id);
    ih_keyring_free(k);
    *match = !strcmp(id, a.kek_id);
    return IH_OK;
}

ih_err ih_kek_recover(ih_store *s, ih_suite suite, const char *kek_path, uint8_t kek[32])
{
    bool match;
    char stored[17];
    IH_TRY(kek_matches(s, suite, kek, &match, stored));
    if (match) return IH_OK;
    /* Keys wrapped by another KEK: an interrupted rotation left it in .new. */
    char tmp[4200];
    uint8_t next[32];
    IH_TRY(ih_path(tmp, sizeof tmp, "%s.new", kek_path));
    if (ih_kek_read_file(tmp, next) != IH_OK)
        return ih_fail(IH_E_INTEGRITY, "the data keys are wrapped by KEK %s, not by the KEK in %s", stored, kek_path);
    ih_err e = kek_matches(s, suite, next, &match, stored);
    if (e == IH_OK && !match)
        e = ih_fail(IH_E_INTEGRITY, "neither %s nor %s holds the KEK the data keys are wrapped by", kek_path, tmp);
    if (e == IH_OK && rename(tmp, kek_path) != 0) e = ih_fail(IH_E_IO, "rename %s: %s", tmp, strerror(errno));
    if (e == IH_OK) memcpy(kek, next, 32);
    ih_wipe(next, sizeof next);
    return e;
}

ih_err ih_kek_recover_passphrase(ih_store *s, ih_suite suite, const char *pass, size_t n, const char *salt_path,
                                 uint8_t kek[32])
{
    bool match;
    char stored[17];
    IH_TRY(kek_matches(s, suite, kek, &match, stored));
    if (match) return IH_OK;
    char tmp[4200];
    uint8_t next[32];
    IH_TRY(ih_path(tmp, sizeof tmp, "%s.new", salt_path));
    ih_err e = access(tmp, F_OK) == 0 ? ih_kek_from_passphrase(pass, n, tmp, next) : IH_E_NOT_FOUND;
    if (e == IH_OK) e = kek_matches(s, suite, next, &match, stored);
    if (e != IH_OK || !match) {
        ih_wipe(next, sizeof next);
        return ih_reject(IH_E_INTEGRITY, "passphrase", "The KEK passphrase is wrong: it does not unwrap the data keys.");
    }
    if (rename(tmp, salt_path) != 0) e = ih_fail(IH_E_IO, "rename %s: %s", tmp, strerror(errno));
    if (e == IH_OK) memcpy(kek, next, 32);
    ih_wipe(next, sizeof next);
    return e;
}
