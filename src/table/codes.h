/* codes.h — the national code tables the registry and the supervision
 * platform share (reference: ../shared/reference/tianjin-supervision.md).
 *
 *   SUBJECT     国家诊疗科目 (卫医发〔1994〕27号): "03" 内科, "03.01" 呼吸内科专业 …
 *   TITLE       专业技术职务 (GB/T 8561): 231–235 physicians, 241–245 pharmacists,
 *               251–255 nurses, 261–265 technicians
 *   CERT_TYPE   证件类型: 1 居民身份证, 2 护照, 3 军官证, 4 台胞证, 5 回乡证, 99 其他
 *   SEX         性别: 0 未知, 1 男, 2 女
 *   DRUG_CLASS  药品分类 (as recipeType): 1 西药, 2 中成药, 3 中药饮片
 *   ROUTE       用药途径 (CV06.00.102)
 *   FREQUENCY   用药频次 (common abbreviations)
 * Tables are static and sorted by code; lookups are binary searches.
 */
#ifndef IH_TABLE_CODES_H
#define IH_TABLE_CODES_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct ih_code {
    const char *code;
    const char *name;
} ih_code;

typedef struct ih_code_table {
    const char *key;  /* its name in the API: GET /api/v1/codes/{key} */
    const char *name; /* for people: "诊疗科目 (subject)" */
    const ih_code *codes;
    size_t n;
} ih_code_table;

/* National tables. */
extern const ih_code_table ih_codes_subject, ih_codes_title, ih_codes_cert_type, ih_codes_sex, ih_codes_drug_class,
    ih_codes_route, ih_codes_frequency;
/* The hospital's own: visits, departments, drugs, payments, feedback, oversight. */
extern const ih_code_table ih_codes_visit_kind, ih_codes_attribute, ih_codes_consult_type, ih_codes_department_kind,
    ih_codes_restricted_class, ih_codes_payment_channel, ih_codes_damage_degree, ih_codes_adverse_kind,
    ih_codes_media_kind, ih_codes_bg_verdict, ih_codes_stats_report, ih_codes_delivery_type, ih_codes_allergy_class,
    ih_codes_av_signal, ih_codes_consult_kind, ih_codes_material_kind, ih_codes_consent_by;

/* Every table, for GET /api/v1/codes (a unit test checks each table a
 * record field uses is here). */
extern const ih_code_table *const ih_code_tables[];
extern const size_t ih_code_tables_count;
/* The table called key, or NULL. */
const ih_code_table *ih_code_table_find(const char *key);

/* The name for code, or NULL when code is not in the table. */
const char *ih_code_name(const ih_code_table *t, const char *code);

/* What a refusal says about a table's values: the values themselves when
 * there are few ("1 西药, 2 中成药, 3 中药饮片"), and where the whole table is
 * ("GET /api/v1/codes/drug_class").  out is always NUL-terminated. */
void ih_code_hint(const ih_code_table *t, char *out, size_t n);
/* The refusal of a value not in t, naming field, the table and its values
 * (IH_E_INVALID). */
ih_err ih_code_reject(const ih_code_table *t, const char *field);

/* Which staff kind a title belongs to: "doctor", "pharmacist", "nurse",
 * "technician", or NULL. */
const char *ih_title_kind(const char *title_code);

/* A subject code's first level ("03.01" → "03"); out needs 3 bytes. */
void ih_subject_top(const char *code, char out[3]);

#endif
