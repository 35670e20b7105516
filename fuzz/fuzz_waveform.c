/* fuzz_waveform.c — a DICOM waveform from a modality, through the PACS:
 * the multiplex group's description (Orthanc's /tags JSON) and its raw
 * samples.  The first two bytes (little-endian) are the JSON's length; the
 * rest after it is the WaveformData. */
#include "core/json.h"
#include "exchange/waveform.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        ih_json_init();
        init = 1;
    }
    if (size < 2) return 0;
    size_t jn = (size_t)data[0] | (size_t)data[1] << 8;
    if (jn > size - 2) jn = size - 2;
    json_t *g = NULL, *out = NULL;
    if (ih_json_parse_object((const char *)data + 2, jn, &g) != IH_OK) return 0;
    if (ih_waveform_decode(g, data + 2 + jn, size - 2 - jn, &out) == IH_OK) json_decref(out);
    ih_err_clear();
    json_decref(g);
    return 0;
}
