/* demo.c — a synthetic hospital for demonstrations and tests (`ihos init
 * --demo`, `ihos demo seed`).  Everything goes through the same services
 * and validation as the API: an institution, departments with national
 * 诊疗科目 codes, 20 staff (12 doctors, 4 pharmacists, 4 nurses; one doctor
 * with too few years to be enabled online), a drug catalogue of ~100 items
 * imported as CSV (restricted ones included), a week of schedules, 200
 * patients (or as many as asked) registered as patients would (some under
 * 6, with guardians).
 *
 * The people are fictional: names drawn from common characters, ID numbers
 * with Tianjin district codes, made-up birth dates and a valid GB 11643
 * check character, phones from a made-up sequence.  Passwords and TOTP
 * secrets are random; they are returned for demo-credentials.json.
 */
#include "registry/clinic_impl.h"
#include "care/demo.h"

#include "core/clock.h"
#include "identity/totp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- synthetic people ---------------------------------------------------------------- */

static const char *const surnames[] = {"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴",
                                       "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"};
static const char *const given[] = {"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
                                    "涛", "明", "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "萍", "红",
                                    "建", "文", "晨", "宇", "欣", "怡", "浩", "然", "思", "雨", "子", "轩"};
static const char *const regions[] = {"120101", "120102", "120103", "120104", "120105", "120106"};

typedef struct {
    uint64_t s;
} rng;

static uint32_t next(rng *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL; /* PCG-style LCG: reproducible data */
    return (uint32_t)(r->s >> 33);
}

#define PICK(r, arr) arr[next(r) % (sizeof arr / sizeof arr[0])]

static void person_name(rng *r, char *out, size_t n)
{
    if (next(r) % 3) snprintf(out, n, "%s%s%s", PICK(r, surnames), PICK(r, given), PICK(r, given));
    else snprintf(out, n, "%s%s", PICK(r, surnames), PICK(r, given));
}

/* An 18-character ID: district, birth date, sequence (odd: male), check. */
static void person_id(rng *r, const char *birth, bool male, char out[19])
{
    char first[18];
    int seq = (int)(next(r) % 499) * 2 + (male ? 1 : 0);
    snprintf(first, sizeof first, "%s%.4s%.2s%.2s%03d", PICK(r, regions), birth, birth + 5, birth + 8, seq % 1000);
    memcpy(out, first, 17);
    out[17] = ih_idcard_check(first);
    out[18] = '\0';
}

static void birth_for_age(rng *r, const char *today, int age, char out[11])
{
    int y = atoi(today) - age, m = 1 + (int)(next(r) % 12), d = 1 + (int)(next(r) % 28);
    /* keep the birthday before today's date in the year, so the age is exact */
    char probe[11];
    snprintf(probe, sizeof probe, "%04d-%02d-%02d", atoi(today), m, d);
    if (strcmp(probe, today) > 0) {
        m = 1;
        d = 1;
    }
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

static void phone(rng *r, char out[12]) { snprintf(out, 12, "139%08u", next(r) % 100000000u); }

/* ---- accounts -------------------------------------------------------------------------- */

static ih_err staff_account(ih_clinic *c, const ih_viewer *v, const char *username, ih_role role, json_t *creds,
                            int64_t *account_id)
{
    char pw[24];
    uint8_t secret[20];
    char b32[40];
    IH_TRY(ih_password_generate(pw, 16));
    IH_TRY(ih_random(secret, sizeof secret));
    ih_base32_encode(secret, sizeof secret, b32, sizeof b32);
    ih_account_new n = {.username = username, .role = role, .active = true, .password = pw, .totp_secret = secret,
                        .totp_secret_len = sizeof secret};
    ih_err e = ih_identity_create(c->o.identity, &v->actor, &n, NULL, account_id);
    if (e == IH_OK)
        json_array_append_new(creds, json_pack("{s:s, s:s, s:s, s:s}", "username", username, "role", ih_role_name(role),
                                               "password", pw, "totp_secret", b32));
    ih_wipe(pw, sizeof pw);
    ih_wipe(secret, sizeof secret);
    return e;
}

/* ---- the hospital -------------------------------------------------------------------------- */

typedef struct {
    const char *code, *name, *subject, *kind;
} dep_def;

static const dep_def deps[] = {
    {"HX", "呼吸内科", "03.01", "clinical"},  {"XH", "消化内科", "03.02", "clinical"},
    {"XN", "心血管内科", "03.04", "clinical"}, {"NF", "内分泌科", "03.07", "clinical"},
    {"ER", "儿科", "07", "clinical"},          {"PF", "皮肤科", "13.01", "clinical"},
    {"JS", "精神心理科", "15.06", "clinical"}, {"YJ", "药剂科", "69", "pharmacy"},
    {"HL", "护理部", "69", "nursing"},
};

static ih_err seed_institution(ih_clinic *c, const ih_viewer *v)
{
    json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", "示例市第一人民医院", "ih_name",
                          "示例市第一人民医院互联网医院（演示）", "organ_id", "12345678901234567X", "unit_id", "U0001",
                          "licence_no", "DEMO-PDY00000-000000", "licence_valid_until", "2030-12-31", "ih_approval",
                          "示卫医政〔2026〕演示1号", "entity_hospital", "示例市第一人民医院", "address",
                          "天津市和平区示例路1号", "phone", "022-23456789", "intro",
                          "演示实例：以下机构、医生和患者均为虚构数据。");
    json_t *out = NULL;
    ih_err e = b ? ih_institution_put(c, v, b, &out) : ih_fail(IH_E_NOMEM, "demo");
    json_decref(b);
    json_decref(out);
    return e;
}

