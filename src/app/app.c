/* app.c — glue from configuration to services. */
#include "compliance/incident.h"
#include "store/lease.h"
#include "app/app.h"

#include "exchange/pacs.h"
#include "remote/av.h"
#include "remote/recording.h"
#include "care/call.h"

#include "core/fsutil.h"
#include "core/log.h"
#include "crypto/extsig.h"
#include "crypto/suite.h"
#include "keys/keys.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void ih_app_identity_opts(const ih_instance *in, ih_identity_opts *o)
{
    const ih_conf *c = &in->conf;
    *o = (ih_identity_opts){
        .store = in->store,
        .keys = in->keys,
        .audit = in->audit,
        .pw = {c->password_min_length, c->password_min_classes, c->password_history, c->password_max_age_days,
                c->password_min_age_days},
        .hash = {(unsigned long long)c->argon2_iterations, (size_t)c->argon2_memory_kib * 1024},
        .hash_threads = c->hash_threads,
        .hash_queue = c->hash_queue,
        .lockout_threshold = c->lockout_threshold,
        .lockout_minutes = c->lockout_minutes,
        .ip_failures_per_minute = c->ip_failures_per_minute,
        .session_idle_minutes = c->session_idle_minutes,
        .session_max_hours = c->session_max_hours,
        .inactive_days = c->inactive_days,
        .issuer = c->name,
        .admin_allow = c->admin_allow,
    };
    ih_totp_alg_parse(c->totp_algorithm, &o->totp_alg);
}

void ih_app_clinic_opts(const ih_instance *in, ih_identity *id, ih_clinic_opts *o)
{
    const ih_conf *c = &in->conf;
    *o = (ih_clinic_opts){
        .store = in->store,
        .keys = in->keys,
        .audit = in->audit,
        .identity = id,
        .utc_offset_minutes = c->utc_offset_minutes,
        .privacy_version = c->privacy_version,
        .agreement_version = c->agreement_version,
        .realname_command = c->realname_command,
        .realname_url = c->realname_url,
        .realname_timeout_s = c->realname_timeout,
        .registrations_per_minute = c->registrations_per_minute,
        .sms_command = c->sms_command,
        .sms_url = c->sms_url,
        .sms_timeout_s = c->sms_timeout,
        .code_minutes = c->code_minutes,
        .codes_per_phone_hour = c->codes_per_phone_hour,
        .rx_max_days = c->rx_max_days,
        .rx_valid_days = c->rx_valid_days,
        .break_glass_hours = c->break_glass_hours,
        .single_pharmacist = c->single_pharmacist,
        .pay_command = c->pay_command,
        .pay_url = c->pay_url,
        .pay_timeout_s = c->pay_timeout,
        .pay_notify_tolerance_s = c->pay_notify_tolerance,
        .rx_postpaid = c->rx_postpaid,
        .break_glass_per_hour = c->break_glass_per_hour,
        .break_glass_per_day = c->break_glass_per_day,
        .break_glass_unreviewed = c->break_glass_unreviewed,
        .detect_block = c->detect_block,
    };
}

ih_err ih_app_report_new(const ih_instance *in, const char *node, ih_report **out)
{
    const ih_conf *c = &in->conf;
    char ca[PATH_MAX] = "";
    if (c->report_ca_file[0]) IH_TRY(ih_instance_path(in, c->report_ca_file, ca, sizeof ca));
    ih_report_opts o = {
        .store = in->store,
        .keys = in->keys,
        .audit = in->audit,
        .profile = c->report_profile,
        .enabled = c->report_enabled,
        .gateway_url = c->report_gateway,
        .app_key = c->report_app_key,
        .organ_id = c->report_organ_id,
        .unit_id = c->report_unit_id,
        .organ_name = c->report_organ_name,
        .cadence = c->report_cadence,
        .nightly_at = c->report_nightly_at,
        .utc_offset_minutes = c->utc_offset_minutes,
        .batch_size = c->report_batch_size,
        .workers = c->report_workers,
        .timeout_s = c->report_timeout,
        .ca_file = ca,
        .lag_alert_minutes = c->report_lag_alert_minutes,
        .adverse_daily = c->report_adverse_daily,
        .node = node,
    };
    return ih_report_new(&o, out);
}

