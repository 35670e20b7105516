/* recording.c — Janus's recordings converted and sealed (recording.h). */
#include "remote/recording.h"

#include "core/fsutil.h"
#include "core/spawn.h"
#include "crypto/aead.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

ih_err ih_rec_find(const char *dir, int64_t room, char paths[][PATH_MAX], int *n)
{
    *n = 0;
    char prefix[48];
    snprintf(prefix, sizeof prefix, "videoroom-%lld-", (long long)room);
    DIR *d = opendir(dir);
    if (!d) return ih_fail(IH_E_IO, "recordings directory %s cannot be read", dir);
    struct dirent *de;
    size_t pl = strlen(prefix);
    while ((de = readdir(d)) != NULL && *n < IH_REC_MAX_FILES) {
        size_t l = strlen(de->d_name);
        if (l <= pl + 4 || strncmp(de->d_name, prefix, pl) || strcmp(de->d_name + l - 4, ".mjr")) continue;
        if ((size_t)snprintf(paths[*n], PATH_MAX, "%s/%s", dir, de->d_name) >= PATH_MAX) continue;
        (*n)++;
    }
    closedir(d);
    qsort(paths, (size_t)*n, sizeof paths[0], by_name);
    return IH_OK;
}

ih_err ih_rec_convert(const char *program, const char *mjr, const char *tmpdir, ih_buf *out, char kind[8],
                      char format[8])
{
    /* Janus names them …-audio.mjr / …-video.mjr (1.1: …-audio-<mindex>.mjr) */
    const char *base = strrchr(mjr, '/');
    base = base ? base + 1 : mjr;
    bool video = strstr(base, "-video-") || strstr(base, "-video.mjr");
    bool audio = strstr(base, "-audio-") || strstr(base, "-audio.mjr");
    if (!video && !audio) return ih_fail(IH_E_INVALID, "%s is neither audio nor video", mjr);
    snprintf(kind, 8, "%s", video ? "video" : "audio");
    snprintf(format, 8, "%s", video ? "webm" : "opus");
    uint64_t r;
    IH_TRY(ih_random(&r, sizeof r));
    char dest[PATH_MAX];
    if ((size_t)snprintf(dest, sizeof dest, "%s/rec-%016llx.%s", tmpdir, (unsigned long long)r, format) >= sizeof dest)
        return ih_fail(IH_E_IO, "temporary path too long");
    char *argv[] = {(char *)program, "-d", "2", "-o", (char *)mjr, dest, NULL};
    ih_buf log = IH_BUF_INIT;
    int status = -1;
    ih_err e = ih_spawn_run(program, argv, NULL, 0, &log, 64 * 1024, 300000, &status);
    ih_buf_free(&log);
    if (e == IH_OK && status != 0) e = ih_fail(IH_E_IO, "janus-pp-rec failed on %s (status %d)", mjr, status);
    if (e == IH_OK) e = ih_file_read(dest, IH_REC_MAX_BYTES, out);
    if (e == IH_OK && !out->len) e = ih_fail(IH_E_IO, "janus-pp-rec wrote nothing for %s", mjr);
    unlink(dest); /* plaintext: never left behind */
    return e;
}

static ih_err key_of(ih_suite suite, const uint8_t root[32], ih_dek *k)
{
    *k = (ih_dek){.suite = suite, .version = 0, .purpose = 0};
    memcpy(k->root, root, 32);
    return ih_dek_derive(k);
}

ih_err ih_rec_seal_file(ih_suite suite, const char *path, const char *label, const ih_buf *plain, uint8_t root[32])
{
    IH_TRY(ih_random(root, 32));
    ih_dek k;
    ih_err e = key_of(suite, root, &k);
    ih_buf ct = IH_BUF_INIT;
    if (e == IH_OK) e = ih_aead_seal(&k, label, strlen(label), plain->p, plain->len, &ct);
    if (e == IH_OK) e = ih_file_create(path, ct.p, ct.len, 0600);
    ih_wipe(&k, sizeof k);
    ih_buf_free(&ct);
    if (e != IH_OK) ih_wipe(root, 32);
    return e;
}

ih_err ih_rec_open_file(ih_suite suite, const char *path, const char *label, const uint8_t root[32], ih_buf *plain)
{
    ih_buf ct = IH_BUF_INIT;
    IH_TRY(ih_file_read(path, IH_REC_MAX_BYTES + 256, &ct));
    ih_dek k;
    ih_err e = key_of(suite, root, &k);
    if (e == IH_OK) e = ih_aead_open(&k, label, strlen(label), ct.p, ct.len, plain);
    ih_wipe(&k, sizeof k);
    ih_buf_free(&ct);
    return e;
}
