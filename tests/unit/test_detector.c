/* test_detector.c — the 防统方 detector with time in the test's hands, on
 * SQLite and PostgreSQL: a sales rep's per-drug ranking across doctors is
 * caught, so is a slow drip over days; a doctor working through their own
 * patients and a pharmacist working the review queue are not; list paging
 * and off-hours volume; the windows survive a restart and are shared by two
 * servers on one database; pruning forgets what left every window. */
#include "support.h"

#include "app/instance.h"
#include "core/log.h"
#include "policy/detector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400000LL
#define HOUR 3600000LL
static const int64_t T0 = 1790050400000LL; /* 2026-09-22 12:13 Beijing time */

typedef struct {
    ih_store *s;
    void *ctx;
    ih_detector *d;
} fx;

static ih_detector *make(void)
{
    ih_detector_opts o = {.window_days = 7, .max_doctors = 5, .max_drugs = 10, .max_pages_per_hour = 30,
                          .off_start_min = 22 * 60, .off_end_min = 6 * 60, .max_off_hours_reads = 20,
                          .utc_offset_minutes = 480};
    ih_detector *d;
    T_OK(ih_detector_new(&o, &d));
    return d;
}

static int setup(void **state, ih_store_kind kind)
{
    fx *f = calloc(1, sizeof *f);
    f->s = t_store_open(kind, ih_schema, ih_schema_count, &f->ctx);
    f->d = make();
    *state = f;
    return 0;
}
static int setup_sqlite(void **s) { return setup(s, IH_STORE_SQLITE); }
static int setup_pg(void **s) { return setup(s, IH_STORE_PG); }

static int teardown(void **state)
{
    fx *f = *state;
    ih_detector_free(f->d);
    t_store_close(f->s, f->ctx);
    free(f);
    return 0;
}

/* One call of the detector in its own write transaction, as rx.c makes it. */
typedef struct {
    ih_detector *d;
    int kind; /* 0 read, 1 reviewed, 2 list page, 3 prune */
    int64_t user, rx, doctor, now;
    const int64_t *drugs;
    int ndrugs;
    bool outside;
    ih_verdict v;
} call;

static ih_err call_fn(ih_tx *tx, void *arg)
{
    call *c = arg;
    switch (c->kind) {
    case 0:
        return ih_detector_rx_read(c->d, tx, c->user, c->rx, c->doctor, c->drugs, c->ndrugs, c->outside, c->now, &c->v);
    case 1: return ih_detector_rx_reviewed(c->d, tx, c->user, c->rx);
    case 2: return ih_detector_list_page(c->d, tx, c->user, c->now, &c->v);
    default: return ih_detector_prune(c->d, tx, c->now);
    }
}

static bool rx_read(fx *f, ih_detector *d, int64_t user, int64_t rx, int64_t doctor, const int64_t *drugs, int n,
                    bool outside, int64_t now, char *reason)
{
    call c = {.d = d, .user = user, .rx = rx, .doctor = doctor, .drugs = drugs, .ndrugs = n, .outside = outside,
              .now = now};
    T_OK(ih_store_write(f->s, call_fn, &c));
    if (reason) snprintf(reason, sizeof c.v.reason, "%s", c.v.reason);
    return c.v.alert;
}

static void reviewed(fx *f, int64_t user, int64_t rx)
{
    call c = {.d = f->d, .kind = 1, .user = user, .rx = rx};
    T_OK(ih_store_write(f->s, call_fn, &c));
}

static bool page(fx *f, int64_t user, int64_t now)
{
    call c = {.d = f->d, .kind = 2, .user = user, .now = now};
    T_OK(ih_store_write(f->s, call_fn, &c));
    return c.v.alert;
}

typedef struct {
    const char *sql;
    int64_t n;
} count_arg;

static ih_err count_fn(ih_tx *tx, void *arg)
{
    count_arg *c = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, c->sql, &st));
    IH_TRY(ih_stmt_step(st, &row));
    c->n = row ? ih_col_int(st, 0) : -1;
    return ih_stmt_exec(st);
}

static int64_t count(fx *f, const char *sql)
{
    count_arg c = {sql, 0};
    T_OK(ih_store_read(f->s, count_fn, &c));
    return c.n;
}

static void t_sales_rep_ranking_is_caught(void **state)
{
    fx *f = *state;
    int alerts = 0, at = -1;
    char why[160];
    /* prescriptions of 8 doctors, each with the same two target drugs */
    for (int i = 0; i < 8; i++) {
        int64_t drugs[2] = {101, 102};
        if (rx_read(f, f->d, 42, 1000 + i, 10 + i, drugs, 2, true, T0 + i * 60000, why)) {
            alerts++;
            if (at < 0) at = i;
            assert_non_null(strstr(why, "doctors"));
        }
    }
    assert_int_equal(at, 5);     /* the sixth doctor crosses max_doctors = 5 */
    assert_int_equal(alerts, 1); /* one scrape, one alert */
    /* the same prescription read again is one read */
    assert_int_equal(count(f, "SELECT COUNT(*) FROM detector_read WHERE user_id = 42"), 8);
    int64_t drugs[2] = {101, 102};
    rx_read(f, f->d, 42, 1000, 10, drugs, 2, true, T0 + HOUR, NULL);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM detector_read WHERE user_id = 42"), 8);
}

