/* log.h — structured logs: one JSON object per line.
 *
 * Target is stderr (default; the journal under systemd), syslog, or a file
 * (reopened by ih_log_reopen, on SIGHUP, after logrotate moved it).  Callers
 * pass an event name and
 * key/value string pairs; values are escaped, never interpreted.  Rule for
 * every caller: never log a secret (password, token, key, TOTP code) or a
 * personal or medical field — log ids instead.
 *
 *   ih_log(IH_LOG_INFO, "server.listen", "addr", "127.0.0.1:8443", NULL);
 */
#ifndef IH_CORE_LOG_H
#define IH_CORE_LOG_H

typedef enum { IH_LOG_DEBUG, IH_LOG_INFO, IH_LOG_WARN, IH_LOG_ERROR } ih_log_level;

/* target: "stderr", "syslog" or "file" (then file is the path, opened for
 * appending, mode 0600); min level as above.  Returns 0, or -1 with errno
 * when the file cannot be opened (logs then go to stderr). */
int ih_log_setup_file(const char *target, const char *file, ih_log_level min, const char *ident);
void ih_log_setup(const char *target, ih_log_level min, const char *ident);
/* Open the log file again under its name (after a rotation); 0 or -1. */
int ih_log_reopen(void);
/* Parse "debug|info|warn|error"; -1 if unknown. */
int ih_log_level_parse(const char *s);
/* Something to hear of events at warn and above as they are logged (the
 * security incidents, compliance/incident.h): the event name, whether it
 * carries alert=true, and the whole line.  Called on the logging thread,
 * possibly inside a transaction: it must only queue.  NULL removes it. */
typedef void (*ih_log_hook)(void *ctx, const char *event, int alert, const char *line);
void ih_log_set_hook(ih_log_hook fn, void *ctx);
/* key/value pairs of strings, terminated by NULL. */
void ih_log(ih_log_level lvl, const char *event, ...) __attribute__((sentinel));

#endif
