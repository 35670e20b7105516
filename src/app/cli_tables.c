/* cli_tables.c — `ihos tables`: the registry and care tables as their one
 * description says (table/record.h): sealed fields and their key, blind
 * indexes, the row MAC, how long rows are kept.  docs/data-protection.md
 * carries this output (a test holds the two together), so the documentation
 * is derived from the descriptors, never kept by hand. */
#include "app/cli.h"

#include "registry/clinic.h"
#include "table/record.h"

#include <stdio.h>
#include <string.h>

int ih_cli_tables(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: ihos tables\n");
        return 2;
    }
    size_t n;
    ih_table *const *t = ih_clinic_tables(&n);
    printf("| table | sealed fields (key) | blind index | row MAC | kept |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        printf("| `%s` | ", t[i]->name);
        int k = 0;
        for (int f = 0; f < t[i]->n; f++) {
            const ih_field *fd = &t[i]->fields[f];
            if (fd->type != IH_F_SEALED) continue;
            printf("%s%s (%s)", k++ ? ", " : "", fd->name, ih_key_purpose_name(fd->purpose));
        }
        printf("%s | ", k ? "" : "—");
        k = 0;
        for (int f = 0; f < t[i]->n; f++)
            if (t[i]->fields[f].flags & IH_FF_INDEX) printf("%s%s", k++ ? ", " : "", t[i]->fields[f].name);
        printf("%s | %s | %s |\n", k ? "" : "—", !t[i]->mac ? "no" : t[i]->append_only ? "yes (rows never change)" : "yes",
               t[i]->retention);
    }
    return ferror(stdout) ? ih_cli_fail(IH_OK, "cannot write to stdout") : 0;
}
