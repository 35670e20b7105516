/* audit.h — the append-only, tamper-evident audit journal.
 *
 * Recording.  ih_audit_append() adds an event inside the caller's store
 * transaction, so the event commits with the change it records or neither
 * does (fail closed: an append error fails the transaction).  There is no
 * call that edits or deletes an event and no switch that turns recording off.
 *
 * Tamper evidence.  Events are the leaves of an RFC 6962 Merkle tree (hash =
 * SHA-256 or SM3 by suite); each also carries its predecessor's leaf hash.
 * A checkpoint — a C2SP signed note "origin / tree size / base64 root"
 * signed with the instance's audit key (Ed25519 or SM2) — is made at most
 * every `interval` seconds or `max_events` events, stored in the database
 * AND appended to DIR/audit/checkpoints, and optionally pushed to a witness.
 *
 * Verification (ih_audit_verify) recomputes every leaf, the chain, every
 * checkpoint root and signature, and compares the database with the outside
 * checkpoint file; it names the first bad event or checkpoint.  The events
 * are checked by one thread per core (at most four), and by at most half of
 * the reads the store allows at once (ih_store_readers), so a verification
 * in a running server leaves the other half to its requests.
 */
#ifndef IH_AUDIT_AUDIT_H
#define IH_AUDIT_AUDIT_H

#include "core/buf.h"
#include "crypto/sign.h"
#include "crypto/suite.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* Who did it.  Strings are copied into the event; none may hold personal data. */
typedef struct ih_actor {
    int64_t id;              /* account id; 0 = the system or an anonymous caller */
    const char *role;        /* "doctor", "system", "anonymous", ... */
    const char *session;     /* short hash of the session token, or NULL */
    const char *ip;          /* source address, or NULL */
    const char *request_id;  /* or NULL */
} ih_actor;

/* What happened.  Object ids only — never a name, number or text of a person. */
typedef struct ih_audit_event {
    const char *action;      /* e.g. "auth.login", "patient.read" */
    const char *object_type; /* e.g. "account", or NULL */
    const char *object_id;   /* e.g. "42", or NULL */
    ih_err result;           /* IH_OK = success; otherwise failure with this code */
    const char *reason;      /* a reason the user gave (break-glass), or NULL */
} ih_audit_event;

typedef struct ih_audit ih_audit;

typedef struct ih_audit_opts {
    ih_store *store;
    ih_suite suite;
    const char *origin;          /* checkpoint origin and key name, "ihos/<instance id>" */
    ih_signkey *signer;          /* private audit key; NULL for read-only tools */
    const char *checkpoint_file; /* DIR/audit/checkpoints */
    const char *anchor_file;     /* a copy of each checkpoint off the database's reach; NULL = none */
    int utc_offset_minutes;      /* the instance's local offset, recorded with each event */
    int interval_s;              /* checkpoint at most this often (1..10) */
    int max_events;              /* ...or after this many events (<= 10000) */
    const char *witness_command; /* gets each checkpoint note on stdin; NULL = none */
    const char *witness_url;     /* POSTed each checkpoint note over HTTPS; NULL = none */
} ih_audit_opts;

ih_err ih_audit_open(const ih_audit_opts *o, ih_audit **out);
/* Stops the checkpointer (after a final checkpoint) and frees. */
void ih_audit_close(ih_audit *a);

/* Append inside tx.  Any failure is returned as IH_E_AUDIT (and fails tx).
 * The event names the protected rows noted in tx since the previous event
 * (ih_tx_note_row: table, id and the version written), so that the journal
 * knows the newest version of every row an audited change wrote. */
ih_err ih_audit_append(ih_audit *a, ih_tx *tx, const ih_actor *who, const ih_audit_event *ev);

/* ---- row versions (rollback detection) ---------------------------------------
 *
 * Every MAC'd row carries a version that its MAC covers and each write
 * increases.  A reader selects, in the row's own statement (one round trip
 * on PostgreSQL), IH_AUDIT_KNOWN_RV("table"): the newest version of the row
 * that an event named (0: none), from that table unaliased.  A table named
 * at run time uses it as a format: ih_buf_printf(b, IH_AUDIT_KNOWN_RV("%1$s"),
 * name).  ih_audit_version_known() then fails with IH_E_INTEGRITY when the
 * row is older than that: an older copy, with its old valid MAC, was put back
 * (a disabled account re-enabled, a dispensed prescription made dispensable
 * again).  A row may be newer than the journal knows (writes without an
 * event, such as a session's last use). */
