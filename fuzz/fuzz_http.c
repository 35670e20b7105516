/* fuzz_http.c — HTTP request parsing glue, routing and response framing.
 * The input is split into chunks at NUL-free boundaries chosen from its
 * first byte, to exercise requests arriving in pieces and pipelining.
 * The Accept-Encoding reading the console's assets use is run on each. */
#include "api/api.h"
#include "net/http.h"
#include "net/router.h"
#include "web/assets.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        ih_http_global_init(16 * 1024);
        init = 1;
    }
    if (size == 0) return 0;
    size_t chunk = (data[0] % 31) + 1;
    data++;
    size--;
    ih_http h;
    ih_http_init(&h, 4096);
    size_t off = 0;
    int requests = 0;
    while (off < size && requests < 16) {
        size_t n = size - off < chunk ? size - off : chunk;
        size_t used;
        ih_http_status st = ih_http_feed(&h, (const char *)data + off, n, &used);
        if (used > n) __builtin_trap();
        off += used;
        if (st == IH_HTTP_DONE) {
            const ih_route *r;
            (void)ih_route_match(ih_api_routes, ih_api_nroutes, &h.req, &r);
            (void)ih_web_accepts_gzip(h.req.hdr[IH_HDR_ACCEPT_ENCODING]);
            ih_resp resp;
            ih_resp_init(&resp);
            ih_resp_error(&resp, IH_E_NOT_FOUND);
            ih_buf out = IH_BUF_INIT;
            ih_resp_meta m = {.request_id = "fuzz", .keep_alive = h.req.keep_alive};
            (void)ih_resp_serialize(&resp, &m, &out);
            ih_buf_free(&out);
            ih_resp_free(&resp);
            ih_http_reset(&h);
            requests++;
            continue;
        }
        if (st != IH_HTTP_MORE) break;
        if (used == 0 && n > 0) break;
    }
    ih_http_free(&h);
    return 0;
}
