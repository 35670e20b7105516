/* cli_audit.c — `ihos audit verify|prove|check-proof|checkpoint`.
 * L3 8.1.4.3c: an assessor can verify the journal independently. */
#include "app/cli.h"
#include "app/instance.h"
#include "core/clock.h"
#include "core/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Load config, store and runtime of DIR; prints its own error. */
static int open_instance(const char *dir, ih_instance *in, bool signer)
{
    char msg[1024];
    if (ih_instance_load(dir, in, msg, sizeof msg) != IH_OK) return ih_cli_fail(IH_OK, "%s", msg);
    if (ih_instance_open_store(in) != IH_OK) return ih_cli_fail(IH_E_STORAGE, "cannot open the store");
    if (ih_instance_open_runtime(in, signer) != IH_OK) {
        int rc = ih_cli_fail(IH_E_CONFIG, "cannot open the keyring or journal");
        ih_instance_close(in);
        return rc;
    }
    return 0;
}

static void log_access(ih_instance *in, const char *action, const char *object_id, ih_err result)
{
    ih_audit_event ev = {.action = action, .object_type = "audit_journal", .object_id = object_id, .result = result};
    if (ih_audit_record(in->audit, &ih_console_actor, &ev) != IH_OK)
        fprintf(stderr, "ihos: warning: could not record this access in the journal\n");
}

/* Check every archive file of the instance; returns the number that fail. */
static int verify_archives(ih_instance *in, int *files)
{
    char dir[PATH_MAX];
    *files = 0;
    if (ih_instance_path(in, "audit/archive", dir, sizeof dir) != IH_OK) return 1;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int bad = 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 10 || strcmp(de->d_name + n - 10, ".ihosa.zst")) continue;
        char path[PATH_MAX + 300], msg[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        (*files)++;
        if (ih_audit_check_archive(path, in->audit_pub, msg, sizeof msg) != IH_OK) {
            printf("FAILED: archive %s: %s\n", de->d_name, ih_err_detail());
            bad++;
        }
    }
    closedir(d);
    return bad;
}

static int cmd_verify(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ihos audit verify DIR\n");
        return 2;
    }
    static ih_instance in;
    int rc = open_instance(argv[1], &in, true);
    if (rc) return rc;
    const char *cp = in.checkpoint_file;
    ih_audit_report r;
    ih_err e = ih_audit_verify(in.store, in.suite, in.origin, in.audit_pub, cp, &r);
    char rollback[512] = "";
    if (e == IH_OK && !r.problem[0] && ih_instance_rollback_check(&in, rollback, sizeof rollback) != IH_OK &&
        rollback[0])
        snprintf(r.problem, sizeof r.problem, "%s", rollback);
    if (e != IH_OK) {
        rc = ih_cli_fail(e, "verification could not run");
    } else if (r.problem[0]) {
        printf("FAILED: %s\n", r.problem);
        printf("checked %llu events and %llu checkpoints before stopping\n", (unsigned long long)r.events,
               (unsigned long long)r.checkpoints);
        rc = 1;
    } else {
        printf("OK: %llu events, %llu checkpoints (%llu in %s), all signatures valid (%s, key %s)\n",
               (unsigned long long)r.events, (unsigned long long)r.checkpoints,
               (unsigned long long)r.file_checkpoints, cp, in.suite == IH_SUITE_GM ? "SM3/SM2" : "SHA-256/Ed25519",
               "keys/audit.pub");
        int files, bad = verify_archives(&in, &files);
        if (r.purged || files)
            printf("%llu events are archived in %d archive files%s\n", (unsigned long long)r.purged, files,
                   bad ? "" : ", all verified");
        if (bad) rc = 1;
        if (r.unsealed)
            printf("%llu newest events are not yet covered by a checkpoint (sealed within %d s)\n",
                   (unsigned long long)r.unsealed, in.conf.checkpoint_interval);
        if (in.anchor_file[0]) printf("the database is not behind the checkpoints anchored in %s\n", in.anchor_file);
    }
    /* Recorded after the check, so verification sees the journal as found. */
    log_access(&in, "audit.verify", NULL, rc == 0 ? IH_OK : IH_E_INTEGRITY);
    ih_instance_close(&in);
    return rc;
}

