/* instance.c — see instance.h. */
#include "app/instance.h"
#include "crypto/pkcs11.h"

#include "core/fsutil.h"
#include "keys/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ih_actor ih_console_actor = {.id = 0, .role = "console"};
const ih_actor ih_system_actor = {.id = 0, .role = "system"};

ih_err ih_instance_path(const ih_instance *in, const char *rel, char *out, size_t n)
{
    if (rel[0] == '/') return ih_path(out, n, "%s", rel);
    return ih_path(out, n, "%s/%s", in->dir, rel);
}

ih_err ih_instance_load(const char *dir, ih_instance *in, char *msg, size_t n)
{
    memset(in, 0, sizeof *in);
    char *abs = realpath(dir, NULL);
    if (!abs) {
        snprintf(msg, n, "%s: no such instance directory", dir);
        return ih_fail(IH_E_CONFIG, "%s", msg);
    }
    snprintf(in->dir, sizeof in->dir, "%s", abs);
    free(abs);
    char path[PATH_MAX];
    if (ih_path(path, sizeof path, "%s/ihos.conf", in->dir) != IH_OK) {
        snprintf(msg, n, "%s: path too long", dir);
        return IH_E_CONFIG;
    }
    ih_err e = ih_check_private(path);
    if (e != IH_OK) {
        snprintf(msg, n, "%s", ih_err_detail());
        return e;
    }
    IH_TRY(ih_conf_load(path, &in->conf, msg, n));
    ih_suite_parse(in->conf.suite, &in->suite);
    return IH_OK;
}

ih_err ih_instance_check_keys(const ih_instance *in)
{
    char path[PATH_MAX];
    IH_TRY(ih_instance_path(in, "keys", path, sizeof path));
    IH_TRY(ih_check_private(path));
    const char *kek = !strcmp(in->conf.kek_source, "passphrase") ? "keys/kek.salt"
                      : !strcmp(in->conf.kek_source, "pkcs11")   ? in->conf.pkcs11_pin_file
                                                                 : "keys/kek";
    IH_TRY(ih_instance_path(in, kek, path, sizeof path));
    IH_TRY(ih_check_private(path));
    IH_TRY(ih_instance_path(in, in->conf.tls_key, path, sizeof path));
    return ih_check_private(path);
}

ih_err ih_instance_open_store(ih_instance *in)
{
    char db[PATH_MAX];
    ih_store_opts o = {
        .pool_size = in->conf.pool_size, .batch_max = in->conf.batch_max, .commit_delay_us = in->conf.commit_delay_us};
    if (!strcmp(in->conf.backend, "postgres")) {
        o.kind = IH_STORE_PG;
        o.pg_conninfo = in->conf.pg_url;
    } else {
        o.kind = IH_STORE_SQLITE;
        IH_TRY(ih_instance_path(in, in->conf.sqlite_path, db, sizeof db));
        o.sqlite_path = db;
    }
    IH_TRY(ih_store_open(&o, &in->store));
    ih_err e = ih_store_migrate(in->store, ih_schema, ih_schema_count);
    if (e != IH_OK) {
        ih_store_close(in->store);
        in->store = NULL;
    }
    return e;
}

typedef struct {
    const char *key;
    char *out;
    size_t n;
} meta_arg;

static ih_err meta_fn(ih_tx *tx, void *arg)
{
    meta_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT value FROM instance_meta WHERE key = $1", &st));
    ih_stmt_text(st, 1, a->key);
    IH_TRY(ih_stmt_step(st, &row));
    snprintf(a->out, a->n, "%s", row ? ih_col_text(st, 0) : "");
    return IH_OK;
}

ih_err ih_instance_rollback_check(ih_instance *in, char *problem, size_t len)
{
    const char *files[] = {in->checkpoint_file, in->anchor_file};
    return ih_audit_rollback_check(in->store, in->suite, in->origin, in->audit_pub, files, 2, problem, len);
}

ih_err ih_instance_meta(ih_instance *in, const char *key, char *out, size_t n)
{
    meta_arg a = {key, out, n};
    return ih_store_read(in->store, meta_fn, &a);
}

typedef struct {
    ih_instance *in;
} key_arg;

static ih_err audit_key_fn(ih_tx *tx, void *arg)
{
    ih_instance *in = ((key_arg *)arg)->in;
    return ih_signkey_load(tx, in->keys, "audit", 0, &in->audit_key, NULL);
}

/* The KEK: from keys/kek (finishing an interrupted rotation), or derived
 * from a passphrase given on IHOS_KEK_PASSPHRASE_FD or as the systemd
 * credential ihos-kek-passphrase. */
static ih_err load_kek(ih_instance *in, uint8_t kek[32])
{
    char path[PATH_MAX];
    if (in->kek_preset) {
        memcpy(kek, in->preset_kek, 32);
        ih_wipe(in->preset_kek, sizeof in->preset_kek);
        in->kek_preset = false;
        return IH_OK;
    }
    if (strcmp(in->conf.kek_source, "passphrase")) {
        IH_TRY(ih_instance_path(in, "keys/kek", path, sizeof path));
        IH_TRY(ih_kek_read_file(path, kek));
        return ih_kek_recover(in->store, in->suite, path, kek);
    }
    char pass[1024];
    size_t n = 0;
    ih_err e;
    const char *fd = getenv("IHOS_KEK_PASSPHRASE_FD"), *cred = getenv("CREDENTIALS_DIRECTORY");
    if (fd && *fd) e = ih_kek_passphrase_fd(atoi(fd), pass, sizeof pass, &n);
    else if (cred && *cred) {
        char cp[PATH_MAX];
        ih_buf b = IH_BUF_INIT;
        e = ih_path(cp, sizeof cp, "%s/ihos-kek-passphrase", cred);
        if (e == IH_OK) e = ih_file_read(cp, sizeof pass - 1, &b);
        if (e == IH_OK) {
            n = b.len;
            while (n && (b.p[n - 1] == '\n' || b.p[n - 1] == '\r')) n--;
            memcpy(pass, b.p, n);
            pass[n] = '\0';
        }
        ih_buf_wipe(&b);
    } else
        e = ih_fail(IH_E_CONFIG, "the KEK comes from a passphrase: set IHOS_KEK_PASSPHRASE_FD or the systemd "
                                 "credential ihos-kek-passphrase");
    if (e == IH_OK) e = ih_instance_path(in, "keys/kek.salt", path, sizeof path);
    if (e == IH_OK) e = ih_kek_from_passphrase(pass, n, path, kek);
    if (e == IH_OK && in->store) e = ih_kek_recover_passphrase(in->store, in->suite, pass, n, path, kek);
    ih_wipe(pass, sizeof pass);
    return e;
}

