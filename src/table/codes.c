/* codes.c — see codes.h.  Keep every table sorted by strcmp of its codes
 * (tests/unit/test_registry.c checks). */
#include "table/codes.h"

#include <stdio.h>
#include <string.h>

#define TABLE(var, key, label, arr) const ih_code_table var = {key, label, arr, sizeof arr / sizeof arr[0]}

static const ih_code subject[] = {
    {"01", "预防保健科"},
    {"02", "全科医疗科"},
    {"03", "内科"},
    {"03.01", "呼吸内科专业"},
    {"03.02", "消化内科专业"},
    {"03.03", "神经内科专业"},
    {"03.04", "心血管内科专业"},
    {"03.05", "血液内科专业"},
    {"03.06", "肾病学专业"},
    {"03.07", "内分泌专业"},
    {"03.08", "免疫学专业"},
    {"03.09", "变态反应专业"},
    {"03.10", "老年病专业"},
    {"03.11", "其他"},
    {"04", "外科"},
    {"04.01", "普通外科专业"},
    {"04.02", "神经外科专业"},
    {"04.03", "骨科专业"},
    {"04.04", "泌尿外科专业"},
    {"04.05", "胸外科专业"},
    {"04.06", "心脏大血管外科专业"},
    {"04.07", "烧伤科专业"},
    {"04.08", "整形外科专业"},
    {"04.09", "其他"},
    {"05", "妇产科"},
    {"05.01", "妇科专业"},
    {"05.02", "产科专业"},
    {"05.03", "计划生育专业"},
    {"05.04", "优生学专业"},
    {"05.05", "生殖健康与不孕症专业"},
    {"05.06", "其他"},
    {"06", "妇女保健科"},
    {"07", "儿科"},
    {"07.01", "新生儿专业"},
    {"07.02", "小儿传染病专业"},
    {"07.03", "小儿消化专业"},
    {"07.04", "小儿呼吸专业"},
    {"07.05", "小儿心脏病专业"},
    {"07.06", "小儿肾病专业"},
    {"07.07", "小儿血液病专业"},
    {"07.08", "小儿神经病学专业"},
    {"07.09", "小儿内分泌专业"},
    {"07.10", "小儿遗传病专业"},
    {"07.11", "小儿免疫专业"},
    {"07.12", "其他"},
    {"08", "小儿外科"},
    {"09", "儿童保健科"},
    {"10", "眼科"},
    {"11", "耳鼻咽喉科"},
    {"12", "口腔科"},
    {"13", "皮肤科"},
    {"13.01", "皮肤病专业"},
    {"13.02", "性传播疾病专业"},
    {"14", "医疗美容科"},
    {"15", "精神科"},
    {"15.01", "精神病专业"},
    {"15.02", "精神卫生专业"},
    {"15.03", "药物依赖专业"},
    {"15.04", "精神康复专业"},
    {"15.05", "社区防治专业"},
    {"15.06", "临床心理专业"},
    {"15.07", "司法精神专业"},
    {"16", "传染科"},
    {"17", "结核病科"},
    {"18", "地方病科"},
    {"19", "肿瘤科"},
    {"20", "急诊医学科"},
    {"21", "康复医学科"},
    {"22", "运动医学科"},
    {"23", "职业病科"},
    {"24", "临终关怀科"},
    {"25", "特种医学与军事医学科"},
    {"26", "麻醉科"},
    {"27", "疼痛科"},
    {"28", "重症医学科"},
    {"30", "医学检验科"},
    {"31", "病理科"},
    {"32", "医学影像科"},
    {"50", "中医科"},
    {"51", "民族医学科"},
    {"52", "中西医结合科"},
    {"69", "其他业务科室"},
};
TABLE(ih_codes_subject, "subject", "诊疗科目 (subject)", subject);

static const ih_code title[] = {
    {"231", "主任医师"}, {"232", "副主任医师"}, {"233", "主治医师"}, {"234", "医师"}, {"235", "医士"},
    {"241", "主任药师"}, {"242", "副主任药师"}, {"243", "主管药师"}, {"244", "药师"}, {"245", "药士"},
    {"251", "主任护师"}, {"252", "副主任护师"}, {"253", "主管护师"}, {"254", "护师"}, {"255", "护士"},
    {"261", "主任技师"}, {"262", "副主任技师"}, {"263", "主管技师"}, {"264", "技师"}, {"265", "技士"},
};
TABLE(ih_codes_title, "title", "职称 (title)", title);

static const ih_code cert_type[] = {
    {"1", "居民身份证"}, {"2", "护照"}, {"3", "军官证"}, {"4", "台胞证"}, {"5", "回乡证"}, {"99", "其他"},
};
TABLE(ih_codes_cert_type, "cert_type", "证件类型 (certificate type)", cert_type);

static const ih_code sex[] = {{"0", "未知"}, {"1", "男"}, {"2", "女"}};
TABLE(ih_codes_sex, "sex", "性别 (sex)", sex);

