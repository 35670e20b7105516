/* av.c — Janus's HTTP API, Janus tokens and coturn credentials, and the
 * health of system A (av.h). */
#include "remote/av.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/url.h"
#include "crypto/suite.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BODY (256 * 1024)
#define MAX_TURN_URLS 4

struct ih_av {
    char *janus_url, *janus_public, *ca_file, *token_secret, *admin_key, *turn_secret, *rec_dir, *pp_rec;
    char janus_origin[256];
    char *turn_urls[MAX_TURN_URLS];
    int nturn;
    bool relay_only;
    int health_seconds;
    atomic_bool janus_up;
    atomic_uint_fast64_t calls_janus, calls_p2p, switches, checks_failed;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, stop;
};

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static void free_secret(char *s)
{
    if (s) ih_wipe(s, strlen(s));
    free(s);
}

/* https, or http on loopback (what a hospital may accept for an API that
 * carries room secrets). */
static ih_err check_url(const char *key, const char *url)
{
    if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))
        return ih_fail(IH_E_CONFIG, "[av] %s must be https:// (or http:// on loopback)", key);
    if (!strncmp(url, "http://", 7)) {
        const char *h;
        size_t n = ih_url_host(url, &h);
        if (!ih_host_loopback(h, n)) return ih_fail(IH_E_CONFIG, "[av] %s: plain http only on loopback", key);
    }
    return IH_OK;
}

/* The origin of an absolute URL: scheme://host[:port]. */
static void origin_of(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    const char *end = p ? strchr(p + 3, '/') : NULL;
    size_t len = end ? (size_t)(end - url) : strlen(url);
    snprintf(out, n, "%.*s", (int)len, url);
}

static ih_err parse_turn(ih_av *a, const char *list)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ') len--;
        if (a->nturn == MAX_TURN_URLS) return ih_fail(IH_E_CONFIG, "[av] turn_urls: at most %d", MAX_TURN_URLS);
        if ((len < 6 || strncmp(p, "turn:", 5)) && (len < 7 || strncmp(p, "turns:", 6)))
            return ih_fail(IH_E_CONFIG, "[av] turn_urls: each must start with turn: or turns:");
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] <= ' ' || p[i] == '"' || p[i] == '\\')
                return ih_fail(IH_E_CONFIG, "[av] turn_urls: a URL holds no spaces, quotes or backslashes");
        a->turn_urls[a->nturn] = strndup(p, len);
        IH_CHECK_ALLOC(a->turn_urls[a->nturn]);
        a->nturn++;
        p += strcspn(p, ",");
    }
    return IH_OK;
}

