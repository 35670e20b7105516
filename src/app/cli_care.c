/* cli_care.c — `ihos demo seed`, `ihos report …`, `ihos rx export|verify`,
 * `ihos icd import`. */
#include "app/cli.h"
#include "app/cli_env.h"

#include "care/care.h"
#include "care/demo.h"
#include "core/fsutil.h"
#include "core/json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- demo ----------------------------------------------------------------------------- */

ih_err ih_app_seed_demo(ih_instance *inst, int patients)
{
    ih_identity_opts io;
    ih_app_identity_opts(inst, &io);
    ih_identity *id = NULL;
    ih_report *rep = NULL;
    ih_clinic *cl = NULL;
    json_t *creds = NULL;
    ih_err e = ih_identity_new(&io, &id);
    if (e == IH_OK) e = ih_app_report_new(inst, NULL, &rep);
    if (e == IH_OK) {
        ih_clinic_opts co;
        ih_app_clinic_opts(inst, id, &co);
        co.report = rep;
        e = ih_clinic_new(&co, &cl);
    }
    if (e == IH_OK) e = ih_demo_seed(cl, &ih_console_actor, patients, &creds);
    ih_buf text = IH_BUF_INIT;
    char path[PATH_MAX];
    if (e == IH_OK) e = ih_json_dump(creds, JSON_INDENT(1), &text);
    if (e == IH_OK) e = ih_buf_puts(&text, "\n");
    if (e == IH_OK) e = ih_instance_path(inst, "demo-credentials.json", path, sizeof path);
    if (e == IH_OK) e = ih_file_create(path, text.p, text.len, 0600);
    ih_buf_wipe(&text);
    json_decref(creds);
    ih_clinic_free(cl);
    ih_report_free(rep);
    ih_identity_free(id);
    return e;
}

int ih_cli_demo(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "seed")) {
        fprintf(stderr, "usage: ihos demo seed DIR\n");
        return 2;
    }
    ih_cli_env env;
    int rc = ih_cli_env_open(argv[2], &env, false);
    if (rc) return rc;
    if (!env.in.conf.demo) {
        ih_cli_env_close(&env);
        return ih_cli_fail(IH_OK, "%s is not a demo instance ([instance] demo = false): synthetic data stays out of "
                                  "real hospitals", argv[2]);
    }
    ih_err e = ih_app_seed_demo(&env.in, IH_DEMO_PATIENTS);
    ih_cli_env_close(&env);
    if (e != IH_OK) return ih_cli_fail(e, "demo seed failed");
    printf("seeded a synthetic hospital; accounts in %s/demo-credentials.json (0600)\n", argv[2]);
    return 0;
}

/* ---- report ---------------------------------------------------------------------------- */

static void print_json(json_t *j)
{
    ih_buf b = IH_BUF_INIT;
    if (ih_json_dump(j, JSON_INDENT(2), &b) == IH_OK) printf("%s\n", b.p);
    ih_buf_wipe(&b);
}

static int report_usage(void)
{
    fprintf(stderr, "usage: ihos report status DIR | list DIR [--state S] [--after ID] [--limit N] |\n"
                    "       show DIR ID [--unmask] |\n"
                    "       retry DIR ID | set-secret DIR (reads the appSecret from stdin) | flush DIR\n");
    return 2;
}

int ih_cli_report(int argc, char **argv)
{
    if (argc < 3) return report_usage();
    const char *cmd = argv[1];
    ih_cli_env env;
    int rc = ih_cli_env_open(argv[2], &env, true);
    if (rc) return rc;
    ih_report *r = env.report;
    json_t *out = NULL;
    ih_err e = IH_OK;
    rc = 0;
    if (!strcmp(cmd, "status") && argc == 3) {
        e = ih_report_status(r, &out);
    } else if (!strcmp(cmd, "list")) {
        const char *state = NULL;
        int64_t after = 0, limit = 100;
        for (int i = 3; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--state")) state = argv[i + 1];
            else if (!strcmp(argv[i], "--after")) after = atoll(argv[i + 1]);
            else if (!strcmp(argv[i], "--limit")) limit = atoll(argv[i + 1]);
            else rc = 2;
        }
        if ((argc - 3) % 2 || limit < 1) rc = 2;
        if (!rc) e = ih_report_list(r, state, after, (int)limit, &out);
    } else if (!strcmp(cmd, "show") && (argc == 4 || (argc == 5 && !strcmp(argv[4], "--unmask")))) {
        /* personal values masked unless --unmask; audited either way */
        e = ih_report_show(r, &ih_console_actor, atoll(argv[3]), argc == 5, &out);
    } else if (!strcmp(cmd, "retry") && argc == 4) {
        e = ih_report_retry(r, &ih_console_actor, atoll(argv[3]));
        if (e == IH_OK) printf("outbox row %s is pending again; a running ihosd sends it within seconds\n", argv[3]);
    } else if (!strcmp(cmd, "set-secret") && argc == 3) {
        char line[128];
        if (!fgets(line, sizeof line, stdin)) e = ih_reject(IH_E_INVALID, "secret", "no appSecret on stdin");
        else {
            line[strcspn(line, "\r\n")] = '\0';
            e = ih_report_set_secret(r, line);
            ih_wipe(line, sizeof line);
            if (e == IH_OK) printf("appSecret stored, sealed under the keyring's secret key\n");
        }
    } else if (!strcmp(cmd, "flush") && argc == 3) {
        int total = 0, n = 0;
        do {
            e = ih_report_pass(r, &n);
            total += n;
        } while (e == IH_OK && n > 0);
        if (e == IH_OK) printf("sent %d records\n", total);
    } else
        rc = 2;
    if (rc == 2) {
        ih_cli_env_close(&env);
        return report_usage();
    }
    ih_cli_env_close(&env);
    if (e != IH_OK) return ih_cli_fail(e, "report %s failed", cmd);
    if (out) {
        print_json(out);
        json_decref(out);
    }
    return 0;
}

