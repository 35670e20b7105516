/* instance.h — an instance directory and what it holds.
 *
 *   DIR/ihos.conf            configuration (0600)
 *   DIR/keys/      (0700)    kek (0600), tls.key (0600), tls.crt
 *   DIR/ihos.db              SQLite database (embedded mode)
 *   DIR/audit/     (0700)    checkpoints outside the database, archives
 *   DIR/backups/   (0700)    local backups
 *
 * ih_instance_open() loads and validates the configuration, refuses a keys
 * directory or KEK readable by others, opens the store and applies pending
 * migrations.
 */
#ifndef IH_APP_INSTANCE_H
#define IH_APP_INSTANCE_H

#include "core/conf.h"
#include "store/store.h"

#include <limits.h>

typedef struct ih_instance {
    char dir[PATH_MAX];
    ih_conf conf;
    ih_store *store;
} ih_instance;

/* Resolve rel against the instance directory (absolute paths kept). */
ih_err ih_instance_path(const ih_instance *in, const char *rel, char *out, size_t n);
/* Load DIR/ihos.conf; on failure msg holds "file:line: reason". */
ih_err ih_instance_load(const char *dir, ih_instance *in, char *msg, size_t n);
/* Check key-file permissions (owner-only). */
ih_err ih_instance_check_keys(const ih_instance *in);
/* Open the store described by the configuration and migrate it. */
ih_err ih_instance_open_store(ih_instance *in);
void ih_instance_close(ih_instance *in);

/* All schema migrations, in order (schema.c). */
extern const ih_migration ih_schema[];
extern const size_t ih_schema_count;

#endif