ih_err ih_app_detector_new(const ih_instance *in, ih_detector **out)
{
    const ih_conf *c = &in->conf;
    const char *oh = c->detect_off_hours; /* validated HH:MM-HH:MM */
    ih_detector_opts o = {
        .window_days = c->detect_window_days,
        .max_doctors = c->detect_max_doctors,
        .max_drugs = c->detect_max_drugs,
        .max_pages_per_hour = c->detect_max_pages_per_hour,
        .off_start_min = ((oh[0] - '0') * 10 + (oh[1] - '0')) * 60 + (oh[3] - '0') * 10 + (oh[4] - '0'),
        .off_end_min = ((oh[6] - '0') * 10 + (oh[7] - '0')) * 60 + (oh[9] - '0') * 10 + (oh[10] - '0'),
        .max_off_hours_reads = c->detect_max_off_hours_reads,
        .utc_offset_minutes = c->utc_offset_minutes,
    };
    return ih_detector_new(&o, out);
}

ih_err ih_app_upgrade(ih_instance *in, ih_identity *id, ih_clinic *cl)
{
    IH_TRY(ih_signkey_upgrade(in->store, in->keys));
    IH_TRY(ih_identity_upgrade(id));
    return ih_clinic_upgrade(cl);
}

ih_err ih_app_incidents_start(ih_instance *in, const char *node, ih_incidents **out)
{
    char here[128];
    bool server = node != NULL; /* a CLI command names none */
    if (!node) {
        ih_lease_node_name(in->conf.node_name, here, sizeof here);
        node = here;
    }
    const ih_conf *c = &in->conf;
    ih_incident_opts o = {.store = in->store, .audit = in->audit, .node = node, .webhook_url = c->incident_webhook,
                          .smtp_url = c->incident_smtp, .mail_from = c->incident_mail_from,
                          .mail_to = c->incident_mail_to, .instance = c->name, .syslog = c->incident_syslog,
                          .notify_timeout = c->incident_timeout,
                          .notify_retry = c->incident_retry, .retry_due = server, .storm_count = c->storm_count,
                          .storm_minutes = c->storm_minutes};
    return ih_incidents_start(&o, out);
}

ih_err ih_app_reload_keys(ih_instance *in)
{
    ih_err e = ih_keys_load(in->store, in->keys);
    if (e != IH_E_INTEGRITY) return e;
    if (!strcmp(in->conf.kek_source, "pkcs11")) return e; /* the token's key does not change under us */
    if (strcmp(in->conf.kek_source, "file"))
        return ih_fail(IH_E_INTEGRITY, "a data key is wrapped by another KEK: the passphrase was changed; restart "
                                       "ihosd with the new passphrase to load keys made since");
    /* Wrapped by another KEK: it was rotated; the file has the new one. */
    char path[PATH_MAX];
    uint8_t kek[32];
    IH_TRY(ih_instance_path(in, "keys/kek", path, sizeof path));
    IH_TRY(ih_kek_read_file(path, kek));
    e = ih_keyring_set_kek(in->keys, kek);
    ih_wipe(kek, sizeof kek);
    IH_TRY(e);
    ih_log(IH_LOG_INFO, "keys.kek_reloaded", NULL);
    return ih_keys_load(in->store, in->keys);
}

/* ---- configuration changes ---------------------------------------------------- */

typedef struct {
    ih_audit *a;
    const char *hash;
    char old[80];
} confhash_arg;

