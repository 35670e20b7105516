/* protected.c — see protected.h. */
#include "keys/protected.h"

#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ih_sealed_column *cols;
    size_t ncols;
    const ih_mac_scan *scans;
    size_t nscans;
    int *seen; /* per sealed entry: how many of its columns exist */
    char *problem;
    size_t len;
} schema_arg;

/* Keep the first problem: "<table>.<column> <what>". */
static void note(schema_arg *a, const char *table, const char *column, const char *what)
{
    if (!a->problem[0]) snprintf(a->problem, a->len, "%s%s%s %s", table, column ? "." : "", column ? column : "", what);
}

static ih_err schema_fn(ih_tx *tx, void *arg)
{
    schema_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, ih_tx_is_pg(tx)
                                 ? "SELECT table_name::text, column_name::text FROM information_schema.columns "
                                   "WHERE table_schema = current_schema() ORDER BY 1, 2"
                                 : "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p "
                                   "WHERE m.type = 'table' ORDER BY 1, 2",
                         &st));
    a->problem[0] = '\0';
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        char table[128], column[128];
        snprintf(table, sizeof table, "%s", ih_col_text(st, 0));
        snprintf(column, sizeof column, "%s", ih_col_text(st, 1));
        size_t cl = strlen(column);
        bool named = false;
        for (size_t i = 0; i < a->ncols; i++) {
            if (strcmp(a->cols[i].table, table) || !ih_list_has(a->cols[i].columns, column)) continue;
            named = true;
            a->seen[i]++;
        }
        if (cl > 4 && !strcmp(column + cl - 4, "_enc") && !named)
            note(a, table, column, "holds sealed values but no key-rotation entry names it");
        if (a->scans && !strcmp(column, "mac")) {
            bool scanned = false;
            for (size_t i = 0; i < a->nscans && !scanned; i++) scanned = !strcmp(a->scans[i].table, table);
            if (!scanned) note(a, table, NULL, "has row MACs but no integrity scan checks them");
        }
    }
    IH_TRY(e);
    for (size_t i = 0; i < a->ncols; i++) {
        int want = 1;
        for (const char *p = a->cols[i].columns; *p; p++) want += *p == ',';
        if (a->seen[i] != want)
            note(a, a->cols[i].table, a->cols[i].columns, "is named by a key-rotation entry but the database lacks it");
    }
    return IH_OK;
}

ih_err ih_protected_check_schema(ih_store *s, const ih_sealed_column *cols, size_t ncols, const ih_mac_scan *scans,
                                 size_t nscans, char *problem, size_t len)
{
    int *seen = calloc(ncols ? ncols : 1, sizeof *seen);
    IH_CHECK_ALLOC(seen);
    schema_arg a = {cols, ncols, scans, nscans, seen, problem, len};
    ih_err e = ih_store_read(s, schema_fn, &a);
    free(seen);
    IH_TRY(e);
    return problem[0] ? ih_fail(IH_E_INTEGRITY, "%s", problem) : IH_OK;
}
