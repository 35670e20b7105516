/* fuzz_wsi.c — a whole slide's pyramid as the PACS describes it (Orthanc's
 * /wsi/pyramids JSON), checked before the console sees it. */
#include "core/json.h"
#include "exchange/wsi.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        ih_json_init();
        init = 1;
    }
    json_t *py = NULL, *out = NULL;
    if (ih_json_parse_object((const char *)data, size, &py) != IH_OK) return 0;
    if (ih_wsi_pyramid(py, "1.2.3", &out) == IH_OK) json_decref(out);
    ih_err_clear();
    json_decref(py);
    return 0;
}