/* After restoring an older backup on purpose: the journal goes on from the
 * restored database's last checkpoint, recorded in every anchor. */
static int cmd_accept_restore(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ihos audit accept-restore DIR\n");
        return 2;
    }
    static ih_instance in;
    int rc = open_instance(argv[1], &in, true);
    if (rc) return rc;
    char problem[512] = "";
    if (ih_instance_rollback_check(&in, problem, sizeof problem) == IH_OK) {
        printf("nothing to accept: the database is not behind any anchored checkpoint\n");
        ih_instance_close(&in);
        return 0;
    }
    const char *files[] = {in.checkpoint_file, in.anchor_file};
    uint64_t size;
    ih_err e = ih_audit_accept_restore(in.audit, &ih_console_actor, files, 2, &size);
    ih_instance_close(&in);
    if (e != IH_OK) return ih_cli_fail(e, "cannot record the restore");
    printf("was: %s\nrecorded: the audit journal goes on from the restored checkpoint of %llu events "
           "(audit.restore_accepted)\n",
           problem, (unsigned long long)size);
    return 0;
}

static int cmd_prove(int argc, char **argv)
{
    const char *out = NULL;
    if (argc == 5 && !strcmp(argv[3], "--out")) out = argv[4];
    else if (argc != 3) {
        fprintf(stderr, "usage: ihos audit prove DIR SEQ [--out FILE]\n");
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long long seq = strtoull(argv[2], &end, 10);
    if (errno || *end || end == argv[2]) return ih_cli_fail(IH_OK, "SEQ must be an event number"), 2;
    static ih_instance in;
    int rc = open_instance(argv[1], &in, true);
    if (rc) return rc;
    ih_buf b = IH_BUF_INIT;
    ih_err e = ih_audit_prove(in.store, in.suite, seq, &b);
    if (e == IH_E_STATE) { /* not yet sealed: seal now and retry */
        ih_audit_checkpoint(in.audit, NULL);
        ih_buf_reset(&b);
        e = ih_audit_prove(in.store, in.suite, seq, &b);
    }
    if (e != IH_OK) rc = ih_cli_fail(e, "cannot prove event %llu", seq);
    else if (out) {
        if ((e = ih_file_create(out, b.p, b.len, 0600)) != IH_OK) rc = ih_cli_fail(e, "cannot write %s", out);
        else printf("wrote the inclusion proof of event %llu to %s\n", seq, out);
    } else {
        fwrite(b.p, 1, b.len, stdout);
    }
    char id[24];
    snprintf(id, sizeof id, "%llu", seq);
    log_access(&in, "audit.prove", id, e);
    ih_buf_free(&b);
    ih_instance_close(&in);
    return rc;
}

static int cmd_check_proof(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ihos audit check-proof BUNDLE PUBKEY\n");
        return 2;
    }
    if (ih_crypto_init() != IH_OK) return ih_cli_fail(IH_E_CRYPTO, "crypto");
    ih_buf bundle = IH_BUF_INIT, pem = IH_BUF_INIT;
    ih_signkey *pub = NULL;
    ih_err e = ih_file_read(argv[1], 1 << 20, &bundle);
    if (e != IH_OK) return ih_cli_fail(e, "cannot read %s", argv[1]);
    if ((e = ih_file_read(argv[2], 16384, &pem)) != IH_OK || (e = ih_sign_public_from_pem(pem.p, pem.len, &pub)) != IH_OK) {
        ih_buf_free(&bundle);
        ih_buf_free(&pem);
        return ih_cli_fail(e, "cannot load the public key %s", argv[2]);
    }
    char msg[512];
    e = ih_audit_check_proof(bundle.p, bundle.len, pub, msg, sizeof msg);
    int rc = 0;
    if (e == IH_OK) printf("%s\n", msg);
    else {
        printf("FAILED: %s\n", ih_err_detail());
        rc = 1;
    }
    ih_signkey_free(pub);
    ih_buf_free(&bundle);
    ih_buf_free(&pem);
    return rc;
}

