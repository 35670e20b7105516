/* report_bench.c — the supervision uploader draining a backlog: N drug
 * records are queued in the outbox of the instance in DIR (configured for a
 * receiver: [report] gateway_url, app_key, ca_file, and its appSecret set),
 * then the uploader (its worker threads, as in ihosd) drains them with
 * SM4-CBC + SM3 per call.
 * Usage: report_bench DIR N
 * Prints "drain N records in T s: R records/s (batch B)". */
#include "app/cli_env.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    ih_report *r;
    int from, n;
} fill_arg;

static ih_err fill_fn(ih_tx *tx, void *arg)
{
    fill_arg *a = arg;
    for (int i = a->from; i < a->from + a->n; i++) {
        char code[24], key[32];
        snprintf(code, sizeof code, "B%07d", i);
        snprintf(key, sizeof key, "drug-b%d", i);
        json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:I}", "drug_class", "1", "hosp_code", code,
                              "national_code", code, "name", "苯磺酸氨氯地平片", "spec", "5mg*28片", "manufacturer",
                              "示例制药有限公司", "price", (json_int_t)2150, "active", 1, "updated_at",
                              (json_int_t)ih_now_ms());
        ih_err e = ih_report_put(a->r, tx, "drug", key, f);
        json_decref(f);
        IH_TRY(e);
    }
    return IH_OK;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: report_bench DIR N\n");
        return 2;
    }
    ih_log_setup("stderr", IH_LOG_ERROR, "bench");
    ih_json_init();
    int n = atoi(argv[2]);
    ih_cli_env env;
    if (ih_cli_env_open(argv[1], &env, true)) return 1;
    for (int i = 0; i < n; i += 1000) {
        fill_arg a = {env.report, i, n - i < 1000 ? n - i : 1000};
        if (ih_store_write(env.in.store, fill_fn, &a) != IH_OK) {
            fprintf(stderr, "report_bench: queueing failed: %s\n", ih_err_detail());
            return 1;
        }
    }
    /* the uploader as ihosd runs it: its worker threads */
    double t0 = now();
    if (ih_report_start(env.report) != IH_OK) {
        fprintf(stderr, "report_bench: %s\n", ih_err_detail());
        return 1;
    }
    /* wait on the uploader's own counter (a status query reads the whole
     * outbox: polling it would take a share of the cores being measured) */
    while ((json_int_t)ih_report_accepted(env.report) < n && now() - t0 < 600) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    double t = now() - t0;
    ih_report_stop(env.report);
    json_int_t sent = 0, left = n;
    json_t *st;
    if (ih_report_status(env.report, &st) == IH_OK) {
        json_t *states = json_object_get(st, "states");
        sent = json_integer_value(json_object_get(states, "sent"));
        left = json_integer_value(json_object_get(states, "pending")) +
               json_integer_value(json_object_get(states, "sending")) +
               json_integer_value(json_object_get(states, "unknown"));
        json_decref(st);
    }
    printf("drain %lld records in %.1f s: %.0f records/s (batch %d, %d uploader connections)\n", (long long)sent, t,
           sent / t, env.in.conf.report_batch_size, env.in.conf.report_workers);
    ih_cli_env_close(&env);
    return left == 0 ? 0 : 1; /* (sent may include the daily adverse call) */
}
