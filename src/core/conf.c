/* conf.c — config schema and strict INI parsing (see conf.h). */
#include "core/conf.h"

#include "core/buf.h"
#include "core/fsutil.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest line (without its newline) we hand to inih: Debian's build reads
 * into a 200-byte buffer (line, '\n', NUL). */
#define MAX_LINE_CHARS 197

typedef enum { K_STR, K_INT, K_BOOL, K_ENUM } ktype;

typedef struct {
    const char *section;
    const char *name;
    ktype type;
    size_t off;
    size_t size; /* for strings */
    bool required;
    const char *def;
    long min, max;      /* K_INT range */
    const char *values; /* K_ENUM: "a|b|c" */
    const char *help;
} key;

#define S(sec, nm, field, req, def, help)                                                          \
    {sec, nm, K_STR, offsetof(ih_conf, field), sizeof(((ih_conf *)0)->field), req, def, 0, 0, NULL, help}
#define I(sec, nm, field, def, lo, hi, help)                                                       \
    {sec, nm, K_INT, offsetof(ih_conf, field), sizeof(int), false, def, lo, hi, NULL, help}
#define B(sec, nm, field, def, help)                                                               \
    {sec, nm, K_BOOL, offsetof(ih_conf, field), sizeof(bool), false, def, 0, 0, NULL, help}
#define E(sec, nm, field, req, def, vals, help)                                                    \
    {sec, nm, K_ENUM, offsetof(ih_conf, field), sizeof(((ih_conf *)0)->field), req, def, 0, 0, vals, help}

