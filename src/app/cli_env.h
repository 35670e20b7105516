/* cli_env.h — what a CLI command opens: the instance (store, keyring,
 * audit journal with the signing key) and, when asked, the services that
 * act on data (identity, clinic, the supervision outbox), so that changes
 * made from the console follow the same rules, audit and reporting as the
 * API's. */
#ifndef IH_APP_CLI_ENV_H
#define IH_APP_CLI_ENV_H

#include "app/app.h"

typedef struct ih_cli_env {
    ih_instance in;
    ih_identity *id;
    ih_report *report;
    ih_clinic *clinic;
    struct ih_incidents *incidents; /* alerts raised by the command become incidents */
} ih_cli_env;

/* 0 on success; otherwise the exit status, the reason already printed. */
int ih_cli_env_open(const char *dir, ih_cli_env *env, bool services);
void ih_cli_env_close(ih_cli_env *env);

#endif
