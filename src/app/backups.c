/* backups.c — see backups.h. */
#include "app/backups.h"

#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t one_at_a_time = PTHREAD_MUTEX_INITIALIZER;

bool ih_app_backup_name(const char *n)
{
    size_t l = strlen(n);
    return !strncmp(n, "ihos-", 5) && l > 6 && !strcmp(n + l - 6, ".ihosb");
}

static int by_name_desc(const void *a, const void *b) { return strcmp(*(char *const *)b, *(char *const *)a); }

/* Remove the oldest backups beyond `keep` (names sort by their UTC time). */
static void prune(ih_app *app)
{
    char dir[PATH_MAX];
    if (ih_instance_path(app->inst, "backups", dir, sizeof dir) != IH_OK) return;
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[4096];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 4096)
        if (ih_app_backup_name(de->d_name)) names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name_desc);
    for (int i = 0; i < n; i++) {
        if (i >= app->conf->backup_keep && names[i]) {
            char p[PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", dir, names[i]);
            if (unlink(p) == 0) ih_log(IH_LOG_INFO, "backup.pruned", "file", names[i], NULL);
        }
        free(names[i]);
    }
}

/* The event names the node whose DIR/backups holds the file (its reason):
 * every node lists the cluster's backups from the journal. */
static void record(ih_app *app, const ih_actor *who, const char *action, const char *file, ih_err result)
{
    ih_audit_event ev = {.action = action, .object_type = "backup", .object_id = file, .result = result,
                         .reason = app->node[0] ? app->node : NULL};
    if (ih_audit_record(app->audit, who, &ev) != IH_OK)
        ih_log(IH_LOG_ERROR, "backup.audit_failed", "alert", "true", "action", action, NULL);
}

ih_err ih_app_backup(ih_app *app, const ih_actor *who, ih_backup_info *info)
{
    pthread_mutex_lock(&one_at_a_time);
    char path[PATH_MAX], name[96];
    ih_err e = ih_instance_path(app->inst, "backups", path, sizeof path);
    size_t dirlen = strlen(path);
    /* names carry the second they were taken: a second backup within the
     * same second (the daily one and one asked for) waits for the next */
    for (int tries = 0; e == IH_OK && tries < 3; tries++) {
        char stamp[32];
        time_t now = (time_t)(ih_now_ms() / 1000);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(name, sizeof name, "ihos-%.8s-%s.ihosb", app->inst->instance_id, stamp);
        path[dirlen] = '\0';
        e = ih_path(path + dirlen, sizeof path - dirlen, "/%s", name);
        struct stat sb;
        if (e != IH_OK || stat(path, &sb) != 0) break;
        int64_t left = 1000 - ih_now_ms() % 1000; /* 1..1000 ms to the next second */
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (e == IH_OK) e = ih_backup_create(app->inst, path, info);
    record(app, who, "backup.create", name, e);
    if (e != IH_OK) {
        ih_log(IH_LOG_ERROR, "backup.failed", "alert", "true", "file", name, "detail", ih_err_detail(), NULL);
        pthread_mutex_unlock(&one_at_a_time);
        return e;
    }
    if (app->conf->offsite_dir[0] || app->conf->offsite_command[0]) {
        ih_err oe = ih_backup_offsite(app->conf, path);
        record(app, who, "backup.offsite", name, oe);
        if (oe != IH_OK) {
            ih_log(IH_LOG_ERROR, "backup.offsite_failed", "alert", "true", "file", name, "detail", ih_err_detail(), NULL);
            e = oe;
        }
    }
    prune(app);
    pthread_mutex_unlock(&one_at_a_time);
    return e;
}

/* Whether today's daily backup was taken, by this node or any other: the
 * system's successful backup.create since due_ms in the journal every node
 * shares, and its off-site copy when one is configured (a failed copy is
 * tried again, with a new backup, at the job's next run). */
static ih_err daily_done(ih_app *app, int64_t due_ms, bool *done)
{
    bool offsite = app->conf->offsite_dir[0] || app->conf->offsite_command[0];
    const char *actions[] = {"backup.create", offsite ? "backup.offsite" : NULL};
    *done = true;
    for (size_t k = 0; *done && k < 2 && actions[k]; k++) {
        json_t *events, *ev;
        IH_TRY(ih_audit_object_events(app->store, "backup", actions[k], due_ms, 100, &events));
        size_t i;
        bool any = false;
        json_array_foreach(events, i, ev)
        {
            const char *role = json_string_value(json_object_get(ev, "actor_role"));
            any = any || (role && !strcmp(role, ih_system_actor.role));
        }
        json_decref(events);
        *done = any;
    }
    return IH_OK;
}

ih_err ih_app_backup_if_due(ih_app *app)
{
    if (!app->conf->backup_enabled) return IH_OK;
    int64_t offset_ms = (int64_t)app->conf->utc_offset_minutes * 60000, local_ms = ih_now_ms() + offset_ms;
    int hh = 0, mm = 0;
    if (sscanf(app->conf->backup_daily_at, "%d:%d", &hh, &mm) != 2) return ih_fail(IH_E_CONFIG, "[backup] daily_at");
    int64_t due_local = local_ms - local_ms % 86400000 + (int64_t)hh * 3600000 + (int64_t)mm * 60000;
    if (local_ms < due_local) return IH_OK;
    bool done;
    IH_TRY(daily_done(app, due_local - offset_ms, &done));
    if (done) return IH_OK;
    ih_backup_info info;
    return ih_app_backup(app, &ih_system_actor, &info);
}

static int by_name_field_desc(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)b, "name")),
                  json_string_value(json_object_get(*(json_t *const *)a, "name")));
}

