/* backups.h — taking backups inside ihosd: on demand (API) and daily (jobs).
 * Each backup lands in DIR/backups, is copied off-site when configured, the
 * oldest beyond [backup] keep are removed, and every step is an audit event;
 * a failure also logs an alert (L3 8.1.4.9a/b). */
#ifndef IH_APP_BACKUPS_H
#define IH_APP_BACKUPS_H

#include "app/app.h"
#include "backup/backup.h"

#include <jansson.h>

ih_err ih_app_backup(ih_app *app, const ih_actor *who, ih_backup_info *info);
/* Run the daily backup if it is due (called every minute by the job thread):
 * past daily_at and the journal — which every node of a cluster shares —
 * holds no successful daily backup (and off-site copy, when configured)
 * since then; a node that takes over the jobs lease the same day does not
 * take a second one. */
ih_err ih_app_backup_if_due(ih_app *app);
/* Is this a backup's file name (ihos-<UTC time>.ihosb)? */
bool ih_app_backup_name(const char *name);
/* The cluster's backups, newest first: this node's files in DIR/backups
 * (name, size, node, here: true, created_at from the file's time), then those
 * the journal says another node made in the last 31 days (size null, here:
 * false) — every node lists the same backups. */
ih_err ih_app_backup_list(ih_app *app, json_t **out);

#endif
