/* selfcheck.c — see selfcheck.h. */
#include "compliance/selfcheck.h"

#include "core/clock.h"
#include "core/json.h"
#include "compliance/signed.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *id;       /* "8.1.4.1a" */
    const char *standard; /* "GB/T 22239-2019" | "GB/T 39786-2021" */
    const char *title;    /* what the assessor checks, in Chinese */
    double weight;        /* 22239: 1.0 key, 0.7 important, 0.4 general; 39786: 0 (counted apart) */
    const char *high_risk_if; /* when a failure is high-risk ("" never) */
} clause;

#define G22 "GB/T 22239-2019"
#define G39 "GB/T 39786-2021"

static const clause catalogue[] = {
    {"8.1.4.1a", G22, "身份鉴别：用户身份标识唯一，口令复杂度（≥8位、多类字符、不含用户名）并定期更换，无空口令", .7,
     "弱口令（少于6位、连续字符、字典词）或共享口令"},
    {"8.1.4.1b", G22, "身份鉴别：登录失败处理（限制次数、锁定）、结束会话、登录连接超时自动退出（10–15分钟）", .7, ""},
    {"8.1.4.1c", G22, "身份鉴别：远程管理时鉴别信息在网络传输中防窃听（TLS）", 1, "鉴别信息明文传输"},
    {"8.1.4.1d", G22, "身份鉴别：管理员和工作人员采用两种或两种以上组合鉴别技术，其中一种为密码技术", 1, "未采用双因素鉴别"},
    {"8.1.4.2a", G22, "访问控制：为登录用户分配账户和权限", .7, ""},
    {"8.1.4.2b", G22, "访问控制：重命名或删除默认账户，修改默认口令", .7, "公开的默认账户和口令"},
    {"8.1.4.2c", G22, "访问控制：及时删除或停用多余的、过期的账户，避免共享账户", .7, ""},
    {"8.1.4.2d", G22, "访问控制：最小权限，系统、安全、审计管理员权限分离、相互制约", .4, ""},
    {"8.1.4.2e", G22, "访问控制：由授权主体配置访问控制策略，默认无权限，无越权和不安全的直接对象引用", .4,
     "可利用的越权或不安全的直接对象引用"},
    {"8.1.4.2f", G22, "访问控制：主体为用户级，客体为表、记录或字段级", .4, ""},
    {"8.1.4.2g", G22, "访问控制：对重要主体和客体设置安全标记，并依标记控制访问", .4, ""},
    {"8.1.4.3a", G22, "安全审计：启用审计，覆盖每个用户，对重要行为和安全事件审计", .7, ""},
    {"8.1.4.3b", G22, "安全审计：审计记录包括日期时间、用户、客体、事件类型、结果", .4, ""},
    {"8.1.4.3c", G22, "安全审计：审计记录防删除、修改、覆盖，定期备份，在线可查询六个月以上", .4, "审计记录留存不足六个月"},
    {"8.1.4.3d", G22, "安全审计：审计进程不可被任何人中断", .4, ""},
    {"8.1.4.4c", G22, "入侵防范：通过终端接入方式或网络地址范围限制管理终端", .7, ""},
    {"8.1.4.4d", G22, "入侵防范：对人机接口和通信接口的输入进行有效性检验（无SQL注入、XSS、可执行文件上传；报错不泄露）", 1,
     "存在注入、跨站脚本或上传漏洞"},
    {"8.1.4.4e", G22, "入侵防范：发现并及时修补已知漏洞（依赖跟踪）", .7, "存在可被利用的已知漏洞"},
    {"8.1.4.6", G22, "可信验证：启动和关键执行环节对程序和配置进行可信验证，失败时报警", .4, ""},
    {"8.1.4.7a", G22, "数据完整性：重要数据在传输过程中的完整性（鉴别、业务、审计、配置、个人信息）", .7, ""},
    {"8.1.4.7b", G22, "数据完整性：重要数据在存储过程中的完整性，可检测篡改", 1, ""},
    {"8.1.4.8a", G22, "数据保密性：采用密码技术保证重要数据在传输过程中的保密性", 1, "明文传输"},
    {"8.1.4.8b", G22, "数据保密性：采用密码技术保证重要数据在存储过程中的保密性", 1, "明文存储"},
    {"8.1.4.9a", G22, "数据备份恢复：重要数据的本地备份与恢复", 1, "无备份，或备份至互联网网盘"},
    {"8.1.4.9b", G22, "数据备份恢复：利用通信网络将重要数据实时备份至备份场地（异地实时备份）", .7, ""},
    {"8.1.4.9c", G22, "数据备份恢复：重要数据处理系统的热冗余，保证高可用", 1, "业务连续性要求下无热冗余"},
    {"8.1.4.10", G22, "剩余信息保护：鉴别信息和敏感数据所在存储空间释放或重新分配前完全清除（含服务端注销、禁止缓存）", .7,
     ""},
    {"8.1.4.11a", G22, "个人信息保护：仅采集和保存业务必需的个人信息", 1, "违法违规收集个人信息"},
    {"8.1.4.11b", G22, "个人信息保护：禁止未授权访问和非法使用个人信息（脱敏，测试不用真实数据）", 1, "未授权访问或非法使用"},
    {"8.1.2.2", G22, "安全通信网络：通信传输的完整性和保密性（每条链路使用TLS）", .7, ""},
    {"8.1.5", G22, "安全管理中心：系统、审计、安全管理员通过经鉴别且被审计的接口分别管理；集中收集日志", .7, ""},
    {"39786-8.4a", G39, "身份鉴别：采用密码技术对登录用户进行身份鉴别（宜采用国密算法）", 0, "必测项不符合"},
    {"39786-8.4b", G39, "访问控制信息（权限、角色）存储完整性", 0, ""},
    {"39786-8.4c", G39, "重要信息资源安全标记完整性", 0, ""},
    {"39786-8.4d", G39, "重要数据传输机密性", 0, "必测项不符合"},
    {"39786-8.4e", G39, "重要数据存储机密性", 0, "必测项不符合"},
    {"39786-8.4f", G39, "重要数据传输完整性", 0, ""},
    {"39786-8.4g", G39, "重要数据存储完整性", 0, ""},
    {"39786-8.4h", G39, "不可否认性：重要行为（处方、病历）的数字签名", 0, ""},
};
#define NCLAUSES (sizeof catalogue / sizeof catalogue[0])

