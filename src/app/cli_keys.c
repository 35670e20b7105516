/* cli_keys.c — `ihos key status|rotate|rotate-kek|reencrypt` and
 * `ihos integrity scan`.  Each change is an audit event by `console`. */
#include "app/app.h"
#include "app/cli.h"
#include "app/cli_env.h"
#include "keys/keys.h"
#include "app/catalog.h"
#include "app/trusted.h"
#include "core/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>

typedef ih_cli_env opened;

static int open_all(const char *dir, opened *o, bool services) { return ih_cli_env_open(dir, o, services); }
static void close_all(opened *o) { ih_cli_env_close(o); }

typedef struct {
    ih_audit *a;
    const char *action;
    ih_key_purpose p;
} hook_ctx;

static ih_err audit_hook(ih_tx *tx, void *ctx, uint32_t version)
{
    hook_ctx *h = ctx;
    char oid[48];
    if (version) snprintf(oid, sizeof oid, "%s/v%u", ih_key_purpose_name(h->p), version);
    else snprintf(oid, sizeof oid, "kek");
    ih_audit_event ev = {.action = h->action, .object_type = "key", .object_id = oid};
    return ih_audit_append(h->a, tx, &ih_console_actor, &ev);
}

static ih_err status_fn(ih_tx *tx, void *arg)
{
    (void)arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT purpose, version, state, kek_id FROM dek ORDER BY purpose, version", &st));
    printf("%-10s %-8s %-8s %s\n", "purpose", "version", "state", "wrapped by KEK");
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        printf("%-10s v%-7lld %-8s %s\n", ih_key_purpose_name((ih_key_purpose)ih_col_int(st, 0)),
               (long long)ih_col_int(st, 1), ih_col_text(st, 2), ih_col_text(st, 3));
    return e;
}

/* `ihos key move-kek DIR --pkcs11-module SO --pkcs11-token LABEL
 * --pkcs11-pin-file FILE [--pkcs11-key-label L]`: from here on the KEK is an
 * AES key inside the token (created there if absent); every data key is
 * rewrapped by the token in one transaction, the configuration then points
 * at the token, the PIN is kept in keys/pkcs11-pin and the old KEK file is
 * removed. */
static int move_kek(int argc, char **argv)
{
    const char *module = NULL, *token = NULL, *pinfile = NULL, *label = "ihos-kek";
    bool ok = argc >= 3 && argc % 2 == 1;
    for (int i = 3; ok && i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pkcs11-module")) module = argv[i + 1];
        else if (!strcmp(argv[i], "--pkcs11-token")) token = argv[i + 1];
        else if (!strcmp(argv[i], "--pkcs11-pin-file")) pinfile = argv[i + 1];
        else if (!strcmp(argv[i], "--pkcs11-key-label")) label = argv[i + 1];
        else ok = false;
    }
    if (!ok || !module || !token || !pinfile) {
        fprintf(stderr, "usage: ihos key move-kek DIR --pkcs11-module SO --pkcs11-token LABEL --pkcs11-pin-file FILE "
                        "[--pkcs11-key-label L]\n");
        return 2;
    }
    opened o;
    int rc = open_all(argv[2], &o, false);
    if (rc) return rc;
    static ih_conf c;
    c = o.in.conf;
    bool was_file = !strcmp(c.kek_source, "file"), was_pass = !strcmp(c.kek_source, "passphrase");
    snprintf(c.kek_source, sizeof c.kek_source, "pkcs11");
    snprintf(c.pkcs11_module, sizeof c.pkcs11_module, "%s", module);
    snprintf(c.pkcs11_token, sizeof c.pkcs11_token, "%s", token);
    snprintf(c.pkcs11_key_label, sizeof c.pkcs11_key_label, "%s", label);
    /* the PIN goes in beside the current one until the data keys have moved */
    snprintf(c.pkcs11_pin_file, sizeof c.pkcs11_pin_file, "keys/pkcs11-pin.new");
    char pin_new[PATH_MAX], pin_path[PATH_MAX], conf_path[PATH_MAX], real[PATH_MAX];
    ih_buf pin = IH_BUF_INIT;
    ih_keyring *target = NULL;
    ih_err e = ih_check_private(pinfile);
    if (e == IH_OK) e = ih_file_read(pinfile, 256, &pin);
    if (e == IH_OK) e = ih_instance_path(&o.in, c.pkcs11_pin_file, pin_new, sizeof pin_new);
    if (e == IH_OK) e = ih_instance_path(&o.in, "keys/pkcs11-pin", pin_path, sizeof pin_path);
    if (e == IH_OK) e = ih_file_replace(pin_new, pin.p, pin.len, 0600);
    ih_buf_wipe(&pin);
    if (e == IH_OK) e = ih_instance_p11_open(&o.in, &c, true, &target);
    hook_ctx h = {o.in.audit, "key.move_kek", IH_KP__COUNT};
    if (e == IH_OK) e = ih_keys_move_kek(o.in.store, o.in.keys, target, audit_hook, &h);
    ih_keyring_free(target);
    if (e != IH_OK) { /* nothing moved: the instance is as it was */
        unlink(pin_new);
        close_all(&o);
        return ih_cli_fail(e, "the KEK was not moved");
    }
    /* the data keys are the token's now: point the configuration at it */
    snprintf(c.pkcs11_pin_file, sizeof c.pkcs11_pin_file, "keys/pkcs11-pin");
    char *text = NULL;
    e = rename(pin_new, pin_path) == 0 ? IH_OK : ih_fail(IH_E_IO, "rename %s: %s", pin_new, strerror(errno));
    if (e == IH_OK) e = ih_conf_render(&c, &text);
    if (e == IH_OK) e = ih_instance_path(&o.in, "ihos.conf", conf_path, sizeof conf_path);
    if (e == IH_OK) e = ih_file_replace(realpath(conf_path, real) ? real : conf_path, text, strlen(text), 0600);
    free(text);
    if (e != IH_OK) {
        close_all(&o);
        return ih_cli_fail(e, "the data keys are now wrapped by key '%s' on token '%s', but the configuration was not "
                              "updated: set [keys] kek_source = pkcs11 and the pkcs11_* keys in ihos.conf by hand "
                              "(the PIN is in %s or %s)",
                           label, token, pin_path, pin_new);
    }
    char old[PATH_MAX];
    if ((was_file || was_pass) &&
        ih_instance_path(&o.in, was_file ? "keys/kek" : "keys/kek.salt", old, sizeof old) == IH_OK)
        unlink(old); /* every data key is now wrapped by the token alone */
    ih_trust_report tr;
    e = ih_app_trust_record(&o.in, &ih_console_actor, NULL, 0, &tr);
    close_all(&o);
    if (e != IH_OK) return ih_cli_fail(e, "the KEK was moved, but the trust manifest was not recorded: run ihos trust record");
    printf("every data key is now wrapped by key '%s' on token '%s'; the old KEK is gone. Restart ihosd.\n", label,
           token);
    return 0;
}

