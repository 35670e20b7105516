/* fuzz_mllp.c — the MLLP framer (exchange/mllp.c): the same bytes fed whole
 * or in pieces of any sizes give the same frames and refusals. */
#include "exchange/mllp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ih_err record(void *ctx, ih_err status, const char *p, size_t n)
{
    ih_buf *log = ctx;
    ih_buf_printf(log, "%d:%zu:", (int)status, n);
    if (n) ih_buf_append(log, p, n);
    return ih_buf_puts(log, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t step = (uint8_t)(data[0] % 7 + 1); /* piece sizes 1..7 */
    data++, size--;
    ih_buf whole = IH_BUF_INIT, pieces = IH_BUF_INIT;
    ih_mllp a, b;
    ih_mllp_init(&a, 64);
    ih_mllp_init(&b, 64);
    ih_mllp_feed(&a, data, size, record, &whole);
    for (size_t i = 0; i < size; i += step)
        ih_mllp_feed(&b, data + i, size - i < step ? size - i : step, record, &pieces);
    if (whole.len != pieces.len || (whole.len && memcmp(whole.p, pieces.p, whole.len))) abort();
    ih_buf_free(&whole);
    ih_buf_free(&pieces);
    ih_mllp_free(&a);
    ih_mllp_free(&b);
    return 0;
}
