/* fuzz_conf.c — the INI configuration parser (core/conf.c via inih). */
#include "core/conf.h"
#include "fuzz_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text) return 0;
    ih_conf c;
    char err[512];
    if (ih_conf_parse_string(text, "fuzz.conf", &c, err, sizeof err) == IH_OK) {
        char *out;
        if (ih_conf_render(&c, &out) == IH_OK) {
            /* What we render must parse back to the same values. */
            ih_conf d;
            if (ih_conf_parse_string(out, "render.conf", &d, err, sizeof err) != IH_OK ||
                memcmp(&c, &d, sizeof c) != 0)
                abort();
            free(out);
        }
    }
    free(text);
    return 0;
}