static ih_err seed_departments(ih_clinic *c, const ih_viewer *v, int64_t ids[])
{
    for (size_t i = 0; i < sizeof deps / sizeof deps[0]; i++) {
        char top[3];
        ih_subject_top(deps[i].subject, top);
        json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "code", deps[i].code, "name", deps[i].name, "subject_code",
                              deps[i].subject, "category_code", top, "kind", deps[i].kind);
        json_t *out = NULL;
        ih_err e = ih_department_create(c, v, b, &out);
        json_decref(b);
        if (e == IH_OK) ids[i] = json_integer_value(json_object_get(out, "id"));
        json_decref(out);
        IH_TRY(e);
    }
    return IH_OK;
}

typedef struct {
    ih_role role;
    const char *title;
    int years;
    int dep; /* index into deps */
} staff_def;

static const staff_def staff_defs[] = {
    {IH_ROLE_DOCTOR, "231", 25, 0}, {IH_ROLE_DOCTOR, "232", 15, 0}, {IH_ROLE_DOCTOR, "233", 8, 1},
    {IH_ROLE_DOCTOR, "232", 12, 1}, {IH_ROLE_DOCTOR, "231", 22, 2}, {IH_ROLE_DOCTOR, "233", 6, 2},
    {IH_ROLE_DOCTOR, "232", 11, 3}, {IH_ROLE_DOCTOR, "233", 5, 3},  {IH_ROLE_DOCTOR, "232", 14, 4},
    {IH_ROLE_DOCTOR, "233", 4, 5},  {IH_ROLE_DOCTOR, "231", 20, 6}, {IH_ROLE_DOCTOR, "234", 2, 4},
    {IH_ROLE_PHARMACIST, "242", 15, 7}, {IH_ROLE_PHARMACIST, "243", 9, 7}, {IH_ROLE_PHARMACIST, "243", 7, 7},
    {IH_ROLE_PHARMACIST, "244", 3, 7},  {IH_ROLE_NURSE, "253", 12, 8},     {IH_ROLE_NURSE, "254", 6, 8},
    {IH_ROLE_NURSE, "254", 5, 8},       {IH_ROLE_NURSE, "255", 2, 8},
};