ih_err ih_av_new(const ih_av_opts *o, ih_av **out)
{
    *out = NULL;
    bool janus = o->janus_url && o->janus_url[0], turn = o->turn_urls && o->turn_urls[0];
    if (janus) {
        IH_TRY(check_url("janus_url", o->janus_url));
        if (o->janus_public_url && o->janus_public_url[0] && strncmp(o->janus_public_url, "https://", 8))
            return ih_fail(IH_E_CONFIG, "[av] janus_public_url must be https:// (browsers' pages are https)");
        if (!o->janus_token_secret || strlen(o->janus_token_secret) < 16)
            return ih_fail(IH_E_CONFIG, "[av] Janus's token secret must hold at least 16 characters");
        if (!o->janus_admin_key || !o->janus_admin_key[0]) return ih_fail(IH_E_CONFIG, "[av] Janus's admin key is empty");
    }
    if (turn && (!o->turn_secret || strlen(o->turn_secret) < 16))
        return ih_fail(IH_E_CONFIG, "[av] coturn's secret must hold at least 16 characters");
    ih_av *a = calloc(1, sizeof *a);
    IH_CHECK_ALLOC(a);
    a->janus_url = dup_or_empty(janus ? o->janus_url : "");
    a->janus_public = dup_or_empty(janus && o->janus_public_url && o->janus_public_url[0] ? o->janus_public_url
                                                                                          : a->janus_url);
    a->ca_file = dup_or_empty(o->janus_ca_file);
    a->token_secret = dup_or_empty(janus ? o->janus_token_secret : "");
    a->admin_key = dup_or_empty(janus ? o->janus_admin_key : "");
    a->turn_secret = dup_or_empty(turn ? o->turn_secret : "");
    a->rec_dir = dup_or_empty(janus ? o->recordings_dir : "");
    a->pp_rec = dup_or_empty(o->pp_rec && o->pp_rec[0] ? o->pp_rec : "/usr/bin/janus-pp-rec");
    a->relay_only = o->relay_only;
    a->health_seconds = o->health_seconds > 0 ? o->health_seconds : 5;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (!a->janus_url || !a->janus_public || !a->ca_file || !a->token_secret || !a->admin_key || !a->turn_secret ||
        !a->rec_dir || !a->pp_rec) {
        ih_av_free(a);
        return ih_fail(IH_E_NOMEM, "av");
    }
    for (size_t n = strlen(a->janus_url); n && a->janus_url[n - 1] == '/'; n--) a->janus_url[n - 1] = '\0';
    for (size_t n = strlen(a->janus_public); n && a->janus_public[n - 1] == '/'; n--) a->janus_public[n - 1] = '\0';
    if (janus) origin_of(a->janus_public, a->janus_origin, sizeof a->janus_origin);
    ih_err e = turn ? parse_turn(a, o->turn_urls) : IH_OK;
    if (e != IH_OK) {
        ih_av_free(a);
        return e;
    }
    *out = a;
    return IH_OK;
}

bool ih_av_has_janus(const ih_av *a) { return a && a->janus_url[0]; }
bool ih_av_has_turn(const ih_av *a) { return a && a->nturn > 0; }
bool ih_av_janus_up(ih_av *a) { return ih_av_has_janus(a) && atomic_load(&a->janus_up); }
const char *ih_av_janus_origin(const ih_av *a) { return a ? a->janus_origin : ""; }

/* ---- credentials ------------------------------------------------------------------------------------ */

static ih_err hmac_sha1_b64(const char *key, const char *data, char *out, size_t n)
{
    uint8_t mac[20];
    IH_TRY(ih_hmac(IH_MD_SHA1, key, strlen(key), data, strlen(data), mac));
    if (n < 29) return ih_fail(IH_E_INTERNAL, "av: short buffer");
    ih_b64_encode(mac, sizeof mac, out);
    ih_wipe(mac, sizeof mac);
    return IH_OK;
}

ih_err ih_av_janus_token(const ih_av *a, int64_t expires, char *out, size_t n)
{
    char data[96], sig[32];
    snprintf(data, sizeof data, "%lld,janus,janus.plugin.videoroom", (long long)expires);
    IH_TRY(hmac_sha1_b64(a->token_secret, data, sig, sizeof sig));
    if ((size_t)snprintf(out, n, "%s:%s", data, sig) >= n) return ih_fail(IH_E_INTERNAL, "av: short token buffer");
    return IH_OK;
}

ih_err ih_av_turn_password(const ih_av *a, const char *user, char *out, size_t n)
{
    return hmac_sha1_b64(a->turn_secret, user, out, n);
}

ih_err ih_av_grant_janus(ih_av *a, int64_t room, const char *pin, const char *room_token, int64_t expires,
                         json_t *obj)
{
    char token[160];
    IH_TRY(ih_av_janus_token(a, expires, token, sizeof token));
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s}", "url", a->janus_public, "token", token, "room", (json_int_t)room,
                          "pin", pin, "room_token", room_token);
    ih_wipe(token, sizeof token);
    if (!j || json_object_set_new(obj, "janus", j)) return ih_fail(IH_E_NOMEM, "av");
    return IH_OK;
}

