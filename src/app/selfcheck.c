/* selfcheck.c — see selfcheck.h.  First the facts are read (one function per
 * source), then each clause is judged from them (one function per clause
 * group); the thresholds are the ones an assessor applies (level3.md). */
#include "app/selfcheck.h"

#include "app/backups.h"
#include "app/catalog.h"
#include "app/trusted.h"
#include "compliance/sbom.h"
#include "compliance/selfcheck.h"
#include "exchange/peers.h"
#include "core/clock.h"
#include "core/url.h"
#include "net/tls.h"
#include "policy/perm.h"

#include <dirent.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DAY_MS (86400 * 1000LL)

/* ---- the facts ----------------------------------------------------------- */

typedef struct {
    /* accounts other than patients */
    json_t *no_factor, *no_factor_used, *expired, *unused, *defaults;
    int staff_active, by_role[IH_ROLE__COUNT];
    int64_t accounts, distinct_names;
    /* grants */
    json_t *out_of_bounds;
    int grants;
    /* journal */
    int64_t events, oldest_ts, newest_ts, last_checkpoint_at, last_checkpoint_size, last_drill, last_offsite_event;
    int64_t last_backup;       /* the newest backup the journal records as made (on any node) */
    char last_backup_file[96]; /* its file name */
    json_t *newest; /* its recorded fields */
    ih_audit_report verify;
    ih_err verify_e;
    /* data */
    json_t *labels, *keys;
    int64_t rx, rx_unsigned, sessions_live, oldest_key_ms;
    int64_t incidents_open, breach_overdue; /* compliance/incident.h */
    /* database (PostgreSQL) */
    bool pg;
    int64_t standbys, sync_standbys, archived, archive_failed, archive_age_s, db_now;
    bool pg_ssl, pg_stats_ok;
    json_t *nodes;
} facts;

typedef struct {
    const ih_selfcheck_env *env;
    ih_instance *in;
    const ih_conf *conf;
    ih_sc_report *rep;
    int64_t now;
    facts f;
    ih_integrity_report integ;
    ih_err integ_e;
    ih_trust_report trust;
    json_t *tls, *links, *sbom;
    bool tls_ok, links_plain, syslog_plain;
} ctx;

static const char *const default_names[] = {"admin", "administrator", "root", "test", "guest", "user", "system",
                                            "sysadmin", "secadmin", "auditadmin", "manager", "demo"};

static ih_err accounts_fn(ih_tx *tx, void *arg)
{
    ctx *c = arg;
    facts *f = &c->f;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT count(*), count(DISTINCT username_lc) FROM account", &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->accounts = ih_col_int(st, 0), f->distinct_names = ih_col_int(st, 1);
    IH_TRY(ih_tx_prepare(tx,
                         "SELECT username, role, status, totp_enc IS NOT NULL, expires_at, last_login_at, created_at, "
                         "username_lc FROM account WHERE role <> 'patient' ORDER BY id",
                         &st));
    int64_t idle_ms = c->conf->inactive_days * DAY_MS;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        const char *name = ih_col_text(st, 0);
        ih_role role = ih_role_parse(ih_col_text(st, 1));
        if (strcmp(ih_col_text(st, 2), "active") != 0) continue;
        int64_t expires = ih_col_int(st, 4), last = ih_col_int(st, 5), created = ih_col_int(st, 6);
        f->staff_active++;
        if (role > 0 && role < IH_ROLE__COUNT) f->by_role[role]++;
        if (!ih_col_int(st, 3)) json_array_append_new(last ? f->no_factor_used : f->no_factor, json_string(name));
        if (expires > 0 && expires < c->now) json_array_append_new(f->expired, json_string(name));
        else if (c->now - (last ? last : created) > idle_ms) json_array_append_new(f->unused, json_string(name));
        const char *lc = ih_col_text(st, 7);
        for (size_t i = 0; i < sizeof default_names / sizeof default_names[0]; i++)
            if (!strcmp(lc, default_names[i])) json_array_append_new(f->defaults, json_string(name));
    }
    IH_TRY(e);
    IH_TRY(ih_tx_prepare(tx, "SELECT role, perm, granted FROM role_grant ORDER BY id", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        f->grants++;
        ih_role r = ih_role_parse(ih_col_text(st, 0));
        ih_perm p = ih_perm_parse(ih_col_text(st, 1));
        if (ih_col_int(st, 2) && (r == IH_ROLE_NONE || p == IH_PERM_NONE || !ih_perm_in_bounds(p, r)))
            json_array_append_new(f->out_of_bounds, json_sprintf("%s → %s", ih_col_text(st, 1), ih_col_text(st, 0)));
    }
    IH_TRY(e);
    IH_TRY(ih_tx_prepare(tx, "SELECT count(*) FROM session WHERE revoked_at IS NULL AND expires_at > $1", &st));
    ih_stmt_int(st, 1, c->now);
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->sessions_live = ih_col_int(st, 0);
    return IH_OK;
}

/* The newest successful backup event of `action` in the journal: when, and
 * the file it names (its last path component) into file when given.  Only
 * the backup events are read (the journal's object index), never the whole
 * journal. */
static int64_t last_event(ih_tx *tx, const char *action, char *file, size_t cap, ih_err *e)
{
    ih_stmt *st;
    bool row = false;
    *e = ih_tx_prepare(tx,
                       "SELECT ts, object_id FROM audit_event WHERE object_type = 'backup' AND action = $1 AND "
                       "outcome = 'success' ORDER BY seq DESC LIMIT 1",
                       &st);
    if (*e != IH_OK) return 0;
    ih_stmt_text(st, 1, action);
    *e = ih_stmt_step(st, &row);
    if (*e != IH_OK || !row) return 0;
    if (file) {
        const char *name = ih_col_text(st, 1), *slash = strrchr(name, '/');
        snprintf(file, cap, "%s", slash ? slash + 1 : name);
    }
    int64_t ts = ih_col_int(st, 0);
    *e = ih_stmt_exec(st);
    return ts;
}

