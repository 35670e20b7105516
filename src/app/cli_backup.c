/* cli_backup.c — `ihos backup create|verify` and `ihos restore`. */
#include "app/cli.h"
#include "app/instance.h"
#include "app/trusted.h"
#include "backup/backup.h"
#include "core/fsutil.h"

#include <getopt.h>
#include <string.h>

static int cmd_create(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[2], "--to")) {
        fprintf(stderr, "usage: ihos backup create DIR --to PATH\n");
        return 2;
    }
    static ih_instance in;
    char msg[1024];
    if (ih_instance_load(argv[1], &in, msg, sizeof msg) != IH_OK) return ih_cli_fail(IH_OK, "%s", msg);
    if (ih_instance_open_store(&in) != IH_OK || ih_instance_open_runtime(&in, true) != IH_OK) {
        int rc = ih_cli_fail(IH_E_CONFIG, "cannot open the instance");
        ih_instance_close(&in);
        return rc;
    }
    ih_backup_info info;
    ih_err e = ih_backup_create(&in, argv[3], &info);
    ih_audit_event ev = {.action = "backup.create", .object_type = "backup", .object_id = argv[3], .result = e};
    ih_audit_record(in.audit, &ih_console_actor, &ev);
    ih_instance_close(&in);
    if (e != IH_OK) return ih_cli_fail(e, "backup failed (nothing was written)");
    printf("wrote %s (%llu bytes, SHA-256 %s)\n", info.path, (unsigned long long)info.size, info.hash);
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    const char *pubfile = NULL;
    if (argc == 4 && (!strcmp(argv[2], "--pubkey") || !strcmp(argv[2], "--recovery-key-file"))) pubfile = argv[3];
    else if (argc != 2) {
        fprintf(stderr, "usage: ihos backup verify PATH [--pubkey AUDIT_PUB | --recovery-key-file FILE]\n");
        return 2;
    }
    if (ih_crypto_init() != IH_OK) return ih_cli_fail(IH_E_CRYPTO, "crypto");
    ih_signkey *pub = NULL;
    if (pubfile) {
        ih_buf pem = IH_BUF_INIT;
        ih_err e = ih_file_read(pubfile, 65536, &pem);
        if (e == IH_OK) e = ih_sign_public_from_pem(pem.p, pem.len, &pub);
        ih_buf_wipe(&pem);
        if (e != IH_OK) return ih_cli_fail(e, "cannot load a public key from %s", pubfile);
    }
    char msg[1024];
    ih_err e = ih_backup_verify(argv[1], pub, msg, sizeof msg);
    ih_signkey_free(pub);
    if (e != IH_OK) {
        printf("FAILED: %s\n", ih_err_detail());
        return 1;
    }
    printf("%s\n", msg);
    return 0;
}

int ih_cli_backup(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "create")) return cmd_create(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "verify")) return cmd_verify(argc - 1, argv + 1);
    fprintf(stderr, "usage: ihos backup create DIR --to PATH | verify PATH [--pubkey FILE | --recovery-key-file FILE]\n");
    return 2;
}

/* A restore drill (L3 8.1.4.9a): the backup was restored into a scratch
 * directory; the live instance's journal records that it was, and whether it
 * worked, so the self-check can tell when the last drill was. */
static int record_drill(const char *live, const char *backup, ih_err result)
{
    static ih_instance in;
    char msg[1024];
    ih_err_text saved;
    ih_err_save(&saved);
    if (ih_instance_load(live, &in, msg, sizeof msg) != IH_OK) return ih_cli_fail(IH_OK, "--drill-of: %s", msg);
    const char *base = strrchr(backup, '/');
    ih_audit_event ev = {.action = "backup.restore_drill", .object_type = "backup",
                         .object_id = base ? base + 1 : backup, .result = result};
    ih_err e = ih_instance_open_store(&in);
    if (e == IH_OK) e = ih_instance_open_runtime(&in, true);
    if (e == IH_OK) e = ih_audit_record(in.audit, &ih_console_actor, &ev);
    ih_instance_close(&in);
    if (e != IH_OK) return ih_cli_fail(e, "cannot record the drill in %s", live);
    ih_err_load(&saved);
    return 0;
}

int ih_cli_restore(int argc, char **argv)
{
    static const struct option opts[] = {{"recovery-key-file", required_argument, NULL, 'r'},
                                         {"pg-url", required_argument, NULL, 'p'},
                                         {"drill-of", required_argument, NULL, 'd'}, {0, 0, 0, 0}};
    const char *rfile = NULL, *pg = NULL, *drill = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'r') rfile = optarg;
        else if (ch == 'p') pg = optarg;
        else if (ch == 'd') drill = optarg;
        else return 2;
    }
    if (optind + 2 != argc || !rfile) {
        fprintf(stderr, "usage: ihos restore BACKUP DIR --recovery-key-file FILE [--pg-url URL] [--drill-of LIVE_DIR]\n");
        return 2;
    }
    if (ih_crypto_init() != IH_OK) return ih_cli_fail(IH_E_CRYPTO, "crypto");
    char msg[1024];
    ih_err e = ih_backup_restore(argv[optind], argv[optind + 1], rfile, pg, msg, sizeof msg);
    if (drill && record_drill(drill, argv[optind], e) != 0) return 1;
    if (e != IH_OK) return ih_cli_fail(e, "restore refused, nothing was left behind");
    /* the restored instance trusts the programs that restored it (L3 8.1.4.6) */
    static ih_instance in;
    char lmsg[1024];
    e = ih_instance_load(argv[optind + 1], &in, lmsg, sizeof lmsg);
    if (e == IH_OK) e = ih_instance_open_store(&in);
    if (e == IH_OK) e = ih_instance_open_runtime(&in, true);
    ih_trust_report tr;
    if (e == IH_OK) e = ih_app_trust_record(&in, &ih_console_actor, NULL, 0, &tr);
    ih_instance_close(&in);
    if (e != IH_OK) return ih_cli_fail(e, "restored, but the trust manifest could not be recorded (run ihos trust record)");
    printf("%s\n", msg);
    return 0;
}