#define IH_AUDIT_KNOWN_RV(table)                                                                          \
    "coalesce((SELECT rv FROM audit_version WHERE tbl = '" table "' AND row_id = " table ".id "            \
    "ORDER BY rv DESC LIMIT 1), 0)"
ih_err ih_audit_version_known(const char *table, int64_t id, int64_t rv, int64_t known);
/* Append in a transaction of its own (for events with no other change). */
ih_err ih_audit_record(ih_audit *a, const ih_actor *who, const ih_audit_event *ev);

/* Seal the unsealed tail now; *made tells whether a checkpoint was written. */
ih_err ih_audit_checkpoint(ih_audit *a, bool *made);
/* Run the checkpointer thread (ihosd).  Seals an unsealed tail at once.
 * A checkpoint that cannot be made (a gap in the sequence, a full disk, an
 * unwritable checkpoint file) is logged as an alert each time it is tried
 * and counted in ih_audit_health().  node (ihosd): this node's name; in a
 * cluster only the node holding the "audit.checkpoint" lease seals
 * (store/lease.h), and a node cut off from it is refused by the lease's
 * fencing token.  NULL: no lease. */
ih_err ih_audit_start(ih_audit *a, const char *node);

/* ---- rollback detection (anchors) -----------------------------------------
 *
 * Each checkpoint also goes to the anchor file (a directory the database's
 * owner cannot rewrite: another host's mount, the off-site backup target).
 * ih_audit_rollback_check() reads each file given (the local checkpoint
 * file, the anchor) and fails with IH_E_INTEGRITY, the reason in problem,
 * when the database holds fewer events than a signed checkpoint there, or
 * another root at that size: it was rolled back to an older copy (ihosd
 * refuses to start).  After a deliberate restore of an older backup,
 * ih_audit_accept_restore() appends the database's last checkpoint to each
 * file marked as a restore, so the journal goes on from there; audited. */
ih_err ih_audit_rollback_check(ih_store *s, ih_suite suite, const char *origin, const ih_signkey *pub,
                               const char *const *files, int nfiles, char *problem, size_t len);
ih_err ih_audit_accept_restore(ih_audit *a, const ih_actor *who, const char *const *files, int nfiles,
                               uint64_t *size);

/* For /metrics: what this process appended and sealed. */
typedef struct ih_audit_health_info {
    uint64_t appended;            /* events appended since start */
    uint64_t unsealed;            /* of those, not yet covered by a checkpoint */
    uint64_t checkpoint_failures; /* checkpoints tried and failed since start */
    uint64_t checkpoint_size;     /* tree size of the last checkpoint made here */
    int64_t last_checkpoint_ms;   /* when (0: none since start) */
} ih_audit_health_info;
void ih_audit_health(ih_audit *a, ih_audit_health_info *h);

/* ---- verification and proofs (used by the CLI; need only the public key) --- */

typedef struct ih_audit_report {
    uint64_t events;
    uint64_t checkpoints;     /* distinct sizes checked (database and file) */
    uint64_t file_checkpoints;
    uint64_t unsealed;        /* events after the last checkpoint */
    uint64_t purged;          /* events whose payload lives in an archive */
    int64_t bad_event;        /* -1 if none */
    int64_t bad_checkpoint;   /* tree size, -1 if none */
    int threads;              /* that checked the events (a share of the store's readers) */
    char problem[512];        /* empty when everything verified */
} ih_audit_report;

ih_err ih_audit_verify(ih_store *s, ih_suite suite, const char *origin, const ih_signkey *pub,
                       const char *checkpoint_file, ih_audit_report *r);
/* Inclusion-proof bundle (JSON) for event seq against the latest checkpoint. */
ih_err ih_audit_prove(ih_store *s, ih_suite suite, uint64_t seq, ih_buf *bundle);
/* Check a bundle offline with nothing but the public key.  msg gets a sentence. */
ih_err ih_audit_check_proof(const char *bundle, size_t n, const ih_signkey *pub, char *msg, size_t msglen);

