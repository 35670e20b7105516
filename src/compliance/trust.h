/* trust.h — trusted verification of the program and its configuration
 * (L3 8.1.4.6).
 *
 * A manifest (DIR/keys/trust.manifest) lists files by absolute path with
 * their digest (SM3 under the gm suite, SHA-256 under intl) and is signed
 * with the audit key, so only whoever can sign the journal can change what
 * counts as trusted: `ihos init` records the ihos and ihosd binaries and
 * the configuration; `ihos trust record` does it again after an upgrade or a
 * deliberate configuration change (audited).  ihosd verifies the manifest at
 * start and every [security] trust_check_minutes; a mismatch is an audit
 * event (trust.violation) and an alert, and with [security] trust_enforce
 * ihosd refuses to start.  The self-check reads the same verification.
 *
 * Nothing here writes the journal: callers record what they found.
 */
#ifndef IH_COMPLIANCE_TRUST_H
#define IH_COMPLIANCE_TRUST_H

#include "crypto/sign.h"

#include <stdbool.h>
#include <stdint.h>

#define IH_TRUST_MAX_FILES 16

typedef struct ih_trust_report {
    bool recorded;        /* a manifest is there and its signature verifies */
    int files;            /* files it lists */
    int changed;          /* of those, missing or with another digest now */
    int64_t recorded_at;  /* ms */
    char algorithm[8];    /* "SM3" | "SHA-256" */
    char problem[512];    /* the first problem; "" when everything verified */
} ih_trust_report;

/* Hash each of files (absolute paths, at most IH_TRUST_MAX_FILES) and write
 * the signed manifest atomically (0600). */
ih_err ih_trust_record(const char *manifest, const ih_signkey *key, const char *const *files, int nfiles,
                       int64_t now_ms);
/* Check the manifest's signature with pub, then each file's digest now, and
 * that self_exe (the running program, may be NULL) is among the files.
 * IH_OK when the check ran, whatever it found (r->problem says); an error
 * only when it could not run. */
ih_err ih_trust_verify(const char *manifest, const ih_signkey *pub, const char *self_exe, ih_trust_report *r);

/* Does the manifest list path (as recorded: an absolute real path)? */
bool ih_trust_lists(const char *manifest, const char *path);

/* The running program's path (/proc/self/exe) into out; "" if unknown. */
void ih_trust_self(char *out, size_t n);
/* The files `ihos init` and `ihos trust record` list by default: the running
 * ihos, ihosd beside it (or in ../sbin, as installed), DIR/ihos.conf and,
 * when there, DIR/exchange.conf (their real paths).  Returns how many were found (missing ones are skipped). */
int ih_trust_default_files(const char *instance_dir, char paths[][4096], int cap);

#endif
