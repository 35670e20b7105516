/* jobs.h — periodic background work inside ihosd.
 *
 * One thread runs each job when it is due, one after another: audit
 * retention (daily), the daily backup (checked every minute), reloading key
 * versions other processes added (10 s) and grants other nodes changed
 * (2 s), expiring requests, prescriptions and codes (5 s), re-sealing rows
 * under old key versions (every minute), pruning the 统方 detector's windows
 * and the per-address throttles.  In a cluster the work that must run once
 * runs on the node holding the "jobs" lease (store/lease.h: renewed every
 * 5 s, taken over 20 s after its holder stops renewing); reloading keys and
 * grants runs on every node.  These jobs are idempotent: should two nodes
 * overlap at a takeover, the second finds nothing left to do.  A failing job
 * logs an alert and is retried at its next period; stopping waits for the
 * running job to finish and lets the lease go.
 */
#ifndef IH_APP_JOBS_H
#define IH_APP_JOBS_H

#include "app/app.h"

typedef struct ih_jobs ih_jobs;

ih_err ih_jobs_start(ih_app *app, ih_jobs **out);
void ih_jobs_stop(ih_jobs *j);

#endif
