/* ihosd_main.c — the server: ihosd --dir DIR [--listen ADDR:PORT] [--check-config]. */
#include "api/api.h"
#include "app/jobs.h"
#include "app/ops.h"
#include "app/app.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/proc.h"
#include "crypto/extsig.h"
#include "store/lease.h"
#include "app/trusted.h"
#include "compliance/incident.h"
#include "exchange/listener.h"
#include "exchange/peers.h"
#include "exchange/sender.h"
#include "exchange/pacs.h"
#include "remote/av.h"
#include "care/his.h"
#include "net/server.h"
#include "net/tls.h"
#include "web/assets.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IHOS_VERSION
#define IHOS_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: ihosd --dir DIR [--listen ADDR:PORT] [--check-config]\n"
               "\n"
               "Serve the ihos instance in DIR over HTTPS (TLS 1.2+ only).\n"
               "\n"
               "  --dir DIR            instance directory created by 'ihos init'\n"
               "  --listen ADDR:PORT   override [server] listen (port 0 picks a free port)\n"
               "  --check-config       validate the configuration, keys and certificate, then exit\n"
               "  --help               this text\n"
               "  --version            print the version\n"
               "\n"
               "SIGTERM or SIGINT drains: stop accepting, finish in-flight requests, close the store.\n"
               "SIGHUP reopens the log file ([log] target = file) after a rotation.\n");
}

/* Stop recording incidents (what is queued is written first), then close. */
static void shut(ih_instance *inst, ih_incidents *incidents)
{
    ih_incidents_stop(incidents);
    ih_instance_close(inst);
}

