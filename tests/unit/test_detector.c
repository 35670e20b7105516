/* test_detector.c — the 防统方 detector with time in the test's hands:
 * a sales rep's per-drug ranking across doctors is caught, so is a slow drip
 * over days; a doctor working through their own patients and a pharmacist
 * working the review queue are not; list paging and off-hours volume. */
#include "support.h"

#include "policy/detector.h"

#include <string.h>

#define DAY 86400000LL
#define HOUR 3600000LL
static const int64_t T0 = 1790050400000LL; /* 2026-09-22 12:13 Beijing time */

static ih_detector *make(void)
{
    ih_detector_opts o = {.window_days = 7, .max_doctors = 5, .max_drugs = 10, .max_pages_per_hour = 30,
                          .off_start_min = 22 * 60, .off_end_min = 6 * 60, .max_off_hours_reads = 20,
                          .utc_offset_minutes = 480};
    ih_detector *d;
    T_OK(ih_detector_new(&o, &d));
    return d;
}

static void t_sales_rep_ranking_is_caught(void **state)
{
    (void)state;
    ih_detector *d = make();
    ih_verdict v;
    int alerts = 0, at = -1;
    /* prescriptions of 8 doctors, each with the same two target drugs */
    for (int i = 0; i < 8; i++) {
        int64_t drugs[2] = {101, 102};
        ih_detector_rx_read(d, 42, 1000 + i, 10 + i, drugs, 2, true, T0 + i * 60000, &v);
        if (v.alert) {
            alerts++;
            if (at < 0) at = i;
            assert_non_null(strstr(v.reason, "doctors"));
        }
    }
    assert_int_equal(at, 5); /* the sixth doctor crosses max_doctors = 5 */
    assert_int_equal(alerts, 1); /* one scrape, one alert */
    ih_detector_free(d);
}

static void t_slow_drip_over_days_is_caught(void **state)
{
    (void)state;
    ih_detector *d = make();
    ih_verdict v;
    bool caught = false;
    /* one prescription a day, each of another doctor and drug: within a week */
    for (int day = 0; day < 7 && !caught; day++) {
        int64_t drug = 200 + day;
        ih_detector_rx_read(d, 7, 5000 + day, 30 + day, &drug, 1, true, T0 + day * DAY, &v);
        caught = v.alert;
    }
    assert_true(caught);
    /* the same pace spread beyond the window is not a ranking */
    ih_detector *e = make();
    for (int k = 0; k < 12; k++) {
        int64_t drug = 300 + k;
        ih_detector_rx_read(e, 8, 6000 + k, 40 + k, &drug, 1, true, T0 + k * 2 * DAY, &v);
        assert_false(v.alert);
    }
    ih_detector_free(e);
    ih_detector_free(d);
}

static void t_own_work_is_not_flagged(void **state)
{
    (void)state;
    ih_detector *d = make();
    ih_verdict v;
    /* a doctor reads their own prescriptions: not outside their work */
    for (int i = 0; i < 200; i++) {
        int64_t drug = 400 + i % 50;
        ih_detector_rx_read(d, 9, 7000 + i, 1, &drug, 1, false, T0 + i * 1000, &v);
        assert_false(v.alert);
    }
    /* a pharmacist opens queue items of many doctors and reviews each */
    for (int i = 0; i < 40; i++) {
        int64_t drug = 500 + i;
        ih_detector_rx_read(d, 10, 8000 + i, 100 + i, &drug, 1, true, T0 + i * 1000, &v);
        assert_false(v.alert);
        ih_detector_rx_reviewed(d, 10, 8000 + i);
    }
    ih_detector_free(d);
}

static void t_paging_and_off_hours(void **state)
{
    (void)state;
    ih_detector *d = make();
    ih_verdict v;
    int first = -1;
    for (int i = 0; i < 40; i++) {
        ih_detector_list_page(d, 11, T0 + i * 10000, &v);
        if (v.alert && first < 0) first = i;
    }
    assert_int_equal(first, 30); /* the 31st page within the hour */
    /* an hour later the count starts again */
    ih_detector_list_page(d, 11, T0 + 2 * HOUR, &v);
    assert_false(v.alert);
    /* 23:30 Beijing: off hours */
    int64_t night = (T0 / DAY) * DAY + (int64_t)(23 * 60 + 30 - 480) * 60000LL + DAY;
    first = -1;
    for (int i = 0; i < 25; i++) {
        ih_detector_rx_read(d, 12, 9000 + i, 1, NULL, 0, false, night + i * 60000, &v);
        if (v.alert && first < 0) first = i;
    }
    assert_int_equal(first, 20);
    /* daytime reads do not count */
    ih_detector *e = make();
    for (int i = 0; i < 100; i++) {
        ih_detector_rx_read(e, 13, 9500 + i, 1, NULL, 0, false, T0 + i * 1000, &v);
        assert_false(v.alert);
    }
    ih_detector_free(e);
    ih_detector_free(d);
}

int main(void)
{
    const struct CMUnitTest t[] = {cmocka_unit_test(t_sales_rep_ranking_is_caught),
                                   cmocka_unit_test(t_slow_drip_over_days_is_caught),
                                   cmocka_unit_test(t_own_work_is_not_flagged), cmocka_unit_test(t_paging_and_off_hours)};
    return cmocka_run_group_tests_name("detector", t, NULL, NULL);
}
