/* public_page.c — GET / and /about: the 亮证 page, HTML readable on a
 * phone, built live from the registry; GET /api/v1/public: the same as
 * JSON.  Every value is HTML-escaped; the page carries no script, and its
 * Content-Security-Policy allows only its own inline stylesheet (by hash). */
#include "api/api.h"

#include "core/log.h"
#include "crypto/suite.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char css[] =
    "body{font-family:system-ui,'PingFang SC','Noto Sans CJK SC',sans-serif;margin:0;color:#1f2328;background:#f6f8fa}"
    "header{background:#0b5cad;color:#fff;padding:16px}h1{font-size:1.3em;margin:0}h2{font-size:1.1em;margin:0 0 8px}"
    "main{max-width:860px;margin:auto;padding:8px}section{background:#fff;border-radius:8px;padding:12px;margin:10px 0}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0}dt{color:#57606a}dd{margin:0}"
    "table{border-collapse:collapse;width:100%;font-size:.92em}td,th{border-bottom:1px solid #d0d7de;padding:4px;"
    "text-align:left;vertical-align:top}.doc{border-top:1px solid #d0d7de;padding-top:8px;margin-top:8px}"
    ".muted{color:#57606a;font-size:.9em}.sub{color:#dbe9ff;font-size:.9em}footer{text-align:center;color:#57606a;font-size:.8em;padding:12px}";

static char csp[256];
static pthread_once_t csp_once = PTHREAD_ONCE_INIT;

static void make_csp(void)
{
    uint8_t h[32];
    char b64[48];
    if (ih_digest(IH_MD_SHA256, css, strlen(css), h) != IH_OK) return; /* csp stays empty: page refused */
    ih_b64_encode(h, 32, b64);
    snprintf(csp, sizeof csp,
             "default-src 'none'; style-src 'sha256-%s'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
             b64);
}

static void esc(ih_buf *b, const char *s) { ih_buf_html_escape(b, s ? s : ""); }
static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void item(ih_buf *b, const char *label, const char *value)
{
    ih_buf_puts(b, "<dt>");
    esc(b, label);
    ih_buf_puts(b, "</dt><dd>");
    esc(b, value && *value ? value : "—");
    ih_buf_puts(b, "</dd>");
}

