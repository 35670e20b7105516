/* fuzz_json_body.c — the JSON request-body entry point and field getters. */
#include "core/json.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = NULL;
    if (ih_json_parse_object((const char *)data, size, &j) != IH_OK) return 0;
    const char *s;
    int64_t i, fen;
    bool b;
    static const char *const fields[] = {"username", "password", "name", "amount", "n", "flag", NULL};
    (void)ih_json_only(j, fields);
    for (const char *const *f = fields; *f; f++) {
        (void)ih_json_str(j, *f, false, 0, 64, IH_TEXT_LINE, &s);
        (void)ih_json_str(j, *f, false, 1, 4096, IH_TEXT_MULTILINE, &s);
        (void)ih_json_int(j, *f, false, -5, 1000000, &i);
        (void)ih_json_bool(j, *f, false, &b);
        (void)ih_json_money(j, *f, false, &fen);
    }
    json_decref(j);
    return 0;
}
