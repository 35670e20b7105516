/* log.h — structured logs: one JSON object per line.
 *
 * Target is stderr (default) or syslog.  Callers pass an event name and
 * key/value string pairs; values are escaped, never interpreted.  Rule for
 * every caller: never log a secret (password, token, key, TOTP code) or a
 * personal or medical field — log ids instead.
 *
 *   ih_log(IH_LOG_INFO, "server.listen", "addr", "127.0.0.1:8443", NULL);
 */
#ifndef IH_CORE_LOG_H
#define IH_CORE_LOG_H

typedef enum { IH_LOG_DEBUG, IH_LOG_INFO, IH_LOG_WARN, IH_LOG_ERROR } ih_log_level;

/* target: "stderr" or "syslog"; min level as above. */
void ih_log_setup(const char *target, ih_log_level min, const char *ident);
/* Parse "debug|info|warn|error"; -1 if unknown. */
int ih_log_level_parse(const char *s);
/* key/value pairs of strings, terminated by NULL. */
void ih_log(ih_log_level lvl, const char *event, ...) __attribute__((sentinel));

#endif
