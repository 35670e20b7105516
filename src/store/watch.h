/* watch.h — hearing of changes other processes made to the database.
 *
 * A node that keeps something read from the database (identity/authcache.h:
 * verified sessions) must hear when another node, or anyone, changes it.
 * On PostgreSQL a watch is one thread with a connection of its own that
 * LISTENs on a channel; triggers in the schema NOTIFY it when the rows
 * behind the kept copies change (PostgreSQL delivers a notification after
 * its transaction commits, to every listener, this node's own included).
 *
 *   fn(arg, payload)  for each notification, with the payload as sent;
 *   fn(arg, NULL)     whenever notifications may have been missed: the
 *                     connection could not be made, broke, stopped
 *                     answering, or reached a server in recovery (a
 *                     demoted primary).  Forget everything kept.
 *
 * ih_store_watch_live() is true only while the connection is up, LISTENing
 * on a primary, and answered a ping (one every second) within the last
 * IH_WATCH_LIVE_MS: kept copies may be used only then.  A lost connection is
 * made again every second (libpq's multi-host conninfo with
 * target_session_attrs=read-write finds the new primary after a failover).
 * fn runs on the watch's thread and must be quick.
 *
 * SQLite is one process: there is no one else to hear from, and its reads
 * are calls into the library, not round trips; ih_store_watch_start() fails
 * there with IH_E_STATE.
 */
#ifndef IH_STORE_WATCH_H
#define IH_STORE_WATCH_H

#include "store/store.h"

#include <stdbool.h>

#define IH_WATCH_LIVE_MS 2500

typedef struct ih_store_watch ih_store_watch;
typedef void (*ih_watch_fn)(void *arg, const char *payload);

/* channel: a lowercase identifier ([a-z_]{1,32}). */
ih_err ih_store_watch_start(ih_store *s, const char *channel, ih_watch_fn fn, void *arg, ih_store_watch **out);
bool ih_store_watch_live(ih_store_watch *w);
/* Stops the thread and closes its connection (NULL is fine). */
void ih_store_watch_stop(ih_store_watch *w);

#endif