static ih_err seed_staff(ih_clinic *c, const ih_viewer *v, rng *r, const int64_t dep_ids[], json_t *creds,
                         int64_t staff_ids[], const char *today)
{
    int nd = 0, np = 0, nn = 0;
    for (size_t i = 0; i < sizeof staff_defs / sizeof staff_defs[0]; i++) {
        const staff_def *d = &staff_defs[i];
        char username[32];
        int *k = d->role == IH_ROLE_DOCTOR ? &nd : d->role == IH_ROLE_PHARMACIST ? &np : &nn;
        snprintf(username, sizeof username, "%s%02d", d->role == IH_ROLE_DOCTOR ? "doctor" : ih_role_name(d->role), ++*k);
        int64_t account;
        IH_TRY(staff_account(c, v, username, d->role, creds, &account));
        char name[32], birth[11], id[19], qual[24], prac[24];
        person_name(r, name, sizeof name);
        bool male = next(r) % 2;
        birth_for_age(r, today, 26 + d->years + (int)(next(r) % 5), birth);
        person_id(r, birth, male, id);
        snprintf(qual, sizeof qual, "Q-DEMO-%06u", next(r) % 1000000u);
        snprintf(prac, sizeof prac, "P-DEMO-%06u", next(r) % 1000000u);
        const char *subject = deps[d->dep].subject;
        json_t *b = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:[I]}", "account_id",
                              (json_int_t)account, "name", name, "cert_type", "1", "cert_no", id, "sex", male ? "1" : "2",
                              "birth_date", birth, "title_code", d->title, "subject_code", subject, "qualification_no",
                              qual, "practice_no", prac, "practice_years", d->years, "insurance_policy",
                              "DEMO-INS-2026", "insurance_until", "2027-12-31", "departments",
                              (json_int_t)dep_ids[d->dep]);
        json_t *out = NULL;
        ih_err e = ih_staff_create(c, v, b, &out);
        json_decref(b);
        if (e == IH_OK) staff_ids[i] = json_integer_value(json_object_get(out, "id"));
        json_decref(out);
        IH_TRY(e);
        if (d->role == IH_ROLE_DOCTOR && d->years >= IH_MIN_PRACTICE_YEARS) {
            IH_TRY(ih_staff_set_online(c, v, staff_ids[i], true, "demo: qualifications checked", &out));
            json_decref(out);
        }
    }
    return IH_OK;
}

typedef struct {
    const char *name, *strength, *pack, *unit, *form, *cls, *restricted;
    int price_fen;
} drug_def;

