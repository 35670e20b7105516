/* filing.c — see filing.h. */
#include "app/filing.h"

#include "app/catalog.h"
#include "compliance/sbom.h"
#include "compliance/selfcheck.h"
#include "compliance/signed.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/spawn.h"
#include "core/url.h"
#include "crypto/sign.h"
#include "policy/perm.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_MS (86400 * 1000LL)

typedef struct {
    const char *dir;
    json_t *files; /* [{name, sha256}] for the manifest */
} pack;

static ih_err put(pack *p, const char *name, const void *data, size_t n)
{
    char path[4200];
    IH_TRY(ih_path(path, sizeof path, "%s/%s", p->dir, name));
    IH_TRY(ih_file_replace(path, data, n, 0600));
    uint8_t d[32];
    char hex[65];
    IH_TRY(ih_digest(IH_MD_SHA256, data, n, d));
    ih_hex_encode(d, sizeof d, hex, 0);
    json_array_append_new(p->files, json_pack("{s:s, s:s, s:I}", "name", name, "sha256", hex, "size", (json_int_t)n));
    return IH_OK;
}

static ih_err put_json(pack *p, const char *name, const json_t *doc)
{
    ih_buf b = IH_BUF_INIT;
    ih_err e = ih_json_dump(doc, JSON_INDENT(2) | JSON_SORT_KEYS, &b);
    if (e == IH_OK) e = ih_buf_puts(&b, "\n");
    if (e == IH_OK) e = put(p, name, b.p, b.len);
    ih_buf_free(&b);
    return e;
}

/* ---- the data inventory, from the catalog ------------------------------------------- */

static json_t *inventory(const ih_catalog *c, ih_suite suite)
{
    json_t *list = json_array();
    for (size_t i = 0; i < c->nsealed; i++) {
        const ih_sealed_column *sc = &c->sealed[i];
        bool mac = false;
        for (size_t k = 0; k < c->nscans; k++) mac = mac || !strcmp(c->scans[k].table, sc->table);
        json_t *cols = json_array();
        char buf[512];
        snprintf(buf, sizeof buf, "%s", sc->columns);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(cols, json_string(t));
        json_array_append_new(
            list, json_pack("{s:s, s:o, s:s, s:s, s:b, s:s}", "table", sc->table, "columns", cols, "key_purpose",
                            ih_key_purpose_name(sc->purpose), "protection",
                            suite == IH_SUITE_GM ? "SM4-CTR + HMAC-SM3，按行与列绑定" : "AES-256-GCM，按行与列绑定",
                            "row_mac", mac, "retention", sc->retention ? sc->retention : "未声明"));
    }
    return list;
}

/* ---- algorithms and products ------------------------------------------------------- */

static json_t *crypto_inventory(const ih_instance *in, const json_t *selfcheck)
{
    bool gm = in->suite == IH_SUITE_GM;
    const ih_conf *c = &in->conf;
    json_t *tls = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(selfcheck, "items"), i, it)
        if (!strcmp(json_string_value(json_object_get(it, "id")), "8.1.4.1c")) tls = json_object_get(it, "evidence");
    char kek[1400];
    if (!strcmp(c->kek_source, "pkcs11"))
        snprintf(kek, sizeof kek, "密码模块（PKCS#11）%s，令牌 %s，密钥 %s：AES-256-GCM 包裹，密钥不出模块", c->pkcs11_module,
                 c->pkcs11_token, c->pkcs11_key_label);
    else if (!strcmp(c->kek_source, "passphrase"))
        snprintf(kek, sizeof kek, "由口令经 Argon2id（256 MiB，3 轮）派生，不落盘");
    else snprintf(kek, sizeof kek, "文件 keys/kek（仅属主可读）");
    char products[4][96];
    snprintf(products[0], sizeof products[0], "%s", OpenSSL_version(OPENSSL_VERSION));
    snprintf(products[1], sizeof products[1], "libsodium %s", sodium_version_string());
    snprintf(products[2], sizeof products[2], "SQLite %s", sqlite3_libversion());
    snprintf(products[3], sizeof products[3], "libpq %d", PQlibVersion());
    json_t *uses = json_pack(
        "[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, "
        "{s:s, s:s}]",
        "function", "个人与临床字段加密", "algorithm", gm ? "SM4-CTR + HMAC-SM3（先加密后认证）" : "AES-256-GCM",
        "function", "数据密钥包裹（KEK）", "algorithm", kek, "function", "行完整性与盲索引", "algorithm",
        gm ? "HMAC-SM3" : "HMAC-SHA-256", "function", "审计日志哈希树", "algorithm", gm ? "SM3" : "SHA-256", "function",
        "审计检查点、处方与病历签名", "algorithm", gm ? "SM2（SM3）" : "Ed25519", "function", "备份加密（恢复密钥）",
        "algorithm", gm ? "SM2 公钥加密 + SM4" : "X25519 + HKDF-SHA256 + AES-256-GCM", "function", "口令存储",
        "algorithm", "Argon2id（libsodium）", "function", "第二因素", "algorithm",
        !strcmp(c->totp_algorithm, "SM3") ? "TOTP HMAC-SM3" : !strcmp(c->totp_algorithm, "SHA256") ? "TOTP HMAC-SHA-256"
                                                                                                : "TOTP HMAC-SHA-1",
        "function", "传输", "algorithm", "TLS 1.2/1.3，ECDHE，AEAD 套件（见 tls）", "function", "程序与配置可信验证",
        "algorithm", gm ? "SM3 摘要，SM2 签名" : "SHA-256 摘要，Ed25519 签名");
    return json_pack("{s:s, s:o, s:O?, s:[s, s, s, s]}", "suite", ih_suite_name(in->suite), "uses", uses, "tls", tls,
                     "products", products[0], products[1], products[2], products[3]);
}

