/* fuzz_hl7.c — the HL7 v2 parser (exchange/hl7.c): any bytes, every address
 * read; every value that decodes escapes back to itself. */
#include "exchange/hl7.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ih_hl7 *m;
    if (ih_hl7_parse((const char *)data, size, &m) != IH_OK) {
        ih_err_clear();
        return 0;
    }
    ih_buf v = IH_BUF_INIT, again = IH_BUF_INIT;
    for (int s = 0; s < ih_hl7_segment_count(m) && s < 20; s++)
        for (int f = 1; f <= 12; f++)
            for (int r = 1; r <= 3 && r <= ih_hl7_reps(m, s, f) + 1; r++)
                for (int c = 1; c <= 4; c++) {
                    ih_err e;
                    if (!ih_hl7_get(m, s, f, r, c, 1, &v, &e) || (!strncmp(ih_hl7_segment_name(m, s), "MSH", 3) && f <= 2))
                        continue;
                    /* escaping what was decoded and parsing it again gives it back */
                    ih_buf_reset(&again);
                    ih_buf_puts(&again, "MSH|^~\\&|X\rNTE|1||");
                    static const ih_hl7_delims std = {'|', '^', '~', '\\', '&'};
                    ih_hl7_escape(&again, v.p, &std);
                    ih_hl7 *m2;
                    if (ih_hl7_parse(again.p, again.len, &m2) != IH_OK) abort();
                    ih_buf w = IH_BUF_INIT;
                    bool got = ih_hl7_get(m2, 1, 3, 1, 1, 1, &w, NULL);
                    /* a value ends at the first line break it encodes: CR LF became one \.br\ */
                    if (!got || (strcmp(w.p, v.p) && !strchr(v.p, '\r'))) abort();
                    ih_buf_free(&w);
                    ih_hl7_free(m2);
                }
    ih_buf_free(&v);
    ih_buf_free(&again);
    ih_hl7_free(m);
    ih_err_clear();
    return 0;
}