static const ih_code drug_class[] = {{"1", "西药"}, {"2", "中成药"}, {"3", "中药饮片"}};
TABLE(ih_codes_drug_class, "drug_class", "药品分类 (drug class)", drug_class);

static const ih_code route[] = {
    {"1", "口服"},         {"2", "直肠用药"},     {"3", "舌下用药"},       {"4", "注射用药"},
    {"401", "皮下注射"},   {"402", "皮内注射"},   {"403", "肌肉注射"},     {"404", "静脉注射或静脉滴注"},
    {"5", "吸入用药"},     {"6", "局部用药"},     {"601", "椎管内用药"},   {"602", "关节腔内用药"},
    {"603", "胸膜腔用药"}, {"604", "腹腔用药"},   {"605", "阴道用药"},     {"606", "气管内用药"},
    {"607", "滴眼"},       {"608", "滴鼻"},       {"609", "喷喉"},         {"610", "含化"},
    {"611", "敷伤口"},     {"612", "擦皮肤"},     {"699", "其他局部用药途径"}, {"9", "其他用药途径"},
};
TABLE(ih_codes_route, "route", "用药途径 (route, CV06.00.102)", route);

static const ih_code frequency[] = {
    {"bid", "每日两次"}, {"biw", "每周两次"}, {"prn", "必要时"},   {"q12h", "每12小时一次"},
    {"q6h", "每6小时一次"}, {"q8h", "每8小时一次"}, {"qd", "每日一次"}, {"qid", "每日四次"},
    {"qn", "每晚一次"},  {"qod", "隔日一次"}, {"qw", "每周一次"}, {"st", "立即"},
    {"tid", "每日三次"},
};
TABLE(ih_codes_frequency, "frequency", "用药频次 (frequency)", frequency);

/* ---- the hospital's own tables ------------------------------------------------------------ */

static const ih_code visit_kind[] = {{"consult", "咨询"}, {"followup", "复诊"}};
TABLE(ih_codes_visit_kind, "visit_kind", "就诊类型 (visit kind)", visit_kind);

static const ih_code attribute[] = {{"1", "医疗咨询"}, {"2", "报告解读"}, {"3", "药事咨询"}, {"4", "护理咨询"}, {"9", "其他"}};
TABLE(ih_codes_attribute, "attribute", "咨询属性 (consultation attribute)", attribute);

static const ih_code consult_type[] = {{"1", "图文"}, {"2", "电话"}, {"3", "视频"}};
TABLE(ih_codes_consult_type, "consult_type", "问诊方式 (consultation type)", consult_type);

static const ih_code department_kind[] = {{"clinical", "临床科室"}, {"medoffice", "医务管理部门"}, {"medtech", "医技科室"}, {"nursing", "护理单元"},
                                          {"pharmacy", "药学部门"}};
TABLE(ih_codes_department_kind, "department_kind", "科室类别 (department kind)", department_kind);

static const ih_code restricted_class[] = {
    {"narcotic", "麻醉药品"},       {"other", "其他特殊管理药品"},   {"precursor", "药品类易制毒化学品"},
    {"psychotropic1", "第一类精神药品"}, {"psychotropic2", "第二类精神药品"}, {"radioactive", "放射性药品"},
    {"toxic", "医疗用毒性药品"},
};
TABLE(ih_codes_restricted_class, "restricted_class", "特殊管理药品类别 (restricted class)", restricted_class);

static const ih_code payment_channel[] = {{"alipay", "支付宝"}, {"cash", "现金"}, {"insurance", "医保"},
                                          {"unionpay", "银联"}, {"wechat", "微信"}};
TABLE(ih_codes_payment_channel, "payment_channel", "支付渠道 (payment channel)", payment_channel);

static const ih_code damage_degree[] = {{"1", "无损害"}, {"2", "轻度损害"}, {"3", "中度损害"}, {"4", "重度损害"},
                                        {"5", "死亡"}};
TABLE(ih_codes_damage_degree, "damage_degree", "损害程度 (damage degree)", damage_degree);

static const ih_code adverse_kind[] = {{"1", "医疗"}, {"2", "药品"}, {"3", "护理"}, {"4", "信息安全"}, {"9", "其他"}};
TABLE(ih_codes_adverse_kind, "adverse_kind", "不良事件类别 (adverse event kind)", adverse_kind);

static const ih_code media_kind[] = {{"phone", "电话"}, {"video", "视频"}};
TABLE(ih_codes_media_kind, "media_kind", "音视频方式 (media kind)", media_kind);

/* what the two browsers of a call on system B pass each other through ihosd */
static const ih_code av_signal[] = {{"answer", "应答"}, {"bye", "离开"}, {"hello", "加入"}, {"offer", "呼叫"}};
TABLE(ih_codes_av_signal, "av_signal_kind", "音视频信令 (call signal)", av_signal);