static ih_err confhash_fn(ih_tx *tx, void *arg)
{
    confhash_arg *c = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT value FROM instance_meta WHERE key = 'config_hash'", &st));
    IH_TRY(ih_stmt_step(st, &row));
    snprintf(c->old, sizeof c->old, "%s", row ? ih_col_text(st, 0) : "");
    if (!strcmp(c->old, c->hash)) return IH_OK;
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO instance_meta (key, value) VALUES ('config_hash', $1) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", &st));
    ih_stmt_text(st, 1, c->hash);
    IH_TRY(ih_stmt_exec(st));
    char reason[200];
    snprintf(reason, sizeof reason, "%s (was %s)", c->hash, c->old[0] ? c->old : "none");
    ih_audit_event ev = {.action = "config.change", .object_type = "config", .object_id = "ihos.conf", .reason = reason};
    return ih_audit_append(c->a, tx, &ih_system_actor, &ev);
}

ih_err ih_app_record_config(ih_instance *in)
{
    char path[PATH_MAX];
    IH_TRY(ih_instance_path(in, "ihos.conf", path, sizeof path));
    ih_buf b = IH_BUF_INIT;
    IH_TRY(ih_file_read(path, 1 << 20, &b));
    ih_md md = ih_suite_md(in->suite);
    uint8_t h[64];
    ih_err e = ih_digest(md, b.p, b.len, h);
    ih_buf_free(&b);
    IH_TRY(e);
    char hex[72];
    snprintf(hex, 8, "%s:", md == IH_MD_SM3 ? "sm3" : "sha256");
    ih_hex_encode(h, 32, hex + strlen(hex), 0);
    confhash_arg c = {in->audit, hex, ""};
    return ih_store_write(in->store, confhash_fn, &c);
}

