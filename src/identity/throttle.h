/* throttle.h — attempts per source address per minute: failed logins, and
 * self-service requests (registration, password reset).
 *
 * Beyond the limit, requests from that address are refused with 429 before
 * any account is looked at.  With a store the counts live in the database
 * (table throttle, one row per name, address and minute), so every ihosd
 * node of a cluster counts the same attempts; rows older than two minutes
 * are removed by ih_throttle_prune.  Without one (tools, tests) a
 * fixed-size table in memory: the oldest entry is reused, so a flood of
 * addresses cannot grow memory.  A database that cannot be read counts as
 * not blocked: the account lockout still stands. */
#ifndef IH_IDENTITY_THROTTLE_H
#define IH_IDENTITY_THROTTLE_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ih_throttle ih_throttle;

/* name: what is counted ("login", "self_service"); store may be NULL. */
ih_throttle *ih_throttle_new(int per_minute, ih_store *store, const char *name);
void ih_throttle_free(ih_throttle *t);
bool ih_throttle_blocked(ih_throttle *t, const char *ip, int64_t now_ms);
void ih_throttle_failure(ih_throttle *t, const char *ip, int64_t now_ms);
/* Forget minutes that no longer count (the periodic jobs). */
ih_err ih_throttle_prune(ih_store *s, int64_t now_ms);

#endif