ih_err ih_instance_p11_open(const ih_instance *in, const ih_conf *c, bool create, ih_keyring **out)
{
    if (!c->pkcs11_module[0] || !c->pkcs11_token[0])
        return ih_fail(IH_E_CONFIG, "[keys] kek_source = pkcs11 needs pkcs11_module and pkcs11_token");
    char path[PATH_MAX];
    IH_TRY(ih_instance_path(in, c->pkcs11_pin_file, path, sizeof path));
    IH_TRY(ih_check_private(path));
    ih_buf pin = IH_BUF_INIT;
    IH_TRY(ih_file_read(path, 256, &pin));
    while (pin.len && (pin.p[pin.len - 1] == '\n' || pin.p[pin.len - 1] == '\r')) pin.p[--pin.len] = '\0';
    ih_p11_opts o = {.module = c->pkcs11_module, .token = c->pkcs11_token, .key_label = c->pkcs11_key_label,
                     .pin = pin.p ? pin.p : "", .pin_len = pin.len, .create = create};
    ih_p11 *p11 = NULL;
    ih_err e = ih_p11_open(&o, &p11);
    ih_buf_wipe(&pin);
    IH_TRY(e);
    e = ih_keyring_new_external(in->suite, &ih_p11_kek_ops, p11, out);
    if (e != IH_OK) ih_p11_close(p11);
    return e;
}

ih_err ih_instance_open_runtime(ih_instance *in, bool signer)
{
    IH_TRY(ih_crypto_init());
    char path[PATH_MAX];
    ih_err e;
    if (!strcmp(in->conf.kek_source, "pkcs11")) { /* L3 8.1.4.8b, 39786 8.4e: the KEK in a cryptographic module */
        IH_TRY(ih_instance_p11_open(in, &in->conf, false, &in->keys));
    } else {
        uint8_t kek[32];
        e = load_kek(in, kek);
        if (e != IH_OK) {
            ih_wipe(kek, sizeof kek);
            return e;
        }
        e = ih_keyring_new(in->suite, kek, &in->keys);
        ih_wipe(kek, sizeof kek);
        IH_TRY(e);
    }
    IH_TRY(ih_keys_load(in->store, in->keys));
    IH_TRY(ih_instance_meta(in, "instance_id", in->instance_id, sizeof in->instance_id));
    if (!in->instance_id[0]) return ih_fail(IH_E_CONFIG, "the database has no instance id");
    snprintf(in->origin, sizeof in->origin, "ihos/%s", in->instance_id);

    ih_buf pem = IH_BUF_INIT;
    IH_TRY(ih_instance_path(in, "keys/audit.pub", path, sizeof path));
    e = ih_file_read(path, 16384, &pem);
    if (e == IH_OK) e = ih_sign_public_from_pem(pem.p, pem.len, &in->audit_pub);
    ih_buf_free(&pem);
    IH_TRY(e);
    if (signer) {
        key_arg ka = {in};
        IH_TRY(ih_store_read(in->store, audit_key_fn, &ka));
    }
    IH_TRY(ih_instance_path(in, "audit/checkpoints", in->checkpoint_file, sizeof in->checkpoint_file));
    const char *anchor = in->conf.anchor_dir[0] ? in->conf.anchor_dir : in->conf.offsite_dir;
    in->anchor_file[0] = '\0';
    if (anchor[0]) {
        char d[PATH_MAX];
        IH_TRY(ih_instance_path(in, anchor, d, sizeof d));
        if ((size_t)snprintf(in->anchor_file, sizeof in->anchor_file, "%s/ihos-%s.checkpoints", d, in->instance_id) >=
            sizeof in->anchor_file)
            return ih_fail(IH_E_CONFIG, "anchor path too long");
    }
    ih_audit_opts ao = {
        .store = in->store,
        .suite = in->suite,
        .origin = in->origin,
        .signer = in->audit_key,
        .checkpoint_file = in->checkpoint_file,
        .anchor_file = in->anchor_file[0] ? in->anchor_file : NULL,
        .utc_offset_minutes = in->conf.utc_offset_minutes,
        .interval_s = in->conf.checkpoint_interval,
        .max_events = in->conf.checkpoint_events,
        .witness_command = in->conf.witness_command,
        .witness_url = in->conf.witness_url,
    };
    return ih_audit_open(&ao, &in->audit);
}

void ih_instance_close(ih_instance *in)
{
    ih_audit_close(in->audit); /* seals the tail first */
    in->audit = NULL;
    ih_store_close(in->store);
    in->store = NULL;
    ih_keyring_free(in->keys);
    in->keys = NULL;
    ih_signkey_free(in->audit_key);
    ih_signkey_free(in->audit_pub);
    in->audit_key = in->audit_pub = NULL;
}
