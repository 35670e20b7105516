/* conf.h — the instance configuration (DIR/ihos.conf, INI parsed by inih).
 *
 * The schema is one table in conf.c: every key has a section, a type, a
 * range or set of allowed values, a default and whether it is required.
 * Parsing is strict: an unknown key, a duplicate, a bad value or a missing
 * required key is an error reported as "file:line: reason" (or "file: reason"
 * for a missing key), and startup stops.  Paths are relative to the instance
 * directory unless absolute.
 */
#ifndef IH_CORE_CONF_H
#define IH_CORE_CONF_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>

#define IH_CONF_STR 256
#define IH_CONF_PATH 1024

typedef struct ih_conf {
    /* [instance] */
    char name[64];
    char suite[8]; /* "intl" | "gm" */
    bool demo;
    char utc_offset[8]; /* "+08:00" */
    int utc_offset_minutes; /* derived */
    /* [server] */
    char listen[64];
    int workers;
    int max_body;
    int max_connections;
    int request_timeout;   /* seconds to receive a whole request */
    int keepalive_timeout; /* seconds an idle connection is kept */
    char tls_cert[IH_CONF_PATH];
    char tls_key[IH_CONF_PATH];
    /* [keys] */
    char kek_source[16]; /* "file" | "passphrase" */
    int key_rotate_days;
    char pkcs11_module[IH_CONF_PATH], pkcs11_token[64], pkcs11_key_label[64], pkcs11_pin_file[IH_CONF_PATH];
    /* [store] */
    char backend[16]; /* "sqlite" | "postgres" */
    char sqlite_path[IH_CONF_PATH];
    char pg_url[IH_CONF_PATH];
    int pool_size;
    int batch_max;
    int commit_delay_us;
    /* [log] */
    char log_target[16]; /* "stderr" | "syslog" | "file" */
    char log_file[256];  /* target file: the path */
    char log_level[8];
    /* [audit] */
    int checkpoint_interval; /* seconds, 1..10 */
    int checkpoint_events;   /* 1..10000 */
    char witness_command[IH_CONF_PATH];
    char witness_url[IH_CONF_PATH];
    char anchor_dir[IH_CONF_PATH];
    int retention_days;      /* >= 180 */
    char audit_syslog[IH_CONF_STR]; /* "" | udp://HOST:PORT | unix:PATH */
    /* [security] */
    int argon2_memory_kib, argon2_iterations, hash_threads, hash_queue;
    int password_min_length, password_min_classes, password_history, password_max_age_days, password_min_age_days;
    int lockout_threshold, lockout_minutes, ip_failures_per_minute;
    int session_idle_minutes, session_max_hours, inactive_days;
    char totp_algorithm[8];
    char admin_allow[IH_CONF_STR];
    char trusted_proxies[IH_CONF_STR], metrics_token_file[IH_CONF_PATH];
    char node_name[64];
    int trust_check_minutes;
    bool trust_enforce;
    /* [exchange] */
    char exchange_peers[IH_CONF_PATH];
    char pacs_url[IH_CONF_PATH], pacs_username[128], pacs_password_file[IH_CONF_PATH], pacs_ca_file[IH_CONF_PATH];
    char pacs_worklist_dir[IH_CONF_PATH], pacs_dump2dcm[IH_CONF_PATH];
    int pacs_poll_seconds;
    char av_janus_url[IH_CONF_PATH], av_janus_public_url[IH_CONF_PATH], av_janus_ca_file[IH_CONF_PATH];
    char av_janus_token_file[IH_CONF_PATH], av_janus_admin_file[IH_CONF_PATH];
    char av_turn_urls[IH_CONF_PATH], av_turn_secret_file[IH_CONF_PATH];
    char av_recordings_dir[IH_CONF_PATH], av_pp_rec[IH_CONF_PATH];
    bool av_relay_only;
    int av_session_minutes, av_health_seconds;
    char web_dir[IH_CONF_PATH];
    int web_max_streams, web_streams_per_account, web_stream_seconds;
    /* [incident] */
    bool incident_syslog;
    char incident_webhook[IH_CONF_PATH], incident_smtp[IH_CONF_PATH], incident_mail_from[256], incident_mail_to[256];
    int incident_timeout, incident_retry, storm_count, storm_minutes;
    /* [backup] */
    bool backup_enabled;
    char backup_daily_at[8]; /* "HH:MM" local (utc_offset) */
    int backup_keep;
    char offsite_dir[IH_CONF_PATH];
    char offsite_command[IH_CONF_PATH];
    /* [registry] */
    char privacy_version[32], agreement_version[32];
    char realname_command[IH_CONF_PATH], realname_url[IH_CONF_PATH];
    int realname_timeout, registrations_per_minute;
    char sms_command[IH_CONF_PATH], sms_url[IH_CONF_PATH];
    int sms_timeout, code_minutes, codes_per_phone_hour;
    /* [payment] */
    char pay_command[IH_CONF_PATH], pay_url[IH_CONF_PATH], pay_notify_key[IH_CONF_PATH];
    int pay_timeout, pay_notify_tolerance;
    bool rx_postpaid;
    /* [care] */
    int rx_max_days;       /* days of medication one prescription may cover */
    int rx_valid_days;     /* days an approved prescription stays valid for dispensing */
    int break_glass_hours; /* how long a break-glass grant lasts */
    int break_glass_per_hour, break_glass_per_day, break_glass_unreviewed;
    int detect_window_days, detect_max_doctors, detect_max_drugs, detect_max_pages_per_hour;
    char detect_off_hours[16]; /* "22:00-06:00" */
    int detect_max_off_hours_reads;
    bool detect_block;
    bool single_pharmacist;
    /* [report] */
    bool report_enabled;
    char report_profile[16], report_gateway[IH_CONF_PATH], report_app_key[64];
    char report_organ_id[32], report_unit_id[32], report_organ_name[128];
    char report_cadence[16], report_nightly_at[8];
    int report_batch_size, report_workers, report_timeout, report_lag_alert_minutes;
    char report_ca_file[IH_CONF_PATH];
    bool report_adverse_daily;
} ih_conf;

/* Fill every key with its default. */
void ih_conf_defaults(ih_conf *c);
/* Parse a file.  On failure err (size n) holds "file:line: reason". */
ih_err ih_conf_load(const char *path, ih_conf *c, char *err, size_t n);
/* Parse from memory; `name` stands for the file name in messages. */
ih_err ih_conf_parse_string(const char *text, const char *name, ih_conf *c, char *err, size_t n);
/* Write a complete config file body for `c` (all keys, commented). */
ih_err ih_conf_render(const ih_conf *c, char **out);

#endif