int ih_cli_key(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ihos key status DIR | rotate DIR --purpose P | rotate-kek DIR | move-kek DIR ... | "
                        "reencrypt DIR\n");
        return 2;
    }
    const char *cmd = argv[1];
    opened o;
    int rc;
    if (!strcmp(cmd, "status")) {
        if ((rc = open_all(argv[2], &o, false))) return rc;
        ih_err e = ih_store_read(o.in.store, status_fn, NULL);
        close_all(&o);
        return e == IH_OK ? 0 : ih_cli_fail(e, "cannot read the keys");
    }
    if (!strcmp(cmd, "rotate")) {
        if (argc != 5 || strcmp(argv[3], "--purpose")) {
            fprintf(stderr, "usage: ihos key rotate DIR --purpose personal|clinical|totp|signing|secret\n");
            return 2;
        }
        int p = ih_key_purpose_parse(argv[4]);
        if (p < 0) return ih_cli_fail(IH_OK, "unknown purpose '%s'", argv[4]), 2;
        if ((rc = open_all(argv[2], &o, false))) return rc;
        hook_ctx h = {o.in.audit, "key.rotate", (ih_key_purpose)p};
        uint32_t v;
        ih_err e = ih_keys_rotate(o.in.store, o.in.keys, (ih_key_purpose)p, audit_hook, &h, &v);
        close_all(&o);
        if (e != IH_OK) return ih_cli_fail(e, "rotation failed");
        printf("%s key v%u added; new writes use it once the server reloads keys (within 10 s); older rows are\n"
               "re-encrypted in the background and the old version retired when none remain.\n",
               ih_key_purpose_name((ih_key_purpose)p), v);
        return 0;
    }
    if (!strcmp(cmd, "rotate-kek")) {
        int newfd = -1;
        if (argc == 5 && !strcmp(argv[3], "--new-passphrase-fd")) newfd = atoi(argv[4]);
        else if (argc != 3) {
            fprintf(stderr, "usage: ihos key rotate-kek DIR [--new-passphrase-fd N]\n");
            return 2;
        }
        if ((rc = open_all(argv[2], &o, false))) return rc;
        bool file = !strcmp(o.in.conf.kek_source, "file");
        if (!strcmp(o.in.conf.kek_source, "pkcs11")) {
            close_all(&o);
            return ih_cli_fail(IH_OK, "this instance's KEK is held in a PKCS#11 token: to replace it, run ihos key "
                                      "move-kek with a new --pkcs11-key-label (the token creates that key)");
        }
        if (file != (newfd < 0)) {
            close_all(&o);
            return ih_cli_fail(IH_OK, file ? "this instance keeps its KEK in keys/kek: --new-passphrase-fd does not apply"
                                           : "this instance derives its KEK from a passphrase: give the new one with "
                                             "--new-passphrase-fd N (the current one as for ihosd)");
        }
        char path[PATH_MAX];
        hook_ctx h = {o.in.audit, "key.rotate_kek", IH_KP__COUNT};
        ih_err e;
        if (file) {
            ih_instance_path(&o.in, "keys/kek", path, sizeof path);
            e = ih_keys_rotate_kek(o.in.store, o.in.keys, path, audit_hook, &h);
        } else {
            char pass[1024];
            size_t n = 0;
            ih_instance_path(&o.in, "keys/kek.salt", path, sizeof path);
            e = ih_kek_passphrase_fd(newfd, pass, sizeof pass, &n);
            if (e == IH_OK) e = ih_keys_change_passphrase(o.in.store, o.in.keys, pass, n, path, audit_hook, &h);
            ih_wipe(pass, sizeof pass);
        }
        close_all(&o);
        if (e != IH_OK) return ih_cli_fail(e, "KEK rotation failed; the old KEK still applies");
        printf(file ? "a new KEK is in keys/kek and every data key is rewrapped under it\n"
                    : "the KEK is now derived from the new passphrase (keys/kek.salt renewed); every data key is "
                      "rewrapped under it\n");
        return 0;
    }
    if (!strcmp(cmd, "move-kek")) return move_kek(argc, argv);
    if (!strcmp(cmd, "reencrypt")) {
        if ((rc = open_all(argv[2], &o, true))) return rc;
        int64_t grace = 5 * 60 * 1000;
        if (argc == 5 && !strcmp(argv[3], "--grace-seconds")) grace = atoll(argv[4]) * 1000;
        static ih_catalog c;
        ih_catalog_build(&c, o.in.store, o.in.keys, o.id, o.clinic, o.report);
        ih_reseal_report r;
        ih_err e = ih_catalog_reseal(&c, o.in.audit, grace, &r);
        close_all(&o);
        if (e != IH_OK) return ih_cli_fail(e, "re-encryption failed");
        printf("re-sealed %llu rows; %llu remain under old keys; %d old key versions retired\n",
               (unsigned long long)r.resealed, (unsigned long long)r.remaining, r.retired);
        if (r.refused[0]) return ih_cli_fail(IH_OK, "old key versions kept: %s", r.refused);
        return 0;
    }
    fprintf(stderr, "ihos: unknown key command '%s'\n", cmd);
    return 2;
}

