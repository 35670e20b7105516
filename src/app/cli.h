/* cli.h — the administrator's CLI (`ihos`): one function per subcommand.
 *
 * Each takes the arguments after the subcommand name and returns the exit
 * status: 0 success, 1 failure (one line "ihos: reason" on stderr), 2 bad
 * usage.
 */
#ifndef IH_APP_CLI_H
#define IH_APP_CLI_H

#include "core/err.h"

#include <stdio.h>

int ih_cli_init(int argc, char **argv);
int ih_cli_audit(int argc, char **argv);
int ih_cli_totp(int argc, char **argv);
int ih_cli_backup(int argc, char **argv);
int ih_cli_restore(int argc, char **argv);
int ih_cli_key(int argc, char **argv);
int ih_cli_integrity(int argc, char **argv);
int ih_cli_demo(int argc, char **argv);
int ih_cli_report(int argc, char **argv);
int ih_cli_rx(int argc, char **argv);
int ih_cli_icd(int argc, char **argv);
int ih_cli_sbom(int argc, char **argv);
int ih_cli_tables(int argc, char **argv);
int ih_cli_trust(int argc, char **argv);
int ih_cli_selfcheck(int argc, char **argv);
int ih_cli_filing(int argc, char **argv);

/* Seed the synthetic demo hospital into an open instance and write
 * DIR/demo-credentials.json (0600). */
struct ih_instance;
ih_err ih_app_seed_demo(struct ih_instance *inst, int patients);

/* Print "ihos: <fmt>" plus the thread's error detail when e != IH_OK. */
int ih_cli_fail(ih_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