static const key schema[] = {
    S("instance", "name", name, true, "ihos", "instance name shown in logs and pages"),
    E("instance", "suite", suite, true, "intl", "intl|gm", "crypto suite, fixed at init"),
    B("instance", "demo", demo, "false", "demo instance: every response says so"),
    S("instance", "utc_offset", utc_offset, false, "+08:00", "the hospital's UTC offset, recorded with audit events"),
    S("server", "listen", listen, false, "127.0.0.1:8443", "HTTPS listen address ADDR:PORT"),
    I("server", "workers", workers, "64", 1, 1024,
      "requests in progress at once (one waiting on the database holds one; more make larger group commits)"),
    I("server", "max_body", max_body, "1048576", 1024, 64 * 1024 * 1024, "largest request body, bytes"),
    I("server", "max_connections", max_connections, "1024", 8, 100000, "open connections at most"),
    I("server", "request_timeout", request_timeout, "15", 1, 300, "seconds to receive one request"),
    I("server", "keepalive_timeout", keepalive_timeout, "30", 1, 600, "seconds an idle connection stays open"),
    S("server", "tls_cert", tls_cert, false, "keys/tls.crt", "TLS certificate chain (PEM)"),
    S("server", "tls_key", tls_key, false, "keys/tls.key", "TLS private key (PEM, 0600)"),
    S("server", "trusted_proxies", trusted_proxies, false, "",
      "reverse proxies whose X-Forwarded-For names the client (CIDR list; empty: none)"),
    S("server", "metrics_token_file", metrics_token_file, false, "",
      "file (0600) holding the bearer token a metrics scraper sends; empty: only sessions with metrics.read"),
    S("cluster", "node_name", node_name, false, "",
      "this node's name among the ihosd nodes of a cluster (empty: host name and process id)"),
    E("keys", "kek_source", kek_source, false, "file", "file|passphrase|pkcs11",
      "file: keys/kek; passphrase: Argon2id of a passphrase given on IHOS_KEK_PASSPHRASE_FD or the systemd "
      "credential ihos-kek-passphrase; pkcs11: an AES key inside a PKCS#11 token (ihos key move-kek)"),
    S("keys", "pkcs11_module", pkcs11_module, false, "", "the PKCS#11 module (.so) of the token holding the KEK"),
    S("keys", "pkcs11_token", pkcs11_token, false, "", "the token's label"),
    S("keys", "pkcs11_key_label", pkcs11_key_label, false, "ihos-kek", "the KEK object's label on the token"),
    S("keys", "pkcs11_pin_file", pkcs11_pin_file, false, "keys/pkcs11-pin", "file (0600) holding the token's user PIN"),
    I("keys", "rotate_days", key_rotate_days, "365", 30, 3650,
      "days a data key may serve before the self-check asks for its rotation (ihos key rotate)"),
    E("store", "backend", backend, true, "sqlite", "sqlite|postgres", "database backend"),
    S("store", "sqlite_path", sqlite_path, false, "ihos.db", "SQLite database file"),
    S("store", "pg_url", pg_url, false, "", "libpq connection URI (password via ~/.pgpass or PGPASSFILE)"),
    I("store", "pool_size", pool_size, "8", 1, 256,
      "read connections (sqlite) or pooled connections (postgres; ihosd opens one more to listen for session "
      "changes)"),
    I("store", "batch_max", batch_max, "256", 1, 10000, "write transactions per group commit"),
    I("store", "commit_delay_us", commit_delay_us, "500", 0, 10000,
      "sqlite: microseconds a group commit stays open for writes queued after it began, waiting for them "
      "only while it holds fewer than the one before (0: it takes what is queued)"),
    E("log", "target", log_target, false, "stderr", "stderr|syslog|file", "where logs go (file: [log] file)"),
    S("log", "file", log_file, false, "", "the log file when target is file (reopened on SIGHUP, for logrotate)"),
    E("log", "level", log_level, false, "info", "debug|info|warn|error", "lowest level logged"),
    I("audit", "checkpoint_interval", checkpoint_interval, "10", 1, 10, "seconds between signed checkpoints at most"),
    I("audit", "checkpoint_events", checkpoint_events, "10000", 1, 10000, "events between signed checkpoints at most"),
    S("audit", "witness_command", witness_command, false, "", "program given each checkpoint on stdin (empty: none)"),
    S("audit", "witness_url", witness_url, false, "", "HTTPS URL each checkpoint is POSTed to (empty: none)"),
    S("audit", "anchor_dir", anchor_dir, false, "",
      "directory out of the database owner's reach keeping each checkpoint, compared at start (empty: offsite_dir)"),
    I("audit", "retention_days", retention_days, "180", 180, 36500, "days events stay online before archiving (>= 180)"),
    S("audit", "syslog", audit_syslog, false, "", "RFC 5424 copy of security events: udp://HOST:PORT or unix:PATH (empty: none)"),
    /* Password and session rules: the defaults are the floor; values may only tighten. */
    I("security", "argon2_memory_kib", argon2_memory_kib, "19456", 19456, 1048576, "Argon2id memory per hash, KiB"),
    I("security", "argon2_iterations", argon2_iterations, "2", 2, 16, "Argon2id passes"),
    I("security", "hash_threads", hash_threads, "2", 1, 32, "threads that hash passwords"),
    I("security", "hash_queue", hash_queue, "64", 1, 10000, "logins waiting for a hash thread before 503"),
    I("security", "password_min_length", password_min_length, "8", 8, 64, "shortest password"),
    I("security", "password_min_classes", password_min_classes, "3", 3, 4, "character classes a password mixes"),
    I("security", "password_history", password_history, "5", 5, 24, "previous passwords that may not be reused"),
    I("security", "password_max_age_days", password_max_age_days, "90", 1, 365, "days before a password must change"),
    I("security", "password_min_age_days", password_min_age_days, "1", 1, 30,
      "days before its owner may change a password again (the history cannot be cycled)"),
    I("security", "lockout_threshold", lockout_threshold, "5", 1, 5, "consecutive failures that lock an account"),
    I("security", "lockout_minutes", lockout_minutes, "30", 30, 1440, "minutes an account stays locked"),
    I("security", "ip_failures_per_minute", ip_failures_per_minute, "30", 1, 1000, "failed logins per address per minute before 429"),
    I("security", "session_idle_minutes", session_idle_minutes, "15", 5, 30, "idle minutes that end a session"),
    I("security", "session_max_hours", session_max_hours, "12", 1, 12, "hours a session lives at most"),
    I("security", "inactive_days", inactive_days, "90", 1, 365, "days without login that disable a staff account"),
    E("security", "totp_algorithm", totp_algorithm, false, "SHA1", "SHA1|SHA256|SM3", "HMAC of new second-factor enrolments"),
    S("security", "admin_allow", admin_allow, false, "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
      "addresses administrators may log in from (CIDR list; empty: anywhere)"),
    I("security", "trust_check_minutes", trust_check_minutes, "60", 1, 1440,
      "minutes between checks of the binaries and configuration against keys/trust.manifest"),
    B("security", "trust_enforce", trust_enforce, "false",
      "refuse to start when the binaries or the configuration differ from keys/trust.manifest"),
    S("web", "dir", web_dir, false, "",
      "the built console (app.html, h5.html, assets/); empty: web/ beside ihosd, else ../share/ihos/web from it"),
    I("web", "max_streams", web_max_streams, "2000", 1, 100000, "live-update (SSE) streams open at once on this node"),
    I("web", "streams_per_account", web_streams_per_account, "4", 1, 32, "live-update streams one account may hold open"),
    I("web", "stream_seconds", web_stream_seconds, "600", 1, 3600,
      "longest one live-update stream stays open before the browser opens the next (below a reverse proxy's own "
      "limit on long requests)"),
    S("exchange", "peers", exchange_peers, false, "exchange.conf",
      "file describing the HIS/LIS/RIS/PACS peers ([peer NAME] sections, docs/exchange.md; absent: none)"),
    S("pacs", "url", pacs_url, false, "",
      "the PACS's Orthanc with its DICOMweb plugin: https://HOST:PORT (http only on loopback; empty: no PACS)"),
    S("pacs", "username", pacs_username, false, "", "Orthanc user ihos logs in as (HTTP basic, over TLS off loopback)"),
    S("pacs", "password_file", pacs_password_file, false, "keys/pacs-password",
      "file (0600) holding that user's password; read again when the PACS answers 401 (a rotated password)"),
    S("pacs", "ca_file", pacs_ca_file, false, "", "CA certificates for the PACS's TLS (PEM; empty: system)"),
    S("pacs", "worklist_dir", pacs_worklist_dir, false, "",
      "where ihos writes modality worklist files (*.wl) for Orthanc's worklist plugin or wlmscpfs (empty: none)"),
    S("pacs", "dump2dcm", pacs_dump2dcm, false, "/usr/bin/dump2dcm", "dcmtk's dump2dcm, which writes the worklist files"),
    I("pacs", "poll_seconds", pacs_poll_seconds, "5", 1, 300,
      "seconds between looks for new studies (linked to their orders by accession number)"),
    S("av", "janus_url", av_janus_url, false, "",
      "system A: Janus's HTTP API as ihosd reaches it, https://HOST:PORT/janus (http only on loopback; empty: no Janus)"),
    S("av", "janus_public_url", av_janus_public_url, false, "",
      "the same API as browsers reach it (empty: janus_url); it is added to the console's connect-src"),
    S("av", "janus_ca_file", av_janus_ca_file, false, "", "CA certificates for Janus's TLS (PEM; empty: system)"),
    S("av", "janus_token_secret_file", av_janus_token_file, false, "keys/janus-token-secret",
      "file (0600) with Janus's token_auth_secret: ihosd signs each participant's token with it"),
    S("av", "janus_admin_key_file", av_janus_admin_file, false, "keys/janus-admin-key",
      "file (0600) with the videoroom plugin's admin_key (only ihosd creates rooms)"),
    S("av", "recordings_dir", av_recordings_dir, false, "",
      "where Janus writes recordings (its rooms' rec_dir), shared with ihosd, which seals and removes them (empty: no recording)"),
    S("av", "janus_pp_rec", av_pp_rec, false, "/usr/bin/janus-pp-rec", "janus-tools' converter of Janus recordings"),
    S("av", "turn_urls", av_turn_urls, false, "",
      "system B: coturn, comma-separated turn: / turns: URLs (empty: no system B)"),
    S("av", "turn_secret_file", av_turn_secret_file, false, "keys/turn-secret",
      "file (0600) with coturn's static-auth-secret (TURN REST credentials)"),
    B("av", "relay_only", av_relay_only, "true",
      "system B relays all media through coturn (neither side learns the other's address)"),
    I("av", "session_minutes", av_session_minutes, "60", 5, 480,
      "how long a call's credentials live when the visit's shift has ended or is unknown"),
    I("av", "health_seconds", av_health_seconds, "5", 1, 60, "seconds between health checks of Janus"),
    B("incident", "syslog", incident_syslog, "true", "report each new security incident to syslog (authpriv, alert)"),
    S("incident", "webhook_url", incident_webhook, false, "",
      "URL each new security incident is POSTed to as JSON (HTTPS, or http on loopback; empty: none)"),
    S("incident", "smtp_url", incident_smtp, false, "", "mail server for incident e-mail: smtp://HOST:PORT (STARTTLS when offered) or smtps:// (empty: none)"),
    S("incident", "mail_from", incident_mail_from, false, "ihos@localhost", "sender of incident e-mail"),
    S("incident", "mail_to", incident_mail_to, false, "", "recipient of incident e-mail (the security officer)"),
    I("incident", "notify_timeout", incident_timeout, "5", 1, 60, "seconds a webhook or e-mail may take"),
    I("incident", "notify_retry", incident_retry, "60", 1, 3600,
      "seconds before a failed webhook or e-mail is tried again (doubling, at most hourly, while the incident is open)"),
    I("incident", "lockout_storm_count", storm_count, "10", 2, 10000, "accounts locked within the window that make a lockout storm"),
    I("incident", "lockout_storm_minutes", storm_minutes, "10", 1, 1440, "the lockout-storm window, minutes"),
    B("backup", "enabled", backup_enabled, "true", "take a backup every day"),
    S("backup", "daily_at", backup_daily_at, false, "02:30", "local time (utc_offset) of the daily backup, HH:MM"),
    I("backup", "keep", backup_keep, "14", 1, 3650, "local backups kept in DIR/backups"),
    S("backup", "offsite_dir", offsite_dir, false, "", "directory on another mount each backup is copied to"),
    S("backup", "offsite_command", offsite_command, false, "", "program run with the backup's path (e.g. an rsync wrapper)"),
    S("registry", "privacy_version", privacy_version, false, "2026-01", "privacy policy version patients accept"),
    S("registry", "agreement_version", agreement_version, false, "2026-01", "user agreement version patients accept"),
    S("registry", "realname_command", realname_command, false, "", "real-name verification program (JSON in, JSON out)"),
    S("registry", "realname_url", realname_url, false, "", "real-name verification HTTPS endpoint (JSON POST)"),
    I("registry", "realname_timeout", realname_timeout, "5", 1, 60, "seconds to wait for real-name verification"),
    S("registry", "sms_command", sms_command, false, "",
      "SMS gateway program (JSON in, JSON out): codes for registration and password reset"),
    S("registry", "sms_url", sms_url, false, "", "SMS gateway HTTPS endpoint (JSON POST)"),
    I("registry", "sms_timeout", sms_timeout, "5", 1, 60, "seconds to wait for the SMS gateway"),
    I("registry", "code_minutes", code_minutes, "10", 1, 60, "minutes an SMS code stays valid"),
    I("registry", "codes_per_phone_hour", codes_per_phone_hour, "5", 1, 100, "SMS codes one phone number may get per hour"),
    I("registry", "registrations_per_minute", registrations_per_minute, "5", 1, 1000,
      "patient self-registrations per source address per minute"),
    S("payment", "channel_command", pay_command, false, "",
      "payment channel program (JSON in, JSON out: op create and refund)"),
    S("payment", "channel_url", pay_url, false, "", "payment channel HTTPS endpoint (JSON POST)"),
    I("payment", "channel_timeout", pay_timeout, "10", 1, 60, "seconds to wait for the payment channel"),
    S("payment", "notify_public_key", pay_notify_key, false, "",
      "the channel's public key (PEM: RSA, EC P-256, Ed25519 or SM2) its notifications are signed with"),
    I("payment", "notify_tolerance", pay_notify_tolerance, "300", 30, 3600,
      "seconds a notification's timestamp may be off"),
    B("payment", "prescription_postpaid", rx_postpaid, "false",
      "dispensing does not wait for the prescription to be paid (the hospital collects afterwards)"),
    I("care", "rx_max_days", rx_max_days, "7", 1, 30, "days of medication one prescription may cover"),
    I("care", "rx_valid_days", rx_valid_days, "3", 1, 7, "days an approved prescription may be dispensed"),
    I("care", "break_glass_hours", break_glass_hours, "4", 1, 24, "hours a break-glass grant lasts"),
    I("care", "break_glass_per_hour", break_glass_per_hour, "3", 1, 20, "break-glass grants a doctor may take per hour"),
    I("care", "break_glass_per_day", break_glass_per_day, "10", 1, 100, "break-glass grants a doctor may take per day"),
    I("care", "break_glass_unreviewed", break_glass_unreviewed, "5", 1, 100,
      "grants a doctor may hold that the security administrator has not reviewed yet"),
    I("care", "detect_window_days", detect_window_days, "7", 1, 90, "统方 detector: sliding window, days"),
    I("care", "detect_max_doctors", detect_max_doctors, "5", 1, 1000,
      "统方 detector: distinct prescribing doctors read outside care per window"),
    I("care", "detect_max_drugs", detect_max_drugs, "30", 1, 10000,
      "统方 detector: distinct drugs read outside care per window"),
    I("care", "detect_max_pages_per_hour", detect_max_pages_per_hour, "60", 1, 100000,
      "统方 detector: prescription list pages per hour"),
    S("care", "detect_off_hours", detect_off_hours, false, "22:00-06:00", "统方 detector: off hours, local HH:MM-HH:MM"),
    I("care", "detect_max_off_hours_reads", detect_max_off_hours_reads, "200", 1, 1000000,
      "统方 detector: prescription reads in off hours per day"),
    B("care", "detect_block", detect_block, "true", "统方 detector: end the session that crosses a threshold"),
    B("care", "single_pharmacist", single_pharmacist, "false",
      "the pharmacist who reviewed a prescription may also dispense it (a hospital with one pharmacist on duty)"),
    B("report", "enabled", report_enabled, "false", "upload to the supervision platform (rows are queued either way)"),
    E("report", "profile", report_profile, false, "tianjin", "tianjin", "the platform's protocol profile"),
    S("report", "gateway_url", report_gateway, false, "", "the platform's HTTPS endpoint (…/openapi/api)"),
    S("report", "app_key", report_app_key, false, "", "appKey issued by the platform (appSecret: ihos report set-secret)"),
    S("report", "organ_id", report_organ_id, false, "", "organID (empty: the institution record's organ_id)"),
    S("report", "unit_id", report_unit_id, false, "", "unitID (empty: the institution record's unit_id)"),
    S("report", "organ_name", report_organ_name, false, "", "organName (empty: the institution's internet-hospital name)"),
    E("report", "cadence", report_cadence, false, "realtime", "realtime|nightly",
      "realtime: within seconds of the final state; nightly: at nightly_at"),
    S("report", "nightly_at", report_nightly_at, false, "01:00", "local time of the nightly upload, HH:MM"),
    I("report", "batch_size", report_batch_size, "1", 1, 100, "records per call (one bad record rejects its batch)"),
    I("report", "workers", report_workers, "4", 1, 16, "uploads in flight at once (one connection each)"),
    I("report", "timeout", report_timeout, "10", 1, 120, "seconds per upload call"),
    S("report", "ca_file", report_ca_file, false, "", "extra CA certificates for the gateway (PEM; empty: system)"),
    I("report", "lag_alert_minutes", report_lag_alert_minutes, "60", 0, 10080,
      "alert when the oldest unsent record is older (0: never)"),
    B("report", "adverse_daily", report_adverse_daily, "true", "the daily adverse-event call, empty when there were none"),
};
#define NKEYS (sizeof schema / sizeof schema[0])