/* Backups another node made in the last LIST_DAYS days: the journal's
 * successful backup.create events naming a node other than this one (this
 * node's own missing files were pruned). */
#define LIST_DAYS 31
static ih_err add_elsewhere(ih_app *app, json_t *list)
{
    json_t *events;
    IH_TRY(ih_audit_object_events(app->store, "backup", "backup.create", ih_now_ms() - (int64_t)LIST_DAYS * 86400000,
                                  1000, &events));
    size_t i, k;
    json_t *ev, *have;
    json_array_foreach(events, i, ev)
    {
        const char *node = json_string_value(json_object_get(ev, "reason"));
        const char *id = json_string_value(json_object_get(ev, "object_id"));
        if (!node || !id || !strcmp(node, app->node)) continue;
        const char *slash = strrchr(id, '/'), *name = slash ? slash + 1 : id;
        bool listed = false;
        json_array_foreach(list, k, have) listed = listed || !strcmp(json_string_value(json_object_get(have, "name")), name);
        if (!listed)
            json_array_append_new(list, json_pack("{s:s, s:n, s:s, s:b, s:O?}", "name", name, "size", "node", node,
                                                  "here", false, "created_at", json_object_get(ev, "time")));
    }
    json_decref(events);
    return IH_OK;
}

ih_err ih_app_backup_list(ih_app *app, json_t **out)
{
    char dir[PATH_MAX];
    IH_TRY(ih_instance_path(app->inst, "backups", dir, sizeof dir));
    json_t *list = json_array();
    IH_CHECK_ALLOC(list);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!ih_app_backup_name(de->d_name)) continue;
            char p[PATH_MAX + 300], when[32];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            if (stat(p, &st) != 0) continue;
            ih_time_iso((int64_t)st.st_mtime * 1000, when, sizeof when);
            json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:b, s:s}", "name", de->d_name, "size",
                                                  (json_int_t)st.st_size, "node", app->node, "here", true,
                                                  "created_at", when));
        }
        closedir(d);
    }
    ih_err e = add_elsewhere(app, list);
    if (e != IH_OK) {
        json_decref(list);
        return e;
    }
    /* newest first: names carry their UTC time after the instance's prefix */
    size_t n = json_array_size(list);
    json_t **v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v) {
        json_decref(list);
        return ih_fail(IH_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) v[i] = json_incref(json_array_get(list, i));
    if (n) qsort(v, n, sizeof *v, by_name_field_desc);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++) json_array_append_new(list, v[i]);
    free(v);
    *out = list;
    return IH_OK;
}