static ih_err journal_fn(ih_tx *tx, void *arg)
{
    facts *f = &((ctx *)arg)->f;
    ih_stmt *st;
    bool row;
    /* the events: the tree's size (every event is a leaf; seq has no holes),
     * the oldest and newest by the time index — no count through the journal */
    IH_TRY(ih_tx_prepare(tx, "SELECT size FROM audit_tree WHERE id = 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->events = ih_col_int(st, 0);
    IH_TRY(ih_stmt_exec(st));
    IH_TRY(ih_tx_prepare(tx, "SELECT min(ts), max(ts) FROM audit_event", &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->oldest_ts = ih_col_int(st, 0), f->newest_ts = ih_col_int(st, 1);
    IH_TRY(ih_tx_prepare(tx,
                         "SELECT seq, ts, actor_id, action, object_type, outcome FROM audit_event ORDER BY seq DESC "
                         "LIMIT 1",
                         &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row)
        f->newest = json_pack("{s:I, s:I, s:I, s:s, s:s, s:s}", "seq", (json_int_t)ih_col_int(st, 0), "ts",
                              (json_int_t)ih_col_int(st, 1), "actor_id", (json_int_t)ih_col_int(st, 2), "action",
                              ih_col_text(st, 3), "object_type", ih_col_text(st, 4), "outcome", ih_col_text(st, 5));
    IH_TRY(ih_tx_prepare(tx, "SELECT size, created_at FROM audit_checkpoint ORDER BY size DESC LIMIT 1", &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->last_checkpoint_size = ih_col_int(st, 0), f->last_checkpoint_at = ih_col_int(st, 1);
    ih_err e;
    f->last_drill = last_event(tx, "backup.restore_drill", NULL, 0, &e);
    IH_TRY(e);
    f->last_offsite_event = last_event(tx, "backup.offsite", NULL, 0, &e);
    IH_TRY(e);
    f->last_backup = last_event(tx, "backup.create", f->last_backup_file, sizeof f->last_backup_file, &e);
    return e;
}

static ih_err data_fn(ih_tx *tx, void *arg)
{
    ctx *c = arg;
    facts *f = &c->f;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT label, count(*) FROM visit GROUP BY label ORDER BY label", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        json_object_set_new(f->labels, ih_col_text(st, 0), json_integer(ih_col_int(st, 1)));
    IH_TRY(e);
    IH_TRY(ih_tx_prepare(tx,
                         "SELECT count(*), coalesce(sum(CASE WHEN length(signature) = 0 OR (reviewed_at IS NOT NULL "
                         "AND review_decision = 'approved' AND review_signature IS NULL) THEN 1 ELSE 0 END), 0) "
                         "FROM prescription",
                         &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->rx = ih_col_int(st, 0), f->rx_unsigned = ih_col_int(st, 1);
    IH_TRY(ih_tx_prepare(tx, "SELECT purpose, max(version), max(created_at) FROM dek WHERE state = 'active' "
                             "GROUP BY purpose ORDER BY purpose",
                         &st));
    f->oldest_key_ms = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        int64_t age = c->now - ih_col_int(st, 2);
        if (age > f->oldest_key_ms) f->oldest_key_ms = age;
        json_array_append_new(f->keys, json_pack("{s:s, s:I, s:I}", "purpose",
                                                 ih_key_purpose_name((ih_key_purpose)ih_col_int(st, 0)), "version",
                                                 (json_int_t)ih_col_int(st, 1), "age_days",
                                                 (json_int_t)(age / DAY_MS)));
    }
    IH_TRY(e);
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(sum(CASE WHEN status <> 'resolved' THEN 1 ELSE 0 END), 0), "
                             "coalesce(sum(CASE WHEN breach = 1 AND breach_reported_at IS NULL AND breach_deadline < $1 "
                             "THEN 1 ELSE 0 END), 0) FROM incident",
                         &st));
    ih_stmt_int(st, 1, c->now);
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->incidents_open = ih_col_int(st, 0), f->breach_overdue = ih_col_int(st, 1);
    /* the nodes that renewed their presence lately (jobs.c) */
    int64_t db_now = c->now;
    if (ih_tx_is_pg(tx)) {
        IH_TRY(ih_tx_prepare(tx, "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", &st));
        IH_TRY(ih_stmt_step(st, &row));
        if (row) db_now = ih_col_int(st, 0);
    }
    f->db_now = db_now;
    IH_TRY(ih_tx_prepare(tx, "SELECT holder, expires_at FROM lease WHERE name LIKE 'node.%' ORDER BY holder", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row)
        if (ih_col_int(st, 1) > db_now) json_array_append_new(f->nodes, json_string(ih_col_text(st, 0)));
    return e;
}

/* PostgreSQL's own view of its standbys, archiving and this connection. */
static ih_err pg_fn(ih_tx *tx, void *arg)
{
    facts *f = &((ctx *)arg)->f;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT count(*), coalesce(sum(CASE WHEN sync_state IN ('sync', 'quorum') THEN 1 ELSE 0 "
                             "END), 0) FROM pg_stat_replication",
                         &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->standbys = ih_col_int(st, 0), f->sync_standbys = ih_col_int(st, 1);
    IH_TRY(ih_tx_prepare(tx, "SELECT archived_count, failed_count, coalesce(extract(epoch FROM now() - "
                             "last_archived_time)::bigint, -1) FROM pg_stat_archiver",
                         &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->archived = ih_col_int(st, 0), f->archive_failed = ih_col_int(st, 1), f->archive_age_s = ih_col_int(st, 2);
    IH_TRY(ih_tx_prepare(tx, "SELECT coalesce(bool_or(ssl), false)::int FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                         &st));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) f->pg_ssl = ih_col_int(st, 0) != 0;
    f->pg_stats_ok = true;
    return IH_OK;
}

/* Newest backup file (ihos-*.ihosb) in dir: its mtime in ms (0: none), and how many. */
static int64_t newest_backup(const char *dir, int *count)
{
    *count = 0;
    DIR *d = dir[0] ? opendir(dir) : NULL;
    if (!d) return 0;
    int64_t newest = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!ih_app_backup_name(de->d_name)) continue;
        char p[PATH_MAX + 300];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (stat(p, &sb) != 0) continue;
        (*count)++;
        int64_t t = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
        if (t > newest) newest = t;
    }
    closedir(d);
    return newest;
}

/* What the server offers over TLS: built exactly as ihosd builds it. */
static void tls_facts(ctx *c)
{
    char cert[PATH_MAX], key[PATH_MAX];
    SSL_CTX *ssl = NULL;
    c->tls = json_object();
    if (ih_instance_path(c->in, c->conf->tls_cert, cert, sizeof cert) != IH_OK ||
        ih_instance_path(c->in, c->conf->tls_key, key, sizeof key) != IH_OK ||
        ih_tls_server_ctx(cert, key, &ssl) != IH_OK) {
        json_object_set_new(c->tls, "error", json_string(ih_err_detail()));
        ih_err_clear();
        return;
    }
    int minv = SSL_CTX_get_min_proto_version(ssl);
    json_t *suites = json_array();
    bool aead = true;
    STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ssl);
    for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
        const SSL_CIPHER *ci = sk_SSL_CIPHER_value(sk, i);
        json_array_append_new(suites, json_string(SSL_CIPHER_get_name(ci)));
        if (!SSL_CIPHER_is_aead(ci)) aead = false;
    }
    X509 *x = SSL_CTX_get0_certificate(ssl);
    EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
    int days = 0, secs = 0;
    if (x) ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
    json_object_set_new(c->tls, "checked_by", json_string("the server's TLS context built from [server] tls_cert/tls_key "
                                                          "as ihosd builds it"));
    json_object_set_new(c->tls, "min_version", json_string(minv == TLS1_3_VERSION ? "TLSv1.3"
                                                           : minv == TLS1_2_VERSION ? "TLSv1.2"
                                                                                    : "older than TLSv1.2"));
    json_object_set_new(c->tls, "suites", suites);
    json_object_set_new(c->tls, "all_aead", json_boolean(aead));
    json_object_set_new(c->tls, "certificate_key", json_sprintf("%s %d bits", pk ? EVP_PKEY_get0_type_name(pk) : "?",
                                                               pk ? EVP_PKEY_get_bits(pk) : 0));
    json_object_set_new(c->tls, "certificate_days_left", json_integer(days));
    c->tls_ok = (minv == TLS1_2_VERSION || minv == TLS1_3_VERSION) && aead && days > 0;
    SSL_CTX_free(ssl);
}

/* One outbound link: where it goes (scheme and host only; a URL may carry
 * a token) and whether what crosses it is protected. */
static void add_link(ctx *c, const char *name, const char *url)
{
    if (!url[0]) return;
    const char *host;
    size_t hl = ih_url_host(url, &host);
    const char *how;
    bool protect;
    if (!strncmp(url, "https://", 8)) how = "TLS", protect = true;
    else if (!strncmp(url, "unix:", 5)) how = "本机套接字", protect = true, host = "local", hl = 5;
    else if (ih_host_loopback(host, hl)) how = "仅本机回环", protect = true;
    else how = "明文", protect = false;
    json_array_append_new(c->links, json_pack("{s:s, s:s%, s:s, s:b}", "link", name, "host", host, hl, "protection",
                                             how, "protected", protect));
    if (!protect && !strcmp(name, "[audit] syslog")) c->syslog_plain = true;
    else if (!protect) c->links_plain = true;
}

/* The database link: a unix socket, loopback, or TLS the server confirms. */
static void db_link(ctx *c)
{
    if (!c->f.pg) return;
    const char *u = c->conf->pg_url, *h = NULL, *kw = strstr(u, "host=");
    size_t hl = 0;
    if (strstr(u, "://")) hl = ih_url_host(u, &h); /* a URI; else keyword=value pairs */
    else if (kw) h = kw + 5, hl = strcspn(h, " ,");
    bool local = !h || hl == 0 || h[0] == '/' || h[0] == '%' || ih_host_loopback(h, hl);
    bool protect = local || c->f.pg_ssl;
    json_array_append_new(c->links, json_pack("{s:s, s:s%, s:s, s:b}", "link", "[store] pg_url", "host",
                                             local ? "local" : h, local ? (size_t)5 : hl, "protection",
                                             c->f.pg_ssl ? "TLS（pg_stat_ssl）" : local ? "仅本机" : "明文", "protected",
                                             protect));
    if (!protect) c->links_plain = true;
}

/* The exchange peers (exchange/peers.h): TLS, loopback, or plaintext on a
 * network the operator marked trusted — which transport items report. */
static void peer_links(ctx *c)
{
    char path[PATH_MAX], err[512];
    ih_peers *peers = malloc(sizeof *peers);
    if (!peers || ih_instance_path(c->in, c->conf->exchange_peers, path, sizeof path) != IH_OK ||
        ih_peers_load(path, peers, err, sizeof err) != IH_OK) {
        ih_err_clear();
        free(peers);
        json_array_append_new(c->links, json_pack("{s:s, s:s, s:s, s:b}", "link", "[exchange] peers", "host", "-",
                                                 "protection", "the peers file does not load", "protected", false));
        c->links_plain = true;
        return;
    }
    for (int i = 0; i < peers->n; i++) {
        const ih_peer *p = &peers->p[i];
        const char *ends[2] = {p->address, p->listen};
        for (int k = 0; k < 2; k++) {
            if (!ends[k][0]) continue;
            char name[96];
            snprintf(name, sizeof name, "exchange peer %s (%s)", p->name, k ? "inbound" : "outbound");
            bool loop = ih_peer_loopback(ends[k]);
            const char *how = p->tls ? "TLS" : loop ? "仅本机回环" : "明文（配置为可信网络）";
            const char *host;
            size_t hl = ih_url_host(ends[k], &host);
            json_t *link = json_pack("{s:s, s:s%, s:s, s:b}", "link", name, "host", host, hl, "protection", how,
                                     "protected", p->tls || loop);
            if (k && link) { /* a listener: who may connect to it */
                ih_buf who = IH_BUF_INIT;
                if (loop) ih_buf_printf(&who, "仅本机");
                if (p->client_cert_sha256[0]) ih_buf_printf(&who, "%s固定的客户端证书", who.len ? "；" : "");
                if (p->allow_from.n) ih_buf_printf(&who, "%s地址范围 %s", who.len ? "；" : "", p->allow_text);
                json_object_set_new(link, "admits", json_string(who.p)); /* never empty: peers.c requires one */
                ih_buf_free(&who);
            }
            json_array_append_new(c->links, link);
            if (!p->tls && !loop) c->links_plain = true;
        }
    }
    free(peers);
}

static void sbom_facts(ctx *c)
{
    json_t *doc = c->env->sbom ? json_incref((json_t *)c->env->sbom) : NULL;
    c->sbom = json_object();
    if (!doc && ih_sbom_build(&doc) != IH_OK) {
        json_object_set_new(c->sbom, "error", json_string(ih_err_detail()));
        ih_err_clear();
        return;
    }
    json_t *unpackaged = json_array(), *comp;
    size_t i, j;
    json_array_foreach(json_object_get(doc, "components"), i, comp) {
        json_t *prop;
        json_array_foreach(json_object_get(comp, "properties"), j, prop)
            if (json_string_value(json_object_get(prop, "name")) &&
                !strcmp(json_string_value(json_object_get(prop, "name")), "ihos:unpackaged"))
                json_array_append(unpackaged, json_object_get(comp, "name"));
    }
    json_object_set_new(c->sbom, "components", json_integer((json_int_t)json_array_size(json_object_get(doc, "components"))));
    json_object_set_new(c->sbom, "unpackaged", unpackaged);
    json_object_set_new(c->sbom, "checked_by", json_string("ihos sbom: the libraries loaded, each with its Debian package"));
    json_decref(doc);
}

/* ---- the judgements ------------------------------------------------------ */

static void set(ctx *c, const char *id, ih_sc_verdict v, const char *finding, json_t *ev, const char *remedy, bool hr)
{
    if (ih_sc_set(c->rep, id, v, finding, ev, remedy, hr) != IH_OK) ih_err_clear();
}

static void identity_items(ctx *c)
{
    const ih_conf *k = c->conf;
    json_t *ev = json_pack("{s:s, s:i, s:i, s:i, s:i, s:I, s:I}", "checked_by", "[security] in ihos.conf; account table",
                           "password_min_length", k->password_min_length, "password_min_classes",
                           k->password_min_classes, "password_history", k->password_history, "password_max_age_days",
                           k->password_max_age_days, "accounts", (json_int_t)c->f.accounts, "distinct_usernames",
                           (json_int_t)c->f.distinct_names);
    if (k->password_max_age_days > 90)
        set(c, "8.1.4.1a", IH_SC_PARTIAL, "口令复杂度满足要求，但定期更换周期超过90天", ev,
            "将 [security] password_max_age_days 设为 90 或更短", false);
    else
        set(c, "8.1.4.1a", IH_SC_PASS, "口令长度、字符类别、历史和定期更换均按要求强制执行，用户名唯一", ev, NULL, false);

    ev = json_pack("{s:s, s:i, s:i, s:i, s:i}", "checked_by", "[security] in ihos.conf", "lockout_threshold",
                   k->lockout_threshold, "lockout_minutes", k->lockout_minutes, "session_idle_minutes",
                   k->session_idle_minutes, "session_max_hours", k->session_max_hours);
    if (k->session_idle_minutes > 15)
        set(c, "8.1.4.1b", IH_SC_PARTIAL, "登录失败锁定已启用，但空闲超时长于测评期望的10–15分钟", ev,
            "将 [security] session_idle_minutes 设为 15 或更短", false);
    else
        set(c, "8.1.4.1b", IH_SC_PASS, "连续失败锁定账户、空闲和绝对会话超时均已启用", ev, NULL, false);

    json_t *t = json_deep_copy(c->tls);
    json_object_set_new(t, "plaintext_listener", json_false());
    if (c->tls_ok)
        set(c, "8.1.4.1c", IH_SC_PASS, "所有登录与管理接口仅经 TLS 1.2 及以上（AEAD 套件）提供", t, NULL, false);
    else
        set(c, "8.1.4.1c", IH_SC_FAIL, "服务器 TLS 配置不满足要求（版本、套件或证书）", t,
            "检查 [server] tls_cert/tls_key 的证书与私钥，证书过期须更换", false);

    ev = json_pack("{s:s, s:i, s:O, s:O, s:s}", "checked_by",
                   "account rows (not patients) with status active: totp_enc present", "staff_and_admin_active",
                   c->f.staff_active, "without_factor_used_before", c->f.no_factor_used, "without_factor_never_logged_in",
                   c->f.no_factor, "factor", "口令 + TOTP（HMAC 密码技术）");
    if (json_array_size(c->f.no_factor_used))
        set(c, "8.1.4.1d", IH_SC_FAIL, "有已使用过的工作人员或管理员账户当前没有第二因素", ev,
            "让这些账户在下次登录时重新绑定 TOTP（登录会强制要求），或停用不再使用的账户", true);
    else if (json_array_size(c->f.no_factor))
        set(c, "8.1.4.1d", IH_SC_PARTIAL, "有尚未首次登录的账户未绑定第二因素（首次登录时强制绑定）", ev,
            "让新账户尽快完成首次登录和 TOTP 绑定，或停用未使用的账户", false);
    else
        set(c, "8.1.4.1d", IH_SC_PASS, "所有在用的工作人员和管理员账户均已绑定 TOTP 第二因素", ev, NULL, false);
}

static void access_items(ctx *c)
{
    facts *f = &c->f;
    json_t *roles = json_object();
    for (int r = IH_ROLE_PATIENT + 1; r < IH_ROLE__COUNT; r++)
        json_object_set_new(roles, ih_role_name((ih_role)r), json_integer(f->by_role[r]));
    set(c, "8.1.4.2a", IH_SC_PASS, "每个用户一个账户，一个账户一个角色，权限按角色授予",
        json_pack("{s:s, s:I, s:I, s:O}", "checked_by", "account table: usernames unique (case-insensitive)",
                  "accounts", (json_int_t)f->accounts, "distinct_usernames", (json_int_t)f->distinct_names,
                  "active_by_role", roles),
        NULL, false);

    char cred[PATH_MAX];
    struct stat sb;
    bool initial = ih_instance_path(c->in, "initial-credentials", cred, sizeof cred) == IH_OK && stat(cred, &sb) == 0;
    json_t *ev = json_pack("{s:s, s:O, s:b, s:b}", "checked_by",
                           "usernames against a list of well-known defaults; DIR/initial-credentials; [instance] demo",
                           "default_usernames", f->defaults, "initial_credentials_file_present", initial, "demo",
                           c->conf->demo);
    if (c->conf->demo)
        set(c, "8.1.4.2b", IH_SC_FAIL, "演示实例：演示账户的口令写在 demo-credentials.json 中，属公开口令", ev,
            "演示实例不得用于真实患者；生产环境用 ihos init 新建实例", true);
    else if (json_array_size(f->defaults))
        set(c, "8.1.4.2b", IH_SC_FAIL, "存在通用默认用户名的在用账户", ev, "重命名或停用这些账户", true);
    else if (initial)
        set(c, "8.1.4.2b", IH_SC_PARTIAL, "初始管理员的一次性口令文件仍在实例目录中", ev,
            "三位管理员首次登录改密后删除 DIR/initial-credentials", false);
    else
        set(c, "8.1.4.2b", IH_SC_PASS, "无默认账户；初始管理员账户名随机、口令一次性且首次登录必须修改", ev, NULL, false);

    ev = json_pack("{s:s, s:i, s:O, s:O}", "checked_by", "active accounts (not patients): expires_at, last_login_at",
                   "inactive_days", c->conf->inactive_days, "expired_but_active", f->expired, "unused_past_limit",
                   f->unused);
    if (json_array_size(f->expired) || json_array_size(f->unused))
        set(c, "8.1.4.2c", IH_SC_FAIL, "存在已过期仍启用或超过闲置期限未使用的账户", ev, "停用或删除这些账户", false);
    else
        set(c, "8.1.4.2c", IH_SC_PASS, "无过期仍启用或长期闲置的账户", ev, NULL, false);

    int missing = 0;
    json_t *admins = json_object();
    static const ih_role three[] = {IH_ROLE_SYSADMIN, IH_ROLE_SECADMIN, IH_ROLE_AUDITADMIN};
    for (int i = 0; i < 3; i++) {
        json_object_set_new(admins, ih_role_name(three[i]), json_integer(f->by_role[three[i]]));
        if (!f->by_role[three[i]]) missing++;
    }
    ev = json_pack("{s:s, s:O, s:O, s:i}", "checked_by",
                   "role_grant rows against each permission's bounds (policy/perm.h); active accounts per "
                   "administrator role",
                   "active_administrators", admins, "grants_outside_bounds", f->out_of_bounds, "stored_grants",
                   f->grants);
    if (json_array_size(f->out_of_bounds))
        set(c, "8.1.4.2d", IH_SC_FAIL, "存在越出三员分立边界的授权记录（一个管理员角色获得了另一管理员的权限）", ev,
            "删除这些授权记录并调查其来源（应用内无法产生此类记录）", false);
    else if (missing)
        set(c, "8.1.4.2d", IH_SC_PARTIAL, "三员分立的权限边界完整，但有管理员角色没有在用账户", ev,
            "为系统、安全、审计管理员各设至少一个在用账户，由不同的人持有", false);
    else
        set(c, "8.1.4.2d", IH_SC_PASS, "系统、安全、审计管理员由不同账户持有，权限互不越界，审计员无法关闭审计", ev, NULL,
            false);
    json_decref(admins);
    json_decref(roles);

    set(c, "8.1.4.2e", IH_SC_PASS, "每个接口声明所需权限，未声明即拒绝；授权只能由安全管理员在边界内调整",
        json_pack("{s:s, s:i, s:i}", "checked_by", "the permission table of this build and the stored grants",
                  "permissions", (int)IH_PERM__COUNT - 1, "stored_grants", f->grants),
        NULL, false);
    set(c, "8.1.4.2f", IH_SC_PASS, "主体为用户，客体细至记录（诊疗关系逐条检查）和字段（加密与脱敏）",
        json_pack("{s:s, s:I}", "checked_by", "the catalog of protected tables", "sealed_rows",
                  (json_int_t)c->integ.sealed_rows),
        NULL, false);
    set(c, "8.1.4.2g", IH_SC_PASS, "就诊和处方带安全标记，访问按标记控制，标记受 MAC 保护",
        json_pack("{s:s, s:O}", "checked_by", "SELECT label, count(*) FROM visit GROUP BY label", "visits_by_label",
                  f->labels),
        NULL, false);
}

static void audit_items(ctx *c)
{
    facts *f = &c->f;
    char oldest[32] = "-", newest[32] = "-", cp[32] = "-";
    if (f->oldest_ts) ih_time_iso(f->oldest_ts, oldest, sizeof oldest);
    if (f->newest_ts) ih_time_iso(f->newest_ts, newest, sizeof newest);
    if (f->last_checkpoint_at) ih_time_iso(f->last_checkpoint_at, cp, sizeof cp);
    json_t *ev = json_pack("{s:s, s:I, s:s, s:s}", "checked_by", "audit_tree.size; min(ts), max(ts) FROM audit_event",
                           "events", (json_int_t)f->events, "oldest", oldest, "newest", newest);
    if (f->events > 0)
        set(c, "8.1.4.3a", IH_SC_PASS, "审计始终开启，覆盖全部用户和服务器自身的操作、登录失败与安全事件", ev, NULL, false);
    else
        set(c, "8.1.4.3a", IH_SC_FAIL, "审计日志为空", ev, "检查实例是否被替换或重建", false);

    bool fields = f->newest && json_integer_value(json_object_get(f->newest, "ts")) > 0 &&
                  json_string_length(json_object_get(f->newest, "action")) > 0 &&
                  json_string_length(json_object_get(f->newest, "outcome")) > 0;
    set(c, "8.1.4.3b", fields ? IH_SC_PASS : IH_SC_FAIL,
        fields ? "每条记录含时间、主体、客体、事件类型和结果" : "最新审计记录缺少必需字段",
        json_pack("{s:s, s:O}", "checked_by", "the newest event's recorded fields", "newest_event",
                  f->newest ? f->newest : json_null()),
        "运行 ihos audit verify 并调查", false);

    int64_t online_days = f->oldest_ts ? (c->now - f->oldest_ts) / DAY_MS : 0;
    ev = json_pack("{s:s, s:i, s:I, s:I, s:I, s:s, s:I}", "checked_by",
                   "[audit] retention_days; a verification of the whole journal run now (ihos audit verify)",
                   "retention_days", c->conf->retention_days, "oldest_online_event_age_days", (json_int_t)online_days,
                   "verified_events", (json_int_t)f->verify.events, "verified_checkpoints",
                   (json_int_t)f->verify.checkpoints, "problem",
                   f->verify_e != IH_OK ? "verification could not run" : f->verify.problem, "unsealed_events",
                   (json_int_t)f->verify.unsealed);
    if (f->verify_e != IH_OK || f->verify.problem[0])
        set(c, "8.1.4.3c", IH_SC_FAIL, "审计日志校验失败：记录被修改、删除或检查点不符", ev,
            "运行 ihos audit verify 定位第一条问题记录，按事件处置流程调查，从备份和异地检查点核对", false);
    else if (c->conf->retention_days < 180)
        set(c, "8.1.4.3c", IH_SC_FAIL, "审计记录在线留存不足六个月", ev, "将 [audit] retention_days 设为 180 以上", true);
    else
        set(c, "8.1.4.3c", IH_SC_PASS, "审计记录只可追加，哈希树与签名检查点校验通过，在线留存不少于180天", ev, NULL, false);

    ev = json_pack("{s:s, s:s, s:I, s:i}", "checked_by", "audit_checkpoint table; [audit] checkpoint_interval",
                   "last_checkpoint", cp, "last_checkpoint_size", (json_int_t)f->last_checkpoint_size,
                   "checkpoint_interval_s", c->conf->checkpoint_interval);
    if (!f->last_checkpoint_at)
        set(c, "8.1.4.3d", IH_SC_FAIL, "审计日志从未产生签名检查点", ev, "启动 ihosd，检查点线程会按间隔签名", false);
    else
        set(c, "8.1.4.3d", IH_SC_PASS, "审计写入与业务同一事务，写不进审计则业务失败；无任何接口可关闭审计", ev, NULL, false);
}

static void intrusion_items(ctx *c)
{
    json_t *ev = json_pack("{s:s, s:s}", "checked_by", "[security] admin_allow", "admin_allow", c->conf->admin_allow);
    if (c->conf->admin_allow[0])
        set(c, "8.1.4.4c", IH_SC_PASS, "管理员只能从配置的地址范围登录", ev, NULL, false);
    else
        set(c, "8.1.4.4c", IH_SC_FAIL, "管理员可从任意地址登录", ev, "在 [security] admin_allow 中列出管理终端的地址范围",
            false);
    set(c, "8.1.4.4d", IH_SC_PASS, "所有输入按接口定义校验，SQL 全部使用绑定参数，错误信息不含 SQL、路径或堆栈",
        json_pack("{s:s, s:i, s:i}", "checked_by",
                  "the server's limits; parsers fuzzed (fuzz/), injection and XSS attempts in the test suite",
                  "max_body", c->conf->max_body, "request_timeout_s", c->conf->request_timeout),
        NULL, false);
    json_t *ev2 = json_deep_copy(c->sbom);
    if (json_object_get(c->sbom, "error"))
        set(c, "8.1.4.4e", IH_SC_PARTIAL, "无法列出依赖库清单", ev2, "运行 ihos sbom 查看原因", false);
    else if (json_array_size(json_object_get(c->sbom, "unpackaged")))
        set(c, "8.1.4.4e", IH_SC_PARTIAL, "有不属于任何 Debian 软件包的库，无法跟踪其安全公告", ev2,
            "移除这些库或改用 Debian 软件包提供的版本", false);
    else
        set(c, "8.1.4.4e", IH_SC_PASS, "所有依赖库均来自 Debian 软件包，可按版本跟踪安全公告（ihos sbom）", ev2, NULL, false);

    char when[32] = "-";
    if (c->trust.recorded_at) ih_time_iso(c->trust.recorded_at, when, sizeof when);
    ev = json_pack("{s:s, s:b, s:i, s:i, s:s, s:s, s:s, s:b, s:i}", "checked_by",
                   "keys/trust.manifest: its signature by the audit key, then each file's digest now", "recorded",
                   c->trust.recorded, "files", c->trust.files, "changed", c->trust.changed, "algorithm",
                   c->trust.algorithm, "recorded_at", when, "problem", c->trust.problem, "trust_enforce",
                   c->conf->trust_enforce, "trust_check_minutes", c->conf->trust_check_minutes);
    if (c->trust.problem[0])
        set(c, "8.1.4.6", IH_SC_FAIL, "程序或配置与记录的可信值不一致，或尚未记录", ev,
            "确认变更来源；属于正常升级或配置变更时运行 ihos trust record，否则按安全事件处置", false);
    else
        set(c, "8.1.4.6", IH_SC_PASS, "程序文件和配置的摘要与签名清单一致，启动时和运行中定期校验，不一致即告警", ev, NULL,
            false);
}

static json_t *links_ev(ctx *c, const char *how)
{
    return json_pack("{s:s, s:O, s:O}", "checked_by", how, "server_tls", c->tls, "links", c->links);
}

static void transport_items(ctx *c)
{
    const char *how = "the server's TLS context; each outbound link configured (scheme and host); pg_stat_ssl";
    bool ok = c->tls_ok && !c->links_plain;
    const char *plain = "有链路以明文传输重要数据（见 links 中 protected=false 的项）";
    const char *fix = "把这些链路改为 HTTPS/TLS（数据库链路设 sslmode=verify-full）或仅限本机回环";
    set(c, "8.1.4.7a", ok ? (c->syslog_plain ? IH_SC_PARTIAL : IH_SC_PASS) : IH_SC_FAIL,
        ok ? (c->syslog_plain ? "业务链路受 TLS（AEAD）保护，审计日志的 syslog 副本经明文 UDP 发往他机"
                              : "所有链路经 TLS（AEAD 套件同时保证完整性）或仅在本机")
           : plain,
        links_ev(c, how), c->syslog_plain && ok ? "syslog 副本改经本机 rsyslog（unix:）再以 TLS 转发" : fix, false);
    set(c, "8.1.4.8a", ok ? IH_SC_PASS : IH_SC_FAIL, ok ? "重要数据的所有传输均经 TLS 加密或仅在本机" : plain,
        links_ev(c, how), fix, !ok);
    set(c, "8.1.2.2", ok ? IH_SC_PASS : IH_SC_FAIL, ok ? "每条通信链路均使用 TLS 或仅在本机" : plain, links_ev(c, how),
        fix, false);
    set(c, "39786-8.4d", ok ? IH_SC_PARTIAL : IH_SC_FAIL,
        ok ? "传输加密使用 TLS 国际算法套件；密评期望国密（TLCP/SM4）通道" : plain, links_ev(c, how),
        ok ? "在入口部署支持国密 TLCP 的网关，或使用支持国密套件的 TLS 终结设备" : fix, !ok);
    set(c, "39786-8.4f", ok ? IH_SC_PARTIAL : IH_SC_FAIL,
        ok ? "传输完整性由 TLS AEAD 套件保证（国际算法）" : plain, links_ev(c, how),
        ok ? "在入口部署支持国密 TLCP 的网关" : fix, false);
}

static bool table_bad(const ctx *c, const char *const *tables)
{
    for (; *tables; tables++) {
        const char *p = c->integ.bad_tables;
        size_t n = strlen(*tables);
        while ((p = strstr(p, *tables)) != NULL) {
            if ((p == c->integ.bad_tables || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return true;
            p += n;
        }
    }
    return false;
}

static void storage_items(ctx *c)
{
    bool gm = c->in->suite == IH_SUITE_GM;
    const ih_integrity_report *r = &c->integ;
    json_t *ev = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "checked_by",
                           "the integrity scan run now (ihos integrity scan): every row MAC, every row the journal "
                           "recorded",
                           "rows_checked", (json_int_t)r->rows, "bad", (json_int_t)r->bad, "missing",
                           (json_int_t)r->missing, "older", (json_int_t)r->older, "tables_failing", r->bad_tables,
                           "mac", gm ? "HMAC-SM3" : "HMAC-SHA-256");
    bool scan_ok = c->integ_e == IH_OK && !r->bad && !r->missing && !r->older && !r->schema_problem[0];
    const char *fix = "按 tables_failing 查看 integrity.violation 审计事件，从备份核对被改动的记录，按安全事件处置";
    if (c->integ_e != IH_OK) json_object_set_new(ev, "error", json_string("the scan could not run"));
    set(c, "8.1.4.7b", scan_ok ? IH_SC_PASS : IH_SC_FAIL,
        scan_ok ? "受保护的每一行 MAC 校验通过，日志记录过的行均在且未被旧版本替换" : "存储数据完整性校验发现被改动的记录",
        json_deep_copy(ev), fix, false);
    set(c, "39786-8.4g", scan_ok ? (gm ? IH_SC_PASS : IH_SC_PARTIAL) : IH_SC_FAIL,
        !scan_ok ? "存储数据完整性校验发现被改动的记录"
        : gm     ? "存储完整性采用 HMAC-SM3，校验通过"
                 : "存储完整性校验通过，但使用国际算法 HMAC-SHA-256",
        json_deep_copy(ev), scan_ok ? "新建实例时选用 --suite gm（国密）" : fix, false);
    static const char *const acl[] = {"account", "role_grant", "session", NULL};
    static const char *const lbl[] = {"visit", "prescription", NULL};
    bool acl_bad = !scan_ok && (table_bad(c, acl) || c->integ_e != IH_OK);
    bool lbl_bad = !scan_ok && (table_bad(c, lbl) || c->integ_e != IH_OK);
    set(c, "39786-8.4b", acl_bad ? IH_SC_FAIL : gm ? IH_SC_PASS : IH_SC_PARTIAL,
        acl_bad ? "账户、授权或会话记录的完整性校验失败" : "账户、角色授权和会话记录均带 MAC，校验通过",
        json_deep_copy(ev), acl_bad ? fix : "新建实例时选用 --suite gm（国密）", false);
    set(c, "39786-8.4c", lbl_bad ? IH_SC_FAIL : gm ? IH_SC_PASS : IH_SC_PARTIAL,
        lbl_bad ? "带安全标记的记录完整性校验失败" : "安全标记随记录受 MAC 保护，校验通过", json_deep_copy(ev),
        lbl_bad ? fix : "新建实例时选用 --suite gm（国密）", false);
    json_decref(ev);

    int64_t rotate_ms = c->conf->key_rotate_days * DAY_MS;
    ev = json_pack("{s:s, s:s, s:s, s:I, s:I, s:O, s:i}", "checked_by",
                   "the integrity scan's sealed columns (each ciphertext under a key version held); dek table",
                   "cipher", gm ? "SM4-CTR + HMAC-SM3" : "AES-256-GCM", "kek_source", c->conf->kek_source, "sealed_rows",
                   (json_int_t)r->sealed_rows, "unopenable", (json_int_t)r->unopenable, "data_keys", c->f.keys,
                   "rotate_days", c->conf->key_rotate_days);
    bool old_keys = c->f.oldest_key_ms > rotate_ms;
    if (r->unopenable)
        set(c, "8.1.4.8b", IH_SC_PARTIAL, "个人和临床字段均加密存储，但有密文所用的密钥版本已不在", json_deep_copy(ev),
            "从备份恢复缺失的密钥版本，查明原因", false);
    else if (old_keys)
        set(c, "8.1.4.8b", IH_SC_PARTIAL, "个人和临床字段均加密存储，但有数据密钥超过轮换期限", json_deep_copy(ev),
            "运行 ihos key rotate（按用途），旧密文会在后台重新加密", false);
    else
        set(c, "8.1.4.8b", IH_SC_PASS, "个人和临床字段加密存储，数据密钥由 KEK 包裹，在轮换期限内", json_deep_copy(ev),
            NULL, false);
    set(c, "39786-8.4e", gm && !r->unopenable && !old_keys ? IH_SC_PASS : IH_SC_PARTIAL,
        gm ? "存储加密使用 SM4" : "存储加密使用国际算法 AES-256-GCM；密评期望 SM4", ev,
        gm ? "轮换超期的密钥" : "新建实例时选用 --suite gm（国密）", false);
}

static void backup_items(ctx *c)
{
    facts *f = &c->f;
    char dir[PATH_MAX] = "";
    int nlocal = 0, noff = 0;
    int64_t local = ih_instance_path(c->in, "backups", dir, sizeof dir) == IH_OK ? newest_backup(dir, &nlocal) : 0;
    /* The backup job runs on one node of a cluster (its lease): a backup
     * the journal records whose file is not in this node's DIR/backups was
     * made elsewhere, and counts as of when it was made.  One that is here
     * is judged by its file. */
    int64_t newest = local, elsewhere = 0;
    if (dir[0] && f->last_backup && ih_app_backup_name(f->last_backup_file)) {
        char p[PATH_MAX + 100];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, f->last_backup_file);
        if (stat(p, &sb) != 0) elsewhere = f->last_backup;
        if (elsewhere > newest) newest = elsewhere;
    }
    int64_t offsite = 0;
    if (c->conf->offsite_dir[0] && ih_instance_path(c->in, c->conf->offsite_dir, dir, sizeof dir) == IH_OK)
        offsite = newest_backup(dir, &noff);
    if (c->conf->offsite_command[0] && f->last_offsite_event > offsite) offsite = f->last_offsite_event;
    char lw[32] = "-", ow[32] = "-", dw[32] = "-", ew[32] = "-";
    if (local) ih_time_iso(local, lw, sizeof lw);
    if (elsewhere) ih_time_iso(elsewhere, ew, sizeof ew);
    if (offsite) ih_time_iso(offsite, ow, sizeof ow);
    if (f->last_drill) ih_time_iso(f->last_drill, dw, sizeof dw);
    json_t *ev = json_pack("{s:s, s:b, s:i, s:s, s:I, s:s, s:s?, s:s, s:I}", "checked_by",
                           "backup files in DIR/backups (newest mtime); the journal's last backup.create whose file "
                           "is not here (made on another node); the last backup.restore_drill in the journal",
                           "enabled", c->conf->backup_enabled, "local_backups", nlocal, "newest_local", lw,
                           "newest_age_hours", (json_int_t)(newest ? (c->now - newest) / 3600000 : -1),
                           "newest_elsewhere", ew, "newest_elsewhere_file", elsewhere ? f->last_backup_file : NULL,
                           "last_restore_drill", dw, "last_restore_drill_age_days",
                           (json_int_t)(f->last_drill ? (c->now - f->last_drill) / DAY_MS : -1));
    if (!newest)
        set(c, "8.1.4.9a", IH_SC_FAIL, "没有备份（本节点和审计日志中都没有）", ev, "启用 [backup] enabled 或运行一次备份（POST /api/v1/backups）",
            true);
    else if (c->now - newest > 2 * DAY_MS || !c->conf->backup_enabled)
        set(c, "8.1.4.9a", IH_SC_FAIL, "最近一次备份已超过两天，或每日备份未启用", ev,
            "检查 backup.failed 告警与每日备份配置，立即补做一次备份", false);
    else if (!f->last_drill || c->now - f->last_drill > 365 * DAY_MS)
        set(c, "8.1.4.9a", IH_SC_PARTIAL, "每日备份正常，但一年内没有恢复演练记录", ev,
            "用恢复密钥把最近的备份恢复到临时目录：ihos restore BACKUP SCRATCH --recovery-key-file F --drill-of DIR",
            false);
    else
        set(c, "8.1.4.9a", IH_SC_PASS, "每日备份正常，一年内做过恢复演练", ev, NULL, false);

    ev = json_pack("{s:s, s:b, s:s, s:b, s:I, s:I, s:I}", "checked_by",
                   "[backup] offsite_dir (newest copy) or backup.offsite events; PostgreSQL pg_stat_archiver",
                   "offsite_configured", c->conf->offsite_dir[0] || c->conf->offsite_command[0], "newest_offsite_copy",
                   ow, "postgres", f->pg, "wal_archived", (json_int_t)f->archived, "wal_archive_failed",
                   (json_int_t)f->archive_failed, "last_wal_archived_seconds_ago", (json_int_t)f->archive_age_s);
    bool wal = f->pg && f->pg_stats_ok && f->archived > 0 && f->archive_age_s >= 0 && f->archive_age_s < 3600;
    bool copy = offsite && c->now - offsite <= 2 * DAY_MS;
    if (wal)
        set(c, "8.1.4.9b", IH_SC_PASS, "WAL 连续归档到第二位置（实时异地副本）", ev, NULL, false);
    else if (copy)
        set(c, "8.1.4.9b", IH_SC_PARTIAL, "每日备份复制到异地，但不是实时", ev,
            "生产部署使用 PostgreSQL 并以 pgBackRest 连续归档 WAL 到异地", false);
    else
        set(c, "8.1.4.9b", IH_SC_FAIL, "没有近期的异地备份副本", ev,
            "配置 [backup] offsite_dir 或 offsite_command；生产部署以 pgBackRest 连续归档 WAL", false);

    ev = json_pack("{s:s, s:s, s:I, s:I, s:O}", "checked_by",
                   "pg_stat_replication on the primary; node presence leases renewed by each ihosd", "backend",
                   c->conf->backend, "standbys", (json_int_t)f->standbys, "synchronous_standbys",
                   (json_int_t)f->sync_standbys, "ihosd_nodes_seen", f->nodes);
    size_t nodes = json_array_size(f->nodes);
    if (!f->pg)
        set(c, "8.1.4.9c", IH_SC_FAIL, "嵌入式 SQLite 单机部署，无热冗余", ev,
            "生产环境按 docs/deployment.md 部署两台 ihosd 与 Patroni 管理的 PostgreSQL 主库和同步备库", true);
    else if (f->sync_standbys > 0 && nodes >= 2)
        set(c, "8.1.4.9c", IH_SC_PASS, "数据库有同步备库，且有两个以上 ihosd 节点在线", ev, NULL, false);
    else if (f->sync_standbys > 0 || nodes >= 2)
        set(c, "8.1.4.9c", IH_SC_PARTIAL,
            f->sync_standbys > 0 ? "数据库有同步备库，但在线的 ihosd 节点少于两个" : "有两个以上 ihosd 节点，但数据库没有同步备库",
            ev, "补齐同步备库（Patroni synchronous_mode）和第二个 ihosd 节点", false);
    else
        set(c, "8.1.4.9c", IH_SC_FAIL, "数据库没有同步备库，在线的 ihosd 节点少于两个", ev,
            "按 docs/deployment.md 部署同步备库和第二个 ihosd 节点", true);
}

static void privacy_items(ctx *c)
{
    set(c, "8.1.4.10", IH_SC_PASS, "注销在服务端撤销会话，令牌只存摘要；含个人数据的响应禁止缓存；密钥和口令用后清零",
        json_pack("{s:s, s:I}", "checked_by", "session table: live sessions (tokens stored as digests only)",
                  "live_sessions", (json_int_t)c->f.sessions_live),
        NULL, false);
    set(c, "8.1.4.11a", IH_SC_PASS, "只采集互联网诊疗和监管上报必需的个人信息，每个字段的用途见数据清单（ihos filing）",
        json_pack("{s:s, s:I}", "checked_by", "the catalog of sealed columns", "sealed_rows",
                  (json_int_t)c->integ.sealed_rows),
        NULL, false);
    set(c, "8.1.4.11b", IH_SC_PASS,
        c->conf->demo ? "演示实例只含合成数据；个人信息按角色脱敏，访问需诊疗关系并记入审计"
                      : "个人信息按角色脱敏，访问需诊疗关系或经审计的紧急授权",
        json_pack("{s:s, s:b}", "checked_by", "[instance] demo; masking rules of this build", "demo", c->conf->demo),
        NULL, false);
}

static void management_items(ctx *c)
{
    bool central = c->conf->audit_syslog[0] != 0;
    int missing = !c->f.by_role[IH_ROLE_SYSADMIN] + !c->f.by_role[IH_ROLE_SECADMIN] + !c->f.by_role[IH_ROLE_AUDITADMIN];
    json_t *ev = json_pack("{s:s, s:s, s:i, s:I, s:I}", "checked_by",
                           "[audit] syslog; active administrator accounts; the incident table", "audit_syslog",
                           central ? "configured" : "", "administrator_roles_without_account", missing,
                           "incidents_not_resolved", (json_int_t)c->f.incidents_open, "breach_reports_overdue",
                           (json_int_t)c->f.breach_overdue);
    if (c->f.breach_overdue)
        set(c, "8.1.5", IH_SC_FAIL, "有个人信息泄露事件超过24小时仍未报送", ev,
            "立即向卫生健康主管部门、网信部门和公安机关报送（GET /api/v1/incidents/{id}/breach-report），并记录报送时间",
            false);
    else if (central && !missing)
        set(c, "8.1.5", IH_SC_PASS, "三员经鉴别且受审计的接口分别管理，审计事件实时发往集中日志", ev, NULL, false);
    else
        set(c, "8.1.5", IH_SC_PARTIAL,
            central ? "集中日志已配置，但有管理员角色没有在用账户" : "三员分别管理，但未配置集中日志收集", ev,
            "在 [audit] syslog 配置集中日志服务器（udp:// 或 unix: 经本机 rsyslog 转发）", false);

    bool gm = c->in->suite == IH_SUITE_GM;
    bool sm3 = !strcmp(c->conf->totp_algorithm, "SM3");
    set(c, "39786-8.4a", gm && sm3 ? IH_SC_PASS : IH_SC_PARTIAL,
        gm && sm3 ? "口令以 Argon2id 保存，第二因素 TOTP 使用 HMAC-SM3"
                  : "身份鉴别使用密码技术（Argon2id 口令摘要、HMAC 动态口令），但未使用国密算法",
        json_pack("{s:s, s:s, s:s}", "checked_by", "[instance] suite; [security] totp_algorithm", "suite",
                  ih_suite_name(c->in->suite), "totp_algorithm", c->conf->totp_algorithm),
        "使用 --suite gm 的实例并设 [security] totp_algorithm = SM3", false);
    json_t *rx = json_pack("{s:s, s:I, s:I, s:s}", "checked_by",
                           "prescription rows: the doctor's signature, and the pharmacist's once approved",
                           "prescriptions", (json_int_t)c->f.rx, "unsigned", (json_int_t)c->f.rx_unsigned, "algorithm",
                           gm ? "SM2" : "Ed25519");
    if (c->f.rx_unsigned)
        set(c, "39786-8.4h", IH_SC_FAIL, "有处方缺少医师或药师的签名", rx, "调查这些处方的来源", false);
    else
        set(c, "39786-8.4h", gm ? IH_SC_PASS : IH_SC_PARTIAL,
            gm ? "处方与病历由医师、药师以 SM2 签名" : "处方与病历有数字签名，但使用国际算法 Ed25519", rx,
            "新建实例时选用 --suite gm（国密）", false);
}

/* ---- the run ------------------------------------------------------------- */

static void facts_free(facts *f)
{
    json_t **all[] = {&f->no_factor, &f->no_factor_used, &f->expired, &f->unused, &f->defaults, &f->out_of_bounds,
                      &f->newest, &f->labels, &f->keys, &f->nodes};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) json_decref(*all[i]);
}

ih_err ih_app_selfcheck(const ih_selfcheck_env *env, const ih_actor *who, json_t **out)
{
    ctx c;
    memset(&c, 0, sizeof c);
    c.env = env;
    c.in = env->in;
    c.conf = &env->in->conf;
    c.now = ih_now_ms();
    facts *f = &c.f;
    f->no_factor = json_array(), f->no_factor_used = json_array(), f->expired = json_array();
    f->unused = json_array(), f->defaults = json_array(), f->out_of_bounds = json_array();
    f->labels = json_object(), f->keys = json_array(), f->nodes = json_array();
    c.links = json_array();
    f->pg = ih_store_kind_of(c.in->store) == IH_STORE_PG;
    ih_err e = ih_sc_new(&c.rep);
    if (e == IH_OK) e = ih_store_read(c.in->store, accounts_fn, &c);
    if (e == IH_OK) e = ih_store_read(c.in->store, journal_fn, &c);
    if (e == IH_OK) e = ih_store_read(c.in->store, data_fn, &c);
    if (e == IH_OK && f->pg && ih_store_read(c.in->store, pg_fn, &c) != IH_OK) ih_err_clear(); /* privileges */
    if (e == IH_OK) {
        f->verify_e = ih_audit_verify(c.in->store, c.in->suite, c.in->origin, c.in->audit_pub, c.in->checkpoint_file,
                                      &f->verify);
        if (f->verify_e != IH_OK) ih_err_clear();
        ih_catalog *cat = malloc(sizeof *cat);
        if (!cat) e = ih_fail(IH_E_NOMEM, "out of memory");
        else {
            ih_catalog_build(cat, c.in->store, c.in->keys, env->id, env->clinic, env->report);
            c.integ_e = ih_catalog_scan(cat, c.in->audit, &c.integ);
            if (c.integ_e != IH_OK) ih_err_clear();
            free(cat);
        }
    }
    if (e == IH_OK) {
        e = ih_app_trust_verify(c.in, NULL, &c.trust);
    }
    if (e == IH_OK) {
        tls_facts(&c);
        add_link(&c, "[report] gateway", c.conf->report_enabled ? c.conf->report_gateway : "");
        add_link(&c, "[registry] realname_url", c.conf->realname_url);
        add_link(&c, "[registry] sms_url", c.conf->sms_url);
        add_link(&c, "[payment] url", c.conf->pay_url);
        add_link(&c, "[audit] witness_url", c.conf->witness_url);
        add_link(&c, "[audit] syslog", c.conf->audit_syslog);
        db_link(&c);
        peer_links(&c);
        sbom_facts(&c);
        identity_items(&c);
        access_items(&c);
        audit_items(&c);
        intrusion_items(&c);
        transport_items(&c);
        storage_items(&c);
        backup_items(&c);
        privacy_items(&c);
        management_items(&c);
        e = ih_sc_finish(c.rep, c.conf->name, c.now, out);
    }
    bool hr = e == IH_OK && ih_sc_has_high_risk(*out);
    char reason[64];
    snprintf(reason, sizeof reason, "%s", e != IH_OK ? "" : hr ? "high-risk findings" : "no high-risk finding");
    ih_audit_event ev = {.action = "selfcheck.run", .object_type = "instance", .object_id = c.in->instance_id,
                         .reason = reason[0] ? reason : NULL, .result = e};
    ih_err ae = ih_audit_record(c.in->audit, who, &ev);
    ih_sc_free(c.rep);
    facts_free(f);
    json_decref(c.tls);
    json_decref(c.links);
    json_decref(c.sbom);
    if (e == IH_OK && ae != IH_OK) {
        json_decref(*out);
        *out = NULL;
        return ae; /* audited before answered */
    }
    return e;
}