/* Host and network items: not the application's to prove. */
static const struct {
    const char *id, *title, *operator_shows;
} outside[] = {
    {"8.1.1", "安全物理环境", "机房门禁、监控、防雷防火防水、温湿度和电力记录（云上部署时为云服务商的等保证明）"},
    {"8.1.2.1", "网络架构", "网络拓扑、区域划分（数据库与应用分离的网段）、带宽与冗余设备"},
    {"8.1.3", "安全区域边界", "防火墙或安全组规则：只开放 HTTPS 入口，数据库与 etcd 不对外；入侵检测和访问控制日志"},
    {"8.1.4.4a-b", "主机入侵防范", "操作系统最小安装、补丁记录（debsecan/unattended-upgrades）、关闭无用服务和端口"},
    {"8.1.4.5", "恶意代码防范", "主机恶意代码防范软件或主动免疫可信验证机制的部署与更新记录"},
    {"8.1.4.3-host", "主机与数据库审计", "操作系统（auditd）和数据库（pgaudit）的审计配置与集中收集"},
    {"8.1.5-net", "集中管控", "日志服务器（syslog 汇聚、留存六个月以上）、网络设备与主机的集中监控"},
    {"8.2-8.5", "安全管理制度、机构、人员、建设与运维", "管理制度文件、人员与岗位职责、安全培训、变更与应急演练记录"},
};

