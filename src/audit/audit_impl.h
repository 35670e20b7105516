/* audit_impl.h — shared inside src/audit: the leaf entry and checkpoint notes. */
#ifndef IH_AUDIT_IMPL_H
#define IH_AUDIT_IMPL_H

#include "audit/audit.h"
#include "store/lease.h"
#include "audit/merkle.h"
#include "crypto/protect.h"

#include <pthread.h>
#include <stdatomic.h>

/* One event as stored (strings may be NULL).  Format 2 adds `rows`: the
 * protected rows the event's transaction wrote, "table:id:version" joined
 * by ',' (NULL: none).  Format 1 entries (before it) have no such item. */
typedef struct audit_row {
    int format; /* 1 or 2 */
    int64_t seq, ts, tz, actor_id;
    bool has_actor;
    const char *role, *session, *ip, *request_id, *action, *object_type, *object_id, *outcome, *error_code,
        *reason, *rows;
    uint8_t prev[IH_HASH_LEN];
} audit_row;

/* The canonical leaf entry of an event (what is hashed and stored; at most
 * 4096 bytes, so readers can decode it into a fixed scratch buffer). */
void audit_entry(ih_canon *c, const audit_row *r);

/* A stored entry parsed in place: slices point into the entry bytes. */
typedef struct slice {
    const char *p; /* NULL for a null item */
    size_t n;
} slice;

typedef struct audit_view {
    int format;
    int64_t seq, ts, tz, actor_id;
    bool has_actor;
    slice role, session, ip, request_id, action, object_type, object_id, outcome, error_code, reason, rows;
    const uint8_t *prev; /* IH_HASH_LEN bytes */
} audit_view;

/* 0, or -1 if the bytes are not a well-formed entry. */
int audit_entry_parse(const uint8_t *p, size_t n, audit_view *v);
/* Copy a view into a row of NUL-terminated strings; scratch holds at least
 * the entry's length plus 16 bytes and must outlive the row. */
void audit_view_row(const audit_view *v, char *scratch, audit_row *r);
/* Does column col of the current row equal the slice? (NULL equals a null item) */
bool slice_eq(ih_stmt *st, int col, slice s);

/* Bring audit_tree (nodes and frontier) up to the newest committed event;
 * returns the tree's size and frontier. */
ih_err tree_extend(ih_store *s, ih_md md, ih_frontier *f);

/* Append a signed checkpoint (restore: marked as a deliberate restore) to
 * an anchor or checkpoint file (anchor.c). */
ih_err audit_anchor_line(const char *file, uint64_t size, const uint8_t root[IH_HASH_LEN], const char *note,
                         bool restore);

/* Checkpoint notes (C2SP signed-note / tlog-checkpoint). */
ih_err note_sign(const ih_signkey *k, ih_suite s, const char *origin, uint64_t size, const uint8_t root[IH_HASH_LEN],
                 ih_buf *out);
/* Parse and verify a note; fills size and root. */
ih_err note_verify(const char *note, size_t n, const ih_signkey *pub, const char *origin, uint64_t *size,
                   uint8_t root[IH_HASH_LEN]);

struct ih_audit {
    ih_audit_opts o;
    char *origin, *file, *anchor, *witness_command, *witness_url;
    ih_md md;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    _Atomic uint64_t appended; /* appends since start (a hint for the checkpointer) */
    /* SQLite only (one writer thread appends): the last event as written.
     * It follows the commit: a rolled-back transaction's rollback hook
     * (ih_tx_on_rollback) forgets it, so a rolled-back event never leaves
     * a gap.  An append inserts seq+1 with ON CONFLICT DO NOTHING, so
     * another process's appends are noticed and re-read too. */
    bool last_valid;
    int64_t last_seq;
    uint8_t last_leaf[IH_HASH_LEN];
    _Atomic uint64_t sealed_at_append; /* `appended` when the last checkpoint was made */
    _Atomic uint64_t checkpoint_failures, checkpoint_size;
    _Atomic int64_t last_checkpoint_ms;
    /* In a cluster only the node holding "audit.checkpoint" seals (the
     * checkpointer thread takes and renews it; NULL holder: no lease). */
    ih_lease lease;
    char node[128];
};

/* seq 0, ts 1, actor_id 2, action 3, object_type 4, object_id 5, outcome 6,
 * entry 7, leaf_hash 8, purged 9 */
#define AUDIT_EVENT_SELECT "seq, ts, actor_id, action, object_type, object_id, outcome, entry, leaf_hash, purged"
/* Verification checks the events in blocks of 2^this (verify.c); tests make
 * it small so that a short journal spans many blocks. */
extern int audit_verify_block_log;
/* A query no index serves walks at most this many events per call (query.c;
 * AUDIT_QUERY_WALK); tests make it small so that a short journal takes many
 * pages. */
#define AUDIT_QUERY_WALK 5000000
extern int64_t audit_query_walk;

/* Decode the stored entry of the current row into r (scratch as above);
 * -1 if the row has no entry (archived) or it is malformed. */
int audit_row_load(ih_stmt *st, char *scratch, size_t cap, audit_row *r);

#endif
