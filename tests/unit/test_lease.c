/* test_lease.c — work that runs once across the cluster (store/lease.h), on
 * both backends: one holder at a time, renewal keeps the token, expiry
 * hands the lease over with a higher token that fences the old holder out,
 * release hands it over at once.  On SQLite, which one ihosd owns, a holder
 * left by an earlier run (killed, so it never let go) is taken over at once. */
#include "support.h"

#include "store/lease.h"

#include <stdlib.h>
#include <time.h>

typedef struct {
    t_base b;
} fx;

static int setup(void **state, ih_store_kind kind)
{
    fx *f = calloc(1, sizeof *f);
    t_base_open(&f->b, kind, IH_SUITE_INTL, NULL, 0);
    *state = f;
    return 0;
}
static int setup_sqlite(void **s) { return setup(s, IH_STORE_SQLITE); }
static int setup_pg(void **s) { return setup(s, IH_STORE_PG); }

static int teardown(void **state)
{
    fx *f = *state;
    t_base_close(&f->b);
    free(f);
    return 0;
}

static ih_err check_fn(ih_tx *tx, void *arg) { return ih_lease_check(tx, arg); }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void t_one_holder_and_fencing(void **state)
{
    fx *f = *state;
    ih_lease a = {.name = "test.work", .holder = "node-a", .ttl_ms = 400};
    ih_lease b = {.name = "test.work", .holder = "node-b", .ttl_ms = 400};
    T_OK(ih_lease_take(f->b.s, &a));
    assert_true(a.held);
    int64_t first = a.token;
    T_OK(ih_store_write(f->b.s, check_fn, &a));

    if (f->b.kind == IH_STORE_PG) { /* two nodes: the other waits for expiry */
        T_OK(ih_lease_take(f->b.s, &b));
        assert_false(b.held);
    }
    T_OK(ih_lease_take(f->b.s, &a)); /* renewal: same token */
    assert_true(a.held);
    assert_int_equal(a.token, first);

    sleep_ms(600); /* a stops renewing: b takes over with a higher token */
    T_OK(ih_lease_take(f->b.s, &b));
    assert_true(b.held);
    assert_true(b.token > first);
    /* a still believes it holds the lease; its work is refused in its own
     * transaction */
    assert_true(a.held);
    assert_int_equal(ih_store_write(f->b.s, check_fn, &a), IH_E_STATE);
    ih_err_clear();
    T_OK(ih_store_write(f->b.s, check_fn, &b));

    /* a clean stop lets go at once */
    ih_lease_release(f->b.s, &b);
    assert_false(b.held);
    ih_lease c = {.name = "test.work", .holder = "node-c", .ttl_ms = 60000};
    T_OK(ih_lease_take(f->b.s, &c));
    assert_true(c.held);
    assert_true(c.token > b.token);
}

/* A node killed while holding a long lease: on PostgreSQL another node
 * (or the same one restarted under another name) waits for the expiry; on
 * SQLite the only ihosd there can be is the one asking. */
static void t_killed_holder(void **state)
{
    fx *f = *state;
    ih_lease old = {.name = "test.killed", .holder = "host/1234", .ttl_ms = 60000};
    T_OK(ih_lease_take(f->b.s, &old));
    assert_true(old.held);
    ih_lease restarted = {.name = "test.killed", .holder = "host/5678", .ttl_ms = 60000};
    T_OK(ih_lease_take(f->b.s, &restarted));
    if (f->b.kind == IH_STORE_PG) {
        assert_false(restarted.held);
    } else {
        assert_true(restarted.held);
        assert_true(restarted.token > old.token);
        assert_int_equal(ih_store_write(f->b.s, check_fn, &old), IH_E_STATE);
        ih_err_clear();
    }
    /* a node restarted under its configured name picks its lease up at once */
    ih_lease same = {.name = "test.killed", .holder = restarted.held ? "host/5678" : "host/1234", .ttl_ms = 60000};
    T_OK(ih_lease_take(f->b.s, &same));
    assert_true(same.held);
}

static void t_position_travels(void **state)
{
    fx *f = *state;
    ih_lease a = {.name = "test.cursor", .holder = "node-a", .ttl_ms = 300};
    T_OK(ih_lease_take(f->b.s, &a));
    T_OK(ih_lease_save_position(f->b.s, &a, 4242));
    sleep_ms(500);
    ih_lease b = {.name = "test.cursor", .holder = "node-b", .ttl_ms = 300};
    T_OK(ih_lease_take(f->b.s, &b));
    assert_true(b.held);
    assert_int_equal(b.position, 4242);
}

int main(void)
{
    const struct CMUnitTest sq[] = {
        cmocka_unit_test_setup_teardown(t_one_holder_and_fencing, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(t_killed_holder, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(t_position_travels, setup_sqlite, teardown),
    };
    const struct CMUnitTest pg[] = {
        cmocka_unit_test_setup_teardown(t_one_holder_and_fencing, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(t_killed_holder, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(t_position_travels, setup_pg, teardown),
    };
    int rc = cmocka_run_group_tests_name("lease (sqlite)", sq, NULL, NULL);
    rc |= cmocka_run_group_tests_name("lease (postgres)", pg, NULL, NULL);
    return rc;
}
