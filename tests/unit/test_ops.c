/* test_ops.c — long operations (app/ops.h), on both backends: a begin while
 * a run of the same kind is running joins it; the wait answers "running"
 * until the work is done, then its status and body; a run that failed
 * answers with its error, code and client message and field; stopping
 * waits for the runs and records them.  (Edited results and lost runs are
 * exercised through the API in test_compliance.py LongOperationTest.) */
#include "support.h"

#include "app/ops.h"
#include "core/buf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    t_base b;
    ih_signkey *pub;
    ih_ops *ops;
} fx;

static int setup(void **state, ih_store_kind kind)
{
    fx *f = calloc(1, sizeof *f);
    t_base_open(&f->b, kind, IH_SUITE_INTL, NULL, 0);
    ih_buf pem = IH_BUF_INIT;
    T_OK(ih_sign_public_pem(f->b.key, &pem));
    T_OK(ih_sign_public_from_pem(pem.p, pem.len, &f->pub));
    ih_buf_free(&pem);
    T_OK(ih_ops_start(f->b.s, f->b.key, f->pub, "node-a", &f->ops));
    *state = f;
    return 0;
}
static int setup_sqlite(void **s) { return setup(s, IH_STORE_SQLITE); }
static int setup_pg(void **s) { return setup(s, IH_STORE_PG); }

static int teardown(void **state)
{
    fx *f = *state;
    ih_ops_stop(f->ops);
    ih_signkey_free(f->pub);
    t_base_close(&f->b);
    free(f);
    return 0;
}

/* Work that waits until released. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool go;
    int calls;
    int64_t who;
} gate;

static void gate_init(gate *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->go = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static ih_err gated_fn(void *arg, const ih_actor *who, int *status, json_t **body)
{
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->calls++;
    g->who = who->id;
    while (!g->go) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    *status = 201;
    *body = json_pack("{s:s, s:I}", "made", "yes", "by", (json_int_t)who->id);
    return IH_OK;
}

static int freed;
static void count_free(void *arg)
{
    (void)arg;
    freed++;
}

static void t_join_then_answer(void **state)
{
    fx *f = *state;
    gate g;
    gate_init(&g);
    ih_actor alice = {.id = 7, .role = "secadmin", .ip = "127.0.0.1"}, bob = {.id = 8, .role = "auditadmin"};
    int64_t id1, id2;
    freed = 0;
    T_OK(ih_op_begin(f->ops, "selfcheck", &alice, gated_fn, &g, count_free, &id1));
    T_OK(ih_op_begin(f->ops, "selfcheck", &bob, gated_fn, &g, count_free, &id2));
    assert_int_equal(id1, id2);  /* joined */
    assert_int_equal(freed, 1);  /* the joiner's arg, at once */
    ih_op_result r;
    T_OK(ih_op_wait(f->ops, "selfcheck", id1, 0, &r));
    assert_false(r.done);
    assert_string_equal(r.node, "node-a");
    assert_int_equal(ih_op_wait(f->ops, "backup", id1, 0, &r), IH_E_NOT_FOUND); /* another kind's id */
    gate_open(&g);
    T_OK(ih_op_wait(f->ops, "selfcheck", id1, 10000, &r));
    assert_true(r.done);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.body, "made")), "yes");
    assert_int_equal(json_integer_value(json_object_get(r.body, "by")), 7); /* who asked first */
    json_decref(r.body);
    assert_int_equal(g.calls, 1);
    /* finished: the next begin is a new run */
    int64_t id3;
    T_OK(ih_op_begin(f->ops, "selfcheck", &bob, gated_fn, &g, count_free, &id3));
    assert_true(id3 != id1);
    T_OK(ih_op_wait(f->ops, "selfcheck", id3, 10000, &r));
    assert_int_equal(json_integer_value(json_object_get(r.body, "by")), 8);
    json_decref(r.body);
    assert_int_equal(freed, 3);
}

static ih_err failing_fn(void *arg, const ih_actor *who, int *status, json_t **body)
{
    (void)arg, (void)who, (void)status, (void)body;
    return ih_reject(IH_E_STATE, "backup_dir", "No room for a backup.");
}

static void t_failure_answers_its_error(void **state)
{
    fx *f = *state;
    ih_actor alice = {.id = 7, .role = "sysadmin"};
    int64_t id;
    T_OK(ih_op_begin(f->ops, "backup", &alice, failing_fn, NULL, NULL, &id));
    ih_op_result r;
    ih_err_clear();
    assert_int_equal(ih_op_wait(f->ops, "backup", id, 10000, &r), IH_E_STATE);
    assert_string_equal(ih_err_public(), "No room for a backup.");
    assert_string_equal(ih_err_field(), "backup_dir");
    assert_false(r.done);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM op_run WHERE id = %lld AND state = 'failed'", (long long)id);
    assert_int_equal(t_sql_int(f->b.s, sql), 1);
}

static void *open_later(void *arg)
{
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    gate_open(arg);
    return NULL;
}

static void t_stop_waits_for_runs(void **state)
{
    fx *f = *state;
    gate g;
    gate_init(&g);
    ih_actor alice = {.id = 7, .role = "auditadmin"};
    int64_t id;
    T_OK(ih_op_begin(f->ops, "audit.verify", &alice, gated_fn, &g, NULL, &id));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, open_later, &g), 0);
    ih_ops_stop(f->ops); /* returns once the run has finished and been recorded */
    pthread_join(t, NULL);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM op_run WHERE id = %lld AND state = 'done'", (long long)id);
    assert_int_equal(t_sql_int(f->b.s, sql), 1);
    T_OK(ih_ops_start(f->b.s, f->b.key, f->pub, "node-a", &f->ops)); /* for teardown */
    ih_op_result r;
    T_OK(ih_op_wait(f->ops, "audit.verify", id, 0, &r)); /* another ops answers from the database */
    assert_true(r.done);
    json_decref(r.body);
}

int main(void)
{
    const struct CMUnitTest sq[] = {
        cmocka_unit_test_setup_teardown(t_join_then_answer, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(t_failure_answers_its_error, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(t_stop_waits_for_runs, setup_sqlite, teardown),
    };
    const struct CMUnitTest pg[] = {
        cmocka_unit_test_setup_teardown(t_join_then_answer, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(t_failure_answers_its_error, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(t_stop_waits_for_runs, setup_pg, teardown),
    };
    int rc = cmocka_run_group_tests_name("ops (sqlite)", sq, NULL, NULL);
    rc |= cmocka_run_group_tests_name("ops (postgres)", pg, NULL, NULL);
    return rc;
}
