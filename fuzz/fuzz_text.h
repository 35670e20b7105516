/* fuzz_text.h — the fuzzer's bytes as a NUL-terminated string (for parsers
 * that take text).  The caller frees it; NULL when out of memory. */
#ifndef IH_FUZZ_TEXT_H
#define IH_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return NULL;
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

#endif