ih_err ih_av_grant_turn(ih_av *a, const char *user, int64_t expires, bool p2p, json_t *obj)
{
    json_t *servers = json_array();
    IH_CHECK_ALLOC(servers);
    if (a->nturn) {
        char name[128], pw[32];
        snprintf(name, sizeof name, "%lld:%s", (long long)expires, user);
        ih_err e = ih_av_turn_password(a, name, pw, sizeof pw);
        json_t *urls = json_array();
        for (int i = 0; urls && i < a->nturn; i++) json_array_append_new(urls, json_string(a->turn_urls[i]));
        json_t *s = e == IH_OK && urls ? json_pack("{s:O, s:s, s:s}", "urls", urls, "username", name, "credential", pw)
                                       : NULL;
        json_decref(urls);
        ih_wipe(pw, sizeof pw);
        if (e != IH_OK || !s || json_array_append_new(servers, s)) {
            json_decref(servers);
            return e != IH_OK ? e : ih_fail(IH_E_NOMEM, "av");
        }
    }
    if (json_object_set_new(obj, "ice_servers", servers)) return ih_fail(IH_E_NOMEM, "av");
    if (p2p && json_object_set_new(obj, "relay_only", json_boolean(a->relay_only))) return ih_fail(IH_E_NOMEM, "av");
    return IH_OK;
}

/* ---- Janus's HTTP API -------------------------------------------------------------------------------- */

static size_t collect(char *d, size_t size, size_t n, void *ud)
{
    ih_buf *b = ud;
    if (b->len + size * n > MAX_BODY || ih_buf_append(b, d, size * n) != IH_OK) return 0;
    return size * n;
}

/* GET (post NULL) or POST path under janus_url; the answer as JSON. */
static ih_err janus_call(ih_av *a, const char *path, json_t *post, long timeout_s, json_t **out)
{
    *out = NULL;
    ih_buf body = IH_BUF_INIT;
    if (post) IH_TRY(ih_json_dump(post, JSON_COMPACT, &body));
    CURL *h = curl_easy_init();
    if (!h) {
        ih_buf_wipe(&body);
        return ih_fail(IH_E_NOMEM, "curl");
    }
    char url[2048];
    snprintf(url, sizeof url, "%s%s", a->janus_url, path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    ih_buf b = IH_BUF_INIT;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->ca_file[0]) curl_easy_setopt(h, CURLOPT_CAINFO, a->ca_file);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 3L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.p);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    }
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    ih_buf_wipe(&body); /* held the admin key or a room secret */
    ih_err e = IH_OK;
    if (rc != CURLE_OK) e = ih_fail(IH_E_UNAVAILABLE, "Janus cannot be reached: %s", curl_easy_strerror(rc));
    else if (status != 200) e = ih_fail(IH_E_UNAVAILABLE, "Janus answered HTTP %ld", status);
    else if (!(*out = json_loadb(b.p, b.len, 0, NULL))) e = ih_fail(IH_E_UNAVAILABLE, "Janus's answer is not JSON");
    ih_buf_wipe(&b);
    return e;
}

static void set_up(ih_av *a, bool up)
{
    bool was = atomic_exchange(&a->janus_up, up);
    if (was != up) ih_log(up ? IH_LOG_INFO : IH_LOG_ERROR, up ? "av.janus_up" : "av.janus_down", "alert",
                          up ? "false" : "true", "detail", up ? "" : ih_err_detail(), NULL);
    if (!up) atomic_fetch_add(&a->checks_failed, 1);
}

