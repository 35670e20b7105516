/* cli_filing.c — `ihos filing DIR --out OUTDIR`: the filing pack (app/filing.h). */
#include "app/cli.h"
#include "app/cli_env.h"
#include "app/filing.h"

#include <string.h>

int ih_cli_filing(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[2], "--out")) {
        fprintf(stderr, "usage: ihos filing DIR --out OUTDIR\n");
        return 2;
    }
    ih_cli_env env;
    int rc = ih_cli_env_open(argv[1], &env, true);
    if (rc) return rc;
    ih_selfcheck_env sc = {.in = &env.in, .id = env.id, .clinic = env.clinic, .report = env.report};
    ih_err e = ih_app_filing(&sc, &ih_console_actor, argv[3]);
    ih_cli_env_close(&env);
    if (e != IH_OK) return ih_cli_fail(e, "the filing pack could not be written");
    printf("wrote the filing pack to %s (index.html; manifest.json signed by the audit key)\n", argv[3]);
    return 0;
}
