/* clock.h — the one source of wall-clock time, injectable for tests.
 *
 * Everything that expires (sessions, lockouts, retention, backoff) asks
 * ih_now_ms().  Tests replace the clock with ih_clock_set() and move time
 * forward instead of sleeping.  Monotonic time for timeouts inside the
 * network layer uses ih_mono_ms() and is not injectable.
 */
#ifndef IH_CORE_CLOCK_H
#define IH_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t (*ih_clock_fn)(void *ctx);

int64_t ih_now_ms(void);            /* UTC milliseconds since the epoch */
int64_t ih_mono_ms(void);           /* CLOCK_MONOTONIC milliseconds */
void ih_clock_set(ih_clock_fn fn, void *ctx); /* NULL restores the real clock */

/* How long to wait before retry number `attempts` (from 1): 1 s, 2 s, 4 s …
 * capped at max_ms, with ±20% jitter so that many retries do not arrive
 * together.  The outboxes' one backoff. */
int64_t ih_backoff_ms(int64_t attempts, int64_t max_ms);

/* "2026-11-22T08:00:00.000Z" into out (>= 25 bytes). */
void ih_time_iso(int64_t ms, char *out, size_t n);
/* Beijing time "yyyy-MM-dd HH:mm:ss" (UTC+8, no DST) into out (>= 20 bytes). */
void ih_time_beijing(int64_t ms, char *out, size_t n);
/* Parse "YYYY-MM-DD" as a UTC date; returns 0 and the epoch ms, -1 if invalid. */
int ih_date_parse(const char *s, int64_t *ms);
/* Parse "YYYY-MM-DDTHH:MM:SSZ" (or with ".sss"); 0 on success. */
int ih_time_parse_iso(const char *s, int64_t *ms);

#endif
