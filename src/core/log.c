/* log.c — JSON-lines logger (see log.h). */
#include "core/log.h"

#include "core/buf.h"
#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static ih_log_level min_level = IH_LOG_INFO;
static int use_syslog;
static int out_fd = STDERR_FILENO;
static char out_path[PATH_MAX];
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"debug", "info", "warn", "error"};
static ih_log_hook hook_fn;
static void *hook_ctx;
static pthread_rwlock_t hook_lock = PTHREAD_RWLOCK_INITIALIZER;

void ih_log_set_hook(ih_log_hook fn, void *ctx)
{
    pthread_rwlock_wrlock(&hook_lock);
    hook_fn = fn;
    hook_ctx = ctx;
    pthread_rwlock_unlock(&hook_lock);
}

void ih_log_setup(const char *target, ih_log_level min, const char *ident)
{
    (void)ih_log_setup_file(target, NULL, min, ident);
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
}

int ih_log_setup_file(const char *target, const char *file, ih_log_level min, const char *ident)
{
    min_level = min;
    use_syslog = target && strcmp(target, "syslog") == 0;
    if (use_syslog) openlog(ident ? ident : "ihos", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    if (!target || strcmp(target, "file") || !file) return 0;
    if (strlen(file) >= sizeof out_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open_log(file);
    if (fd < 0) return -1;
    pthread_mutex_lock(&out_lock);
    snprintf(out_path, sizeof out_path, "%s", file);
    if (out_fd != STDERR_FILENO) close(out_fd);
    out_fd = fd;
    pthread_mutex_unlock(&out_lock);
    return 0;
}

int ih_log_reopen(void)
{
    if (!out_path[0]) return 0;
    int fd = open_log(out_path);
    if (fd < 0) return -1;
    pthread_mutex_lock(&out_lock);
    int old = out_fd;
    out_fd = fd;
    pthread_mutex_unlock(&out_lock);
    if (old != STDERR_FILENO) close(old);
    return 0;
}

int ih_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) return i;
    return -1;
}

void ih_log(ih_log_level lvl, const char *event, ...)
{
    if (lvl < min_level) return;
    ih_buf b = IH_BUF_INIT;
    char ts[32];
    ih_time_iso(ih_now_ms(), ts, sizeof ts);
    ih_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", ts, level_names[lvl]);
    ih_buf_json_escape(&b, event, strlen(event));
    ih_buf_puts(&b, "\"");
    va_list ap;
    va_start(ap, event);
    int alert = 0;
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k) break;
        const char *v = va_arg(ap, const char *);
        if (v && !strcmp(k, "alert") && !strcmp(v, "true")) alert = 1;
        ih_buf_puts(&b, ",\"");
        ih_buf_json_escape(&b, k, strlen(k));
        ih_buf_puts(&b, "\":\"");
        if (v) ih_buf_json_escape(&b, v, strlen(v));
        ih_buf_puts(&b, "\"");
    }
    va_end(ap);
    ih_buf_puts(&b, "}\n");
    if (!b.p) return;
    if (lvl >= IH_LOG_WARN) {
        pthread_rwlock_rdlock(&hook_lock);
        if (hook_fn) {
            b.p[b.len - 1] = '\0';
            hook_fn(hook_ctx, event, alert, b.p);
            b.p[b.len - 1] = '\n';
        }
        pthread_rwlock_unlock(&hook_lock);
    }
    if (use_syslog) {
        static const int pri[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
        b.p[b.len - 1] = '\0';
        syslog(pri[lvl], "%s", b.p);
    } else {
        pthread_mutex_lock(&out_lock);
        ssize_t off = 0;
        while ((size_t)off < b.len) {
            ssize_t w = write(out_fd, b.p + off, b.len - (size_t)off);
            if (w <= 0) break;
            off += w;
        }
        pthread_mutex_unlock(&out_lock);
    }
    ih_buf_free(&b);
}
