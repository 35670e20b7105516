/* cli_sbom.c — `ihos sbom [--out FILE]`: the bill of materials (see
 * compliance/sbom.h) as CycloneDX JSON on stdout or in FILE. */
#include "app/cli.h"

#include "compliance/sbom.h"

#include <jansson.h>
#include <string.h>

int ih_cli_sbom(int argc, char **argv)
{
    const char *out = NULL;
    if (argc == 3 && !strcmp(argv[1], "--out")) out = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: ihos sbom [--out FILE]\n");
        return 2;
    }
    json_t *doc;
    ih_err e = ih_sbom_build(&doc);
    if (e != IH_OK) return ih_cli_fail(e, "cannot list what ihos is made of");
    int rc = out ? json_dump_file(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS)
                 : json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    if (rc != 0) return ih_cli_fail(IH_OK, "cannot write %s", out ? out : "to stdout");
    if (!out) putchar('\n');
    else fprintf(stderr, "ihos: wrote %s\n", out);
    return 0;
}