/* ---- prescriptions ------------------------------------------------------------------------ */

int ih_cli_rx(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "export")) {
        const char *outpath = argc == 6 && !strcmp(argv[4], "--out") ? argv[5] : NULL;
        if (argc != 4 && !outpath) {
            fprintf(stderr, "usage: ihos rx export DIR ID [--out FILE]\n");
            return 2;
        }
        ih_cli_env env;
        int rc = ih_cli_env_open(argv[2], &env, true);
        if (rc) return rc;
        json_t *b = NULL;
        ih_err e = ih_rx_bundle(env.clinic, atoll(argv[3]), &b);
        if (e == IH_OK) {
            ih_actor who = ih_console_actor;
            ih_audit_event ev = {.action = "rx.export", .object_type = "prescription", .object_id = argv[3]};
            e = ih_audit_record(env.in.audit, &who, &ev);
        }
        ih_cli_env_close(&env);
        if (e != IH_OK) return ih_cli_fail(e, "cannot export prescription %s", argv[3]);
        ih_buf text = IH_BUF_INIT;
        e = ih_json_dump(b, JSON_INDENT(2), &text);
        json_decref(b);
        if (e == IH_OK) e = ih_buf_puts(&text, "\n");
        if (e == IH_OK && outpath) e = ih_file_create(outpath, text.p, text.len, 0600);
        else if (e == IH_OK) fputs(text.p, stdout);
        ih_buf_wipe(&text);
        return e == IH_OK ? 0 : ih_cli_fail(e, "cannot write the bundle");
    }
    if (argc == 3 && !strcmp(argv[1], "verify")) {
        if (ih_crypto_init() != IH_OK) return ih_cli_fail(IH_E_CRYPTO, "crypto");
        ih_buf text = IH_BUF_INIT;
        json_t *b = NULL;
        ih_err e = ih_file_read(argv[2], 1 << 20, &text);
        if (e == IH_OK) e = ih_json_parse_object(text.p, text.len, &b);
        ih_buf_free(&text);
        if (e != IH_OK) return ih_cli_fail(e, "cannot read %s", argv[2]);
        char msg[512];
        e = ih_rx_bundle_verify(b, msg, sizeof msg);
        json_decref(b);
        if (e != IH_OK) {
            printf("FAILED: %s\n", ih_err_detail());
            return 1;
        }
        printf("%s\n", msg);
        return 0;
    }
    fprintf(stderr, "usage: ihos rx export DIR ID [--out FILE] | rx verify BUNDLE\n");
    return 2;
}

/* ---- ICD-10 ---------------------------------------------------------------------------------- */

int ih_cli_icd(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "import")) {
        fprintf(stderr, "usage: ihos icd import DIR FILE.csv   (a header row \"code,name\", then one code per row)\n");
        return 2;
    }
    ih_buf csv = IH_BUF_INIT;
    ih_err e = ih_file_read(argv[3], 64 << 20, &csv);
    if (e != IH_OK) return ih_cli_fail(e, "cannot read %s", argv[3]);
    ih_cli_env env;
    int rc = ih_cli_env_open(argv[2], &env, true);
    if (rc) {
        ih_buf_free(&csv);
        return rc;
    }
    ih_viewer v = {.actor = ih_console_actor, .role = IH_ROLE_NONE};
    json_t *out = NULL;
    e = ih_icd_import_csv(env.clinic, &v, csv.p ? csv.p : "", csv.len, &out);
    ih_buf_free(&csv);
    ih_cli_env_close(&env);
    if (e != IH_OK) return ih_cli_fail(e, "import failed, nothing was changed");
    print_json(out);
    json_decref(out);
    return 0;
}
