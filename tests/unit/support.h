/* support.h — helpers shared by the unit tests.
 *
 * PostgreSQL: `make test` starts a throwaway cluster and exports
 * IHOS_TEST_PG (a libpq conninfo for its maintenance database).  Each test
 * group gets a fresh database created here and dropped afterwards.  Without
 * IHOS_TEST_PG the PostgreSQL groups fail: they are never silently skipped.
 */
#ifndef IH_TEST_SUPPORT_H
#define IH_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store.h"

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp). */
char *t_tempdir(void);
/* rm -rf */
void t_rmtree(const char *path);

/* Create a fresh PostgreSQL database; returns its conninfo (malloc'd), or
 * NULL when no cluster is configured (the caller fails the test). */
char *t_pg_create_db(void);
void t_pg_drop_db(const char *conninfo);

/* Open a store of the given kind on a fresh database/file, migrated with
 * `m`.  *ctx receives what t_store_close needs to clean up. */
ih_store *t_store_open(ih_store_kind kind, const ih_migration *m, size_t n, void **ctx);
void t_store_close(ih_store *s, void *ctx);
/* The SQLite path or PostgreSQL conninfo behind a t_store_open() context. */
const char *t_store_location(void *ctx);

/* assert that expr returns IH_OK, printing the error detail otherwise */
#define T_OK(expr)                                                                                 \
    do {                                                                                           \
        ih_err t__e = (expr);                                                                      \
        if (t__e != IH_OK) fail_msg("%s -> %s (%s)", #expr, ih_err_name(t__e), ih_err_detail());   \
    } while (0)

#endif
