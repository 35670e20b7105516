/* hashpool.h — a small thread pool for deliberately slow work (Argon2id).
 *
 * Request workers hand password hashing to these few threads and wait, so
 * a login flood occupies at most `threads` cores and a bounded queue; once
 * the queue is full, ih_hashpool_run() fails at once with IH_E_BUSY (the
 * caller answers 503) instead of piling up.  Clinical traffic keeps its
 * workers.
 */
#ifndef IH_IDENTITY_HASHPOOL_H
#define IH_IDENTITY_HASHPOOL_H

#include "core/err.h"

typedef struct ih_hashpool ih_hashpool;

ih_err ih_hashpool_new(int threads, int queue, ih_hashpool **out);
void ih_hashpool_free(ih_hashpool *p);
/* Run fn(arg) on a pool thread and wait for it.  IH_E_BUSY if the queue is full. */
ih_err ih_hashpool_run(ih_hashpool *p, void (*fn)(void *), void *arg);

#endif
