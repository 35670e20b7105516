/* cli_env.c — see cli_env.h. */
#include "app/cli_env.h"
#include "compliance/incident.h"

#include "app/cli.h"

#include <string.h>

int ih_cli_env_open(const char *dir, ih_cli_env *env, bool services)
{
    char msg[1024];
    memset(env, 0, sizeof *env);
    if (ih_instance_load(dir, &env->in, msg, sizeof msg) != IH_OK) return ih_cli_fail(IH_OK, "%s", msg);
    ih_err e = ih_instance_open_store(&env->in);
    if (e == IH_OK) e = ih_instance_open_runtime(&env->in, true);
    if (e == IH_OK && services) {
        ih_identity_opts io;
        ih_app_identity_opts(&env->in, &io);
        e = ih_identity_new(&io, &env->id);
        if (e == IH_OK) e = ih_app_report_new(&env->in, NULL, &env->report);
        if (e == IH_OK) {
            ih_clinic_opts co;
            ih_app_clinic_opts(&env->in, env->id, &co);
            co.report = env->report;
            e = ih_clinic_new(&co, &env->clinic);
        }
        if (e == IH_OK) e = ih_app_upgrade(&env->in, env->id, env->clinic);
        if (e == IH_OK) e = ih_app_incidents_start(&env->in, NULL, &env->incidents);
    }
    if (e != IH_OK) {
        int rc = ih_cli_fail(e, "cannot open the instance");
        ih_cli_env_close(env);
        return rc;
    }
    return 0;
}

void ih_cli_env_close(ih_cli_env *env)
{
    ih_incidents_stop(env->incidents); /* writes what the command raised */
    env->incidents = NULL;
    ih_clinic_free(env->clinic);
    ih_report_free(env->report);
    ih_identity_free(env->id);
    ih_instance_close(&env->in);
    env->clinic = NULL;
    env->report = NULL;
    env->id = NULL;
}
