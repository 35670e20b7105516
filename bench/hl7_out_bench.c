/* hl7_out_bench.c — the HL7 sender draining a backlog: N lab orders are
 * queued in the outbox of the instance in DIR for its peer "his"
 * (exchange.conf: an address where a receiver ACKs), then the sender (as
 * in ihosd: claim a batch, write each message, wait for its ACK, record the
 * outcomes) delivers them.  Synthetic people only.
 * Usage: hl7_out_bench DIR N
 * Prints "drain N messages in T s: R messages/s". */
#include "app/cli_env.h"
#include "care/his.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "exchange/peers.h"
#include "exchange/sender.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    ih_clinic *c;
    int from, n;
} fill_arg;

static ih_err fill_fn(ih_tx *tx, void *arg)
{
    fill_arg *a = arg;
    for (int i = a->from; i < a->from + a->n; i++) {
        char no[24], obj[32];
        snprintf(no, sizeof no, "IHO%d", i);
        snprintf(obj, sizeof obj, "order-%d", i);
        json_t *f = json_pack("{s:s, s:I, s:{s:I, s:s, s:s, s:s, s:s}, s:{s:I, s:s}, s:{s:s},"
                              " s:{s:I, s:s, s:s, s:s, s:s, s:I}}",
                              "mrn", "", "visit_id", (json_int_t)i, "patient", "id", (json_int_t)(i % 500 + 1), "name",
                              "测试", "cert_no", "110101198001010011", "sex", "1", "birth_date", "1980-01-01", "doctor",
                              "id", (json_int_t)1, "name", "示例医师", "department", "name", "内科", "order", "id",
                              (json_int_t)i, "kind", "lab", "order_no", no, "code", "CBC", "name", "血常规",
                              "created_at", (json_int_t)ih_now_ms());
        ih_err e = ih_his_out_put(a->c, tx, "his", "OML^O21", i % 500 + 1, obj, f);
        json_decref(f);
        IH_TRY(e);
    }
    return IH_OK;
}

static ih_err left_fn(ih_tx *tx, void *arg)
{
    int64_t *left = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT COUNT(*) FROM his_outbox WHERE state <> 'sent'", &st));
    IH_TRY(ih_stmt_step(st, &row));
    *left = ih_col_int(st, 0);
    return IH_OK;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hl7_out_bench DIR N\n");
        return 2;
    }
    ih_log_setup("stderr", IH_LOG_ERROR, "bench");
    ih_json_init();
    int n = atoi(argv[2]);
    ih_cli_env env;
    if (ih_cli_env_open(argv[1], &env, true)) return 1;
    for (int i = 0; i < n; i += 1000) {
        fill_arg a = {env.clinic, i, n - i < 1000 ? n - i : 1000};
        if (ih_store_write(env.in.store, fill_fn, &a) != IH_OK) {
            fprintf(stderr, "fill: %s\n", ih_err_detail());
            return 1;
        }
    }
    char path[PATH_MAX], err[512];
    static ih_peers peers;
    snprintf(path, sizeof path, "%s/exchange.conf", argv[1]);
    if (ih_peers_load(path, &peers, err, sizeof err) != IH_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    ih_sender_opts o = {.peers = &peers, .clinic = env.clinic, .store = env.in.store, .base_dir = argv[1],
                        .utc_offset_minutes = 480};
    double t0 = now();
    ih_mllp_sender *s;
    if (ih_mllp_sender_start(&o, &s) != IH_OK || !s) {
        fprintf(stderr, "sender: %s\n", ih_err_detail());
        return 1;
    }
    int64_t left = n;
    while (left > 0 && now() - t0 < 120) {
        usleep(20000);
        if (ih_store_read(env.in.store, left_fn, &left) != IH_OK) break;
    }
    double dt = now() - t0;
    ih_mllp_sender_stop(s);
    if (left) {
        fprintf(stderr, "%lld messages not delivered\n", (long long)left);
        return 1;
    }
    printf("drain %d messages in %.2f s: %.0f messages/s\n", n, dt, n / dt);
    ih_cli_env_close(&env);
    return 0;
}
