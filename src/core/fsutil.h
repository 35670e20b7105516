/* fsutil.h — files created with exact permissions, durably.
 *
 * Every file ihos writes goes through here so that its mode is chosen at
 * creation (O_CREAT with the mode, umask 077 set by both programs) and never
 * widened afterwards.  Writes that must survive a crash fsync the file and,
 * for new names, the directory.
 */
#ifndef IH_CORE_FSUTIL_H
#define IH_CORE_FSUTIL_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Create a new file (fails if it exists), write all, fsync, close. */
ih_err ih_file_create(const char *path, const void *data, size_t n, mode_t mode);
/* Replace path atomically: write path.tmp, fsync, rename, fsync directory. */
ih_err ih_file_replace(const char *path, const void *data, size_t n, mode_t mode);
/* Append and fsync (creating with mode if absent). */
ih_err ih_file_append(const char *path, const void *data, size_t n, mode_t mode);
/* Read a whole file up to max bytes into out (appends). */
ih_err ih_file_read(const char *path, size_t max, ih_buf *out);
/* mkdir with mode; ok if it exists as a directory and exists_ok. */
ih_err ih_dir_create(const char *path, mode_t mode, bool exists_ok);
/* true if path does not exist or is an empty directory. */
bool ih_dir_empty_or_absent(const char *path);
/* Owner-only check: owned by the effective uid and no group/other bits. */
ih_err ih_check_private(const char *path);
/* fsync the directory containing path (or path itself if a directory). */
ih_err ih_fsync_dir(const char *dir);
/* snprintf into out, failing with IH_E_INVALID if truncated. */
ih_err ih_path(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
