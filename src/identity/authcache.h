/* authcache.h — the sessions this node verified, kept for the next request.
 *
 * Every request names its session; reading the session and its account
 * (one statement, two MACs checked) was a quarter of PostgreSQL's work per
 * audited write in the cluster bench.  A node keeps what such a read
 * verified, keyed by the token's hash, and the next request of the same
 * session is checked against the kept copy with the same rules
 * (session.c: lifetime, idle time, the account's expiry, the principal).
 *
 * A kept copy is forgotten
 *   - when this node changes the session or its account (authcache_forget,
 *     in the writing transaction, before it commits);
 *   - when any node, or anyone with SQL, changes or deletes the row: the
 *     schema's triggers NOTIFY channel ihos_auth with "session:<id>" or
 *     "account:<id>" ("*" after a TRUNCATE), heard by a watch
 *     (store/watch.h) within milliseconds of the commit;
 *   - entirely, whenever the watch may have missed something (its
 *     connection lost, a failover), and copies are not used at all until it
 *     listens again;
 *   - IH_AUTHCACHE_TTL_MS after it was read, whatever happened: the row's MAC
 *     is checked again at least that often.
 * A read that began before a change (its snapshot older than the commit)
 * must not put back what the change made stale: authcache_epoch() is taken
 * before the read, and authcache_put() keeps nothing when anything was
 * forgotten since.  What stays possible is a request of another node served
 * from its copy in the milliseconds between a revocation's commit and the
 * notification's arrival — as if it had come a moment earlier.
 *
 * PostgreSQL only: on SQLite the read is a call into the library, not a
 * round trip, and nobody else writes the file (authcache_start says
 * IH_E_STATE).  Thread-safe; one mutex, held for a copy.
 */
#ifndef IH_IDENTITY_AUTHCACHE_H
#define IH_IDENTITY_AUTHCACHE_H

#include "crypto/suite.h"
#include "policy/perm.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define IH_AUTHCACHE_SLOTS 1024 /* a power of two */
#define IH_AUTHCACHE_TTL_MS 60000

/* What a successful check read and verified: everything a later check of
 * the same session needs. */
typedef struct auth_seen {
    uint8_t th[IH_HASH_LEN]; /* the token's hash */
    int64_t sid, account_id, expires, last_seen, factors;
    char csrf[48];
    ih_role role;
    char username[65];
    int64_t must_change, pw_changed_at, account_expires;
    bool totp_enrolled;
} auth_seen;

typedef struct authcache authcache;

ih_err authcache_start(ih_store *s, authcache **out);
void authcache_stop(authcache *c); /* NULL is fine */
uint64_t authcache_epoch(authcache *c);
/* Copies are used (the watch listens); false for NULL. */
bool authcache_live(authcache *c);
/* The copy kept for th, when there is a fresh one and the watch is live. */
bool authcache_get(authcache *c, const uint8_t th[IH_HASH_LEN], auth_seen *out);
void authcache_put(authcache *c, uint64_t epoch, const auth_seen *v);
/* table "session" or "account"; NULL-safe. */
void authcache_forget(authcache *c, const char *table, int64_t id);

#endif
