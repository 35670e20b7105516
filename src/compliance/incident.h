/* incident.h — security incidents (L3 8.1.5: centralised
 * handling of security events; the 24-hour breach report of the Personal
 * Information Protection Law and the health-data rules).
 *
 * Every alert ihos logs (log lines with alert=true: integrity violations,
 * break-glass, the 统方 detector, audit, backup and supervision-upload
 * failures, trusted-verification failures, …) and every lockout storm (at
 * least lockout_storm_count accounts locked within lockout_storm_minutes)
 * becomes an incident: a new record, or one more occurrence on the open
 * incident of the same kind.  The log hook only queues (bounded; overflow is
 * counted and reported on the next incident); a thread writes the records,
 * audits them (incident.open) and notifies the operator by syslog, a webhook
 * (JSON POST) and e-mail (SMTP), each optional, each with a timeout, all
 * through libcurl.  A notification that failed, or never went out because
 * its process stopped after recording the incident, is tried again by
 * whichever server comes first (a compare-and-set on the incident's next
 * attempt time: one server per attempt), notify_retry seconds later,
 * doubling up to an hour, for as long as the incident is open; only the
 * ways that have not reached anyone are tried again.  The security administrator then acknowledges, assigns,
 * resolves (with a resolution), and for a personal-data breach records the
 * breach facts: the report for the health authority, the cyberspace office
 * and the police is prepared from them, with its deadline 24 hours after
 * the incident was first seen; an overdue report is alerted once.
 *
 * Text in incidents is operational (event names, log details, the
 * administrator's own words about the event): the log rules apply — no
 * personal or clinical data.
 */
#ifndef IH_COMPLIANCE_INCIDENT_H
#define IH_COMPLIANCE_INCIDENT_H

#include "audit/audit.h"
#include "store/store.h"

#include <jansson.h>

typedef struct ih_incidents ih_incidents;

typedef struct ih_incident_opts {
    ih_store *store;
    ih_audit *audit;
    const char *node;        /* this node's name */
    const char *webhook_url; /* "" none */
    const char *smtp_url;    /* "" none; smtp://host:port or smtps:// */
    const char *mail_from, *mail_to;
    const char *instance;    /* named in notifications */
    bool syslog;             /* also to syslog (LOG_AUTHPRIV, LOG_ALERT) */
    int notify_timeout;      /* seconds */
    int notify_retry;        /* seconds before the first retry (doubling, at most an hour) */
    bool retry_due;          /* this process retries what is due (a server; not a CLI command) */
    int storm_count, storm_minutes;
} ih_incident_opts;

/* Hook into the log and start the thread. */
ih_err ih_incidents_start(const ih_incident_opts *o, ih_incidents **out);
/* Unhook, write what is queued, stop. */
void ih_incidents_stop(ih_incidents *in);

/* ---- the security administrator's side ----------------------------------- */

/* Newest first; status "" for all; after: ids below it (0: from the newest). */
ih_err ih_incident_list(ih_store *s, const char *status, int64_t before, int limit, int64_t now, json_t **out);
ih_err ih_incident_get(ih_store *s, int64_t id, int64_t now, json_t **out);

typedef enum {
    IH_INCIDENT_ACK,      /* open → acknowledged */
    IH_INCIDENT_ASSIGN,   /* body {assignee_id}: an active security administrator */
    IH_INCIDENT_RESOLVE,  /* body {resolution}: open|acknowledged → resolved */
    IH_INCIDENT_BREACH,   /* body: the breach facts (see docs/compliance.md) */
    IH_INCIDENT_REPORTED, /* the breach report was sent: records when */
} ih_incident_action;

/* One step, audited (incident.acknowledge|assign|resolve|breach|reported)
 * in the same transaction; IH_E_STATE for a step the incident's state does
 * not allow, IH_E_INVALID for a bad body.  *out: the incident after. */
ih_err ih_incident_act(ih_store *s, ih_audit *a, const ih_actor *who, int64_t id, ih_incident_action act,
                       json_t *body, int64_t now, json_t **out);

/* The breach report (Chinese field names, for the three authorities). */
ih_err ih_incident_breach_report(ih_store *s, int64_t id, int64_t now, json_t **out);

#endif