typedef struct {
    ih_sc_verdict v;
    char *finding, *remedy;
    json_t *evidence;
    bool high_risk;
} result;

struct ih_sc_report {
    result items[NCLAUSES];
};

ih_err ih_sc_new(ih_sc_report **out)
{
    *out = calloc(1, sizeof **out);
    IH_CHECK_ALLOC(*out);
    return IH_OK;
}

void ih_sc_free(ih_sc_report *r)
{
    if (!r) return;
    for (size_t i = 0; i < NCLAUSES; i++) {
        free(r->items[i].finding);
        free(r->items[i].remedy);
        json_decref(r->items[i].evidence);
    }
    free(r);
}

static int find(const char *id)
{
    for (size_t i = 0; i < NCLAUSES; i++)
        if (!strcmp(catalogue[i].id, id)) return (int)i;
    return -1;
}

ih_err ih_sc_set(ih_sc_report *r, const char *id, ih_sc_verdict v, const char *finding, json_t *evidence,
                 const char *remedy, bool high_risk)
{
    int i = find(id);
    if (i < 0 || v == IH_SC_UNSET || !finding) {
        json_decref(evidence);
        return ih_fail(IH_E_INTERNAL, "self-check: no clause %s in the catalogue", id);
    }
    result *it = &r->items[i];
    free(it->finding);
    free(it->remedy);
    json_decref(it->evidence);
    it->v = v;
    it->finding = strdup(finding);
    it->remedy = remedy && v != IH_SC_PASS ? strdup(remedy) : NULL;
    it->evidence = evidence ? evidence : json_object();
    it->high_risk = high_risk && v == IH_SC_FAIL;
    if (!it->finding || !it->evidence || (remedy && v != IH_SC_PASS && !it->remedy))
        return ih_fail(IH_E_NOMEM, "out of memory");
    return IH_OK;
}

static const char *verdict_zh(ih_sc_verdict v)
{
    switch (v) {
    case IH_SC_PASS: return "符合";
    case IH_SC_PARTIAL: return "部分符合";
    case IH_SC_FAIL: return "不符合";
    case IH_SC_NA: return "不适用";
    default: return "未检查";
    }
}

static const char *verdict_code(ih_sc_verdict v)
{
    switch (v) {
    case IH_SC_PASS: return "pass";
    case IH_SC_PARTIAL: return "partial";
    case IH_SC_FAIL: return "fail";
    case IH_SC_NA: return "na";
    default: return "unset";
    }
}

