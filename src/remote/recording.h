/* recording.h — a call's recordings, from Janus's files to ihos's sealed
 * store.
 *
 * Janus records a room only when ihosd enabled it (the patient consented;
 * the room is created with lock_record, so no participant can start or stop
 * it) into [av] recordings_dir, a directory Janus writes and ihosd reads:
 * one .mjr file per publisher and medium, named
 * videoroom-<room>-user-<publisher>-<time>-<audio|video>[-<mindex>].mjr.  After the
 * call ends a job converts each with janus-tools' janus-pp-rec (audio to
 * Ogg Opus, video to WebM), seals the result under a key drawn for that file
 * alone (AEAD of the instance's suite, the associated data naming the call
 * and the file) into the instance's recordings/ directory (0600), and
 * removes Janus's plaintext.  The file's key is kept sealed in the database
 * (care/call.h), so key rotation re-seals it like any field.
 */
#ifndef IH_REMOTE_RECORDING_H
#define IH_REMOTE_RECORDING_H

#include "core/buf.h"
#include "core/err.h"
#include "crypto/suite.h"

#include <limits.h>
#include <stdint.h>

#define IH_REC_MAX_FILES 16
#define IH_REC_MAX_BYTES (512u * 1024 * 1024) /* one converted file */

/* Janus's files for room under dir, sorted (at most IH_REC_MAX_FILES). */
ih_err ih_rec_find(const char *dir, int64_t room, char paths[][PATH_MAX], int *n);

/* Convert one .mjr with janus-pp-rec (program) through a temporary file in
 * tmpdir (removed): *kind "audio" | "video", *format "opus" | "webm". */
ih_err ih_rec_convert(const char *program, const char *mjr, const char *tmpdir, ih_buf *out, char kind[8],
                      char format[8]);

/* Seal plain into path (created 0600) under a fresh key, bound to label
 * ("av_recording:<call>:<n>"); the key's 32 bytes come back in root. */
ih_err ih_rec_seal_file(ih_suite suite, const char *path, const char *label, const ih_buf *plain, uint8_t root[32]);
/* Open it again (IH_E_INTEGRITY if anything was changed or moved). */
ih_err ih_rec_open_file(ih_suite suite, const char *path, const char *label, const uint8_t root[32], ih_buf *plain);

#endif