static int cmd_checkpoint(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ihos audit checkpoint DIR\n");
        return 2;
    }
    static ih_instance in;
    int rc = open_instance(argv[1], &in, true);
    if (rc) return rc;
    bool made;
    ih_err e = ih_audit_checkpoint(in.audit, &made);
    if (e != IH_OK) rc = ih_cli_fail(e, "checkpoint failed");
    else printf(made ? "sealed the journal with a new checkpoint\n" : "the journal was already sealed\n");
    ih_instance_close(&in);
    return rc;
}

static int cmd_archive(int argc, char **argv)
{
    int64_t now = 0;
    if (argc == 4 && !strcmp(argv[2], "--now")) {
        if (ih_time_parse_iso(argv[3], &now) != 0) return ih_cli_fail(IH_OK, "--now takes YYYY-MM-DDTHH:MM:SSZ"), 2;
    } else if (argc != 2) {
        fprintf(stderr, "usage: ihos audit archive DIR [--now YYYY-MM-DDTHH:MM:SSZ]\n");
        return 2;
    }
    static ih_instance in;
    int rc = open_instance(argv[1], &in, true);
    if (rc) return rc;
    char dir[PATH_MAX];
    ih_instance_path(&in, "audit/archive", dir, sizeof dir);
    ih_audit_checkpoint(in.audit, NULL); /* only sealed events are archived */
    ih_archive_report r;
    ih_err e = ih_audit_archive(in.audit, dir, in.conf.retention_days, now ? now : ih_now_ms(), &r);
    if (e != IH_OK) rc = ih_cli_fail(e, "archiving failed");
    else if (r.files) printf("archived %llu events into %d files (last: %s)\n", (unsigned long long)r.events, r.files, r.last_file);
    else printf("nothing to archive: no whole month older than %d days\n", in.conf.retention_days);
    ih_instance_close(&in);
    return rc;
}

static int cmd_check_archive(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ihos audit check-archive FILE PUBKEY\n");
        return 2;
    }
    if (ih_crypto_init() != IH_OK) return ih_cli_fail(IH_E_CRYPTO, "crypto");
    ih_buf pem = IH_BUF_INIT;
    ih_signkey *pub = NULL;
    ih_err e = ih_file_read(argv[2], 16384, &pem);
    if (e == IH_OK) e = ih_sign_public_from_pem(pem.p, pem.len, &pub);
    ih_buf_free(&pem);
    if (e != IH_OK) return ih_cli_fail(e, "cannot load the public key %s", argv[2]);
    char msg[512];
    e = ih_audit_check_archive(argv[1], pub, msg, sizeof msg);
    ih_signkey_free(pub);
    if (e != IH_OK) {
        printf("FAILED: %s\n", ih_err_detail());
        return 1;
    }
    printf("%s\n", msg);
    return 0;
}

int ih_cli_audit(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ihos audit verify DIR | accept-restore DIR | prove DIR SEQ [--out FILE] | "
                        "check-proof BUNDLE PUBKEY | checkpoint DIR | archive DIR | check-archive FILE PUBKEY\n");
        return 2;
    }
    if (!strcmp(argv[1], "verify")) return cmd_verify(argc - 1, argv + 1);
    if (!strcmp(argv[1], "accept-restore")) return cmd_accept_restore(argc - 1, argv + 1);
    if (!strcmp(argv[1], "prove")) return cmd_prove(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check-proof")) return cmd_check_proof(argc - 1, argv + 1);
    if (!strcmp(argv[1], "checkpoint")) return cmd_checkpoint(argc - 1, argv + 1);
    if (!strcmp(argv[1], "archive")) return cmd_archive(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check-archive")) return cmd_check_archive(argc - 1, argv + 1);
    fprintf(stderr, "ihos: unknown audit command '%s'\n", argv[1]);
    return 2;
}
