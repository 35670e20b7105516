/* report_impl.h — inside the report module. */
#ifndef IH_REPORT_IMPL_H
#define IH_REPORT_IMPL_H

#include "report/profile.h"
#include "store/lease.h"
#include "report/report.h"

#include <pthread.h>
#include <stdatomic.h>

#define OB_METHODS 16

struct ih_report {
    ih_report_opts o;
    const ih_profile *profile;
    /* owned copies of the option strings */
    char *gateway_url, *app_key, *organ_id, *unit_id, *organ_name, *cadence, *nightly_at, *ca_file;
    pthread_t threads[16];
    struct ih_report_worker {
        struct ih_report *r;
        bool first; /* the one that does the daily housekeeping */
    } workers[16];
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kick;
    int64_t last_lag_alert;
    /* "report": the first worker takes and renews it; the others send only
     * while it is held (under mu); a claim checks it is still ours */
    ih_lease lease;
    char node[128];
    int64_t claim_after; /* where the next claim's walk starts (under mu; uploader.c) */
    /* counters for /metrics */
    struct {
        char method[64];
        atomic_ullong sent, failed;
    } m[OB_METHODS];
};

/* One outbox row as the uploader handles it. */
typedef struct ob_row {
    int64_t id;
    char kind[24], method[64], key[96], state[12];
    int64_t version, attempts, next_at, depends_on, created_at, sent_at;
    int64_t rv; /* row version (the MAC covers it; 0: from before versions) */
    char last_error[256];
    ih_buf payload_ct; /* sealed record */
} ob_row;

/* The columns ob_read expects, in its order (a query may prefix them with
 * a table alias: OB_COLUMNS_OF("o.")). */
#define OB_COLUMNS_OF(t)                                                                                            \
    t "id, " t "kind, " t "method, " t "business_key, " t "version, " t "payload_enc, " t "state, " t "attempts, " t \
      "next_at, " t "depends_on, " t "last_error, " t "created_at, " t "sent_at, " t "mac, " t "rv"
#define OB_COLUMNS OB_COLUMNS_OF("")
/* The current row of st (selected as OB_COLUMNS) into row, its MAC checked. */
ih_err ob_read(ih_report *r, ih_stmt *st, ob_row *row);
ih_err ob_load(ih_report *r, ih_tx *tx, int64_t id, ob_row *row, bool *found);
ih_err ob_save(ih_report *r, ih_tx *tx, ob_row *row, bool insert);
/* The delivery columns of a row read earlier (state, attempts, next_at,
 * last_error, sent_at; the MAC over the whole row), written only if the
 * row is still at the version it was read at: *saved false, nothing
 * written, if another writer changed it since.  The other columns, and the
 * indexes over them, are not rewritten. */
ih_err ob_save_delivery(ih_report *r, ih_tx *tx, ob_row *row, bool *saved);
ih_err ob_open_payload(ih_report *r, ih_tx *tx, const ob_row *row, ih_buf *out);
/* Whether row id is claimed by an uploader (outbox_inflight): being sent. */
ih_err ob_claimed(ih_tx *tx, int64_t id, bool *claimed);
void ob_row_free(ob_row *row);
/* Claimed rows back to due as `unknown` (a process died while sending). */
ih_err ob_recover(ih_report *r, int *n);
void ob_count(ih_report *r, const char *method, bool sent, unsigned n);
/* ih_report_pass in its two halves: claim one batch and send it; then
 * record its outcome (and free x) — what a worker does across two cycles,
 * with anything else free to change the outbox in between. */
typedef struct ob_pass ob_pass;
ih_err ob_pass_send(ih_report *r, ob_pass **x);
ih_err ob_pass_finish(ih_report *r, ob_pass *x, int *sent);

#endif