ih_err ih_sc_finish(ih_sc_report *r, const char *instance, int64_t now_ms, json_t **out)
{
    for (size_t i = 0; i < NCLAUSES; i++)
        if (r->items[i].v == IH_SC_UNSET) return ih_fail(IH_E_INTERNAL, "self-check: %s was not evaluated", catalogue[i].id);
    json_t *items = json_array(), *hr = json_array(), *outs = json_array();
    double wsum = 0, ssum = 0;
    int count[2][5] = {{0}}; /* [22239 | 39786][verdict] */
    for (size_t i = 0; i < NCLAUSES; i++) {
        const clause *c = &catalogue[i];
        const result *it = &r->items[i];
        bool g39 = c->weight == 0;
        count[g39][it->v]++;
        if (!g39 && it->v != IH_SC_NA) {
            wsum += c->weight;
            ssum += c->weight * (it->v == IH_SC_PASS ? 1.0 : it->v == IH_SC_PARTIAL ? 0.5 : 0.0);
        }
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:b}", "id", c->id, "standard", c->standard,
                              "title", c->title, "high_risk_if", c->high_risk_if, "verdict", verdict_zh(it->v),
                              "verdict_code", verdict_code(it->v), "finding", it->finding, "evidence", it->evidence,
                              "high_risk", it->high_risk);
        if (!o) continue;
        if (!g39) json_object_set_new(o, "weight", json_real(c->weight));
        if (it->remedy) json_object_set_new(o, "remedy", json_string(it->remedy));
        if (it->high_risk)
            json_array_append_new(hr, json_pack("{s:s, s:s, s:s, s:s}", "id", c->id, "title", c->title, "finding",
                                                it->finding, "remedy", it->remedy ? it->remedy : ""));
        json_array_append_new(items, o);
    }
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
        json_array_append_new(outs, json_pack("{s:s, s:s, s:s}", "id", outside[i].id, "title", outside[i].title,
                                              "operator_shows", outside[i].operator_shows));
    char when[32];
    ih_time_iso(now_ms, when, sizeof when);
    double estimate = wsum > 0 ? ssum / wsum : 0;
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:{s:f, s:s, s:i, s:{s:i, s:i, s:i, s:i}, s:{s:i, s:i, s:i, s:i}}, s:o, s:o, s:o}",
        "format", "ihos-selfcheck/1", "instance", instance, "generated_at", when, "summary", "estimate",
        (double)((long)(estimate * 1000 + 0.5)) / 1000, "method",
        "22239 适用项加权：符合1、部分符合0.5、不符合0；39786 项单独统计", "high_risk", (int)json_array_size(hr),
        "gb22239", "pass", count[0][IH_SC_PASS], "partial", count[0][IH_SC_PARTIAL], "fail", count[0][IH_SC_FAIL],
        "na", count[0][IH_SC_NA], "gb39786", "pass", count[1][IH_SC_PASS], "partial", count[1][IH_SC_PARTIAL],
        "fail", count[1][IH_SC_FAIL], "na", count[1][IH_SC_NA], "high_risk_findings", hr, "items", items,
        "outside_application", outs);
    IH_CHECK_ALLOC(doc);
    *out = doc;
    return IH_OK;
}

size_t ih_sc_clause_count(void) { return NCLAUSES; }
const char *ih_sc_clause_id(size_t i) { return i < NCLAUSES ? catalogue[i].id : NULL; }

