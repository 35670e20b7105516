/* instance.h — an instance directory and the runtime built from it.
 *
 *   DIR/ihos.conf            configuration (0600)
 *   DIR/keys/      (0700)    kek (0600), tls.key, tls.crt, audit.pub
 *   DIR/ihos.db              SQLite database (embedded mode)
 *   DIR/audit/     (0700)    checkpoints (outside the database), archives
 *   DIR/backups/   (0700)    local backups
 *
 * ih_instance_load() reads and validates the configuration.
 * ih_instance_open_store() opens the store and applies pending migrations.
 * ih_instance_open_runtime() then reads the KEK, loads the keyring, the
 * audit public key (from keys/audit.pub, outside the database) and — when
 * signing is needed — the audit private key, and opens the journal.
 */
#ifndef IH_APP_INSTANCE_H
#define IH_APP_INSTANCE_H

#include "audit/audit.h"
#include "core/conf.h"
#include "crypto/keyring.h"
#include "store/store.h"

#include <limits.h>

typedef struct ih_instance {
    char dir[PATH_MAX];
    ih_conf conf;
    ih_suite suite;
    ih_store *store;
    ih_keyring *keys;
    ih_signkey *audit_key; /* private; NULL unless opened with signing */
    ih_signkey *audit_pub; /* from keys/audit.pub */
    ih_audit *audit;
    char instance_id[40];
    char origin[64]; /* "ihos/<instance id>" */
    char checkpoint_file[PATH_MAX]; /* DIR/audit/checkpoints */
    char anchor_file[PATH_MAX];     /* <anchor_dir or offsite_dir>/ihos-<instance id>.checkpoints, or "" */
    bool kek_preset; /* init: the KEK was just derived; do not ask again */
    uint8_t preset_kek[32];
} ih_instance;

/* Resolve rel against the instance directory (absolute paths kept). */
ih_err ih_instance_path(const ih_instance *in, const char *rel, char *out, size_t n);
/* Load DIR/ihos.conf; on failure msg holds "file:line: reason". */
ih_err ih_instance_load(const char *dir, ih_instance *in, char *msg, size_t n);
/* Check key-file permissions (owner-only). */
ih_err ih_instance_check_keys(const ih_instance *in);
/* Open the store described by the configuration and migrate it. */
ih_err ih_instance_open_store(ih_instance *in);
/* A keyring whose KEK is the AES key on the PKCS#11 token that c's [keys]
 * pkcs11_* name (the PIN read from pkcs11_pin_file, owner-only, and wiped);
 * `create`: generate the key on the token if it is not there. */
ih_err ih_instance_p11_open(const ih_instance *in, const ih_conf *c, bool create, ih_keyring **out);
/* Keyring, audit keys and journal.  `signer`: load the private audit key. */
ih_err ih_instance_open_runtime(ih_instance *in, bool signer);
/* Has the database been rolled back behind a checkpoint signed outside it
 * (the local checkpoint file, the anchor)?  IH_E_INTEGRITY with the reason
 * in problem when it has. */
ih_err ih_instance_rollback_check(ih_instance *in, char *problem, size_t len);

/* Value from instance_meta into out ("" if absent). */
ih_err ih_instance_meta(ih_instance *in, const char *key, char *out, size_t n);
void ih_instance_close(ih_instance *in);

/* The actor the CLI acts as (the operator at the server's console), and
 * the server itself. */
extern const ih_actor ih_console_actor;
extern const ih_actor ih_system_actor;

/* All schema migrations, in order (schema.c). */
extern const ih_migration ih_schema[];
extern const size_t ih_schema_count;

#endif
