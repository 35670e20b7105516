/* bus.h — live notifications to open screens (Server-Sent Events).
 *
 * A service publishes a small event after its transaction commits: a name
 * ("visit", "message", "rx") and ids only — never personal or clinical
 * text, so a notification carries nothing the API would not audit; the
 * screen that receives one fetches what changed through the API, which
 * checks access and audits the read as usual.  An event goes to the
 * accounts it names and to every subscriber holding one of the roles it
 * names (a pharmacists' review queue).
 *
 * A subscriber is one open event stream.  Publishing appends the event,
 * already formatted as an SSE frame, to each matching subscriber's pending
 * text under the bus lock and calls the bus's wake function (the server's
 * stream thread then takes it with ih_bus_take and writes it out): no
 * thread waits on a stream.  Subscriptions are bounded in total and per
 * account; a subscriber whose pending text outgrows IH_BUS_MAX_PENDING (a
 * client that stopped reading) is marked overflowed and its stream ends.
 * After ih_bus_unsubscribe returns, the bus never touches the subscriber
 * again.
 */
#ifndef IH_CORE_BUS_H
#define IH_CORE_BUS_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stdint.h>

#define IH_BUS_MAX_PENDING (64 * 1024)
#define IH_BUS_MAX_ACCOUNTS 10

typedef struct ih_bus ih_bus;
typedef struct ih_bus_sub ih_bus_sub;

/* Who an event is for: up to IH_BUS_MAX_ACCOUNTS accounts (0 entries
 * ignored) and a set of roles (bit 1 << role). */
typedef struct ih_bus_audience {
    int64_t accounts[IH_BUS_MAX_ACCOUNTS];
    unsigned roles;
} ih_bus_audience;

ih_err ih_bus_new(int max_total, int max_per_account, ih_bus **out);
void ih_bus_free(ih_bus *b);
/* Called (under the bus lock, so it must not call back into the bus) when
 * some subscriber has new pending text. */
void ih_bus_set_wake(ih_bus *b, void (*wake)(void *ctx), void *ctx);

/* IH_E_BUSY when the account already holds max_per_account streams or the
 * bus max_total. */
ih_err ih_bus_subscribe(ih_bus *b, int64_t account_id, int role, ih_bus_sub **out);
void ih_bus_unsubscribe(ih_bus *b, ih_bus_sub *s);

/* name: [a-z_]+; data: a JSON object on one line (no CR/LF), at most 512
 * bytes.  Anything else is dropped with a log line. */
void ih_bus_publish(ih_bus *b, const ih_bus_audience *to, const char *name, const char *data);

/* Move s's pending text to out; false once s has overflowed (end it). */
bool ih_bus_take(ih_bus *b, ih_bus_sub *s, ih_buf *out);

/* Subscriptions open now (metrics, tests). */
int ih_bus_count(ih_bus *b);

#endif
