/* trusted.c — see trusted.h. */
#include "app/trusted.h"

#include "core/clock.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ih_err ih_app_trust_manifest(const ih_instance *in, char *out, size_t n)
{
    return ih_instance_path(in, "keys/trust.manifest", out, n);
}

ih_err ih_app_trust_verify(ih_instance *in, const char *self, ih_trust_report *r)
{
    char manifest[PATH_MAX];
    IH_TRY(ih_app_trust_manifest(in, manifest, sizeof manifest));
    IH_TRY(ih_trust_verify(manifest, in->audit_pub, self, r));
    if (r->problem[0]) return IH_OK;
    /* a configuration file that appeared since (exchange.conf) must be recorded too */
    char(*paths)[4096] = malloc(IH_TRUST_MAX_FILES * sizeof *paths);
    IH_CHECK_ALLOC(paths);
    int n = ih_trust_default_files(in->dir, paths, IH_TRUST_MAX_FILES);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(paths[i]);
        bool conf = l > 5 && !strcmp(paths[i] + l - 5, ".conf");
        if (conf && !ih_trust_lists(manifest, paths[i])) {
            snprintf(r->problem, sizeof r->problem, "%s is not among the recorded files", paths[i]);
            r->changed++;
            break;
        }
    }
    free(paths);
    return IH_OK;
}

ih_err ih_app_trust_record(ih_instance *in, const ih_actor *who, const char *const *extra, int nextra,
                           ih_trust_report *r)
{
    if (!in->audit_key) return ih_fail(IH_E_STATE, "recording the trusted files needs the audit signing key");
    static char paths[IH_TRUST_MAX_FILES][4096];
    int n = ih_trust_default_files(in->dir, paths, IH_TRUST_MAX_FILES);
    const char *files[IH_TRUST_MAX_FILES];
    for (int i = 0; i < n; i++) files[i] = paths[i];
    for (int i = 0; i < nextra; i++) {
        if (n >= IH_TRUST_MAX_FILES) return ih_fail(IH_E_INVALID, "at most %d files", IH_TRUST_MAX_FILES);
        files[n++] = extra[i];
    }
    char manifest[PATH_MAX];
    IH_TRY(ih_app_trust_manifest(in, manifest, sizeof manifest));
    ih_err e = ih_trust_record(manifest, in->audit_key, files, n, ih_now_ms());
    char reason[64];
    snprintf(reason, sizeof reason, "%d files", n);
    ih_audit_event ev = {.action = "trust.record", .object_type = "instance", .object_id = "trust.manifest",
                         .reason = reason, .result = e};
    ih_err ae = ih_audit_record(in->audit, who, &ev);
    IH_TRY(e);
    IH_TRY(ae);
    char self[4096];
    ih_trust_self(self, sizeof self);
    return ih_app_trust_verify(in, self, r);
}

ih_err ih_app_trust_check(ih_instance *in, char *last, size_t lastlen, ih_trust_report *r)
{
    char self[4096];
    ih_trust_self(self, sizeof self);
    IH_TRY(ih_app_trust_verify(in, self, r));
    bool report = r->problem[0] && (!last || strcmp(last, r->problem) != 0);
    if (last) snprintf(last, lastlen, "%s", r->problem);
    if (!report) return IH_OK;
    ih_log(IH_LOG_ERROR, "trust.violation", "alert", "true", "detail", r->problem, NULL);
    ih_audit_event ev = {.action = "trust.violation", .object_type = "instance", .object_id = "trust.manifest",
                         .reason = r->problem, .result = IH_E_INTEGRITY};
    return ih_audit_record(in->audit, &ih_system_actor, &ev);
}