static const drug_def drugs[] = {
    {"苯磺酸氨氯地平片", "5mg", "片", "盒", "片剂", "1", NULL, 2150},
    {"硝苯地平控释片", "30mg", "片", "盒", "片剂", "1", NULL, 3320},
    {"缬沙坦胶囊", "80mg", "粒", "盒", "胶囊剂", "1", NULL, 2780},
    {"厄贝沙坦片", "0.15g", "片", "盒", "片剂", "1", NULL, 1960},
    {"琥珀酸美托洛尔缓释片", "47.5mg", "片", "盒", "片剂", "1", NULL, 2590},
    {"盐酸二甲双胍片", "0.5g", "片", "盒", "片剂", "1", NULL, 980},
    {"格列美脲片", "2mg", "片", "盒", "片剂", "1", NULL, 1870},
    {"阿卡波糖片", "50mg", "片", "盒", "片剂", "1", NULL, 4210},
    {"阿托伐他汀钙片", "20mg", "片", "盒", "片剂", "1", NULL, 3560},
    {"瑞舒伐他汀钙片", "10mg", "片", "盒", "片剂", "1", NULL, 3190},
    {"阿司匹林肠溶片", "100mg", "片", "盒", "片剂", "1", NULL, 1550},
    {"硫酸氢氯吡格雷片", "75mg", "片", "盒", "片剂", "1", NULL, 4480},
    {"奥美拉唑肠溶胶囊", "20mg", "粒", "盒", "胶囊剂", "1", NULL, 1290},
    {"雷贝拉唑钠肠溶片", "10mg", "片", "盒", "片剂", "1", NULL, 3050},
    {"铝碳酸镁咀嚼片", "0.5g", "片", "盒", "片剂", "1", NULL, 1860},
    {"孟鲁司特钠片", "10mg", "片", "盒", "片剂", "1", NULL, 3680},
    {"沙丁胺醇吸入气雾剂", "100μg", "揿", "瓶", "气雾剂", "1", NULL, 2450},
    {"左甲状腺素钠片", "50μg", "片", "盒", "片剂", "1", NULL, 2230},
    {"甲巯咪唑片", "10mg", "片", "盒", "片剂", "1", NULL, 1640},
    {"头孢呋辛酯片", "0.25g", "片", "盒", "片剂", "1", NULL, 2860},
    {"阿莫西林胶囊", "0.25g", "粒", "盒", "胶囊剂", "1", NULL, 850},
    {"左氧氟沙星片", "0.5g", "片", "盒", "片剂", "1", NULL, 2170},
    {"氯雷他定片", "10mg", "片", "盒", "片剂", "1", NULL, 1520},
    {"盐酸西替利嗪片", "10mg", "片", "盒", "片剂", "1", NULL, 1830},
    {"布洛芬缓释胶囊", "0.3g", "粒", "盒", "胶囊剂", "1", NULL, 1390},
    {"对乙酰氨基酚片", "0.5g", "片", "盒", "片剂", "1", NULL, 690},
    {"碳酸钙D3片", "600mg", "片", "瓶", "片剂", "1", NULL, 2980},
    {"阿法骨化醇软胶囊", "0.25μg", "粒", "盒", "胶囊剂", "1", NULL, 3340},
    {"盐酸舍曲林片", "50mg", "片", "盒", "片剂", "1", NULL, 5620},
    {"草酸艾司西酞普兰片", "10mg", "片", "盒", "片剂", "1", NULL, 6190},
    {"盐酸坦索罗辛缓释胶囊", "0.2mg", "粒", "盒", "胶囊剂", "1", NULL, 4270},
    {"非那雄胺片", "5mg", "片", "盒", "片剂", "1", NULL, 3880},
    {"多潘立酮片", "10mg", "片", "盒", "片剂", "1", NULL, 1560},
    {"蒙脱石散", "3g", "袋", "盒", "散剂", "1", NULL, 1420},
    {"复方甘草酸苷片", "25mg", "片", "盒", "片剂", "1", NULL, 3970},
    {"他克莫司软膏", "0.1%:10g", "支", "盒", "软膏剂", "1", NULL, 9850},
    {"莫匹罗星软膏", "2%:5g", "支", "盒", "软膏剂", "1", NULL, 1890},
    {"玻璃酸钠滴眼液", "0.1%:5ml", "支", "盒", "滴眼剂", "1", NULL, 3260},
    {"复方丹参滴丸", "27mg", "丸", "瓶", "丸剂", "2", NULL, 2480},
    {"连花清瘟胶囊", "0.35g", "粒", "盒", "胶囊剂", "2", NULL, 1980},
    {"六味地黄丸", "0.2g", "丸", "瓶", "丸剂", "2", NULL, 1650},
    {"银杏叶片", "9.6mg", "片", "盒", "片剂", "2", NULL, 2370},
    {"速效救心丸", "40mg", "粒", "盒", "丸剂", "2", NULL, 2790},
    {"血塞通软胶囊", "0.33g", "粒", "盒", "胶囊剂", "2", NULL, 3120},
    {"黄芪", "10g", "袋", "袋", "饮片", "3", NULL, 420},
    {"当归", "10g", "袋", "袋", "饮片", "3", NULL, 560},
    {"党参", "10g", "袋", "袋", "饮片", "3", NULL, 480},
    {"甘草", "6g", "袋", "袋", "饮片", "3", NULL, 210},
    {"盐酸吗啡缓释片", "30mg", "片", "盒", "片剂", "1", "narcotic", 3850},
    {"芬太尼透皮贴剂", "4.2mg", "贴", "盒", "贴剂", "1", "narcotic", 26800},
    {"盐酸哌醋甲酯缓释片", "18mg", "片", "盒", "片剂", "1", "psychotropic1", 29900},
    {"地西泮片", "2.5mg", "片", "盒", "片剂", "1", "psychotropic2", 560},
    {"艾司唑仑片", "1mg", "片", "盒", "片剂", "1", "psychotropic2", 620},
    {"盐酸麻黄碱片", "25mg", "片", "瓶", "片剂", "1", "precursor", 1280},
};

