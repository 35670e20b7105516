/* cli_init.c — `ihos init DIR ...`: create a new instance.
 *
 * Refuses a non-empty DIR.  Creates, each with its final mode from the
 * start (umask 077): DIR (0700), keys/ (0700), keys/kek (32 random bytes,
 * 0600), keys/tls.key + keys/tls.crt (self-signed ECDSA P-256, 0600),
 * audit/ and backups/ (0700), ihos.conf (0600), and the database with every
 * migration applied.  If any step fails, everything it created is removed.
 * With --config FILE the configuration lives at FILE (a packaged install
 * keeps it under /etc/ihos) and DIR/ihos.conf is a symbolic link to it, so
 * every command that takes DIR finds it.
 */
#include "app/trusted.h"
#include "care/demo.h"
#include "app/cli.h"
#include "app/instance.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "crypto/cert.h"
#include "crypto/sign.h"
#include "crypto/recovery.h"
#include "backup/backup.h"
#include "keys/keys.h"
#include "app/app.h"
#include "identity/identity.h"
#include "net/server.h"
#include "net/tls.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level == 0) return 0; /* keep DIR itself; the caller decides */
    return remove(path);
}

/* DIR was empty when we started, so all it holds now is ours to remove. */
static void undo(const char *dir, bool created_dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (created_dir) rmdir(dir);
}

typedef struct {
    const char *key;
    const char *value;
} meta_kv;

typedef struct {
    const meta_kv *kv;
    size_t n;
} meta_arg;

static ih_err write_meta(ih_tx *tx, void *arg)
{
    meta_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        ih_stmt *st;
        IH_TRY(ih_tx_prepare(tx, "INSERT INTO instance_meta(key, value) VALUES ($1, $2)", &st));
        ih_stmt_text(st, 1, a->kv[i].key);
        ih_stmt_text(st, 2, a->kv[i].value);
        IH_TRY(ih_stmt_exec(st));
    }
    return IH_OK;
}

typedef struct {
    ih_instance *in;
    ih_signkey *key;
} audit_key_arg;

static ih_err store_audit_key(ih_tx *tx, void *arg)
{
    audit_key_arg *a = arg;
    int64_t id;
    return ih_signkey_create(tx, a->in->keys, "audit", 0, a->key, &id);
}

/* Exactly one account per administrator role, no default names, random
 * one-time passwords (L3 8.1.4.2b), written to DIR/initial-credentials
 * (0600) as "role username password" lines. */
static ih_err create_administrators(ih_instance *inst)
{
    ih_identity_opts io;
    ih_app_identity_opts(inst, &io);
    ih_identity *id;
    IH_TRY(ih_identity_new(&io, &id));
    static const ih_role roles[] = {IH_ROLE_SYSADMIN, IH_ROLE_SECADMIN, IH_ROLE_AUDITADMIN};
    ih_buf out = IH_BUF_INIT;
    ih_err e = ih_buf_puts(&out, "# role username one-time-password (change at first login; then delete this file)\n");
    for (size_t i = 0; i < 3 && e == IH_OK; i++) {
        uint8_t r[2];
        char name[40], otp[32];
        int64_t aid;
        e = ih_random(r, sizeof r);
        snprintf(name, sizeof name, "%s-%02x%02x", ih_role_name(roles[i]), r[0], r[1]);
        ih_account_new n = {.username = name, .role = roles[i], .active = true, .must_change = true};
        if (e == IH_OK) e = ih_identity_create(id, &ih_console_actor, &n, otp, &aid);
        if (e == IH_OK) e = ih_buf_printf(&out, "%s %s %s\n", ih_role_name(roles[i]), name, otp);
        ih_wipe(otp, sizeof otp);
    }
    char path[PATH_MAX];
    if (e == IH_OK) e = ih_instance_path(inst, "initial-credentials", path, sizeof path);
    if (e == IH_OK) e = ih_file_create(path, out.p, out.len, 0600);
    ih_buf_wipe(&out);
    ih_identity_free(id);
    return e;
}

