/* lease.h — work that runs once across the cluster.
 *
 * Several ihosd nodes share one database.  Work that must run on one node
 * at a time (the periodic jobs, the supervision uploader, the audit
 * checkpointer and syslog forwarder) holds a lease: a row naming its holder,
 * a fencing token and an expiry.  The holder renews it well before it
 * expires; when the holder dies, another node takes it once it has expired,
 * and the token goes up, so the work the old holder may still attempt can be
 * refused (ih_lease_check inside the work's own transaction).  Time is the
 * database's on PostgreSQL, so node clocks do not matter.  SQLite is one
 * node: a holder found there is an earlier run of this ihosd, killed before
 * it let go, and is taken over at once.  L3 8.1.4.9c: with the
 * PostgreSQL standby this is the hot redundancy — any node serves, and the
 * work of a dead one moves within the lease's lifetime.  A lease may carry
 * a position (the syslog forwarder's cursor) that
 * the next holder resumes from. */
#ifndef IH_STORE_LEASE_H
#define IH_STORE_LEASE_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ih_lease {
    const char *name;   /* what is held ("jobs", "report", …) */
    const char *holder; /* this node (ih_lease_node_name) */
    int64_t ttl_ms;
    bool held;          /* after ih_lease_take: ours until expires_at */
    int64_t token;      /* the fencing token while held */
    int64_t expires_at; /* database time, ms */
    int64_t position;   /* what the holder saved (0: none) */
} ih_lease;

/* Take the lease, or keep it when it is ours: l->held says which.  A
 * change of holder is logged (lease.taken). */
ih_err ih_lease_take(ih_store *s, ih_lease *l);
/* In the caller's transaction: still ours, with this token?  IH_E_STATE if
 * another node took it since (the caller's work rolls back). */
ih_err ih_lease_check(ih_tx *tx, const ih_lease *l);
/* Save the holder's position with the lease (only while held). */
ih_err ih_lease_save_position(ih_store *s, ih_lease *l, int64_t position);
/* Let go at shutdown, so that another node takes over at once. */
void ih_lease_release(ih_store *s, ih_lease *l);

/* This node's name for leases: [cluster] node_name, else host and pid. */
void ih_lease_node_name(const char *configured, char *out, size_t n);

#endif
