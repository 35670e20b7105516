/* fuzz_csv.c — the two CSV imports (drug catalogue, ICD-10 list): libcsv
 * plus our row building and validation, over arbitrary bytes.  The first
 * byte picks the parser. */
#include "care/care.h"
#include "registry/clinic.h"
#include "core/json.h"
#include "crypto/suite.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        ih_json_init();
        init = 1;
    }
    if (size < 1) return 0;
    json_t *report = NULL;
    if (data[0] & 1) (void)ih_drug_csv_check((const char *)data + 1, size - 1, &report);
    else (void)ih_icd_csv_check((const char *)data + 1, size - 1, &report);
    json_decref(report);
    return 0;
}
