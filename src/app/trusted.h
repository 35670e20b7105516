/* trusted.h — trusted verification wired into the instance (L3 8.1.4.6):
 * where the manifest lives, recording it (audited) and checking it with the
 * outcome recorded (compliance/trust.h does the hashing and signing). */
#ifndef IH_APP_TRUSTED_H
#define IH_APP_TRUSTED_H

#include "app/instance.h"
#include "compliance/trust.h"

/* DIR/keys/trust.manifest */
ih_err ih_app_trust_manifest(const ih_instance *in, char *out, size_t n);
/* Verify the manifest (compliance/trust.h) and that every configuration
 * file there is now (ihos.conf, exchange.conf) is among the recorded ones.
 * self: the running program, or NULL. */
ih_err ih_app_trust_verify(ih_instance *in, const char *self, ih_trust_report *r);
/* Record the default files (trust.h) plus `extra` (absolute paths), signed
 * with the audit key (the instance open with signing); audited as
 * trust.record by `who`. */
ih_err ih_app_trust_record(ih_instance *in, const ih_actor *who, const char *const *extra, int nextra,
                           ih_trust_report *r);
/* Verify against the running program.  A problem is logged as an alert
 * and recorded as trust.violation when it differs from `last` (the
 * previous problem this process reported, updated; NULL: always). */
ih_err ih_app_trust_check(ih_instance *in, char *last, size_t lastlen, ih_trust_report *r);

#endif