/* remote care between institutions (远程医疗服务管理规范（试行）, WS/T 529-2016) */
static const ih_code remote_type[] = {{"consult", "远程会诊"},    {"ecg", "远程心电诊断"},       {"imaging", "远程影像诊断"},
                                       {"mdt", "多学科远程会诊"}, {"outpatient", "远程门诊"}, {"pathology", "远程病理诊断"}};
TABLE(ih_codes_consult_kind, "remote_type", "远程医疗服务类型 (remote care type)", remote_type);
static const ih_code material_kind[] = {{"ecg", "心电图"}, {"record", "病历"}, {"result", "检验检查结果"}, {"study", "影像检查"}};
TABLE(ih_codes_material_kind, "remote_material", "会诊资料类型 (consultation material)", material_kind);
static const ih_code consent_by[] = {{"guardian", "监护人"}, {"patient", "患者本人"}};
TABLE(ih_codes_consent_by, "consent_by", "知情同意人 (consent given by)", consent_by);

static const ih_code bg_verdict[] = {{"justified", "理由成立"}, {"unjustified", "理由不成立"}};
TABLE(ih_codes_bg_verdict, "review_verdict", "破窗复核结论 (break-glass review verdict)", bg_verdict);

static const ih_code stats_report[] = {{"doctor_prescribing", "按医生统计处方量与金额"},
                                       {"drug_usage", "按药品统计用量与金额"}};
TABLE(ih_codes_stats_report, "stats_report", "统计报表 (statistics report)", stats_report);

static const ih_code delivery_type[] = {{"0", "医院药房自取"}, {"1", "配送到家"}, {"2", "院外药房"}};
TABLE(ih_codes_delivery_type, "delivery_type", "配送方式 (delivery type)", delivery_type);

static const ih_code allergy_class[] = {
    {"aminoglycoside", "氨基糖苷类"}, {"cephalosporin", "头孢菌素类"}, {"contrast_iodine", "碘造影剂"},
    {"macrolide", "大环内酯类"},      {"nsaid", "非甾体抗炎药"},      {"penicillin", "青霉素类"},
    {"quinolone", "喹诺酮类"},        {"sulfonamide", "磺胺类"},      {"tetracycline", "四环素类"},
};
TABLE(ih_codes_allergy_class, "allergy_class", "药物过敏类别 (drug allergy class)", allergy_class);

const ih_code_table *const ih_code_tables[] = {
    &ih_codes_subject,        &ih_codes_title,          &ih_codes_cert_type,      &ih_codes_sex,
    &ih_codes_drug_class,     &ih_codes_route,          &ih_codes_frequency,      &ih_codes_visit_kind,
    &ih_codes_attribute,      &ih_codes_consult_type,   &ih_codes_department_kind, &ih_codes_restricted_class,
    &ih_codes_payment_channel, &ih_codes_damage_degree, &ih_codes_adverse_kind,   &ih_codes_media_kind, &ih_codes_av_signal, &ih_codes_consult_kind, &ih_codes_material_kind, &ih_codes_consent_by,
    &ih_codes_bg_verdict,     &ih_codes_stats_report,   &ih_codes_delivery_type,  &ih_codes_allergy_class,
};
const size_t ih_code_tables_count = sizeof ih_code_tables / sizeof ih_code_tables[0];

const ih_code_table *ih_code_table_find(const char *key)
{
    for (size_t i = 0; key && i < ih_code_tables_count; i++)
        if (!strcmp(ih_code_tables[i]->key, key)) return ih_code_tables[i];
    return NULL;
}

void ih_code_hint(const ih_code_table *t, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    if (t->n <= 8) {
        for (size_t i = 0; i < t->n && used < n; i++) {
            int k = snprintf(out + used, n - used, "%s%s %s", i ? ", " : "", t->codes[i].code, t->codes[i].name);
            if (k < 0) break;
            used += (size_t)k;
        }
        if (used < n) {
            int k = snprintf(out + used, n - used, "; ");
            if (k > 0) used += (size_t)k;
        }
    }
    if (used < n) snprintf(out + used, n - used, "the table: GET /api/v1/codes/%s", t->key);
}

ih_err ih_code_reject(const ih_code_table *t, const char *field)
{
    char hint[512];
    ih_code_hint(t, hint, sizeof hint);
    return ih_reject(IH_E_INVALID, field, "Field '%s' must be a %s code: %s.", field, t->name, hint);
}

const char *ih_code_name(const ih_code_table *t, const char *code)
{
    if (!code) return NULL;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(code, t->codes[mid].code);
        if (c == 0) return t->codes[mid].name;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *ih_title_kind(const char *t)
{
    if (!ih_code_name(&ih_codes_title, t)) return NULL;
    switch (t[1]) {
    case '3': return "doctor";
    case '4': return "pharmacist";
    case '5': return "nurse";
    case '6': return "technician";
    default: return NULL;
    }
}

void ih_subject_top(const char *code, char out[3])
{
    out[0] = code && code[0] ? code[0] : '\0';
    out[1] = code && code[0] ? code[1] : '\0';
    out[2] = '\0';
}