ih_err ih_av_janus_check(ih_av *a)
{
    if (!ih_av_has_janus(a)) return ih_fail(IH_E_UNAVAILABLE, "no Janus configured");
    json_t *j;
    ih_err e = janus_call(a, "/info", NULL, 3, &j);
    if (e == IH_OK && strcmp(json_string_value(json_object_get(j, "janus")) ?: "", "server_info"))
        e = ih_fail(IH_E_UNAVAILABLE, "Janus's /info is not server_info");
    if (e == IH_OK && !json_is_object(json_object_get(json_object_get(j, "plugins"), "janus.plugin.videoroom")))
        e = ih_fail(IH_E_UNAVAILABLE, "Janus has no videoroom plugin");
    json_decref(j);
    set_up(a, e == IH_OK);
    return e;
}

/* A Janus request's "janus" member must be `want`; its error otherwise. */
static ih_err janus_ok(json_t *j, const char *want)
{
    const char *kind = json_string_value(json_object_get(j, "janus"));
    if (kind && !strcmp(kind, want)) return IH_OK;
    json_t *err = json_object_get(j, "error");
    return ih_fail(IH_E_UNAVAILABLE, "Janus refused: %lld %s", (long long)json_integer_value(json_object_get(err, "code")),
                   json_string_value(json_object_get(err, "reason")) ?: "");
}

/* One videoroom request on a session and handle of ihosd's own, then the
 * session destroyed; *data: the plugin's answer. */
static ih_err videoroom(ih_av *a, json_t *req, json_t **data)
{
    *data = NULL;
    char token[160], tx[24], path[96];
    int64_t now = ih_now_ms() / 1000;
    ih_err e = ih_av_janus_token(a, now + 60, token, sizeof token);
    uint64_t rnd = 0;
    if (e == IH_OK) e = ih_random(&rnd, sizeof rnd);
    snprintf(tx, sizeof tx, "ihos%llx", (unsigned long long)rnd);
    json_t *j = NULL, *msg = NULL;
    if (e == IH_OK) {
        msg = json_pack("{s:s, s:s, s:s}", "janus", "create", "transaction", tx, "token", token);
        e = msg ? janus_call(a, "", msg, 10, &j) : ih_fail(IH_E_NOMEM, "av");
        json_decref(msg);
    }
    if (e == IH_OK) e = janus_ok(j, "success");
    int64_t session = e == IH_OK ? json_integer_value(json_object_get(json_object_get(j, "data"), "id")) : 0;
    json_decref(j);
    j = NULL;
    int64_t handle = 0;
    if (e == IH_OK) {
        snprintf(path, sizeof path, "/%lld", (long long)session);
        msg = json_pack("{s:s, s:s, s:s, s:s}", "janus", "attach", "plugin", "janus.plugin.videoroom", "transaction", tx,
                        "token", token);
        e = msg ? janus_call(a, path, msg, 10, &j) : ih_fail(IH_E_NOMEM, "av");
        json_decref(msg);
        if (e == IH_OK) e = janus_ok(j, "success");
        if (e == IH_OK) handle = json_integer_value(json_object_get(json_object_get(j, "data"), "id"));
        json_decref(j);
        j = NULL;
    }
    if (e == IH_OK) {
        snprintf(path, sizeof path, "/%lld/%lld", (long long)session, (long long)handle);
        msg = json_pack("{s:s, s:s, s:s, s:O}", "janus", "message", "transaction", tx, "token", token, "body", req);
        e = msg ? janus_call(a, path, msg, 10, &j) : ih_fail(IH_E_NOMEM, "av");
        json_decref(msg);
        if (e == IH_OK) e = janus_ok(j, "success");
        if (e == IH_OK) {
            *data = json_incref(json_object_get(json_object_get(j, "plugindata"), "data"));
            if (!*data) e = ih_fail(IH_E_UNAVAILABLE, "Janus's videoroom gave no answer");
        }
        json_decref(j);
        j = NULL;
    }
    if (session) { /* ihosd's own session ends now, whatever happened */
        snprintf(path, sizeof path, "/%lld", (long long)session);
        msg = json_pack("{s:s, s:s, s:s}", "janus", "destroy", "transaction", tx, "token", token);
        if (msg && janus_call(a, path, msg, 5, &j) == IH_OK) json_decref(j);
        json_decref(msg);
    }
    ih_wipe(token, sizeof token);
    return e;
}

