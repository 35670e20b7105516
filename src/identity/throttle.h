/* throttle.h — failed logins per source address per minute (in memory).
 * Beyond the limit, logins from that address are refused with 429 before
 * any account is looked at.  A fixed-size table: the oldest entry is
 * reused, so a flood of addresses cannot grow memory. */
#ifndef IH_IDENTITY_THROTTLE_H
#define IH_IDENTITY_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ih_throttle ih_throttle;

ih_throttle *ih_throttle_new(int per_minute);
void ih_throttle_free(ih_throttle *t);
bool ih_throttle_blocked(ih_throttle *t, const char *ip, int64_t now_ms);
void ih_throttle_failure(ih_throttle *t, const char *ip, int64_t now_ms);

#endif
