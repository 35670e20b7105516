/* jobs.h — periodic background work inside ihosd.
 *
 * One thread runs each job when it is due, one after another: audit
 * retention (daily), the daily backup (checked every minute), reloading key
 * versions other processes added (10 s), re-sealing rows under old key
 * versions (every minute).  A failing job logs an
 * alert and is retried at its next period; stopping waits for the running
 * job to finish.
 */
#ifndef IH_APP_JOBS_H
#define IH_APP_JOBS_H

#include "app/app.h"

typedef struct ih_jobs ih_jobs;

ih_err ih_jobs_start(ih_app *app, ih_jobs **out);
void ih_jobs_stop(ih_jobs *j);

#endif
