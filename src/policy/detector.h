/* detector.h — the 防统方 detector: watches each user's reads of
 * prescriptions for the pattern of someone compiling per-doctor or per-drug
 * statistics (a "sales rep"), over sliding windows:
 *
 *   spread     distinct prescribing doctors, and distinct drugs, across the
 *              prescriptions a user opened that are not their own work (not
 *              issued by them, not for them, not reviewed by them) within
 *              window_days; a pharmacist's queue item they then review stops
 *              counting — so a slow drip over days is caught, and work is not
 *   paging     prescription list pages per hour
 *   off hours  prescription reads in the local off-hours window per day
 *
 * Crossing a threshold returns an alert (once per user per window, so one
 * scrape is one alert, not thousands); the caller records it and may block
 * the session.  Time comes from the caller (ih_now_ms(), injectable in
 * tests).
 *
 * The state lives in the store (detector_read, detector_page,
 * detector_user), so every ihosd of an instance counts into the same
 * windows and a restart keeps them; each call runs in the caller's write
 * transaction, beside the audit event of the read it counts.  Bounded per
 * user (4,096 outside reads; past that the user is alerted anyway).
 */
#ifndef IH_POLICY_DETECTOR_H
#define IH_POLICY_DETECTOR_H

#include "core/err.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ih_detector_opts {
    int window_days;
    int max_doctors, max_drugs;
    int max_pages_per_hour;
    int off_start_min, off_end_min; /* local minutes of the day; start > end wraps midnight */
    int max_off_hours_reads;
    int utc_offset_minutes;
} ih_detector_opts;

typedef struct ih_detector ih_detector;

typedef struct ih_verdict {
    bool alert;
    char reason[160];
} ih_verdict;

ih_err ih_detector_new(const ih_detector_opts *o, ih_detector **out);
void ih_detector_free(ih_detector *d);

/* user read prescription rx (by doctor, with these drugs); outside: it is
 * not the user's own work. */
ih_err ih_detector_rx_read(ih_detector *d, ih_tx *tx, int64_t user, int64_t rx, int64_t doctor, const int64_t *drugs,
                           int ndrugs, bool outside, int64_t now_ms, ih_verdict *v);
/* user reviewed or dispensed rx: their earlier read of it was work. */
ih_err ih_detector_rx_reviewed(ih_detector *d, ih_tx *tx, int64_t user, int64_t rx);
/* user fetched one page of a prescription list. */
ih_err ih_detector_list_page(ih_detector *d, ih_tx *tx, int64_t user, int64_t now_ms, ih_verdict *v);
/* Forget what has left every window (a background job). */
ih_err ih_detector_prune(ih_detector *d, ih_tx *tx, int64_t now_ms);

#endif
