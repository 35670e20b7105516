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

#include "audit/audit.h"
#include "identity/identity.h"
#include "keys/keys.h"
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

/* The ground most services stand on: a store migrated with `m` (NULL: the
 * full schema), a keyring on a fixed test KEK, an audit signing key
 * registered in the store, and the audit journal open (origin
 * "ihos/test-instance", checkpoints in dir/checkpoints, UTC+8). */
#define T_KEK_BYTE 0x5a /* t_base's KEK: 32 bytes of it */
typedef struct t_base {
    ih_store_kind kind;
    ih_suite suite;
    ih_store *s;
    void *ctx;
    char *dir; /* a fresh temporary directory, removed by t_base_close */
    char cpfile[600];
    ih_keyring *kr;
    ih_signkey *key;
    ih_audit *a;
} t_base;
void t_base_open(t_base *b, ih_store_kind kind, ih_suite suite, const ih_migration *m, size_t n);
void t_base_close(t_base *b);
/* Identity options for tests over b: the Level 3 defaults, a fast hash. */
ih_identity_opts t_identity_opts(const t_base *b);

/* Run one SQL statement as someone with direct database access (the
 * attacker of the tamper tests); it must succeed. */
void t_sql(ih_store *s, const char *sql);
/* The integer the statement's first row and column hold. */
int64_t t_sql_int(ih_store *s, const char *sql);

/* Capture what the process writes to stderr (the log) between begin and
 * end; end returns it (malloc'd, NUL-terminated) and restores stderr. */
void t_stderr_begin(void);
char *t_stderr_end(void);

/* assert that expr returns IH_OK, printing the error detail otherwise */
#define T_OK(expr)                                                                                 \
    do {                                                                                           \
        ih_err t__e = (expr);                                                                      \
        if (t__e != IH_OK) fail_msg("%s -> %s (%s)", #expr, ih_err_name(t__e), ih_err_detail());   \
    } while (0)

#endif
