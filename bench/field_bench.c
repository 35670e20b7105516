/* field_bench.c — field encryption speed: ih_field_seal + ih_field_open of
 * one value (associated data table/column/row, key version header), per
 * suite, for 100-byte and 4 KiB values.  One core.
 * Usage: field_bench SECONDS
 * Prints one line per case: "field SUITE SIZE NS_PER_SEAL_AND_OPEN" —
 * bench/run.sh sets them beside `openssl speed` for the same primitives. */
#include "core/log.h"
#include "crypto/protect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(ih_suite suite, size_t size, double secs)
{
    uint8_t kek[32];
    if (ih_random(kek, sizeof kek) != IH_OK) return 1;
    ih_keyring *k;
    ih_buf w = IH_BUF_INIT;
    if (ih_keyring_new(suite, kek, &k) != IH_OK || ih_keyring_mint(k, IH_KP_CLINICAL, 1, &w) != IH_OK ||
        ih_keyring_add_wrapped(k, IH_KP_CLINICAL, 1, w.p, w.len) != IH_OK) {
        fprintf(stderr, "field_bench: keyring: %s\n", ih_err_detail());
        return 1;
    }
    ih_buf_free(&w);
    char *value = malloc(size);
    memset(value, 'x', size);
    ih_buf ct = IH_BUF_INIT, pt = IH_BUF_INIT;
    long ops = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 256; i++, ops++) {
            ih_buf_reset(&ct);
            ih_buf_reset(&pt);
            if (ih_field_seal(k, IH_KP_CLINICAL, "message", "body", ops, value, size, &ct) != IH_OK ||
                ih_field_open(k, IH_KP_CLINICAL, "message", "body", ops, ct.p, ct.len, &pt) != IH_OK ||
                pt.len != size) {
                fprintf(stderr, "field_bench: %s\n", ih_err_detail());
                return 1;
            }
        }
        t = now() - t0;
    } while (t < secs);
    printf("field %s %zu %.1f\n", ih_suite_name(suite), size, t * 1e9 / (double)ops);
    ih_buf_free(&ct);
    ih_buf_free(&pt);
    free(value);
    ih_keyring_free(k);
    return 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3;
    ih_log_setup("stderr", IH_LOG_ERROR, "bench");
    if (ih_crypto_init() != IH_OK) return 1;
    int rc = 0;
    const ih_suite suites[] = {IH_SUITE_INTL, IH_SUITE_GM};
    const size_t sizes[] = {100, 4096};
    for (int s = 0; s < 2; s++)
        for (int z = 0; z < 2; z++) rc |= run(suites[s], sizes[z], secs);
    return rc;
}
