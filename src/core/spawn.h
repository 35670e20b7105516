/* spawn.h — run an outside program (a hook the hospital configures) with
 * bytes on its stdin, collecting its stdout, within a deadline.
 *
 * The program is run directly (posix_spawn, no shell), stdin gets `in` and
 * is closed, stdout is read up to out_max bytes, stderr is inherited (it
 * reaches ihosd's log).  Past timeout_ms the program is killed.
 * Returns IH_OK with *status its exit status (0–255), or IH_E_TIMEOUT, or
 * IH_E_UNAVAILABLE when it could not be started or died of a signal.
 */
#ifndef IH_CORE_SPAWN_H
#define IH_CORE_SPAWN_H

#include "core/buf.h"
#include "core/err.h"

ih_err ih_spawn_run(const char *program, char *const argv[], const void *in, size_t inlen, ih_buf *out,
                    size_t out_max, int timeout_ms, int *status);

#endif
