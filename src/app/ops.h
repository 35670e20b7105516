/* ops.h — long operations: work a request starts that may outlast the
 * patience of a proxy in front of ihosd (HAProxy's `timeout server`): the
 * self-check, the verification of the whole audit journal and a backup
 * taken on request, which read every event and every row.
 *
 * ih_op_begin() records a run in op_run (kind, node, who asked, when) and
 * runs the work on a thread of its own; the request that started it then
 * waits for it (ih_op_wait) as long as the caller allows, and answers with
 * the result, or with the run's id while it is still running.  Any node
 * answers for the run afterwards: its result is kept in op_run, signed with
 * the audit key, so a result edited in the database is refused (integrity
 * error), never shown.  The node running a run beats its row every 5 s; a
 * run whose beat is 30 s old (the node stopped) is reported lost.
 *
 * One run of a kind at a time: a begin while a run of that kind is running
 * here, or on another node with a live beat, joins it (its id is returned).
 * Two nodes beginning at the same instant may both run, which is harmless.
 *
 * The work gets a copy of who asked (for its own audit events) and returns
 * the HTTP status and JSON body of its answer, or an error (kept with its
 * code and message, answered as the same error envelope).
 * ih_ops_stop() waits for this node's runs to finish.
 */
#ifndef IH_APP_OPS_H
#define IH_APP_OPS_H

#include "audit/audit.h"
#include "crypto/sign.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct ih_ops ih_ops;

/* The work: fills *status and *body (owned by the caller) or fails. */
typedef ih_err (*ih_op_fn)(void *arg, const ih_actor *who, int *status, json_t **body);

/* key signs results, pub checks them; node names this server in op_run. */
ih_err ih_ops_start(ih_store *s, const ih_signkey *key, const ih_signkey *pub, const char *node, ih_ops **out);
/* The server is draining: waits end at once (the run goes on; stop waits
 * for it), so no request holds the shutdown up. */
void ih_ops_drain(ih_ops *o);
void ih_ops_stop(ih_ops *o);

/* Begin a run of kind (or join the one running); arg goes to fn and then
 * to free_arg (NULL: not freed) — also when the run is joined or fails to
 * begin. */
ih_err ih_op_begin(ih_ops *o, const char *kind, const ih_actor *who, ih_op_fn fn, void *arg, void (*free_arg)(void *),
                   int64_t *id);

typedef struct ih_op_result {
    bool done;          /* false: still running (started_at, node set) */
    int64_t started_at; /* ms */
    int64_t finished_at;
    char node[128];
    int status;         /* done: the answer's HTTP status */
    json_t *body;       /* done: the answer (owned by the caller) */
} ih_op_result;

/* Wait up to wait_ms for run id of kind.  IH_E_NOT_FOUND for no such run of
 * that kind; a run that failed returns its error (code and message); a lost
 * run IH_E_UNAVAILABLE; a result that does not verify IH_E_INTEGRITY. */
ih_err ih_op_wait(ih_ops *o, const char *kind, int64_t id, int64_t wait_ms, ih_op_result *r);

#endif