int main(int argc, char **argv)
{
    ih_proc_harden();
    ih_json_init();
    /* Large blocks (Argon2id's 19 MiB) are mmapped and go back to the system
     * when freed, instead of growing the heap for good. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"check-config", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *listen = NULL;
    bool check = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': dir = optarg; break;
        case 'l': listen = optarg; break;
        case 'c': check = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("ihosd %s\n", IHOS_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!dir || optind != argc) {
        usage(stderr);
        return 2;
    }

    /* Signals are taken by sigwait() in this thread only. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    static ih_instance inst;
    char msg[1024];
    if (ih_instance_load(dir, &inst, msg, sizeof msg) != IH_OK) {
        fprintf(stderr, "ihosd: %s\n", msg);
        return 1;
    }
    if (listen) {
        char host[64];
        int port;
        if (ih_parse_listen(listen, host, sizeof host, &port) != 0 ||
            strlen(listen) >= sizeof inst.conf.listen) {
            fprintf(stderr, "ihosd: --listen %s: expected ADDR:PORT\n", listen);
            return 2;
        }
        snprintf(inst.conf.listen, sizeof inst.conf.listen, "%s", listen);
    }
    char logfile[PATH_MAX] = "";
    if (inst.conf.log_file[0] && ih_instance_path(&inst, inst.conf.log_file, logfile, sizeof logfile) != IH_OK) {
        fprintf(stderr, "ihosd: [log] file: %s\n", ih_err_detail());
        return 1;
    }
    if (ih_log_setup_file(inst.conf.log_target, logfile, (ih_log_level)ih_log_level_parse(inst.conf.log_level),
                          "ihosd") != 0) {
        fprintf(stderr, "ihosd: [log] file %s: %s\n", logfile, strerror(errno));
        return 1;
    }
    char cert[PATH_MAX], key[PATH_MAX];
    if (ih_instance_check_keys(&inst) != IH_OK ||
        ih_instance_path(&inst, inst.conf.tls_cert, cert, sizeof cert) != IH_OK ||
        ih_instance_path(&inst, inst.conf.tls_key, key, sizeof key) != IH_OK) {
        fprintf(stderr, "ihosd: %s\n", ih_err_detail());
        return 1;
    }
    /* the exchange peers must describe a safe setup before anything starts */
    static ih_peers peers;
    char ppath[PATH_MAX], perr[512];
    if (ih_instance_path(&inst, inst.conf.exchange_peers, ppath, sizeof ppath) != IH_OK ||
        ih_peers_load(ppath, &peers, perr, sizeof perr) != IH_OK) {
        fprintf(stderr, "ihosd: %s\n", ih_err_detail());
        return 1;
    }
    if (check) {
        SSL_CTX *ctx;
        if (ih_tls_server_ctx(cert, key, &ctx) != IH_OK) {
            fprintf(stderr, "ihosd: %s\n", ih_err_detail());
            return 1;
        }
        SSL_CTX_free(ctx);
        printf("ihosd: configuration in %s is valid\n", inst.dir);
        return 0;
    }

    if (ih_instance_open_store(&inst) != IH_OK) {
        fprintf(stderr, "ihosd: cannot open the store: %s\n", ih_err_detail());
        return 1;
    }
    if (ih_instance_open_runtime(&inst, true) != IH_OK) {
        fprintf(stderr, "ihosd: cannot open the keyring or the audit journal: %s\n", ih_err_detail());
        ih_instance_close(&inst);
        return 1;
    }
    /* L3 8.1.4.6: before anything is served, the database must not be older
     * than the checkpoints signed outside it. */
    char problem[512];
    if (ih_instance_rollback_check(&inst, problem, sizeof problem) != IH_OK) {
        ih_log(IH_LOG_ERROR, "audit.rollback_detected", "alert", "true", "detail", problem[0] ? problem : ih_err_detail(),
               NULL);
        fprintf(stderr,
                "ihosd: %s\nihosd: refusing to start. If an older backup was restored on purpose, run "
                "`ihos audit accept-restore %s` first.\n",
                problem[0] ? problem : ih_err_detail(), inst.dir);
        ih_instance_close(&inst);
        return 1;
    }
    if (!inst.anchor_file[0] && inst.store && ih_store_kind_of(inst.store) == IH_STORE_SQLITE)
        ih_log(IH_LOG_WARN, "audit.anchor_missing", "detail",
               "no [audit] anchor_dir or [backup] offsite_dir: a rollback of the whole instance directory would go "
               "unnoticed",
               NULL);
    char node[128];
    ih_lease_node_name(inst.conf.node_name, node, sizeof node);
    ih_incidents *incidents = NULL;
    if (ih_audit_start(inst.audit, node) != IH_OK) {
        fprintf(stderr, "ihosd: cannot start the audit checkpointer: %s\n", ih_err_detail());
        shut(&inst, incidents);
        return 1;
    }
    /* from here every alert becomes a security incident */
    if (ih_app_incidents_start(&inst, node, &incidents) != IH_OK) {
        fprintf(stderr, "ihosd: cannot start the incident recorder: %s\n", ih_err_detail());
        shut(&inst, incidents);
        return 1;
    }
    if (ih_app_record_config(&inst) != IH_OK) {
        fprintf(stderr, "ihosd: cannot record the configuration in the audit journal: %s\n", ih_err_detail());
        shut(&inst, incidents);
        return 1;
    }
    /* L3 8.1.4.6: the program and its configuration are the ones recorded. */
    char trust_last[512] = "";
    ih_trust_report tr;
    if (ih_app_trust_check(&inst, trust_last, sizeof trust_last, &tr) != IH_OK) {
        fprintf(stderr, "ihosd: cannot verify the program and configuration: %s\n", ih_err_detail());
        shut(&inst, incidents);
        return 1;
    }
    if (tr.problem[0] && inst.conf.trust_enforce) {
        fprintf(stderr,
                "ihosd: %s\nihosd: refusing to start ([security] trust_enforce). After a deliberate upgrade or "
                "configuration change, run `ihos trust record %s`.\n",
                tr.problem, inst.dir);
        shut(&inst, incidents);
        return 1;
    }
    ih_audit_event started = {.action = "server.start", .object_type = "instance", .object_id = inst.instance_id};
    if (ih_audit_record(inst.audit, &ih_system_actor, &started) != IH_OK) {
        fprintf(stderr, "ihosd: the audit journal refuses writes: %s\n", ih_err_detail());
        shut(&inst, incidents);
        return 1;
    }
    ih_app app = {.inst = &inst, .store = inst.store, .conf = &inst.conf, .keys = inst.keys, .audit = inst.audit,
                  .started_ms = ih_now_ms()};
    snprintf(app.node, sizeof app.node, "%s", node);
    snprintf(app.trust_last, sizeof app.trust_last, "%s", trust_last);
    ih_identity_opts io;
    ih_app_identity_opts(&inst, &io);
    ih_clinic_opts co;
    ih_err se = ih_policy_new(&app.policy);
    if (se == IH_OK) se = ih_policy_load(app.policy, inst.store, inst.keys);
    if (se == IH_OK) se = ih_identity_new(&io, &app.identity);
    if (se == IH_OK) se = ih_identity_start(app.identity);
    if (se == IH_OK) se = ih_app_report_new(&inst, app.node, &app.report);
    if (se == IH_OK) se = ih_app_detector_new(&inst, &app.detector);
    if (se == IH_OK) se = ih_ops_start(inst.store, inst.audit_key, inst.audit_pub, app.node, &app.ops);
    ih_extsig *pay_key = NULL;
    if (se == IH_OK) se = ih_app_pay_key(&inst, &pay_key);
    ih_bus *bus = NULL;
    ih_web *web = NULL;
    if (se == IH_OK) se = ih_bus_new(inst.conf.web_max_streams, inst.conf.web_streams_per_account, &bus);
    app.bus = bus;
    if (se == IH_OK) {
        char webdir[PATH_MAX];
        if (ih_web_load(inst.conf.web_dir, inst.dir, &web, webdir, sizeof webdir) == IH_OK)
            ih_log(IH_LOG_INFO, "web.loaded", "dir", webdir, NULL);
        else if (inst.conf.web_dir[0])
            se = ih_fail(IH_E_CONFIG, "[web] dir: %s", ih_err_detail());
        else /* an API-only install: the console answers 404 saying so */
            ih_log(IH_LOG_WARN, "web.not_installed", "detail", ih_err_detail(), NULL);
        app.web = web;
    }
    if (se == IH_OK) {
        ih_app_clinic_opts(&inst, app.identity, &co);
        co.report = app.report;
        co.detector = app.detector;
        co.pay_notify_key = pay_key;
        co.bus = bus;
        /* the peers ihos sends to: the clinic writes their outbox rows */
        static ih_his_route routes[IH_PEERS_MAX];
        for (int i = 0; i < peers.n; i++)
            if (peers.p[i].address[0] && peers.p[i].send[0])
                routes[co.his_nroutes++] = (ih_his_route){peers.p[i].name, peers.p[i].send, peers.p[i].orders};
        co.his_routes = routes;
        se = ih_clinic_new(&co, &app.clinic);
    }
    if (se == IH_OK) se = ih_app_upgrade(&inst, app.identity, app.clinic);
    if (se == IH_OK) se = ih_app_metrics_token(&app);
    ih_cidr_list proxies = {0};
    if (se == IH_OK && ih_cidr_parse(inst.conf.trusted_proxies, &proxies) != IH_OK)
        se = ih_fail(IH_E_CONFIG, "[server] trusted_proxies: %s", ih_err_detail());
    if (se != IH_OK) {
        fprintf(stderr, "ihosd: cannot start its services: %s\n", ih_err_detail());
        ih_clinic_free(app.clinic);
        ih_web_free(web);
        ih_bus_free(bus);
        ih_extsig_free(pay_key);
        ih_ops_stop(app.ops);
        ih_detector_free(app.detector);
        ih_report_free(app.report);
        ih_identity_free(app.identity);
        ih_policy_free(app.policy);
        shut(&inst, incidents);
        return 1;
    }
    ih_server_opts so = {
        .listen = inst.conf.listen,
        .cert_file = cert,
        .key_file = key,
        .workers = inst.conf.workers,
        .max_body = inst.conf.max_body,
        .max_connections = inst.conf.max_connections,
        .request_timeout_ms = inst.conf.request_timeout * 1000,
        .keepalive_timeout_ms = inst.conf.keepalive_timeout * 1000,
        .demo = inst.conf.demo,
        .trusted_proxies = proxies,
        .handler = ih_api_handle,
        .ctx = &app,
    };
    ih_server *srv;
    if (ih_server_start(&so, &srv) != IH_OK) {
        fprintf(stderr, "ihosd: %s\n", ih_err_detail());
        ih_clinic_free(app.clinic);
        ih_web_free(web);
        ih_bus_free(bus);
        ih_extsig_free(pay_key);
        ih_ops_stop(app.ops);
        ih_detector_free(app.detector);
        ih_report_free(app.report);
        ih_identity_free(app.identity);
        ih_policy_free(app.policy);
        shut(&inst, incidents);
        return 1;
    }
    ih_bus_set_wake(bus, ih_server_wake_streams, srv);
    ih_mllp_server *mllp = NULL; /* the HIS/LIS send here (exchange/listener.h) */
    if (ih_mllp_server_start(&peers, cert, key, app.clinic, &mllp) != IH_OK)
        ih_log(IH_LOG_ERROR, "exchange.not_started", "alert", "true", "detail", ih_err_detail(), NULL);
    ih_sender_opts sop = {.peers = &peers, .clinic = app.clinic, .store = inst.store, .cert_file = cert,
                          .key_file = key, .base_dir = inst.dir, .utc_offset_minutes = inst.conf.utc_offset_minutes,
                          .node = app.node};
    ih_mllp_sender *sender = NULL; /* and ihos delivers its outbox to them (exchange/sender.h) */
    if (ih_mllp_sender_start(&sop, &sender) != IH_OK)
        ih_log(IH_LOG_ERROR, "exchange.not_started", "alert", "true", "detail", ih_err_detail(), NULL);
    app.sender = sender;
    ih_pacs *pacs = NULL; /* the PACS: worklist, studies linked to orders (exchange/pacs.h) */
    if (inst.conf.pacs_url[0] && ih_app_pacs_new(&inst, app.clinic, app.node, &pacs) == IH_OK &&
        ih_pacs_start(pacs) != IH_OK) {
        ih_pacs_free(pacs);
        pacs = NULL;
    }
    if (inst.conf.pacs_url[0] && !pacs)
        ih_log(IH_LOG_ERROR, "pacs.not_started", "alert", "true", "detail", ih_err_detail(), NULL);
    app.pacs = pacs;
    ih_av *av = NULL; /* the audio-video systems: Janus and coturn (remote/av.h) */
    if (ih_app_av_new(&inst, &av) == IH_OK && av && ih_av_start(av) != IH_OK) {
        ih_av_free(av);
        av = NULL;
    }
    if ((inst.conf.av_janus_url[0] || inst.conf.av_turn_urls[0]) && !av)
        ih_log(IH_LOG_ERROR, "av.not_started", "alert", "true", "detail", ih_err_detail(), NULL);
    app.av = av;
    ih_api_console_csp(&app);
    ih_jobs *jobs = NULL;
    ih_forwarder *fwd = NULL;
    if (ih_jobs_start(&app, &jobs) != IH_OK)
        ih_log(IH_LOG_ERROR, "jobs.not_started", "alert", "true", "detail", ih_err_detail(), NULL);
    if (ih_report_start(app.report) != IH_OK)
        ih_log(IH_LOG_ERROR, "report.not_started", "alert", "true", "detail", ih_err_detail(), NULL);
    if (inst.conf.audit_syslog[0]) {
        char cursor[PATH_MAX];
        if (ih_instance_path(&inst, "audit/syslog.cursor", cursor, sizeof cursor) != IH_OK ||
            ih_audit_forward_start(inst.store, inst.conf.audit_syslog, cursor, app.node, &fwd) != IH_OK)
            ih_log(IH_LOG_ERROR, "audit.forward_not_started", "alert", "true", "detail", ih_err_detail(), NULL);
    }
    char fp[128] = "", addr[96];
    ih_tls_fingerprint(cert, fp, sizeof fp);
    char host[64];
    int port;
    ih_parse_listen(inst.conf.listen, host, sizeof host, &port);
    snprintf(addr, sizeof addr, strchr(host, ':') ? "https://[%s]:%d" : "https://%s:%d", host,
             ih_server_port(srv));
    ih_log(IH_LOG_INFO, "server.started", "url", addr, "instance", inst.conf.name, "suite",
           inst.conf.suite, "store", inst.conf.backend, "tls_sha256", fp, "version", IHOS_VERSION,
           NULL);
    if (inst.conf.demo)
        ih_log(IH_LOG_WARN, "server.demo", "note",
               "DEMO INSTANCE: synthetic data only; every response carries X-Ihos-Demo: 1", NULL);

    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) /* logrotate moved the file */
        if (ih_log_reopen() != 0) ih_log(IH_LOG_ERROR, "log.reopen_failed", "detail", strerror(errno), NULL);
        else ih_log(IH_LOG_INFO, "log.reopened", NULL);
    ih_log(IH_LOG_INFO, "server.stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    ih_bus_set_wake(bus, NULL, NULL); /* the server goes; publishing stays harmless */
    ih_mllp_server_stop(mllp);
    ih_ops_drain(app.ops); /* requests waiting for a long operation answer 202 now */
    ih_server_stop(srv, 10000);
    ih_ops_stop(app.ops); /* a self-check or verification running finishes first */
    app.sender = NULL;
    ih_mllp_sender_stop(sender);
    app.pacs = NULL;
    ih_pacs_free(pacs);
    app.av = NULL;
    ih_av_free(av);
    ih_jobs_stop(jobs);
    ih_report_stop(app.report);
    ih_audit_event stopped = {.action = "server.stop", .object_type = "instance", .object_id = inst.instance_id};
    ih_audit_record(inst.audit, &ih_system_actor, &stopped);
    ih_audit_forward_stop(fwd); /* its last pass sends server.stop too */
    ih_clinic_free(app.clinic);
    ih_web_free(web);
    ih_bus_free(bus);
    ih_extsig_free(pay_key);
    ih_detector_free(app.detector);
    ih_report_free(app.report);
    ih_identity_free(app.identity);
    ih_policy_free(app.policy);
    shut(&inst, incidents);
    ih_log(IH_LOG_INFO, "server.stopped", NULL);
    return 0;
}