static ih_err seed_drugs(ih_clinic *c, const ih_viewer *v)
{
    ih_buf csv = IH_BUF_INIT;
    ih_buf_puts(&csv, "hosp_code,national_code,name,spec,unit,manufacturer,dosage_form,drug_class,price,otc,restricted,"
                      "restricted_class\n");
    int n = 0;
    for (size_t i = 0; i < sizeof drugs / sizeof drugs[0]; i++) {
        const drug_def *d = &drugs[i];
        static const int packs[] = {7, 28};
        for (int k = 0; k < 2; k++) {
            char spec[64], price[24];
            snprintf(spec, sizeof spec, "%s*%d%s", d->strength, packs[k], d->pack);
            ih_money_text((int64_t)d->price_fen * (k ? 3 : 1), price, sizeof price);
            n++;
            ih_buf_printf(&csv, "H%04d,DEMO%06d,%s,%s,%s,示例制药有限公司（虚构）,%s,%s,%s,%d,%d,%s\n", n, 100000 + n, d->name,
                          spec, d->unit, d->form, d->cls, price, !d->restricted && d->cls[0] != '3' && n % 3 == 0,
                          d->restricted != NULL, d->restricted ? d->restricted : "");
        }
    }
    json_t *report = NULL;
    ih_err e = ih_drug_import_csv(c, v, csv.p, csv.len, &report);
    if (e == IH_OK && json_array_size(json_object_get(report, "errors")))
        e = ih_fail(IH_E_INTERNAL, "demo drug catalogue: %zu rows refused",
                    json_array_size(json_object_get(report, "errors")));
    json_decref(report);
    ih_buf_free(&csv);
    return e;
}

static ih_err seed_schedules(ih_clinic *c, const ih_viewer *v, rng *r, const int64_t dep_ids[], const int64_t staff_ids[])
{
    static const char *const starts[] = {"08:00", "13:30", "18:30"};
    static const char *const ends[] = {"12:00", "17:00", "21:00"};
    for (int day = 0; day < 7; day++) {
        time_t t = (time_t)((ih_now_ms() + (int64_t)c->o.utc_offset_minutes * 60000) / 1000) + (time_t)day * 86400;
        struct tm tm;
        gmtime_r(&t, &tm);
        char date[11];
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        for (size_t i = 0; i < sizeof staff_defs / sizeof staff_defs[0]; i++) {
            const staff_def *d = &staff_defs[i];
            if (d->role != IH_ROLE_DOCTOR || d->years < IH_MIN_PRACTICE_YEARS || (i + (size_t)day) % 2) continue;
            int slot = (int)(next(r) % 3);
            char fee[24], type[2] = {(char)('1' + next(r) % 3), 0};
            ih_money_text(d->title[2] == '1' ? 5000 : d->title[2] == '2' ? 3000 : 2000, fee, sizeof fee);
            json_t *b = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "staff_id", (json_int_t)staff_ids[i],
                                  "department_id", (json_int_t)dep_ids[d->dep], "day", date, "start_time", starts[slot],
                                  "end_time", ends[slot], "consult_type", type, "capacity", 20, "response_minutes",
                                  type[0] == '1' ? 30 : 15, "fee", fee);
            json_t *out = NULL;
            ih_err e = ih_schedule_create(c, v, b, &out);
            json_decref(b);
            json_decref(out);
            IH_TRY(e);
        }
    }
    return IH_OK;
}

/* Patients register themselves; two threads, since each hashes a password. */
typedef struct {
    ih_clinic *c;
    int from, to;
    uint64_t seed;
    const char *today;
    json_t *creds;
    pthread_mutex_t *mu;
    ih_err e;
} pat_job;