/* ---- the topology ------------------------------------------------------------------- */

typedef struct {
    json_t *nodes, *standbys;
    char server[128];
} topo_facts;

static ih_err topo_fn(ih_tx *tx, void *arg)
{
    topo_facts *t = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT holder FROM lease WHERE name LIKE 'node.%' ORDER BY holder", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) json_array_append_new(t->nodes, json_string(ih_col_text(st, 0)));
    IH_TRY(e);
    if (!ih_tx_is_pg(tx)) return IH_OK;
    IH_TRY(ih_tx_prepare(tx, "SELECT CASE WHEN inet_server_addr() IS NULL THEN 'local socket' "
                             "ELSE host(inet_server_addr()) || ':' || inet_server_port()::text END",
                         &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) snprintf(t->server, sizeof t->server, "%s", ih_col_text(st, 0));
    IH_TRY(ih_tx_prepare(tx, "SELECT application_name, coalesce(host(client_addr), 'local'), coalesce(sync_state, '') "
                             "FROM pg_stat_replication ORDER BY application_name",
                         &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        json_array_append_new(t->standbys, json_sprintf("%s (%s, %s)", ih_col_text(st, 0), ih_col_text(st, 1),
                                                        ih_col_text(st, 2)));
    return e;
}

/* A DOT string: quoted, with quotes and backslashes escaped, newlines as \n. */
static void dot_str(ih_buf *b, const char *s)
{
    ih_buf_puts(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') ih_buf_printf(b, "\\%c", *s);
        else if (*s == '\n') ih_buf_puts(b, "\\n");
        else if ((unsigned char)*s >= 0x20) ih_buf_append(b, s, 1);
    }
    ih_buf_puts(b, "\"");
}

/* Scheme and host of a URL only (a URL may carry a token). */
static void url_host(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://"), *h;
    size_t hl = ih_url_host(url, &h);
    snprintf(out, n, "%.*s%.*s", p ? (int)(p + 3 - url) : 0, url, (int)hl, h);
}

/* An outside system reached by URL, or through a program the hospital
 * configured (its file name: the program talks to the system). */
static void peer(ih_buf *b, int *k, const char *label, const char *url, const char *command, const char *via)
{
    char host[300], text[600];
    if (url && url[0]) url_host(url, host, sizeof host);
    else if (command && command[0]) {
        const char *base = strrchr(command, '/');
        snprintf(host, sizeof host, "本机程序 %s", base ? base + 1 : command);
        via = "程序接口";
    } else return;
    snprintf(text, sizeof text, "%s\n%s", label, host);
    ih_buf_printf(b, "  peer%d [shape=box, style=rounded, label=", (*k)++);
    dot_str(b, text);
    ih_buf_printf(b, "];\n  ihos -> peer%d [label=", *k - 1);
    dot_str(b, via);
    ih_buf_puts(b, "];\n");
}

static ih_err topology(const ih_instance *in, pack *p, bool *svg)
{
    topo_facts t = {json_array(), json_array(), ""};
    ih_err e = ih_store_read(in->store, topo_fn, &t);
    if (e != IH_OK) ih_err_clear(); /* statistics views need privileges: draw what is known */
    const ih_conf *c = &in->conf;
    ih_buf b = IH_BUF_INIT;
    ih_buf_puts(&b, "digraph ihos {\n  graph [rankdir=LR, fontname=\"Noto Sans CJK SC\", label=");
    char title[200];
    snprintf(title, sizeof title, "%s 部署拓扑（由运行中的配置生成）", c->name);
    dot_str(&b, title);
    ih_buf_puts(&b, "];\n  node [fontname=\"Noto Sans CJK SC\"];\n  users [shape=oval, label=\"医生、药师、患者、管理员\\n(浏览器、应用)\"];\n");
    if (c->trusted_proxies[0]) {
        ih_buf_puts(&b, "  lb [shape=box, label=");
        char l[300];
        snprintf(l, sizeof l, "负载均衡 / 反向代理\n%s", c->trusted_proxies);
        dot_str(&b, l);
        ih_buf_puts(&b, "];\n  users -> lb [label=\"HTTPS\"];\n  lb -> ihos [label=\"HTTPS\"];\n");
    } else {
        ih_buf_puts(&b, "  users -> ihos [label=\"HTTPS (TLS 1.2/1.3)\"];\n");
    }
    ih_buf_puts(&b, "  subgraph cluster_app { label=\"应用服务器（ihosd）\"; ihos [shape=box3d, label=");
    ih_buf lab = IH_BUF_INIT;
    ih_buf_printf(&lab, "ihosd\n%s", c->listen);
    size_t i;
    json_t *n;
    json_array_foreach(t.nodes, i, n) ih_buf_printf(&lab, "\n节点 %s", json_string_value(n));
    dot_str(&b, lab.p ? lab.p : "ihosd");
    ih_buf_free(&lab);
    ih_buf_puts(&b, "]; }\n");
    if (!strcmp(c->backend, "postgres")) {
        char host[300], l[600];
        url_host(c->pg_url, host, sizeof host);
        snprintf(l, sizeof l, "PostgreSQL 主库\n%s", t.server[0] ? t.server : host);
        ih_buf_puts(&b, "  subgraph cluster_db { label=\"数据库服务器（与应用分离）\"; db [shape=cylinder, label=");
        dot_str(&b, l);
        ih_buf_puts(&b, "];\n");
        json_array_foreach(t.standbys, i, n) {
            ih_buf_printf(&b, "    standby%zu [shape=cylinder, label=", i);
            snprintf(l, sizeof l, "备库\n%s", json_string_value(n));
            dot_str(&b, l);
            ih_buf_printf(&b, "];\n    db -> standby%zu [label=\"流复制\"];\n", i);
        }
        ih_buf_puts(&b, "  }\n  ihos -> db [label=\"libpq\"];\n");
    } else {
        ih_buf_puts(&b, "  db [shape=cylinder, label=\"SQLite（本机文件，嵌入式）\"];\n  ihos -> db;\n");
    }
    int k = 0;
    if (c->report_enabled) peer(&b, &k, "省级互联网医疗服务监管平台", c->report_gateway, NULL, "HTTPS 实时上报");
    peer(&b, &k, "实名认证服务", c->realname_url, c->realname_command, "HTTPS");
    peer(&b, &k, "短信服务", c->sms_url, c->sms_command, "HTTPS");
    peer(&b, &k, "支付渠道", c->pay_url, c->pay_command, "HTTPS");
    peer(&b, &k, "审计检查点见证", c->witness_url, c->witness_command, "HTTPS");
    peer(&b, &k, "集中日志（syslog）", c->audit_syslog, NULL, "syslog");
    peer(&b, &k, "安全事件通知", c->incident_webhook, NULL, "HTTPS webhook");
    peer(&b, &k, "安全事件邮件", c->incident_smtp, NULL, "SMTP");
    peer(&b, &k, "异地备份程序", NULL, c->offsite_command, "");
    if (c->offsite_dir[0]) {
        ih_buf_printf(&b, "  peer%d [shape=folder, label=", k++);
        char l[1200];
        snprintf(l, sizeof l, "异地备份\n%s", c->offsite_dir);
        dot_str(&b, l);
        ih_buf_printf(&b, "];\n  ihos -> peer%d [label=\"加密备份\"];\n", k - 1);
    }
    ih_buf_puts(&b, "}\n");
    json_decref(t.nodes);
    json_decref(t.standbys);
    if (!b.p) return ih_fail(IH_E_NOMEM, "out of memory");
    e = put(p, "topology.dot", b.p, b.len);
    /* Graphviz draws it when installed; the .dot stands on its own otherwise */
    ih_buf out = IH_BUF_INIT;
    int status = -1;
    char *argv[] = {"dot", "-Tsvg", NULL};
    *svg = false;
    if (e == IH_OK && access("/usr/bin/dot", X_OK) == 0 &&
        ih_spawn_run("/usr/bin/dot", argv, b.p, b.len, &out, 8 << 20, 30000, &status) == IH_OK && status == 0 && out.len) {
        e = put(p, "topology.svg", out.p, out.len);
        *svg = e == IH_OK;
    }
    ih_err_clear();
    ih_buf_free(&out);
    ih_buf_free(&b);
    return e;
}

/* ---- the printable index ------------------------------------------------------------ */

static ih_err index_html(pack *p, const ih_instance *in, const json_t *inv, const json_t *crypto, const json_t *sc,
                         bool svg)
{
    static const char style[] = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
                                "td,th{border:1px solid #888;padding:4px;vertical-align:top}img{max-width:100%}";
    ih_buf b = IH_BUF_INIT;
    ih_err e = ih_html_page_head(&b, "等级保护备案材料", style, true);
    if (e != IH_OK) {
        ih_buf_free(&b);
        return e;
    }
    ih_buf_puts(&b, "<h1>");
    ih_buf_html_escape(&b, in->conf.name);
    ih_buf_puts(&b, " 等级保护备案与平台接入材料</h1>\n<h2>一、部署拓扑</h2>\n");
    if (svg) ih_buf_puts(&b, "<p><img src=\"topology.svg\" alt=\"部署拓扑\"></p>\n");
    else ih_buf_puts(&b, "<p>拓扑描述见 topology.dot（安装 graphviz 后可生成 topology.svg）。</p>\n");
    ih_buf_puts(&b, "<h2>二、数据资产清单（个人信息与临床数据）</h2>\n<table><tr><th>表</th><th>字段</th><th>密钥用途</th>"
                    "<th>保护措施</th><th>行完整性</th><th>保存期限</th></tr>\n");
    size_t i;
    json_t *it;
    json_array_foreach(inv, i, it) {
        ih_buf cols = IH_BUF_INIT;
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(it, "columns"), j, c) ih_buf_printf(&cols, "%s%s", j ? ", " : "",
                                                                               json_string_value(c));
        ih_buf_puts(&b, "<tr>");
        ih_html_cell(&b, "td", NULL, json_string_value(json_object_get(it, "table")));
        ih_html_cell(&b, "td", NULL, cols.p);
        ih_html_cell(&b, "td", NULL, json_string_value(json_object_get(it, "key_purpose")));
        ih_html_cell(&b, "td", NULL, json_string_value(json_object_get(it, "protection")));
        ih_html_cell(&b, "td", NULL, json_is_true(json_object_get(it, "row_mac")) ? "MAC" : "—");
        ih_html_cell(&b, "td", NULL, json_string_value(json_object_get(it, "retention")));
        ih_buf_puts(&b, "</tr>\n");
        ih_buf_free(&cols);
    }
    ih_buf_puts(&b, "</table>\n<h2>三、密码应用</h2>\n<table><tr><th>用途</th><th>算法与实现</th></tr>\n");
    json_array_foreach(json_object_get(crypto, "uses"), i, it) {
        ih_buf_puts(&b, "<tr>");
        ih_html_cell(&b, "td", NULL, json_string_value(json_object_get(it, "function")));
        ih_html_cell(&b, "td", NULL, json_string_value(json_object_get(it, "algorithm")));
        ih_buf_puts(&b, "</tr>\n");
    }
    ih_buf_puts(&b, "</table>\n<p>密码产品（运行中的库）：");
    json_array_foreach(json_object_get(crypto, "products"), i, it) {
        if (i) ih_buf_puts(&b, "；");
        ih_buf_html_escape(&b, json_string_value(it));
    }
    const json_t *sum = json_object_get(sc, "summary");
    char est[64];
    snprintf(est, sizeof est, "%.1f%%，高风险项 %d 个", json_real_value(json_object_get(sum, "estimate")) * 100,
             (int)json_integer_value(json_object_get(sum, "high_risk")));
    ih_buf_puts(&b, "。完整的依赖清单见 sbom.json。</p>\n<h2>四、等级保护自查</h2>\n<p>加权符合度估算：");
    ih_buf_html_escape(&b, est);
    ih_buf_puts(&b, "。逐项结论与证据见 <a href=\"selfcheck.html\">selfcheck.html</a>。</p>\n"
                    "<p>各文件的 SHA-256 与审计密钥签名见 manifest.json。</p>\n</body></html>\n");
    if (!b.p) return ih_fail(IH_E_NOMEM, "out of memory");
    e = put(p, "index.html", b.p, b.len);
    ih_buf_free(&b);
    return e;
}

/* ---- the pack ----------------------------------------------------------------------- */

static ih_err manifest(pack *p, ih_instance *in, int64_t now)
{
    char when[32];
    ih_time_iso(now, when, sizeof when);
    json_t *m = json_pack("{s:s, s:s, s:s, s:O, s:s}", "format", "ihos-filing/1", "instance", in->instance_id,
                          "generated_at", when, "files", p->files, "signed",
                          "signature: the audit key's over this object without \"signature\", keys sorted, compact "
                          "JSON; verify with keys/audit.pub");
    IH_CHECK_ALLOC(m);
    ih_buf out = IH_BUF_INIT;
    ih_err e = in->audit_key ? ih_json_sign(m, in->audit_key) : ih_fail(IH_E_STATE, "the pack is signed with the audit key");
    if (e == IH_OK) e = ih_json_dump(m, JSON_INDENT(2) | JSON_SORT_KEYS, &out);
    if (e == IH_OK) {
        char path[4200];
        e = ih_path(path, sizeof path, "%s/manifest.json", p->dir);
        if (e == IH_OK) e = ih_file_replace(path, out.p, out.len, 0600);
    }
    ih_buf_free(&out);
    json_decref(m);
    return e;
}

ih_err ih_app_filing(const ih_selfcheck_env *env, const ih_actor *who, const char *out_dir)
{
    ih_instance *in = env->in;
    IH_TRY(ih_dir_create(out_dir, 0700, true));
    pack p = {out_dir, json_array()};
    IH_CHECK_ALLOC(p.files);
    json_t *sc = NULL, *sbom = NULL, *inv = NULL, *crypto = NULL;
    ih_buf html = IH_BUF_INIT;
    bool svg = false;
    ih_err e = ih_sbom_build(&sbom); /* once: the self-check reads it too */
    ih_selfcheck_env with_sbom = *env;
    with_sbom.sbom = sbom;
    if (e == IH_OK) e = put_json(&p, "sbom.json", sbom);
    if (e == IH_OK) e = ih_app_selfcheck(&with_sbom, who, &sc);
    if (e == IH_OK) e = put_json(&p, "selfcheck.json", sc);
    if (e == IH_OK) e = ih_sc_html(sc, &html);
    if (e == IH_OK) e = put(&p, "selfcheck.html", html.p, html.len);
    ih_catalog *cat = e == IH_OK ? malloc(sizeof *cat) : NULL;
    if (e == IH_OK && !cat) e = ih_fail(IH_E_NOMEM, "out of memory");
    if (e == IH_OK) {
        ih_catalog_build(cat, in->store, in->keys, env->id, env->clinic, env->report);
        inv = inventory(cat, in->suite);
        e = put_json(&p, "data-inventory.json", inv);
    }
    free(cat);
    if (e == IH_OK) {
        crypto = crypto_inventory(in, sc);
        e = crypto ? put_json(&p, "crypto.json", crypto) : ih_fail(IH_E_NOMEM, "out of memory");
    }
    if (e == IH_OK) e = topology(in, &p, &svg);
    if (e == IH_OK) e = index_html(&p, in, inv, crypto, sc, svg);
    if (e == IH_OK) e = manifest(&p, in, ih_now_ms());
    ih_audit_event ev = {.action = "filing.create", .object_type = "instance", .object_id = in->instance_id,
                         .result = e};
    ih_err ae = ih_audit_record(in->audit, who, &ev);
    if (e != IH_OK) { /* no half pack: what was written goes */
        size_t i;
        json_t *f;
        json_array_foreach(p.files, i, f) {
            char path[4200];
            if (ih_path(path, sizeof path, "%s/%s", out_dir, json_string_value(json_object_get(f, "name"))) == IH_OK)
                unlink(path);
        }
    }
    ih_buf_free(&html);
    json_decref(sc);
    json_decref(sbom);
    json_decref(inv);
    json_decref(crypto);
    json_decref(p.files);
    IH_TRY(e);
    return ae;
}
