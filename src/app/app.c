/* app.c — glue from configuration to services. */
#include "app/app.h"

#include "core/fsutil.h"
#include "core/log.h"
#include "keys/keys.h"
#include "keys/reseal.h"

#include <stdio.h>
#include <string.h>

void ih_app_identity_opts(const ih_instance *in, ih_identity_opts *o)
{
    const ih_conf *c = &in->conf;
    *o = (ih_identity_opts){
        .store = in->store,
        .keys = in->keys,
        .audit = in->audit,
        .pw = {c->password_min_length, c->password_min_classes, c->password_history, c->password_max_age_days},
        .hash = {(unsigned long long)c->argon2_iterations, (size_t)c->argon2_memory_kib * 1024},
        .hash_threads = c->hash_threads,
        .hash_queue = c->hash_queue,
        .lockout_threshold = c->lockout_threshold,
        .lockout_minutes = c->lockout_minutes,
        .ip_failures_per_minute = c->ip_failures_per_minute,
        .session_idle_minutes = c->session_idle_minutes,
        .session_max_hours = c->session_max_hours,
        .inactive_days = c->inactive_days,
        .issuer = c->name,
        .admin_allow = c->admin_allow,
    };
    ih_totp_alg_parse(c->totp_algorithm, &o->totp_alg);
}

size_t ih_app_sealed_columns(ih_keyring *k, ih_identity *id, ih_sealed_column *out, size_t cap)
{
    size_t n = ih_keys_sealed_columns(k, out, cap);
    n += ih_identity_sealed_columns(id, out + n, cap - n);
    return n;
}

ih_err ih_app_integrity_scan(ih_store *s, ih_keyring *k, ih_identity *id, uint64_t *rows, uint64_t *bad)
{
    uint64_t r1 = 0, b1 = 0, r2 = 0;
    IH_TRY(ih_identity_scan(id, &r1, &b1));
    int64_t bad_ids[64];
    int nbad = 0;
    IH_TRY(ih_policy_scan(s, k, &r2, bad_ids, 64, &nbad));
    for (int i = 0; i < nbad; i++) {
        char row[24];
        snprintf(row, sizeof row, "%lld", (long long)bad_ids[i]);
        ih_log(IH_LOG_ERROR, "integrity.violation", "alert", "true", "table", "role_grant", "row", row, NULL);
    }
    *rows = r1 + r2;
    *bad = b1 + (uint64_t)nbad;
    return IH_OK;
}

ih_err ih_app_reload_keys(ih_instance *in)
{
    ih_err e = ih_keys_load(in->store, in->keys);
    if (e != IH_E_INTEGRITY) return e;
    if (strcmp(in->conf.kek_source, "file"))
        return ih_fail(IH_E_INTEGRITY, "a data key is wrapped by another KEK: the passphrase was changed; restart "
                                       "ihosd with the new passphrase to load keys made since");
    /* Wrapped by another KEK: it was rotated; the file has the new one. */
    char path[PATH_MAX];
    uint8_t kek[32];
    IH_TRY(ih_instance_path(in, "keys/kek", path, sizeof path));
    IH_TRY(ih_kek_read_file(path, kek));
    e = ih_keyring_set_kek(in->keys, kek);
    ih_wipe(kek, sizeof kek);
    IH_TRY(e);
    ih_log(IH_LOG_INFO, "keys.kek_reloaded", NULL);
    return ih_keys_load(in->store, in->keys);
}

/* ---- configuration changes ---------------------------------------------------- */

typedef struct {
    ih_audit *a;
    const char *hash;
    char old[80];
} confhash_arg;

static ih_err confhash_fn(ih_tx *tx, void *arg)
{
    confhash_arg *c = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT value FROM instance_meta WHERE key = 'config_hash'", &st));
    IH_TRY(ih_stmt_step(st, &row));
    snprintf(c->old, sizeof c->old, "%s", row ? ih_col_text(st, 0) : "");
    if (!strcmp(c->old, c->hash)) return IH_OK;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO instance_meta (key, value) VALUES ('config_hash', $1) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", &st));
    ih_stmt_text(st, 1, c->hash);
    IH_TRY(ih_stmt_exec(st));
    char reason[200];
    snprintf(reason, sizeof reason, "%s (was %s)", c->hash, c->old[0] ? c->old : "none");
    ih_audit_event ev = {.action = "config.change", .object_type = "config", .object_id = "ihos.conf", .reason = reason};
    return ih_audit_append(c->a, tx, &ih_system_actor, &ev);
}

ih_err ih_app_record_config(ih_instance *in)
{
    char path[PATH_MAX];
    IH_TRY(ih_instance_path(in, "ihos.conf", path, sizeof path));
    ih_buf b = IH_BUF_INIT;
    IH_TRY(ih_file_read(path, 1 << 20, &b));
    ih_md md = ih_suite_md(in->suite);
    uint8_t h[64];
    ih_err e = ih_digest(md, b.p, b.len, h);
    ih_buf_free(&b);
    IH_TRY(e);
    char hex[72];
    snprintf(hex, 8, "%s:", md == IH_MD_SM3 ? "sm3" : "sha256");
    ih_hex_encode(h, 32, hex + strlen(hex), 0);
    confhash_arg c = {in->audit, hex, ""};
    return ih_store_write(in->store, confhash_fn, &c);
}