int ih_cli_integrity(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "scan")) {
        fprintf(stderr, "usage: ihos integrity scan DIR\n");
        return 2;
    }
    opened o;
    int rc = open_all(argv[2], &o, true);
    if (rc) return rc;
    static ih_catalog c;
    ih_catalog_build(&c, o.in.store, o.in.keys, o.id, o.clinic, o.report);
    ih_integrity_report r;
    ih_err e = ih_catalog_scan(&c, o.in.audit, &r);
    bool failed = r.bad || r.unopenable || r.missing || r.older || r.schema_problem[0];
    ih_audit_event ev = {.action = "integrity.scan", .object_type = "database", .result = failed ? IH_E_INTEGRITY : e};
    ih_audit_record(o.in.audit, &ih_console_actor, &ev);
    close_all(&o);
    if (e != IH_OK) return ih_cli_fail(e, "scan failed");
    if (failed) {
        printf("FAILED:\n");
        if (r.bad)
            printf("  %llu of %llu protected rows fail their integrity check\n", (unsigned long long)r.bad,
                   (unsigned long long)r.rows);
        if (r.unopenable)
            printf("  %llu of %llu sealed rows are under a key version this instance no longer holds\n",
                   (unsigned long long)r.unopenable, (unsigned long long)r.sealed_rows);
        if (r.missing)
            printf("  %llu rows the audit journal recorded are gone (deleted)\n", (unsigned long long)r.missing);
        if (r.older)
            printf("  %llu rows are older than the version the audit journal recorded (an older copy put back)\n",
                   (unsigned long long)r.older);
        if (r.schema_problem[0]) printf("  %s\n", r.schema_problem);
        printf("Each row is in the audit journal as integrity.violation and in the log as an alert.\n");
        return 1;
    }
    printf("OK: %llu protected rows, every MAC verifies; %llu sealed rows, every key version present\n",
           (unsigned long long)r.rows, (unsigned long long)r.sealed_rows);
    return 0;
}