static void render(ih_buf *b, json_t *info)
{
    json_t *inst = json_object_get(info, "institution");
    const char *title = json_is_object(inst) ? str(inst, "ih_name") : NULL;
    ih_buf_puts(b, "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    esc(b, title ? title : "互联网医院");
    ih_buf_printf(b, "</title><style>%s</style></head><body><header><h1>", css);
    esc(b, title ? title : "互联网医院");
    ih_buf_puts(b, "</h1><div class=\"sub\">亮证经营 · 执业信息公示</div></header><main>");

    ih_buf_puts(b, "<section><h2>机构信息</h2>");
    if (json_is_object(inst)) {
        ih_buf_puts(b, "<dl>");
        item(b, "医疗机构名称", str(inst, "name"));
        item(b, "依托实体医院", str(inst, "entity_hospital"));
        item(b, "医疗机构执业许可证", str(inst, "licence_no"));
        item(b, "许可证有效期至", str(inst, "licence_valid_until"));
        item(b, "互联网医院批准文号", str(inst, "ih_approval"));
        item(b, "组织机构代码", str(inst, "organ_id"));
        item(b, "地址", str(inst, "address"));
        item(b, "电话", str(inst, "phone"));
        ih_buf_puts(b, "</dl>");
        if (str(inst, "intro")) {
            ih_buf_puts(b, "<p>");
            esc(b, str(inst, "intro"));
            ih_buf_puts(b, "</p>");
        }
    } else
        ih_buf_puts(b, "<p class=\"muted\">机构信息尚未登记。</p>");
    ih_buf_puts(b, "</section>");

    ih_buf_puts(b, "<section><h2>诊疗科目与科室</h2><table><tr><th>科室</th><th>诊疗科目</th></tr>");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(info, "departments"), i, d)
    {
        ih_buf_puts(b, "<tr><td>");
        esc(b, str(d, "name"));
        ih_buf_puts(b, "</td><td>");
        esc(b, str(d, "subject_code"));
        ih_buf_puts(b, " ");
        esc(b, str(d, "subject"));
        ih_buf_puts(b, "</td></tr>");
    }
    ih_buf_puts(b, "</table></section>");

    json_t *week = json_object_get(info, "week");
    ih_buf_puts(b, "<section><h2>在线出诊医生、排班、响应时间与收费</h2><p class=\"muted\">");
    esc(b, str(week, "from"));
    ih_buf_puts(b, " 至 ");
    esc(b, str(week, "to"));
    ih_buf_puts(b, "</p>");
    json_array_foreach(json_object_get(info, "doctors"), i, d)
    {
        ih_buf_puts(b, "<div class=\"doc\"><b>");
        esc(b, str(d, "name"));
        ih_buf_puts(b, "</b> ");
        esc(b, str(d, "title"));
        ih_buf_puts(b, "<dl>");
        ih_buf deps = IH_BUF_INIT;
        size_t k;
        json_t *x;
        json_array_foreach(json_object_get(d, "departments"), k, x)
        {
            if (k) ih_buf_puts(&deps, "、");
            ih_buf_puts(&deps, json_string_value(x));
        }
        item(b, "科室", deps.p);
        ih_buf_free(&deps);
        item(b, "执业科目", str(d, "subject"));
        item(b, "执业证书编码", str(d, "practice_no"));
        if (str(d, "intro")) item(b, "擅长", str(d, "intro"));
        ih_buf_puts(b, "</dl>");
        json_t *shifts = json_object_get(d, "schedules");
        if (!json_array_size(shifts))
            ih_buf_puts(b, "<p class=\"muted\">本周暂无排班</p>");
        else {
            ih_buf_puts(b, "<table><tr><th>日期</th><th>时段</th><th>方式</th><th>承诺响应</th><th>费用(元)</th></tr>");
            json_array_foreach(shifts, k, x)
            {
                ih_buf_puts(b, "<tr><td>");
                esc(b, str(x, "day"));
                ih_buf_puts(b, "</td><td>");
                esc(b, str(x, "start_time"));
                ih_buf_puts(b, "–");
                esc(b, str(x, "end_time"));
                ih_buf_puts(b, "</td><td>");
                esc(b, str(x, "consult_type"));
                ih_buf_printf(b, "</td><td>%lld 分钟内</td><td>",
                              (long long)json_integer_value(json_object_get(x, "response_minutes")));
                esc(b, str(x, "fee"));
                ih_buf_puts(b, "</td></tr>");
            }
            ih_buf_puts(b, "</table>");
        }
        ih_buf_puts(b, "</div>");
    }
    if (!json_array_size(json_object_get(info, "doctors"))) ih_buf_puts(b, "<p class=\"muted\">暂无在线出诊医生。</p>");
    ih_buf_puts(b, "</section><section class=\"muted\">互联网医院仅提供部分常见病、慢性病复诊服务，首诊请到实体医院就诊。"
                   "麻醉药品、精神药品等特殊管理药品不在线开具。</section></main>"
                   "<footer>本页信息由系统实时生成</footer></body></html>");
}

ih_err ih_api_public_page(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)req;
    pthread_once(&csp_once, make_csp);
    if (!csp[0]) return ih_fail(IH_E_CRYPTO, "page CSP");
    json_t *info;
    IH_TRY(ih_public_info(app->clinic, &info));
    ih_buf_reset(&resp->body);
    render(&resp->body, info);
    json_decref(info);
    resp->status = 200;
    resp->content_type = "text/html; charset=utf-8";
    resp->csp = csp;
    return IH_OK;
}

ih_err ih_api_public_json(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)req;
    json_t *info;
    IH_TRY(ih_public_info(app->clinic, &info));
    /* the versions of the documents a registering patient accepts */
    json_object_set_new(info, "consent_versions", json_pack("{s:s, s:s}", "privacy", app->conf->privacy_version,
                                                            "agreement", app->conf->agreement_version));
    return ih_api_json(resp, 200, info);
}