ih_err ih_app_metrics_token(ih_app *app)
{
    app->metrics_token_set = false;
    if (!app->conf->metrics_token_file[0]) return IH_OK;
    char path[PATH_MAX];
    IH_TRY(ih_instance_path(app->inst, app->conf->metrics_token_file, path, sizeof path));
    IH_TRY(ih_check_private(path));
    ih_buf b = IH_BUF_INIT;
    ih_err e = ih_file_read(path, 1024, &b);
    while (e == IH_OK && b.len && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r')) b.p[--b.len] = '\0';
    bool printable = e == IH_OK;
    for (size_t i = 0; printable && i < b.len; i++) printable = b.p[i] > ' ' && b.p[i] < 0x7f;
    if (e == IH_OK && (!printable || b.len < 32 || b.len > 256))
        e = ih_fail(IH_E_CONFIG, "%s: the metrics token must be 32 to 256 printable characters on one line", path);
    if (e == IH_OK) e = ih_digest(IH_MD_SHA256, b.p, b.len, app->metrics_token);
    if (e == IH_OK) app->metrics_token_set = true;
    ih_buf_wipe(&b);
    return e;
}

bool ih_app_metrics_token_ok(const ih_app *app, const char *token)
{
    uint8_t d[32];
    if (!app->metrics_token_set || ih_digest(IH_MD_SHA256, token, strlen(token), d) != IH_OK) return false;
    return ih_ct_equal(d, app->metrics_token, sizeof d);
}

ih_err ih_app_pay_key(const ih_instance *in, ih_extsig **out)
{
    *out = NULL;
    if (!in->conf.pay_notify_key[0]) return IH_OK;
    char path[PATH_MAX];
    IH_TRY(ih_instance_path(in, in->conf.pay_notify_key, path, sizeof path));
    ih_buf pem = IH_BUF_INIT;
    ih_err e = ih_file_read(path, 65536, &pem);
    if (e == IH_OK) e = ih_extsig_load(pem.p, pem.len, out);
    ih_buf_free(&pem);
    if (e != IH_OK) return ih_fail(IH_E_CONFIG, "[payment] notify_public_key %s: %s", path, ih_err_detail());
    ih_log(IH_LOG_INFO, "payment.channel_key", "scheme", ih_extsig_scheme(*out), NULL);
    return IH_OK;
}

ih_err ih_app_pacs_new(const ih_instance *in, ih_clinic *clinic, const char *node, ih_pacs **out)
{
    const ih_conf *c = &in->conf;
    char pwfile[PATH_MAX], wl[PATH_MAX] = "", ca[PATH_MAX] = "";
    IH_TRY(ih_instance_path(in, c->pacs_password_file, pwfile, sizeof pwfile));
    if (c->pacs_worklist_dir[0]) IH_TRY(ih_instance_path(in, c->pacs_worklist_dir, wl, sizeof wl));
    if (c->pacs_ca_file[0]) IH_TRY(ih_instance_path(in, c->pacs_ca_file, ca, sizeof ca));
    ih_buf pw = IH_BUF_INIT;
    ih_err e = IH_OK;
    if (c->pacs_username[0]) {
        e = ih_check_private(pwfile);
        if (e == IH_OK) e = ih_file_read(pwfile, 1024, &pw);
        while (e == IH_OK && pw.len && (pw.p[pw.len - 1] == '\n' || pw.p[pw.len - 1] == '\r')) pw.p[--pw.len] = '\0';
        if (e != IH_OK) e = ih_fail(IH_E_CONFIG, "[pacs] password_file %s: %s", pwfile, ih_err_detail());
    }
    ih_pacs_opts o = {.clinic = clinic, .store = in->store, .url = c->pacs_url, .username = c->pacs_username,
                      .password = pw.p ? pw.p : "", .ca_file = ca, .worklist_dir = wl, .dump2dcm = c->pacs_dump2dcm,
                      .poll_seconds = c->pacs_poll_seconds, .utc_offset_minutes = c->utc_offset_minutes, .node = node,
                      .instance_id = in->instance_id, .password_file = c->pacs_username[0] ? pwfile : ""};
    if (e == IH_OK) e = ih_pacs_new(&o, out);
    ih_buf_wipe(&pw);
    return e;
}

/* A secret file's first line (0600, at most 1 KiB) into b. */
static ih_err read_secret(const ih_instance *in, const char *key, const char *file, ih_buf *b)
{
    char path[PATH_MAX];
    IH_TRY(ih_instance_path(in, file, path, sizeof path));
    ih_err e = ih_check_private(path);
    if (e == IH_OK) e = ih_file_read(path, 1024, b);
    while (e == IH_OK && b->len && (b->p[b->len - 1] == '\n' || b->p[b->len - 1] == '\r')) b->p[--b->len] = '\0';
    if (e == IH_OK && !b->p) e = ih_buf_puts(b, "");
    if (e != IH_OK) return ih_fail(IH_E_CONFIG, "[av] %s %s: %s", key, path, ih_err_detail());
    return IH_OK;
}

ih_err ih_app_av_new(const ih_instance *in, ih_av **out)
{
    const ih_conf *c = &in->conf;
    *out = NULL;
    if (!c->av_janus_url[0] && !c->av_turn_urls[0]) return IH_OK;
    char ca[PATH_MAX] = "", rec[PATH_MAX] = "";
    if (c->av_janus_ca_file[0]) IH_TRY(ih_instance_path(in, c->av_janus_ca_file, ca, sizeof ca));
    if (c->av_recordings_dir[0]) IH_TRY(ih_instance_path(in, c->av_recordings_dir, rec, sizeof rec));
    ih_buf tok = IH_BUF_INIT, adm = IH_BUF_INIT, turn = IH_BUF_INIT;
    ih_err e = IH_OK;
    if (c->av_janus_url[0]) {
        e = read_secret(in, "janus_token_secret_file", c->av_janus_token_file, &tok);
        if (e == IH_OK) e = read_secret(in, "janus_admin_key_file", c->av_janus_admin_file, &adm);
    }
    if (e == IH_OK && c->av_turn_urls[0]) e = read_secret(in, "turn_secret_file", c->av_turn_secret_file, &turn);
    ih_av_opts o = {.janus_url = c->av_janus_url, .janus_public_url = c->av_janus_public_url, .janus_ca_file = ca,
                    .janus_token_secret = tok.p, .janus_admin_key = adm.p, .turn_urls = c->av_turn_urls,
                    .turn_secret = turn.p, .relay_only = c->av_relay_only, .health_seconds = c->av_health_seconds,
                    .recordings_dir = rec, .pp_rec = c->av_pp_rec};
    if (e == IH_OK) e = ih_av_new(&o, out);
    ih_buf_wipe(&tok);
    ih_buf_wipe(&adm);
    ih_buf_wipe(&turn);
    return e;
}

/* ---- a call's recordings, once it ended (the job av.recordings) ------------------------------ */

/* Store what Janus recorded for one call: convert, seal, record, remove. */
static ih_err store_call(ih_app *app, const ih_call_due *d, const char *store_dir, const char *tmp)
{
    char paths[IH_REC_MAX_FILES][PATH_MAX];
    int n;
    IH_TRY(ih_rec_find(ih_av_recordings_dir(app->av), d->room, paths, &n));
    ih_call_file files[IH_REC_MAX_FILES];
    int k = 0;
    ih_err e = IH_OK;
    for (int i = 0; i < n && e == IH_OK; i++) {
        ih_call_file *f = &files[k];
        *f = (ih_call_file){.call = d->call};
        ih_buf plain = IH_BUF_INIT;
        e = ih_rec_convert(ih_av_pp_rec(app->av), paths[i], tmp, &plain, f->kind, f->format);
        if (e == IH_E_IO) { /* a file janus-pp-rec cannot read (an empty medium): nothing to keep */
            ih_log(IH_LOG_WARN, "av.recording_skipped", "detail", ih_err_detail(), NULL);
            ih_err_clear();
            e = IH_OK;
            ih_buf_wipe(&plain);
            continue;
        }
        char label[64], path[PATH_MAX];
        uint8_t root[32], h[32];
        snprintf(f->file, sizeof f->file, "%lld-%d.rec", (long long)d->call, i);
        snprintf(label, sizeof label, "av_recording:%lld:%d", (long long)d->call, i);
        if (e == IH_OK) e = ih_path(path, sizeof path, "%s/%s", store_dir, f->file);
        if (e == IH_OK) e = ih_digest(IH_MD_SHA256, plain.p, plain.len, h);
        if (e == IH_OK) e = ih_rec_seal_file(app->inst->suite, path, label, &plain, root);
        if (e == IH_OK) {
            ih_hex_encode(h, sizeof h, f->sha256, 0);
            ih_hex_encode(root, sizeof root, f->key_hex, 0);
            f->bytes = (int64_t)plain.len;
            k++;
        }
        ih_wipe(root, sizeof root);
        ih_buf_wipe(&plain);
    }
    if (e == IH_OK) e = ih_call_recordings_saved(app->clinic, d->call, files, k, k ? "stored" : "none");
    ih_wipe(files, sizeof files);
    if (e != IH_OK) return e;
    for (int i = 0; i < n; i++) unlink(paths[i]); /* Janus's plaintext goes once ihos holds the sealed copy */
    return IH_OK;
}

ih_err ih_app_store_recordings(ih_app *app)
{
    if (!app->av || !ih_av_recordings_dir(app->av)[0]) return IH_OK;
    ih_call_due due[8];
    int n;
    IH_TRY(ih_call_recordings_due(app->clinic, due, 8, &n));
    if (!n) return IH_OK;
    char dir[PATH_MAX], tmp[PATH_MAX];
    IH_TRY(ih_instance_path(app->inst, "recordings", dir, sizeof dir));
    IH_TRY(ih_instance_path(app->inst, "tmp", tmp, sizeof tmp));
    IH_TRY(ih_dir_create(dir, 0700, true));
    IH_TRY(ih_dir_create(tmp, 0700, true));
    for (int i = 0; i < n; i++) {
        ih_err e = store_call(app, &due[i], dir, tmp);
        if (e != IH_OK) {
            ih_log(IH_LOG_ERROR, "av.recording_failed", "alert", "true", "detail", ih_err_detail(), NULL);
            (void)ih_call_recordings_saved(app->clinic, due[i].call, NULL, 0, "failed");
        }
    }
    return IH_OK;
}