ih_err ih_av_room_create(ih_av *a, int64_t room, const char *pin, const char *secret, int publishers)
{
    /* fir_freq: Janus asks each publisher for a key frame every 10 s, so a
     * subscriber whose first key frame was lost (a loaded network at
     * join) shows the picture at the next one instead of never */
    json_t *req = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b, s:b, s:i, s:s, s:b, s:b, s:i}", "request", "create",
                            "admin_key", a->admin_key, "room", (json_int_t)room, "pin", pin, "secret", secret,
                            "is_private", 1, "require_pvtid", 1, "publishers", publishers, "description", "ihos",
                            "record", 0, "lock_record", 1, "fir_freq", 10);
    if (!req) return ih_fail(IH_E_NOMEM, "av");
    /* an empty allow-list switches Janus's check on: only tokens ihosd adds
     * per participant (ih_av_room_allow) publish in the room */
    if ((a->rec_dir[0] && json_object_set_new(req, "rec_dir", json_string(a->rec_dir))) ||
        json_object_set_new(req, "allowed", json_array())) {
        json_decref(req);
        return ih_fail(IH_E_NOMEM, "av");
    }
    json_t *data;
    ih_err e = videoroom(a, req, &data);
    json_object_clear(req); /* held the admin key */
    json_decref(req);
    if (e == IH_OK && strcmp(json_string_value(json_object_get(data, "videoroom")) ?: "", "created"))
        e = ih_fail(IH_E_UNAVAILABLE, "Janus did not create the room: %lld %s",
                    (long long)json_integer_value(json_object_get(data, "error_code")),
                    json_string_value(json_object_get(data, "error")) ?: "");
    json_decref(data);
    if (e != IH_OK) set_up(a, false);
    return e;
}

ih_err ih_av_room_allow(ih_av *a, int64_t room, const char *secret, char token[33])
{
    uint8_t r[16];
    IH_TRY(ih_random(r, sizeof r));
    ih_hex_encode(r, sizeof r, token, 0);
    ih_wipe(r, sizeof r);
    json_t *req = json_pack("{s:s, s:s, s:I, s:s, s:[s]}", "request", "allowed", "action", "add", "room",
                            (json_int_t)room, "secret", secret, "allowed", token);
    if (!req) return ih_fail(IH_E_NOMEM, "av");
    json_t *data;
    ih_err e = videoroom(a, req, &data);
    json_object_clear(req);
    json_decref(req);
    if (e == IH_OK && strcmp(json_string_value(json_object_get(data, "videoroom")) ?: "", "success"))
        e = ih_fail(IH_E_UNAVAILABLE, "Janus did not admit the participant: %s",
                    json_string_value(json_object_get(data, "error")) ?: "");
    json_decref(data);
    if (e != IH_OK) {
        ih_wipe(token, 33);
        set_up(a, false);
    }
    return e;
}

const char *ih_av_recordings_dir(const ih_av *a) { return a ? a->rec_dir : ""; }
const char *ih_av_pp_rec(const ih_av *a) { return a ? a->pp_rec : ""; }

ih_err ih_av_room_record(ih_av *a, int64_t room, const char *secret)
{
    if (!a->rec_dir[0]) return ih_fail(IH_E_UNAVAILABLE, "no [av] recordings_dir");
    json_t *req = json_pack("{s:s, s:I, s:s, s:b}", "request", "enable_recording", "room", (json_int_t)room, "secret",
                            secret, "record", 1);
    if (!req) return ih_fail(IH_E_NOMEM, "av");
    json_t *data;
    ih_err e = videoroom(a, req, &data);
    json_object_clear(req);
    json_decref(req);
    if (e == IH_OK && strcmp(json_string_value(json_object_get(data, "videoroom")) ?: "", "success"))
        e = ih_fail(IH_E_UNAVAILABLE, "Janus did not start recording: %s",
                    json_string_value(json_object_get(data, "error")) ?: "");
    json_decref(data);
    return e;
}