/* The recovery key pair: only the public half stays in the instance. */
static ih_err make_recovery(ih_instance *inst, ih_buf *recovery_file)
{
    ih_buf priv = IH_BUF_INIT, pub = IH_BUF_INIT, audit = IH_BUF_INIT;
    char path[PATH_MAX];
    ih_err e = ih_recovery_generate(inst->suite, &priv, &pub);
    if (e == IH_OK) e = ih_instance_path(inst, "keys/recovery.pub", path, sizeof path);
    if (e == IH_OK) e = ih_file_create(path, pub.p, pub.len, 0600);
    if (e == IH_OK) e = ih_sign_public_pem(inst->audit_pub, &audit);
    if (e == IH_OK) e = ih_backup_recovery_file(priv.p, audit.p, inst->instance_id, recovery_file);
    ih_buf_wipe(&priv);
    ih_buf_free(&pub);
    ih_buf_free(&audit);
    return e;
}

/* --demo-patients: how many demo patients `init --demo` registers. */
static int demo_patients = IH_DEMO_PATIENTS;

/* Keys, the audit key pair and the journal's first event. */
static ih_err bootstrap(ih_instance *inst, uint8_t kek[32], ih_buf *recovery_file)
{
    IH_TRY(ih_crypto_init());
    ih_err e = ih_keyring_new(inst->suite, kek, &inst->keys);
    OPENSSL_cleanse(kek, 32);
    IH_TRY(e);
    IH_TRY(ih_keys_bootstrap(inst->store, inst->keys));
    ih_signkey *key;
    IH_TRY(ih_sign_generate(inst->suite, &key));
    audit_key_arg ka = {inst, key};
    ih_buf pem = IH_BUF_INIT;
    char path[PATH_MAX];
    e = ih_store_write(inst->store, store_audit_key, &ka);
    if (e == IH_OK) e = ih_sign_public_pem(key, &pem);
    if (e == IH_OK) e = ih_instance_path(inst, "keys/audit.pub", path, sizeof path);
    if (e == IH_OK) e = ih_file_create(path, pem.p, pem.len, 0600);
    ih_buf_free(&pem);
    ih_signkey_free(key);
    /* Reopen from what was stored: proves the stored keys unwrap. */
    if (!ih_keyring_kek_external(inst->keys)) { /* a token's KEK is opened again from the token */
        IH_TRY(ih_keyring_kek_export(inst->keys, inst->preset_kek));
        inst->kek_preset = true;
    }
    ih_keyring_free(inst->keys);
    inst->keys = NULL;
    IH_TRY(e);
    IH_TRY(ih_instance_open_runtime(inst, true));
    ih_audit_event ev = {.action = "instance.init", .object_type = "instance", .object_id = inst->instance_id};
    IH_TRY(ih_audit_record(inst->audit, &ih_console_actor, &ev));
    IH_TRY(create_administrators(inst));
    if (inst->conf.demo) IH_TRY(ih_app_seed_demo(inst, demo_patients));
    IH_TRY(make_recovery(inst, recovery_file));
    ih_trust_report tr; /* L3 8.1.4.6: what runs and how it is configured, as installed */
    IH_TRY(ih_app_trust_record(inst, &ih_console_actor, NULL, 0, &tr));
    return ih_audit_checkpoint(inst->audit, NULL);
}

