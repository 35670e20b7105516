/* fuzz_record_json.c — request bodies through the table-driven
 * validation of every registry and care table (types, lengths, charsets,
 * code tables, certificate numbers, phones, dates), as creation and as
 * update, then through the masked view. */
#include "care/care_impl.h"
#include "core/json.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        ih_json_init();
        init = 1;
    }
    json_t *j = NULL;
    if (ih_json_parse_object((const char *)data, size, &j) != IH_OK) return 0;
    ih_table *const tables[] = {&ih_t_institution, &ih_t_department, &ih_t_staff, &ih_t_drug, &ih_t_schedule,
                                &ih_t_patient, &ih_t_visit, &ih_t_message, &ih_t_media, &ih_t_emr, &ih_t_rx,
                                &ih_t_payment, &ih_t_evaluation, &ih_t_adverse, &ih_t_break_glass, &ih_t_stats};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        for (int create = 0; create < 2; create++) {
            ih_row r;
            ih_row_init(&r, tables[i]);
            r.id = 1;
            if (ih_row_from_json(&r, j, create, NULL) == IH_OK) {
                json_t *v = NULL;
                (void)ih_row_json(&r, IH_ROLE_DOCTOR, IH_REL_CARE, &v);
                json_decref(v);
            }
            ih_row_free(&r);
        }
    json_decref(j);
    return 0;
}