ih_err ih_av_room_destroy(ih_av *a, int64_t room, const char *secret)
{
    json_t *req = json_pack("{s:s, s:I, s:s}", "request", "destroy", "room", (json_int_t)room, "secret", secret);
    if (!req) return ih_fail(IH_E_NOMEM, "av");
    json_t *data;
    ih_err e = videoroom(a, req, &data);
    json_object_clear(req);
    json_decref(req);
    /* 426: no such room (gone with a restart of Janus): nothing to destroy */
    if (e == IH_OK && strcmp(json_string_value(json_object_get(data, "videoroom")) ?: "", "destroyed") &&
        json_integer_value(json_object_get(data, "error_code")) != 426)
        e = ih_fail(IH_E_UNAVAILABLE, "Janus did not destroy the room: %s",
                    json_string_value(json_object_get(data, "error")) ?: "");
    json_decref(data);
    return e;
}

/* ---- health ------------------------------------------------------------------------------------------ */

static void *run(void *arg)
{
    ih_av *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        pthread_mutex_unlock(&a->mu);
        (void)ih_av_janus_check(a);
        pthread_mutex_lock(&a->mu);
        if (!a->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += a->health_seconds;
            pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

ih_err ih_av_start(ih_av *a)
{
    if (!ih_av_has_janus(a)) return IH_OK;
    (void)ih_av_janus_check(a); /* the state is known before the first call */
    if (pthread_create(&a->th, NULL, run, a) != 0) return ih_fail(IH_E_INTERNAL, "cannot start the Janus health check");
    a->started = true;
    return IH_OK;
}

void ih_av_free(ih_av *a)
{
    if (!a) return;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->th, NULL);
    }
    free(a->janus_url);
    free(a->janus_public);
    free(a->ca_file);
    free(a->rec_dir);
    free(a->pp_rec);
    free_secret(a->token_secret);
    free_secret(a->admin_key);
    free_secret(a->turn_secret);
    for (int i = 0; i < a->nturn; i++) free(a->turn_urls[i]);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* ---- metrics ------------------------------------------------------------------------------------------ */

void ih_av_count_call(ih_av *a, bool janus) { atomic_fetch_add(janus ? &a->calls_janus : &a->calls_p2p, 1); }
void ih_av_count_switch(ih_av *a) { atomic_fetch_add(&a->switches, 1); }

ih_err ih_av_metrics(ih_av *a, ih_buf *out)
{
    if (!a) return IH_OK;
    return ih_buf_printf(out,
                         "# HELP ihos_av_janus_up Whether Janus (system A) answered its last health check.\n"
                         "# TYPE ihos_av_janus_up gauge\nihos_av_janus_up %d\n"
                         "# HELP ihos_av_calls_total Calls opened, by the system that carried them first.\n"
                         "# TYPE ihos_av_calls_total counter\nihos_av_calls_total{system=\"janus\"} %llu\n"
                         "ihos_av_calls_total{system=\"p2p\"} %llu\n"
                         "# HELP ihos_av_switches_total Calls moved from Janus to system B.\n"
                         "# TYPE ihos_av_switches_total counter\nihos_av_switches_total %llu\n"
                         "# HELP ihos_av_janus_checks_failed_total Health checks of Janus that failed.\n"
                         "# TYPE ihos_av_janus_checks_failed_total counter\nihos_av_janus_checks_failed_total %llu\n",
                         ih_av_janus_up(a) ? 1 : 0, (unsigned long long)atomic_load(&a->calls_janus),
                         (unsigned long long)atomic_load(&a->calls_p2p), (unsigned long long)atomic_load(&a->switches),
                         (unsigned long long)atomic_load(&a->checks_failed));
}
