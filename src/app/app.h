/* app.h — what request handlers get: the running server's shared state.
 *
 * Built once by ihosd at startup and read-only afterwards (members that
 * change carry their own synchronisation).
 */
#ifndef IH_APP_APP_H
#define IH_APP_APP_H

#include "app/instance.h"
#include "registry/clinic.h"
#include "identity/identity.h"
#include "policy/detector.h"
#include "policy/perm.h"
#include "report/report.h"

#include <stdint.h>

typedef struct ih_app {
    ih_instance *inst;
    ih_store *store;
    const ih_conf *conf;
    ih_keyring *keys;
    ih_audit *audit;
    ih_identity *identity;
    ih_policy *policy;
    ih_clinic *clinic;
    ih_report *report;
    ih_detector *detector;
    struct ih_bus *bus; /* live updates to open screens (ihosd; NULL in tools) */
    const struct ih_web *web; /* the console's assets (ihosd; NULL in tools) */
    struct ih_mllp_sender *sender; /* delivers the HL7 outbox (ihosd; NULL in tools) */
    struct ih_pacs *pacs;          /* the PACS link (ihosd with [pacs] url; else NULL) */
    struct ih_av *av;              /* the audio-video systems (ihosd with [av]; else NULL) */
    struct ih_ops *ops;            /* long operations: self-check, journal verification (ihosd) */
    char console_csp[512];         /* the console's CSP with Janus's origin (ih_api_console_csp); "": the fixed one */
    int64_t started_ms;
    /* the digest of the metrics scraper's bearer token ([server]
     * metrics_token_file), when one is configured */
    bool metrics_token_set;
    uint8_t metrics_token[32];
    char node[128]; /* this node's name in leases ([cluster] node_name, or host/pid) */
    char trust_last[512]; /* the last trusted-verification problem reported ("" none); jobs thread */
} ih_app;

/* Identity options from the configuration. */
void ih_app_identity_opts(const ih_instance *in, ih_identity_opts *o);

/* Clinic options from the configuration (report and detector may be NULL). */
void ih_app_clinic_opts(const ih_instance *in, ih_identity *id, ih_clinic_opts *o);
/* The supervision report service and the 统方 detector from the configuration. */
/* node: this node's lease name (ihosd); NULL for tools, which never upload
 * in the background. */
ih_err ih_app_report_new(const ih_instance *in, const char *node, ih_report **out);
ih_err ih_app_detector_new(const ih_instance *in, ih_detector **out);

/* The metrics scraper's token from [server] metrics_token_file (relative to
 * the instance directory): a private file (0600, ihos's) of 32 to 256
 * printable characters; its digest goes into app.  Not configured: IH_OK
 * with none. */
ih_err ih_app_metrics_token(ih_app *app);
/* The payment channel's notification key from [payment] notify_public_key
 * (relative to the instance directory); none configured: *out NULL. */
struct ih_extsig;
ih_err ih_app_pay_key(const ih_instance *in, struct ih_extsig **out);
/* Does token match the metrics scraper's (constant time)? */
bool ih_app_metrics_token_ok(const ih_app *app, const char *token);

/* Record the configuration file's hash; when it differs from the last one
 * recorded, a config.change audit event (with both hashes) is written. */
ih_err ih_app_record_config(ih_instance *in);
/* Rows an earlier release wrote, brought up to this release's protections
 * before anything is served (ihosd and every CLI command that opens the
 * services); idempotent. */
ih_err ih_app_upgrade(ih_instance *in, ih_identity *id, ih_clinic *cl);

/* The PACS link from [pacs] (url, user and password file, worklist
 * directory relative to the instance); not started. */
struct ih_pacs;
ih_err ih_app_pacs_new(const ih_instance *in, ih_clinic *clinic, const char *node, struct ih_pacs **out);
/* The audio-video systems from [av] (Janus's URL and secret files, coturn's
 * URLs and secret file); NULL when neither is configured. */
struct ih_av;
ih_err ih_app_av_new(const ih_instance *in, struct ih_av **out);
/* Calls ended whose recording waits: Janus's files converted, sealed into
 * recordings/, recorded, removed (remote/recording.h); the job
 * av.recordings runs it. */
ih_err ih_app_store_recordings(ih_app *app);

/* Security incidents (compliance/incident.h) from [incident]; node may be
 * NULL (a CLI command: the host and process; it leaves the retries of
 * notifications to the servers). */
struct ih_incidents;
ih_err ih_app_incidents_start(ih_instance *in, const char *node, struct ih_incidents **out);

/* Pick up key versions added by another process (and a rotated KEK). */
ih_err ih_app_reload_keys(ih_instance *in);

#endif