typedef struct {
    ih_conf *c;
    bool seen[NKEYS];
    char msg[512];
    int too_long_line; /* first line longer than inih's buffer, 0 if none */
} parse_ctx;

static bool enum_ok(const char *values, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = values; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

static int set_value(const key *k, ih_conf *c, const char *v, char *msg, size_t n)
{
    char *field = (char *)c + k->off;
    switch (k->type) {
    case K_ENUM:
        if (!enum_ok(k->values, v)) {
            snprintf(msg, n, "[%s] %s: '%s' is not one of %s", k->section, k->name, v, k->values);
            return -1;
        }
        /* fall through */
    case K_STR: {
        /* The value must fit its rendered line "name = value" too. */
        size_t cap = k->size - 1, fit = MAX_LINE_CHARS - strlen(k->name) - 3;
        if (fit < cap) cap = fit;
        if (strlen(v) > cap) {
            snprintf(msg, n, "[%s] %s: value longer than %zu characters", k->section, k->name, cap);
            return -1;
        }
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20) {
                snprintf(msg, n, "[%s] %s: control character in value", k->section, k->name);
                return -1;
            }
        memcpy(field, v, strlen(v) + 1);
        return 0;
    }
    case K_INT: {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < k->min || x > k->max) {
            snprintf(msg, n, "[%s] %s: must be an integer from %ld to %ld", k->section, k->name,
                     k->min, k->max);
            return -1;
        }
        *(int *)field = (int)x;
        return 0;
    }
    case K_BOOL:
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1")) *(bool *)field = true;
        else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0")) *(bool *)field = false;
        else {
            snprintf(msg, n, "[%s] %s: must be true or false", k->section, k->name);
            return -1;
        }
        return 0;
    }
    return -1;
}

