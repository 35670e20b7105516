/* metrics.h — process-wide counters, rendered in Prometheus text format.
 *
 * Lock-free (atomics) so the request path pays a few increments.  Other
 * modules append their own series after ih_metrics_render() (the /metrics
 * handler does that); names all start with "ihos_".
 */
#ifndef IH_NET_METRICS_H
#define IH_NET_METRICS_H

#include "core/buf.h"

#include <stdint.h>

typedef enum {
    IH_M_CONN_ACCEPTED,
    IH_M_CONN_REJECTED,    /* over max_connections */
    IH_M_CONN_TIMEOUT,     /* cut off by a deadline */
    IH_M_TLS_FAILED,       /* handshake failed */
    IH_M_PLAINTEXT,        /* not TLS at all: closed without a byte */
    IH_M_BAD_REQUEST,      /* unparseable HTTP */
    IH_M_TOO_LARGE,        /* body over the limit */
    IH_M_WRITE_PARKED,     /* a response the client was slow to read: parked, no worker waiting */
    IH_M__COUNT
} ih_metric;

void ih_metrics_inc(ih_metric m);
void ih_metrics_conn_open(int delta);
/* Event streams open now (the stream thread counts them). */
void ih_metrics_stream_open(int delta);
void ih_metrics_request(int status, int64_t micros);
/* Append every built-in series (HTTP, connections, process) to out. */
ih_err ih_metrics_render(ih_buf *out);

#endif
