/* audit_impl.h — shared inside src/audit: the leaf entry and checkpoint notes. */
#ifndef IH_AUDIT_IMPL_H
#define IH_AUDIT_IMPL_H

#include "audit/audit.h"
#include "audit/merkle.h"
#include "crypto/protect.h"

#include <pthread.h>
#include <stdatomic.h>

/* One event as stored (strings may be NULL). */
typedef struct audit_row {
    int64_t seq, ts, tz, actor_id;
    bool has_actor;
    const char *role, *session, *ip, *request_id, *action, *object_type, *object_id, *outcome, *error_code,
        *reason;
    uint8_t prev[IH_HASH_LEN];
} audit_row;

/* The canonical leaf entry of an event (what is hashed). */
void audit_entry(ih_canon *c, const audit_row *r);

/* Checkpoint notes (C2SP signed-note / tlog-checkpoint). */
ih_err note_sign(const ih_signkey *k, ih_suite s, const char *origin, uint64_t size, const uint8_t root[IH_HASH_LEN],
                 ih_buf *out);
/* Parse and verify a note; fills size and root. */
ih_err note_verify(const char *note, size_t n, const ih_signkey *pub, const char *origin, uint64_t *size,
                   uint8_t root[IH_HASH_LEN]);

struct ih_audit {
    ih_audit_opts o;
    char *origin, *file, *witness_command, *witness_url;
    ih_md md;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    _Atomic uint64_t appended; /* appends since start (a hint for the checkpointer) */
    uint64_t sealed_at_append; /* `appended` when the last checkpoint was made */
};

#define AUDIT_ROW_COLUMNS                                                                          \
    "seq, ts, tz_offset, actor_id, actor_role, session_hash, src_ip, request_id, action, "          \
    "object_type, object_id, outcome, error_code, reason, prev_hash, leaf_hash, purged"

/* Fill r from a statement selecting AUDIT_ROW_COLUMNS (strings point into st). */
void audit_row_from(ih_stmt *st, audit_row *r);

#endif