static void t_slow_drip_over_days_is_caught(void **state)
{
    fx *f = *state;
    bool caught = false;
    /* one prescription a day, each of another doctor and drug: within a week */
    for (int day = 0; day < 7 && !caught; day++) {
        int64_t drug = 200 + day;
        caught = rx_read(f, f->d, 7, 5000 + day, 30 + day, &drug, 1, true, T0 + day * DAY, NULL);
    }
    assert_true(caught);
    /* the same pace spread beyond the window is not a ranking */
    for (int k = 0; k < 12; k++) {
        int64_t drug = 300 + k;
        assert_false(rx_read(f, f->d, 8, 6000 + k, 40 + k, &drug, 1, true, T0 + k * 2 * DAY, NULL));
    }
}

static void t_own_work_is_not_flagged(void **state)
{
    fx *f = *state;
    /* a doctor reads their own prescriptions: not outside their work */
    for (int i = 0; i < 200; i++) {
        int64_t drug = 400 + i % 50;
        assert_false(rx_read(f, f->d, 9, 7000 + i, 1, &drug, 1, false, T0 + i * 1000, NULL));
    }
    /* a pharmacist opens queue items of many doctors and reviews each */
    for (int i = 0; i < 40; i++) {
        int64_t drug = 500 + i;
        assert_false(rx_read(f, f->d, 10, 8000 + i, 100 + i, &drug, 1, true, T0 + i * 1000, NULL));
        reviewed(f, 10, 8000 + i);
    }
    assert_int_equal(count(f, "SELECT COUNT(*) FROM detector_read WHERE user_id = 10"), 0);
}

static void t_paging_and_off_hours(void **state)
{
    fx *f = *state;
    int first = -1;
    for (int i = 0; i < 40; i++)
        if (page(f, 11, T0 + i * 10000) && first < 0) first = i;
    assert_int_equal(first, 30); /* the 31st page within the hour */
    /* an hour later the count starts again */
    assert_false(page(f, 11, T0 + 2 * HOUR));
    /* 23:30 Beijing: off hours */
    int64_t night = (T0 / DAY) * DAY + (int64_t)(23 * 60 + 30 - 480) * 60000LL + DAY;
    first = -1;
    for (int i = 0; i < 25; i++)
        if (rx_read(f, f->d, 12, 9000 + i, 1, NULL, 0, false, night + i * 60000, NULL) && first < 0) first = i;
    assert_int_equal(first, 20);
    /* daytime reads do not count */
    for (int i = 0; i < 100; i++) assert_false(rx_read(f, f->d, 13, 9500 + i, 1, NULL, 0, false, T0 + i * 1000, NULL));
}

/* A restart keeps the windows, and two servers (two detectors, one
 * database) count into the same ones. */
static void t_windows_survive_restart_and_are_shared(void **state)
{
    fx *f = *state;
    int64_t drug = 700;
    for (int i = 0; i < 3; i++) assert_false(rx_read(f, f->d, 21, 100 + i, 50 + i, &drug, 1, true, T0 + i * HOUR, NULL));
    ih_detector_free(f->d); /* ihosd restarts */
    f->d = make();
    ih_detector *other = make(); /* and a second server serves half the reads */
    bool caught = false;
    int i = 3;
    for (; i < 8 && !caught; i++)
        caught = rx_read(f, i % 2 ? other : f->d, 21, 100 + i, 50 + i, &drug, 1, true, T0 + i * HOUR, NULL);
    assert_true(caught);
    assert_int_equal(i, 6); /* the sixth doctor overall, as if one process had seen them all */
    ih_detector_free(other);
}

static void t_prune_forgets_what_left_the_windows(void **state)
{
    fx *f = *state;
    int64_t drug = 800;
    rx_read(f, f->d, 31, 1, 60, &drug, 1, true, T0, NULL);
    rx_read(f, f->d, 31, 2, 61, &drug, 1, true, T0 + 6 * DAY, NULL);
    page(f, 31, T0);
    call c = {.d = f->d, .kind = 3, .now = T0 + 7 * DAY};
    T_OK(ih_store_write(f->s, call_fn, &c));
    assert_int_equal(count(f, "SELECT COUNT(*) FROM detector_read"), 1);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM detector_page"), 0);
}

#define CASES(s)                                                                                                      \
    cmocka_unit_test_setup_teardown(t_sales_rep_ranking_is_caught, s, teardown),                                      \
        cmocka_unit_test_setup_teardown(t_slow_drip_over_days_is_caught, s, teardown),                                \
        cmocka_unit_test_setup_teardown(t_own_work_is_not_flagged, s, teardown),                                      \
        cmocka_unit_test_setup_teardown(t_paging_and_off_hours, s, teardown),                                         \
        cmocka_unit_test_setup_teardown(t_windows_survive_restart_and_are_shared, s, teardown),                       \
        cmocka_unit_test_setup_teardown(t_prune_forgets_what_left_the_windows, s, teardown)

int main(void)
{
    ih_log_setup("stderr", IH_LOG_ERROR + 1, "test");
    const struct CMUnitTest sq[] = {CASES(setup_sqlite)};
    const struct CMUnitTest pg[] = {CASES(setup_pg)};
    int rc = cmocka_run_group_tests_name("detector/sqlite", sq, NULL, NULL);
    rc += cmocka_run_group_tests_name("detector/postgres", pg, NULL, NULL);
    return rc;
}
