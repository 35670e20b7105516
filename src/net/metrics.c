/* metrics.c — see metrics.h. */
#include "net/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static const int64_t bucket_us[] = {1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};
#define NB (sizeof bucket_us / sizeof bucket_us[0])

static _Atomic uint64_t counters[IH_M__COUNT];
static _Atomic int64_t open_conns, open_streams;
static _Atomic uint64_t by_class[6]; /* index status/100 */
static _Atomic uint64_t buckets[NB + 1];
static _Atomic uint64_t sum_us;

static const char *names[IH_M__COUNT][2] = {
    [IH_M_CONN_ACCEPTED] = {"ihos_http_connections_accepted_total", "TLS connections accepted"},
    [IH_M_CONN_REJECTED] = {"ihos_http_connections_rejected_total", "connections refused at max_connections"},
    [IH_M_CONN_TIMEOUT] = {"ihos_http_connections_timed_out_total", "connections closed by a request or idle deadline"},
    [IH_M_TLS_FAILED] = {"ihos_tls_handshake_failures_total", "failed TLS handshakes"},
    [IH_M_PLAINTEXT] = {"ihos_http_plaintext_refused_total", "connections that did not start with TLS"},
    [IH_M_BAD_REQUEST] = {"ihos_http_malformed_requests_total", "requests that could not be parsed"},
    [IH_M_TOO_LARGE] = {"ihos_http_body_too_large_total", "requests refused for body size"},
    [IH_M_WRITE_PARKED] = {"ihos_http_write_parked_total", "responses left for a slow reader while the worker moved on"},
};

void ih_metrics_inc(ih_metric m) { atomic_fetch_add_explicit(&counters[m], 1, memory_order_relaxed); }

void ih_metrics_conn_open(int delta)
{
    atomic_fetch_add_explicit(&open_conns, delta, memory_order_relaxed);
}

void ih_metrics_stream_open(int delta)
{
    atomic_fetch_add_explicit(&open_streams, delta, memory_order_relaxed);
}

void ih_metrics_request(int status, int64_t micros)
{
    int cls = status / 100;
    if (cls < 1 || cls > 5) cls = 5;
    atomic_fetch_add_explicit(&by_class[cls], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < NB && micros > bucket_us[b]) b++;
    atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sum_us, (uint64_t)(micros > 0 ? micros : 0), memory_order_relaxed);
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

ih_err ih_metrics_render(ih_buf *out)
{
    for (int i = 0; i < IH_M__COUNT; i++)
        IH_TRY(ih_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", names[i][0], names[i][1],
                             names[i][0], names[i][0], (unsigned long long)atomic_load(&counters[i])));
    IH_TRY(ih_buf_printf(out, "# HELP ihos_http_connections_open open connections\n"
                              "# TYPE ihos_http_connections_open gauge\nihos_http_connections_open %lld\n",
                         (long long)atomic_load(&open_conns)));
    IH_TRY(ih_buf_printf(out, "# HELP ihos_http_event_streams_open open live-update (SSE) streams\n"
                              "# TYPE ihos_http_event_streams_open gauge\nihos_http_event_streams_open %lld\n",
                         (long long)atomic_load(&open_streams)));
    IH_TRY(ih_buf_puts(out, "# HELP ihos_http_responses_total responses by status class\n"
                            "# TYPE ihos_http_responses_total counter\n"));
    for (int c = 1; c <= 5; c++)
        IH_TRY(ih_buf_printf(out, "ihos_http_responses_total{code=\"%dxx\"} %llu\n", c,
                             (unsigned long long)atomic_load(&by_class[c])));
    IH_TRY(ih_buf_puts(out, "# HELP ihos_http_request_duration_seconds time from parsed request to response\n"
                            "# TYPE ihos_http_request_duration_seconds histogram\n"));
    uint64_t cum = 0;
    for (size_t b = 0; b < NB; b++) {
        cum += atomic_load(&buckets[b]);
        IH_TRY(ih_buf_printf(out, "ihos_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                             (double)bucket_us[b] / 1e6, (unsigned long long)cum));
    }
    cum += atomic_load(&buckets[NB]);
    IH_TRY(ih_buf_printf(out, "ihos_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                              "ihos_http_request_duration_seconds_sum %.6f\n"
                              "ihos_http_request_duration_seconds_count %llu\n",
                         (unsigned long long)cum, (double)atomic_load(&sum_us) / 1e6, (unsigned long long)cum));
    IH_TRY(ih_buf_printf(out, "# HELP ihos_process_resident_memory_bytes resident set size\n"
                              "# TYPE ihos_process_resident_memory_bytes gauge\n"
                              "ihos_process_resident_memory_bytes %ld\n",
                         rss_bytes()));
    return IH_OK;
}
