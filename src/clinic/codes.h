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
#ifndef IH_CLINIC_CODES_H
#define IH_CLINIC_CODES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ih_code {
    const char *code;
    const char *name;
} ih_code;

typedef struct ih_code_table {
    const char *name; /* for messages: "诊疗科目 (subject) code" */
    const ih_code *codes;
    size_t n;
} ih_code_table;

extern const ih_code_table ih_codes_subject;
extern const ih_code_table ih_codes_title;
extern const ih_code_table ih_codes_cert_type;
extern const ih_code_table ih_codes_sex;
extern const ih_code_table ih_codes_drug_class;
extern const ih_code_table ih_codes_route;
extern const ih_code_table ih_codes_frequency;

/* The name for code, or NULL when code is not in the table. */
const char *ih_code_name(const ih_code_table *t, const char *code);

/* Which staff kind a title belongs to: "doctor", "pharmacist", "nurse",
 * "technician", or NULL. */
const char *ih_title_kind(const char *title_code);

/* A subject code's first level ("03.01" → "03"); out needs 3 bytes. */
void ih_subject_top(const char *code, char out[3]);

#endif
