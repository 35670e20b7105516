/* fuzz_mask.c — every masking over arbitrary bytes: no crash, no read past
 * the value, and the hidden parts stay hidden (mask.h's promises). */
#include "policy/mask.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = malloc(size + 1);
    if (!v) return 0;
    memcpy(v, data, size);
    v[size] = '\0'; /* values reach the masks as C strings */
    ih_buf out = IH_BUF_INIT;
    for (int f = 0; f < IH_FIELD__COUNT; f++) {
        if (ih_mask_apply((ih_field_kind)f, v, &out) != IH_OK) abort();
        size_t n = out.p ? strlen(out.p) : 0;
        if (n != out.len) abort();
        /* A mask never lengthens a value by more than its fixed stars. */
        if (n > strlen(v) + 10) abort();
        if (f == IH_FIELD_ID_NUMBER && ih_idcard_valid(v) && memcmp(out.p + 6, "********", 8)) abort();
        if (f == IH_FIELD_NAME && n) { /* one character kept, the rest stars */
            size_t first = 1;
            while (first < n && out.p[first] != '*') first++;
            if (first > 4 || strspn(out.p + first, "*") != n - first) abort();
        }
    }
    ih_buf_free(&out);
    free(v);
    return 0;
}