static void *patients_thread(void *arg)
{
    pat_job *j = arg;
    rng r = {j->seed};
    ih_actor seeder = {.id = 0, .role = "anonymous", .ip = NULL}; /* no address: the rate limit is for the network */
    for (int i = j->from; i < j->to && j->e == IH_OK; i++) {
        char username[32], pw[24], name[32], birth[11], id[19], ph[12];
        snprintf(username, sizeof username, "patient%03d", i + 1);
        ih_password_generate(pw, 16);
        person_name(&r, name, sizeof name);
        bool male = next(&r) % 2;
        int age = i % 20 == 7 ? 1 + (int)(next(&r) % 5) : 8 + (int)(next(&r) % 80);
        birth_for_age(&r, j->today, age, birth);
        person_id(&r, birth, male, id);
        phone(&r, ph);
        json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "username", username, "password",
                              pw, "name", name, "cert_type", "1", "cert_no", id, "sex", male ? "1" : "2", "birth_date",
                              birth, "phone", ph, "consents", "privacy", j->c->o.privacy_version, "agreement",
                              j->c->o.agreement_version);
        if (i % 4 == 0) json_object_set_new(b, "address", json_string("天津市南开区示例大街88号"));
        if (i % 5 == 0) json_object_set_new(b, "allergies", json_string("青霉素过敏"));
        if (age < 6) {
            char gname[32], gbirth[11], gid[19], gph[12];
            person_name(&r, gname, sizeof gname);
            birth_for_age(&r, j->today, 30 + (int)(next(&r) % 10), gbirth);
            person_id(&r, gbirth, next(&r) % 2, gid);
            phone(&r, gph);
            json_object_set_new(b, "guardian_name", json_string(gname));
            json_object_set_new(b, "guardian_cert_type", json_string("1"));
            json_object_set_new(b, "guardian_cert_no", json_string(gid));
            json_object_set_new(b, "guardian_phone", json_string(gph));
        }
        json_t *out = NULL;
        ih_err e = ih_patient_register(j->c, &seeder, b, &out);
        json_decref(b);
        json_decref(out);
        if (e == IH_E_EXISTS) { /* a random collision of ID numbers: skip this one */
            ih_wipe(pw, sizeof pw);
            continue;
        }
        if (e == IH_OK) {
            pthread_mutex_lock(j->mu);
            json_array_append_new(j->creds, json_pack("{s:s, s:s, s:s, s:n}", "username", username, "role", "patient",
                                                      "password", pw, "totp_secret"));
            pthread_mutex_unlock(j->mu);
        }
        ih_wipe(pw, sizeof pw);
        j->e = e;
    }
    return NULL;
}

typedef struct {
    int64_t n;
} count_arg;

static ih_err count_fn(ih_tx *tx, void *arg)
{
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT count(*) FROM staff", &st));
    IH_TRY(ih_stmt_step(st, &row));
    ((count_arg *)arg)->n = ih_col_int(st, 0);
    return IH_OK;
}

ih_err ih_demo_seed(ih_clinic *c, const ih_actor *operator, int patients, json_t **credentials)
{
    if (patients < IH_DEMO_PATIENTS_MIN || patients > IH_DEMO_PATIENTS_MAX)
        return ih_reject(IH_E_INVALID, NULL, "A demo has %d to %d patients.", IH_DEMO_PATIENTS_MIN, IH_DEMO_PATIENTS_MAX);
    count_arg ca = {0};
    IH_TRY(ih_store_read(c->o.store, count_fn, &ca));
    if (ca.n) return ih_reject(IH_E_STATE, NULL, "This instance already has staff: demo data goes into a new instance.");
    ih_viewer v = {.actor = *operator, .role = IH_ROLE_NONE};
    rng r = {20261122};
    char today[11];
    cl_today(c, today);
    json_t *creds = json_array();
    IH_CHECK_ALLOC(creds);
    int64_t dep_ids[sizeof deps / sizeof deps[0]];
    int64_t staff_ids[sizeof staff_defs / sizeof staff_defs[0]];
    ih_err e = seed_institution(c, &v);
    if (e == IH_OK) e = seed_departments(c, &v, dep_ids);
    if (e == IH_OK) e = seed_staff(c, &v, &r, dep_ids, creds, staff_ids, today);
    if (e == IH_OK) e = seed_drugs(c, &v);
    if (e == IH_OK) e = seed_schedules(c, &v, &r, dep_ids, staff_ids);
    if (e == IH_OK) e = cl_demo_seed_care(c, &v);
    if (e == IH_OK) {
        pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        int half = patients / 2;
        pat_job jobs[2] = {{c, 0, half, 7, today, creds, &mu, IH_OK}, {c, half, patients, 11, today, creds, &mu, IH_OK}};
        pthread_t th[2];
        int started = 0;
        for (; started < 2; started++)
            if (pthread_create(&th[started], NULL, patients_thread, &jobs[started]) != 0) break;
        if (started < 2) patients_thread(&jobs[1]); /* could not start the second: do it here */
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        e = jobs[0].e != IH_OK ? jobs[0].e : jobs[1].e;
    }
    if (e != IH_OK) {
        json_decref(creds);
        return e;
    }
    *credentials = creds;
    return IH_OK;
}
