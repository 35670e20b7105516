/* fsutil.c — see fsutil.h. */
#include "core/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ih_err write_all(int fd, const void *data, size_t n, const char *path)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return ih_fail(IH_E_IO, "write %s: %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0) return ih_fail(IH_E_IO, "fsync %s: %s", path, strerror(errno));
    return IH_OK;
}

ih_err ih_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ih_fail(IH_E_IO, "open dir %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? IH_OK : ih_fail(IH_E_IO, "fsync dir %s: %s", dir, strerror(errno));
}

static ih_err fsync_parent(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    return ih_fsync_dir(dirname(tmp));
}

ih_err ih_file_create(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return ih_fail(IH_E_IO, "create %s: %s", path, strerror(errno));
    ih_err e = write_all(fd, data, n, path);
    close(fd);
    if (e != IH_OK) {
        unlink(path);
        return e;
    }
    return fsync_parent(path);
}

ih_err ih_file_replace(const char *path, const void *data, size_t n, mode_t mode)
{
    char tmp[PATH_MAX];
    IH_TRY(ih_path(tmp, sizeof tmp, "%s.tmp", path));
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return ih_fail(IH_E_IO, "create %s: %s", tmp, strerror(errno));
    ih_err e = write_all(fd, data, n, tmp);
    close(fd);
    if (e == IH_OK && rename(tmp, path) != 0)
        e = ih_fail(IH_E_IO, "rename %s: %s", path, strerror(errno));
    if (e != IH_OK) {
        unlink(tmp);
        return e;
    }
    return fsync_parent(path);
}

ih_err ih_file_append(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return ih_fail(IH_E_IO, "open %s: %s", path, strerror(errno));
    ih_err e = write_all(fd, data, n, path);
    close(fd);
    return e;
}

ih_err ih_file_read(const char *path, size_t max, ih_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ih_fail(errno == ENOENT ? IH_E_NOT_FOUND : IH_E_IO, "open %s: %s", path,
                               strerror(errno));
    ih_err e = IH_OK;
    size_t total = 0;
    for (;;) {
        if ((e = ih_buf_reserve(out, 65536)) != IH_OK) break;
        ssize_t r = read(fd, out->p + out->len, 65536);
        if (r < 0) {
            if (errno == EINTR) continue;
            e = ih_fail(IH_E_IO, "read %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        out->len += (size_t)r;
        total += (size_t)r;
        out->p[out->len] = '\0';
        if (total > max) {
            e = ih_fail(IH_E_TOO_LARGE, "%s is larger than %zu bytes", path, max);
            break;
        }
    }
    close(fd);
    return e;
}

ih_err ih_dir_create(const char *path, mode_t mode, bool exists_ok)
{
    if (mkdir(path, mode) == 0) return IH_OK;
    if (errno == EEXIST && exists_ok) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return IH_OK;
    }
    return ih_fail(IH_E_IO, "mkdir %s: %s", path, strerror(errno));
}

bool ih_dir_empty_or_absent(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT;
    struct dirent *de;
    bool empty = true;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            empty = false;
            break;
        }
    }
    closedir(d);
    return empty;
}

ih_err ih_check_private(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return ih_fail(IH_E_CONFIG, "%s: %s", path, strerror(errno));
    if (st.st_uid != geteuid())
        return ih_fail(IH_E_CONFIG, "%s: not owned by the user running ihos", path);
    if (st.st_mode & 077)
        return ih_fail(IH_E_CONFIG, "%s: readable or writable by others (mode %03o); chmod go-rwx",
                       path, st.st_mode & 0777);
    return IH_OK;
}

ih_err ih_path(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= n) return ih_fail(IH_E_INVALID, "path too long");
    return IH_OK;
}