void ih_conf_defaults(ih_conf *c)
{
    memset(c, 0, sizeof *c);
    char msg[128];
    for (size_t i = 0; i < NKEYS; i++) set_value(&schema[i], c, schema[i].def, msg, sizeof msg);
    c->utc_offset_minutes = 8 * 60; /* the default "+08:00" */
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *p = user;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(schema[i].section, section) || strcmp(schema[i].name, name)) continue;
        if (p->seen[i]) {
            snprintf(p->msg, sizeof p->msg, "[%s] %s: set twice", section, name);
            return 0;
        }
        p->seen[i] = true;
        return set_value(&schema[i], p->c, value, p->msg, sizeof p->msg) == 0;
    }
    snprintf(p->msg, sizeof p->msg, "unknown key '%s' in section [%s]", name, section);
    return 0;
}

/* Feeds inih one line at a time.  Debian's inih reads into a fixed buffer
 * (`num` bytes) whatever ini_max_line says, and would split a longer line,
 * parsing its tail as a line of its own — a value's tail could then become
 * a key.  So a line that does not fit is refused here, never split. */
typedef struct {
    const char *p;
    int line;
    parse_ctx *ctx;
} str_reader;

static char *read_line(char *str, int num, void *stream)
{
    str_reader *r = stream;
    if (!*r->p || num < 4) return NULL;
    size_t len = strcspn(r->p, "\n");
    r->line++;
    if (len > MAX_LINE_CHARS || len > (size_t)num - 3) {
        if (!r->ctx->too_long_line) r->ctx->too_long_line = r->line;
        r->p += len + (r->p[len] == '\n');
        memcpy(str, "\x01\n", 3); /* a syntax error on this line stops the parse */
        return str;
    }
    size_t take = len + (r->p[len] == '\n');
    memcpy(str, r->p, take);
    str[take] = '\0';
    r->p += take;
    return str;
}