bool ih_sc_has_high_risk(const json_t *report)
{
    return json_array_size(json_object_get(report, "high_risk_findings")) > 0;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

ih_err ih_sc_html(const json_t *report, ih_buf *out)
{
    const json_t *sum = json_object_get(report, "summary");
    char est[32];
    snprintf(est, sizeof est, "%.1f%%", json_real_value(json_object_get(sum, "estimate")) * 100);
    /* a standalone file: the style is inline, allowed by its hash alone */
    static const char style[] = "body{font-family:sans-serif;margin:2em;font-size:12pt}table{border-collapse:collapse;"
                                "width:100%}td,th{border:1px solid #888;padding:4px;vertical-align:top}"
                                "pre{white-space:pre-wrap;font-size:9pt;margin:0}.fail{color:#b00;font-weight:bold}"
                                ".partial{color:#a60}.pass{color:#070}.na{color:#555}";
    IH_TRY(ih_html_page_head(out, "等级保护第三级自查报告", style, false));
    IH_TRY(ih_buf_puts(out, "<h1>网络安全等级保护第三级 应用系统自查报告</h1>\n"));
    IH_TRY(ih_buf_puts(out, "<p>"));
    IH_TRY(ih_html_cell(out, "span", NULL, "实例："));
    IH_TRY(ih_html_cell(out, "b", NULL, str(report, "instance")));
    IH_TRY(ih_html_cell(out, "span", NULL, "　生成时间（UTC）："));
    IH_TRY(ih_html_cell(out, "span", NULL, str(report, "generated_at")));
    IH_TRY(ih_buf_puts(out, "</p>\n<p>"));
    IH_TRY(ih_html_cell(out, "span", NULL, "GB/T 22239-2019 加权符合度估算："));
    IH_TRY(ih_html_cell(out, "b", NULL, est));
    IH_TRY(ih_html_cell(out, "span", NULL, "（"));
    IH_TRY(ih_html_cell(out, "span", NULL, str(sum, "method")));
    IH_TRY(ih_buf_printf(out, "）；高风险项 %d 个。</p>\n",
                         (int)json_integer_value(json_object_get(sum, "high_risk"))));
    const json_t *hr = json_object_get(report, "high_risk_findings");
    IH_TRY(ih_buf_puts(out, "<h2>高风险问题</h2>\n"));
    if (!json_array_size(hr)) IH_TRY(ih_buf_puts(out, "<p>未发现高风险问题。</p>\n"));
    else {
        IH_TRY(ih_buf_puts(out, "<table><tr><th>条款</th><th>发现</th><th>整改建议</th></tr>\n"));
        size_t i;
        json_t *h;
        json_array_foreach(hr, i, h) {
            IH_TRY(ih_buf_puts(out, "<tr>"));
            IH_TRY(ih_html_cell(out, "td", NULL, str(h, "id")));
            IH_TRY(ih_html_cell(out, "td", "fail", str(h, "finding")));
            IH_TRY(ih_html_cell(out, "td", NULL, str(h, "remedy")));
            IH_TRY(ih_buf_puts(out, "</tr>\n"));
        }
        IH_TRY(ih_buf_puts(out, "</table>\n"));
    }
    IH_TRY(ih_buf_puts(out, "<h2>逐项结果</h2>\n<table><tr><th>条款</th><th>测评内容</th><th>权重</th><th>结论</th>"
                            "<th>发现与证据</th><th>整改建议</th></tr>\n"));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(report, "items"), i, it) {
        char w[16] = "—";
        if (json_object_get(it, "weight")) snprintf(w, sizeof w, "%.1f", json_real_value(json_object_get(it, "weight")));
        IH_TRY(ih_buf_puts(out, "<tr>"));
        IH_TRY(ih_html_cell(out, "td", NULL, str(it, "id")));
        IH_TRY(ih_html_cell(out, "td", NULL, str(it, "title")));
        IH_TRY(ih_html_cell(out, "td", NULL, w));
        IH_TRY(ih_html_cell(out, "td", str(it, "verdict_code"), str(it, "verdict")));
        ih_buf ev = IH_BUF_INIT;
        ih_err e = ih_json_dump(json_object_get(it, "evidence"), JSON_INDENT(1) | JSON_SORT_KEYS, &ev);
        if (e == IH_OK) e = ih_buf_puts(out, "<td>");
        if (e == IH_OK) e = ih_buf_html_escape(out, str(it, "finding"));
        if (e == IH_OK) e = ih_buf_puts(out, "<pre>");
        if (e == IH_OK) e = ih_buf_html_escape(out, ev.p ? ev.p : "");
        ih_buf_free(&ev);
        IH_TRY(e);
        IH_TRY(ih_buf_puts(out, "</pre></td>"));
        IH_TRY(ih_html_cell(out, "td", NULL, str(it, "remedy")));
        IH_TRY(ih_buf_puts(out, "</tr>\n"));
    }
    IH_TRY(ih_buf_puts(out, "</table>\n<h2>应用系统以外的测评项（由运营方提供证明）</h2>\n<table><tr><th>条款</th>"
                            "<th>内容</th><th>运营方应提供</th></tr>\n"));
    json_array_foreach(json_object_get(report, "outside_application"), i, it) {
        IH_TRY(ih_buf_puts(out, "<tr>"));
        IH_TRY(ih_html_cell(out, "td", NULL, str(it, "id")));
        IH_TRY(ih_html_cell(out, "td", NULL, str(it, "title")));
        IH_TRY(ih_html_cell(out, "td", NULL, str(it, "operator_shows")));
        IH_TRY(ih_buf_puts(out, "</tr>\n"));
    }
    return ih_buf_puts(out, "</table>\n<p>本报告由 ihos selfcheck 依据运行中实例的配置与数据生成；结论为自查估算，"
                            "以测评机构的测评结论为准。</p>\n</body></html>\n");
}