/* ---- retention (L3 8.1.4.3c; Cybersecurity Law: logs kept >= 6 months) ------
 *
 * Whole calendar months (UTC) that ended before now - retention_days are
 * sealed into DIR/audit/archive/<YYYY-MM>-<first>-<last>.ihosa.zst: zstd-
 * compressed JSON lines (a header, every event with its prev and leaf hash,
 * a trailer holding the digest of everything above it signed by the audit
 * key).  Each file is re-read and verified before the events' payloads are
 * purged from the database; their leaf hashes stay, so verification and
 * proofs still work.  Only events already covered by a checkpoint are
 * archived. */
typedef struct ih_archive_report {
    int files;
    uint64_t events;
    char last_file[1024];
} ih_archive_report;

ih_err ih_audit_archive(ih_audit *a, const char *archive_dir, int retention_days, int64_t now_ms,
                        ih_archive_report *r);
/* Check an archive offline with nothing but the public key. */
ih_err ih_audit_check_archive(const char *file, const ih_signkey *pub, char *msg, size_t msglen);

/* ---- forwarding (central log collection, L3 8.1.5) -------------------------
 *
 * A thread that tails the committed journal and sends security events
 * (authentication, accounts, permissions, refusals, integrity, audit and key
 * operations, and every failure) as RFC 5424 lines to `target`
 * ("udp://HOST:PORT" or "unix:/dev/log").  Its position is kept in
 * `cursor_file`, so after a restart it resumes where it stopped (at least
 * once; a receiver de-duplicates by the seq parameter).  node (ihosd): in a
 * cluster only the node holding the "audit.forward" lease forwards, and its
 * position travels with the lease to the next holder; NULL: no lease. */
typedef struct ih_forwarder ih_forwarder;
ih_err ih_audit_forward_start(ih_store *s, const char *target, const char *cursor_file, const char *node,
                              ih_forwarder **out);
void ih_audit_forward_stop(ih_forwarder *f);
/* Format one event as an RFC 5424 message (exposed for tests). */
struct ih_buf;
ih_err ih_audit_syslog_line(const char *host, int64_t seq, int64_t ts, int64_t actor, const char *role, const char *ip,
                            const char *action, const char *object_type, const char *object_id, const char *outcome,
                            const char *error_code, const char *reason, struct ih_buf *out);

/* ---- queries (the auditadmin API) ------------------------------------------ */

typedef struct ih_audit_filter {
    int64_t from_ms, to_ms;  /* 0 = unbounded; [from, to) */
    int64_t actor_id;        /* -1 = any */
    const char *action, *object_type, *object_id, *outcome; /* NULL = any */
    int64_t after_seq;       /* events with seq > after_seq; -1 = from the start */
    int64_t before_seq;      /* and seq < before_seq; 0 = no bound */
    bool newest_first;       /* the order of the events, and so of the pages */
    int limit;
} ih_audit_filter;

/* Matching events (oldest first, or newest first) as a JSON array of
 * objects, and where the next page starts — pass it as after_seq (oldest
 * first) or before_seq (newest first) — or -1 when nothing more matches:
 * after limit events, or where the walk stopped — a query by neither actor
 * nor object walks a bounded stretch of the journal per call, and its page
 * may hold fewer events than limit, even none, with more to come.  next may
 * be NULL. */
struct json_t;
ih_err ih_audit_query(ih_store *s, const ih_audit_filter *f, struct json_t **events, int64_t *next);
/* The successful events of action about objects of one type since since_ms,
 * newest first, at most limit: through the journal's object index, never a
 * walk through the whole journal (the backups every node lists). */
ih_err ih_audit_object_events(ih_store *s, const char *object_type, const char *action, int64_t since_ms, int limit,
                              struct json_t **events);
/* Checkpoints with after_size < size < before_size (0: no upper bound),
 * oldest or newest first, at most limit. */
ih_err ih_audit_list_checkpoints(ih_store *s, int64_t after_size, int64_t before_size, bool newest_first, int limit,
                                 struct json_t **out);

#endif
