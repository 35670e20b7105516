/* report.h — uploads to the provincial supervision platform (监管平台):
 * a transactional outbox and the uploader that drains it.
 *
 * ih_report_put() runs inside the business transaction that reached a
 * reportable final state (a closed visit, a reviewed prescription, …): the
 * profile maps the fact to the platform's record, and the outbox row —
 * method, business key, version, the record sealed under the clinical key,
 * delivery state — commits with the fact or not at all.  Nothing reportable
 * can be lost between the business change and the upload.
 *
 * One business key is uploaded once.  While a row is unsent and not claimed
 * a later change replaces its payload (a claimed one keeps the record being
 * sent: the change becomes the next version); after it was sent, a change becomes a new version
 * only for kinds the profile can update (the drug catalogue, corrected
 * records), and anything else is parked dead for an operator.
 *
 * The uploader (ih_report_start, a thread in ihosd) claims due rows (a row
 * each in outbox_inflight, committed before sending; counted as `sending`),
 * sends them in batches of one method, and records the outcome:
 *   sent       the platform accepted them
 *   pending    busy, expired timestamp, 5xx, connection errors: retried with
 *              capped exponential backoff and jitter
 *   dead       a data error: the platform's message kept, an alert and an
 *              audit event; later rows keep flowing; `ihos report retry`
 *              re-sends after a fix
 *   unknown    the request was sent and no answer came: retried (the
 *              platform does not de-duplicate, so a duplicate is possible
 *              and is logged as report.possible_duplicate)
 * Rows claimed when a process died count as unknown at the next start.
 * Evaluations wait until the visit they evaluate was sent.
 */
#ifndef IH_REPORT_REPORT_H
#define IH_REPORT_REPORT_H

#include "audit/audit.h"
#include "crypto/keyring.h"
#include "store/store.h"

#include <jansson.h>

typedef struct ih_report ih_report;

typedef struct ih_report_opts {
    ih_store *store;
    ih_keyring *keys;
    ih_audit *audit;
    const char *profile;     /* "tianjin" */
    bool enabled;            /* the uploader sends; rows are written either way */
    const char *gateway_url; /* https://…/openapi/api */
    const char *app_key;
    const char *organ_id, *unit_id, *organ_name;
    const char *cadence;     /* "realtime" | "nightly" */
    const char *nightly_at;  /* local HH:MM */
    int utc_offset_minutes;
    int batch_size;          /* records per call for list methods */
    int workers;             /* uploader threads (calls in flight at once) */
    int timeout_s;           /* per HTTP call */
    const char *ca_file;     /* extra CA bundle for the gateway ("" = system) */
    int lag_alert_minutes;   /* alert when the oldest pending row is older */
    bool adverse_daily;      /* the daily adverse-event call, empty when there were none */
    const char *node;        /* this node's name: the uploader runs on the node holding the
                                "report" lease (store/lease.h); NULL: always here (tools) */
} ih_report_opts;

ih_err ih_report_new(const ih_report_opts *o, ih_report **out);
void ih_report_free(ih_report *r);

/* Inside tx: record fact (our own field names, see care/facts.c) of
 * `kind` for business key `key`. */
ih_err ih_report_put(ih_report *r, ih_tx *tx, const char *kind, const char *key, json_t *fact);

/* The uploader threads (no-op unless enabled). */
ih_err ih_report_start(ih_report *r);
void ih_report_stop(ih_report *r);
/* One pass of the uploader in the caller's thread: claim, send, record.
 * *sent counts records accepted.  For tests, benches and `ihos report flush`. */
ih_err ih_report_pass(ih_report *r, int *sent);
/* Daily housekeeping: the empty adverse-event call, lag alerts. */
ih_err ih_report_daily(ih_report *r);

/* The platform's appSecret, sealed under the keyring's `secret` key. */
ih_err ih_report_set_secret(ih_report *r, const char *secret);

/* Operator views (ihos report …). */
ih_err ih_report_status(ih_report *r, json_t **out);
ih_err ih_report_list(ih_report *r, const char *state, int64_t after, int limit, json_t **out);
/* One outbox row with its platform record.  The record's personal values
 * are masked (names, certificate numbers, phones) or hidden (clinical text)
 * unless unmask; either way the view is an audit event (report.show, its
 * reason "masked" or "unmasked") recorded before it is returned. */
ih_err ih_report_show(ih_report *r, const ih_actor *who, int64_t id, bool unmask, json_t **out);
/* A dead or unknown row back to pending (audited). */
ih_err ih_report_retry(ih_report *r, const ih_actor *who, int64_t id);

/* Records the platform accepted since ih_report_new, all methods (the
 * ihos_report_sent_total counters summed; no database read). */
uint64_t ih_report_accepted(ih_report *r);

/* Prometheus series: queue depth by state, oldest pending age, sent and
 * failed counts per method. */
ih_err ih_report_metrics(ih_report *r, struct ih_buf *out);

/* Outbox and appSecret rows for key rotation and integrity scans
 * (keys/protected.h). */
struct ih_sealed_column;
struct ih_mac_scan;
size_t ih_report_sealed_columns(ih_report *r, struct ih_sealed_column *out, size_t cap);
size_t ih_report_mac_scans(ih_report *r, struct ih_mac_scan *out, size_t cap);

#endif