static bool hhmm_ok(const char *t)
{
    return strlen(t) == 5 && t[2] == ':' && t[0] >= '0' && t[0] <= '2' && t[1] >= '0' && t[1] <= '9' &&
           t[3] >= '0' && t[3] <= '5' && t[4] >= '0' && t[4] <= '9' && (t[0] - '0') * 10 + (t[1] - '0') <= 23;
}

static ih_err finish(parse_ctx *p, int rc, const char *name, char *err, size_t n)
{
    if (rc == -1) {
        snprintf(err, n, "%s: cannot open: %s", name, strerror(errno));
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (rc == -2) {
        snprintf(err, n, "%s: out of memory", name);
        return ih_fail(IH_E_NOMEM, "%s", err);
    }
    if (p->too_long_line && (rc == 0 || rc >= p->too_long_line)) {
        snprintf(err, n, "%s:%d: line longer than %d characters", name, p->too_long_line, MAX_LINE_CHARS);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (rc > 0) {
        snprintf(err, n, "%s:%d: %s", name, rc, p->msg[0] ? p->msg : "syntax error (expected [section] or key = value)");
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (schema[i].required && !p->seen[i]) {
            snprintf(err, n, "%s: missing required key '%s' in section [%s]", name, schema[i].name,
                     schema[i].section);
            return ih_fail(IH_E_CONFIG, "%s", err);
        }
    }
    const char *o = p->c->utc_offset;
    if (strlen(o) != 6 || (o[0] != '+' && o[0] != '-') || o[3] != ':' || o[1] < '0' || o[1] > '1' ||
        o[2] < '0' || o[2] > '9' || o[4] < '0' || o[4] > '5' || o[5] < '0' || o[5] > '9' ||
        (o[1] - '0') * 10 + (o[2] - '0') > 14) {
        snprintf(err, n, "%s: [instance] utc_offset must look like +08:00", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    int mins = ((o[1] - '0') * 10 + (o[2] - '0')) * 60 + (o[4] - '0') * 10 + (o[5] - '0');
    p->c->utc_offset_minutes = o[0] == '-' ? -mins : mins;
    if (p->c->witness_url[0] && strncmp(p->c->witness_url, "https://", 8) != 0) {
        snprintf(err, n, "%s: [audit] witness_url must be an https:// URL", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->audit_syslog[0] && strncmp(p->c->audit_syslog, "udp://", 6) && strncmp(p->c->audit_syslog, "unix:", 5)) {
        snprintf(err, n, "%s: [audit] syslog must be udp://HOST:PORT or unix:PATH", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    const char *wh = p->c->incident_webhook;
    if (wh[0] && strncmp(wh, "https://", 8) && strncmp(wh, "http://127.0.0.1:", 17) && strncmp(wh, "http://localhost:", 17) &&
        strncmp(wh, "http://[::1]:", 13)) {
        snprintf(err, n, "%s: [incident] webhook_url must be https:// (or http:// on loopback)", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->incident_smtp[0] && strncmp(p->c->incident_smtp, "smtp://", 7) && strncmp(p->c->incident_smtp, "smtps://", 8)) {
        snprintf(err, n, "%s: [incident] smtp_url must be smtp://HOST:PORT or smtps://HOST:PORT", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->incident_smtp[0] && !p->c->incident_mail_to[0]) {
        snprintf(err, n, "%s: [incident] smtp_url needs mail_to", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (!hhmm_ok(p->c->backup_daily_at)) {
        snprintf(err, n, "%s: [backup] daily_at must be HH:MM", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    const char *oh = p->c->detect_off_hours;
    char a[6] = "", b[6] = "";
    if (strlen(oh) == 11 && oh[5] == '-') {
        memcpy(a, oh, 5);
        memcpy(b, oh + 6, 5);
    }
    if (!hhmm_ok(a) || !hhmm_ok(b)) {
        snprintf(err, n, "%s: [care] detect_off_hours must be HH:MM-HH:MM", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->realname_url[0] && strncmp(p->c->realname_url, "https://", 8) != 0) {
        snprintf(err, n, "%s: [registry] realname_url must be an https:// URL", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (!hhmm_ok(p->c->report_nightly_at)) {
        snprintf(err, n, "%s: [report] nightly_at must be HH:MM", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->report_gateway[0] && strncmp(p->c->report_gateway, "https://", 8) != 0) {
        snprintf(err, n, "%s: [report] gateway_url must be an https:// URL", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->report_enabled && (!p->c->report_gateway[0] || !p->c->report_app_key[0])) {
        snprintf(err, n, "%s: [report] enabled needs gateway_url and app_key", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->pay_url[0] && strncmp(p->c->pay_url, "https://", 8) != 0) {
        snprintf(err, n, "%s: [payment] channel_url must be an https:// URL", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->pay_url[0] && p->c->pay_command[0]) {
        snprintf(err, n, "%s: [payment] set channel_command or channel_url, not both", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if ((p->c->pay_url[0] || p->c->pay_command[0]) && !p->c->pay_notify_key[0]) {
        snprintf(err, n, "%s: [payment] a channel needs notify_public_key: only its signed notifications mark an "
                         "order paid", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->sms_url[0] && strncmp(p->c->sms_url, "https://", 8) != 0) {
        snprintf(err, n, "%s: [registry] sms_url must be an https:// URL", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->sms_url[0] && p->c->sms_command[0]) {
        snprintf(err, n, "%s: [registry] set sms_command or sms_url, not both", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (p->c->realname_url[0] && p->c->realname_command[0]) {
        snprintf(err, n, "%s: [registry] set realname_command or realname_url, not both", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (!strcmp(p->c->backend, "postgres") && !p->c->pg_url[0]) {
        snprintf(err, n, "%s: [store] backend = postgres needs pg_url", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (!strcmp(p->c->log_target, "file") && !p->c->log_file[0]) {
        snprintf(err, n, "%s: [log] target = file needs file", name);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    return IH_OK;
}

static void parser_setup(void)
{
    /* Debian's inih exposes its compile-time options as globals. */
    ini_stop_on_first_error = true;
    ini_allow_inline_comments = false; /* values may contain ';' */
    ini_allow_multiline = false;
    ini_allow_no_value = false;
}

ih_err ih_conf_load(const char *path, ih_conf *c, char *err, size_t n)
{
    ih_buf text = IH_BUF_INIT;
    ih_err e = ih_file_read(path, 1 << 20, &text);
    if (e != IH_OK) {
        snprintf(err, n, "%s: cannot read: %s", path, ih_err_detail());
        ih_buf_free(&text);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    if (memchr(text.p ? text.p : "", '\0', text.len)) {
        snprintf(err, n, "%s: contains a NUL byte", path);
        ih_buf_free(&text);
        return ih_fail(IH_E_CONFIG, "%s", err);
    }
    e = ih_conf_parse_string(text.p ? text.p : "", path, c, err, n);
    ih_buf_wipe(&text);
    return e;
}

ih_err ih_conf_parse_string(const char *text, const char *name, ih_conf *c, char *err, size_t n)
{
    parse_ctx p = {.c = c};
    str_reader r = {text, 0, &p};
    ih_conf_defaults(c);
    parser_setup();
    int rc = ini_parse_stream(read_line, &r, handler, &p);
    return finish(&p, rc, name, err, n);
}

ih_err ih_conf_render(const ih_conf *c, char **out)
{
    ih_buf b = IH_BUF_INIT;
    const char *section = "";
    ih_err e = ih_buf_puts(&b, "# ihos instance configuration. Unknown keys are errors.\n");
    for (size_t i = 0; i < NKEYS && e == IH_OK; i++) {
        const key *k = &schema[i];
        if (strcmp(section, k->section)) {
            section = k->section;
            e = ih_buf_printf(&b, "\n[%s]\n", section);
        }
        const char *field = (const char *)c + k->off;
        char val[IH_CONF_PATH + 32];
        switch (k->type) {
        case K_STR:
        case K_ENUM: snprintf(val, sizeof val, "%s", field); break;
        case K_INT: snprintf(val, sizeof val, "%d", *(const int *)field); break;
        case K_BOOL: snprintf(val, sizeof val, "%s", *(const bool *)field ? "true" : "false"); break;
        }
        if (e == IH_OK) e = ih_buf_printf(&b, "# %s\n%s = %s\n", k->help, k->name, val);
    }
    if (e != IH_OK) {
        ih_buf_free(&b);
        return e;
    }
    *out = b.p;
    return IH_OK;
}
