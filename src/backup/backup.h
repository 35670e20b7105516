/* backup.h — encrypted, signed backups and restore (L3 8.1.4.9a/b).
 *
 * A backup file is self-contained:
 *   "IHOSBACKUP 1\n"
 *   payload    the entries (configuration, KEK, TLS and audit public keys,
 *              the database snapshot, audit checkpoints and archives)
 *              concatenated and sealed in 1 MiB chunks with the suite's AEAD
 *              (AES-256-GCM or SM4-CTR+HMAC-SM3); each chunk's associated data
 *              binds its index and whether it is the last, so chunks cannot be
 *              dropped, reordered or truncated unnoticed
 *   manifest   one JSON line: instance, suite, backend, each entry's name,
 *              size and hash, the payload's hash, the recovery blob that
 *              delivers the data key to the recovery key, the audit public
 *              key, and a signature over all of it by the audit key
 *   footer     8 bytes: the manifest's offset
 * The data key reaches only the holder of the recovery private key (see
 * crypto/recovery.h): the server can make backups but not open them.
 */
#ifndef IH_BACKUP_BACKUP_H
#define IH_BACKUP_BACKUP_H

#include "app/instance.h"
#include "core/buf.h"

typedef struct ih_backup_info {
    char path[1024];
    uint64_t size;
    char hash[72]; /* the file's SHA-256 in hex (as sha256sum prints it) */
} ih_backup_info;

/* Create a backup of the open instance at `path` (must not exist). */
ih_err ih_backup_create(ih_instance *in, const char *path, ih_backup_info *info);

/* Verify a backup without opening it: the manifest's signature (by `pub`,
 * or by the key the manifest names when pub is NULL, which the caller must
 * then check) and the payload's hash.  msg gets a summary. */
ih_err ih_backup_verify(const char *path, const ih_signkey *pub, char *msg, size_t n);

/* Restore into dir (empty or absent) with the recovery file (recovery
 * private key + the audit public key).  pg_url: the empty PostgreSQL
 * database to restore a postgres backup into (NULL for SQLite backups). */
ih_err ih_backup_restore(const char *path, const char *dir, const char *recovery_file, const char *pg_url,
                         char *msg, size_t n);

/* Copy `path` to the configured off-site target (a directory or a command). */
ih_err ih_backup_offsite(const ih_conf *c, const char *path);

/* The recovery file text: the recovery private key and the audit public key. */
ih_err ih_backup_recovery_file(const char *recovery_private_pem, const char *audit_public_pem, const char *instance_id,
                               ih_buf *out);

#endif