static ih_err create_in(const char *dir, ih_instance *inst, const char *suite, const char *store,
                        const char *pg_url, bool demo, const char *listen, const char *name, uint8_t kek_copy[32],
                        ih_buf *recovery_file, int kek_fd)
{
    char path[PATH_MAX], path2[PATH_MAX];
    snprintf(inst->dir, sizeof inst->dir, "%s", dir);
    IH_TRY(ih_path(path, sizeof path, "%s/keys", dir));
    IH_TRY(ih_dir_create(path, 0700, false));
    IH_TRY(ih_path(path, sizeof path, "%s/audit", dir));
    IH_TRY(ih_dir_create(path, 0700, false));
    IH_TRY(ih_path(path, sizeof path, "%s/backups", dir));
    IH_TRY(ih_dir_create(path, 0700, false));

    ih_err e;
    if (kek_fd >= 0) {
        /* KEK = Argon2id(passphrase, salt): only the salt is stored. */
        char pass[1024];
        size_t pn;
        uint8_t salt[16];
        IH_TRY(ih_kek_passphrase_fd(kek_fd, pass, sizeof pass, &pn));
        e = ih_random(salt, sizeof salt);
        if (e == IH_OK) e = ih_path(path, sizeof path, "%s/keys/kek.salt", dir);
        if (e == IH_OK) e = ih_file_create(path, salt, sizeof salt, 0600);
        if (e == IH_OK) e = ih_kek_from_passphrase(pass, pn, path, kek_copy);
        ih_wipe(pass, sizeof pass);
        IH_TRY(e);
    } else {
        unsigned char kek[32];
        if (RAND_bytes(kek, sizeof kek) != 1) return ih_fail(IH_E_CRYPTO, "no randomness for the KEK");
        IH_TRY(ih_path(path, sizeof path, "%s/keys/kek", dir));
        e = ih_file_create(path, kek, sizeof kek, 0600);
        memcpy(kek_copy, kek, 32);
        OPENSSL_cleanse(kek, sizeof kek);
        IH_TRY(e);
    }

    char host[64];
    int port;
    if (ih_parse_listen(listen, host, sizeof host, &port) != 0)
        return ih_reject(IH_E_INVALID, "listen", "--listen %s: expected ADDR:PORT", listen);
    IH_TRY(ih_path(path, sizeof path, "%s/keys/tls.key", dir));
    IH_TRY(ih_path(path2, sizeof path2, "%s/keys/tls.crt", dir));
    IH_TRY(ih_cert_selfsigned(path, path2, !strcmp(host, "0.0.0.0") || !strcmp(host, "::") ? "localhost" : host, 825));
    /* the bearer token a metrics scraper sends (Prometheus: credentials_file) */
    uint8_t mt[32];
    char token[64];
    IH_TRY(ih_random(mt, sizeof mt));
    size_t tn = ih_b64url_encode(mt, sizeof mt, token);
    ih_wipe(mt, sizeof mt);
    IH_TRY(ih_path(path, sizeof path, "%s/keys/metrics-token", dir));
    token[tn++] = '\n';
    e = ih_file_create(path, token, tn, 0600);
    ih_wipe(token, sizeof token);
    IH_TRY(e);

    ih_conf *c = &inst->conf;
    ih_conf_defaults(c);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->suite, sizeof c->suite, "%s", suite);
    snprintf(c->backend, sizeof c->backend, "%s", store);
    snprintf(c->pg_url, sizeof c->pg_url, "%s", pg_url ? pg_url : "");
    snprintf(c->listen, sizeof c->listen, "%s", listen);
    c->demo = demo;
    snprintf(c->metrics_token_file, sizeof c->metrics_token_file, "keys/metrics-token");
    snprintf(c->kek_source, sizeof c->kek_source, "%s", kek_fd >= 0 ? "passphrase" : "file");
    char *text;
    IH_TRY(ih_conf_render(c, &text));
    IH_TRY(ih_path(path, sizeof path, "%s/ihos.conf", dir));
    e = ih_file_create(path, text, strlen(text), 0600);
    free(text);
    IH_TRY(e);

    IH_TRY(ih_instance_open_store(inst));
    ih_suite_parse(suite, &inst->suite);
    char created[32], id[33];
    uint8_t rnd[16];
    IH_TRY(ih_random(rnd, sizeof rnd));
    ih_hex_encode(rnd, sizeof rnd, id, 0);
    ih_time_iso(ih_now_ms(), created, sizeof created);
    meta_kv kv[] = {{"suite", suite}, {"created_at", created}, {"name", name}, {"instance_id", id}};
    meta_arg ma = {kv, sizeof kv / sizeof kv[0]};
    e = ih_store_write(inst->store, write_meta, &ma);
    if (e == IH_E_EXISTS)
        return ih_reject(e, NULL, "the database already holds an ihos instance; use an empty database");
    IH_TRY(e);
    return bootstrap(inst, kek_copy, recovery_file);
}

