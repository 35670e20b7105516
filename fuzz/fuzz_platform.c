/* fuzz_platform.c — what comes back from outside in the supervision and
 * prescription paths: platform responses (the Tianjin profile's reading),
 * SM4 hex bodies with 7816-4 padding, and offline verification bundles.
 * The first byte picks which. */
#include "care/care.h"
#include "core/json.h"
#include "crypto/suite.h"
#include "report/profile.h"
#include "report/tianjin_crypto.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        ih_json_init();
        ih_crypto_init();
        init = 1;
    }
    if (size < 1) return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    char msg[256];
    switch (data[0] % 3) {
    case 0:
        (void)ih_profile_tianjin.classify(200, p, n, msg, sizeof msg);
        (void)ih_profile_tianjin.classify(503, p, n, msg, sizeof msg);
        break;
    case 1: {
        static const uint8_t key[16] = {0xbb, 0xf1, 0xdd, 0x18, 0x8b, 0x8b, 0x46, 0x29,
                                        0x85, 0x3f, 0x06, 0xf1, 0x18, 0xd1, 0x1e, 0x4a};
        ih_buf out = IH_BUF_INIT;
        (void)ih_tj_decrypt(key, p, n, &out);
        ih_buf_free(&out);
        break;
    }
    default: {
        json_t *b = NULL;
        if (ih_json_parse_object(p, n, &b) == IH_OK) {
            (void)ih_rx_bundle_verify(b, msg, sizeof msg);
            json_decref(b);
        }
    }
    }
    return 0;
}
