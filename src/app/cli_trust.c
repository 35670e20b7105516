/* cli_trust.c — `ihos trust record|verify DIR`: the signed list of the
 * program files and the configuration ihosd checks itself against
 * (L3 8.1.4.6; see app/trusted.h). */
#include "app/cli.h"
#include "app/trusted.h"
#include "core/clock.h"

#include <string.h>

static void show(const ih_trust_report *r)
{
    char when[32] = "-";
    if (r->recorded_at) ih_time_iso(r->recorded_at, when, sizeof when);
    printf("%d files recorded %s (%s)\n", r->files, when, r->algorithm[0] ? r->algorithm : "-");
}

int ih_cli_trust(int argc, char **argv)
{
    bool record = argc >= 3 && !strcmp(argv[1], "record");
    bool verify = argc == 3 && !strcmp(argv[1], "verify");
    for (int i = 3; record && i < argc; i += 2)
        if (strcmp(argv[i], "--file") || i + 1 >= argc || argv[i + 1][0] != '/') record = false;
    if (!record && !verify) {
        fprintf(stderr, "usage: ihos trust record DIR [--file /ABS/PATH]... | trust verify DIR\n");
        return 2;
    }
    static ih_instance in;
    char msg[1024];
    if (ih_instance_load(argv[2], &in, msg, sizeof msg) != IH_OK) return ih_cli_fail(IH_OK, "%s", msg);
    if (ih_instance_open_store(&in) != IH_OK || ih_instance_open_runtime(&in, record) != IH_OK) {
        int rc = ih_cli_fail(IH_E_CONFIG, "cannot open the instance");
        ih_instance_close(&in);
        return rc;
    }
    ih_trust_report r;
    ih_err e;
    if (record) {
        const char *extra[IH_TRUST_MAX_FILES];
        int n = 0;
        for (int i = 4; i < argc && n < IH_TRUST_MAX_FILES; i += 2) extra[n++] = argv[i];
        e = ih_app_trust_record(&in, &ih_console_actor, extra, n, &r);
    } else {
        e = ih_app_trust_check(&in, NULL, 0, &r);
        ih_audit_event ev = {.action = "trust.verify", .object_type = "instance", .object_id = "trust.manifest",
                             .result = e == IH_OK && r.problem[0] ? IH_E_INTEGRITY : e};
        if (e == IH_OK) e = ih_audit_record(in.audit, &ih_console_actor, &ev);
    }
    ih_instance_close(&in);
    if (e != IH_OK) return ih_cli_fail(e, record ? "cannot record the trusted files" : "cannot verify");
    if (r.problem[0]) {
        printf("FAILED: %s\n", r.problem);
        return 1;
    }
    printf("OK: ");
    show(&r);
    return 0;
}