static ih_err create(const char *dir, ih_instance *inst, const char *suite, const char *store, const char *pg_url,
                     bool demo, const char *listen, const char *name, ih_buf *recovery_file, int kek_fd)
{
    uint8_t kek[32];
    ih_err e = create_in(dir, inst, suite, store, pg_url, demo, listen, name, kek, recovery_file, kek_fd);
    OPENSSL_cleanse(kek, sizeof kek); /* on every path */
    return e;
}

/* DIR/ihos.conf moves to FILE (another file system, often) and becomes a
 * link to it. */
static ih_err move_config(const char *dir, const char *file, bool *made)
{
    char link[PATH_MAX];
    IH_TRY(ih_path(link, sizeof link, "%s/ihos.conf", dir));
    ih_buf b = IH_BUF_INIT;
    IH_TRY(ih_file_read(link, 1 << 20, &b));
    ih_err e = ih_file_create(file, b.p, b.len, 0600);
    ih_buf_free(&b);
    IH_TRY(e);
    *made = true;
    if (unlink(link) != 0 || symlink(file, link) != 0)
        return ih_fail(IH_E_IO, "%s: cannot link to %s: %s", link, file, strerror(errno));
    return IH_OK;
}

int ih_cli_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"suite", required_argument, NULL, 's'}, {"store", required_argument, NULL, 't'},
        {"pg-url", required_argument, NULL, 'p'}, {"demo", no_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'}, {"name", required_argument, NULL, 'n'},
        {"recovery-key-out", required_argument, NULL, 'r'}, {"kek-passphrase-fd", required_argument, NULL, 'k'},
        {"config", required_argument, NULL, 'c'}, {"demo-patients", required_argument, NULL, 'P'}, {0, 0, 0, 0},
    };
    const char *suite = "intl", *store = "sqlite", *pg_url = NULL, *listen = "127.0.0.1:8443",
               *name = "ihos", *recovery_out = NULL, *config_out = NULL;
    int kek_fd = -1;
    bool demo = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 's': suite = optarg; break;
        case 't': store = optarg; break;
        case 'p': pg_url = optarg; break;
        case 'd': demo = true; break;
        case 'l': listen = optarg; break;
        case 'n': name = optarg; break;
        case 'r': recovery_out = optarg; break;
        case 'k': kek_fd = atoi(optarg); break;
        case 'c': config_out = optarg; break;
        case 'P': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || n < IH_DEMO_PATIENTS_MIN || n > IH_DEMO_PATIENTS_MAX)
                return ih_cli_fail(IH_OK, "--demo-patients must be a number from %d to %d", IH_DEMO_PATIENTS_MIN,
                                   IH_DEMO_PATIENTS_MAX), 2;
            demo_patients = (int)n;
            break;
        }
        default: return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: ihos init DIR [--suite intl|gm] [--store sqlite | --store postgres --pg-url URL] [--demo "
                        "[--demo-patients N]] [--config FILE]\n");
        return 2;
    }
    const char *dir = argv[optind];
    if (strcmp(suite, "intl") && strcmp(suite, "gm")) return ih_cli_fail(IH_OK, "--suite must be intl or gm"), 2;
    if (strcmp(store, "sqlite") && strcmp(store, "postgres")) return ih_cli_fail(IH_OK, "--store must be sqlite or postgres"), 2;
    if (!strcmp(store, "postgres") && (!pg_url || !*pg_url)) return ih_cli_fail(IH_OK, "--store postgres needs --pg-url URL"), 2;
    if (!strcmp(store, "sqlite") && pg_url) return ih_cli_fail(IH_OK, "--pg-url only goes with --store postgres"), 2;
    if (!demo && demo_patients != IH_DEMO_PATIENTS) return ih_cli_fail(IH_OK, "--demo-patients only goes with --demo"), 2;
    if (strlen(name) == 0 || strlen(name) > 63) return ih_cli_fail(IH_OK, "--name must be 1 to 63 characters"), 2;
    if (!ih_dir_empty_or_absent(dir)) return ih_cli_fail(IH_OK, "refusing to initialise %s: it is not empty", dir);
    if (recovery_out && access(recovery_out, F_OK) == 0)
        return ih_cli_fail(IH_OK, "refusing to overwrite %s", recovery_out);
    if (config_out && (config_out[0] != '/' || access(config_out, F_OK) == 0))
        return ih_cli_fail(IH_OK, config_out[0] != '/' ? "--config %s: an absolute path, please" : "refusing to overwrite %s",
                           config_out);
    bool created_dir = false;
    if (mkdir(dir, 0700) == 0) created_dir = true;
    else if (errno != EEXIST) return ih_cli_fail(IH_OK, "cannot create %s: %s", dir, strerror(errno));
    else if (chmod(dir, 0700) != 0) return ih_cli_fail(IH_OK, "cannot chmod %s: %s", dir, strerror(errno));

    char *abs = realpath(dir, NULL);
    if (!abs) return ih_cli_fail(IH_OK, "cannot resolve %s", dir);
    static ih_instance inst;
    memset(&inst, 0, sizeof inst);
    ih_buf recovery = IH_BUF_INIT;
    ih_err e = create(abs, &inst, suite, store, pg_url, demo, listen, name, &recovery, kek_fd);
    ih_err_text why; /* closing the instance must not lose why creating it failed */
    ih_err_save(&why);
    ih_instance_close(&inst);
    ih_err_load(&why);
    if (e == IH_OK && recovery_out) e = ih_file_create(recovery_out, recovery.p, recovery.len, 0600);
    bool config_made = false;
    if (e == IH_OK && config_out) e = move_config(abs, config_out, &config_made);
    if (e != IH_OK) {
        if (config_made) unlink(config_out);
        ih_buf_wipe(&recovery);
        int rc = ih_cli_fail(e, "init failed, nothing was left behind");
        undo(abs, created_dir);
        free(abs);
        return rc;
    }
    char cert[PATH_MAX + 16], fp[128] = "";
    snprintf(cert, sizeof cert, "%s/keys/tls.crt", abs);
    ih_tls_fingerprint(cert, fp, sizeof fp);
    printf("Created instance %s (suite %s, store %s%s).\n", abs, suite, store, demo ? ", demo" : "");
    printf("TLS certificate SHA-256 fingerprint: %s\n", fp);
    printf("Administrator accounts and one-time passwords: %s/initial-credentials (0600)\n", abs);
    if (demo) printf("Demo staff and patients (synthetic), passwords and TOTP secrets: %s/demo-credentials.json (0600)\n", abs);
    if (config_out) printf("Configuration: %s (%s/ihos.conf links to it)\n", config_out, abs);
    printf("Start it with: ihosd --dir %s\n", abs);
    printf("\nRECOVERY KEY - shown only now%s. Keep it offline, away from this server:\n"
           "backups cannot be restored without it, and it is not stored in %s.\n\n%s\n",
           recovery_out ? " (also written to the --recovery-key-out file)" : "", abs, recovery.p);
    ih_buf_wipe(&recovery);
    free(abs);
    return 0;
}
