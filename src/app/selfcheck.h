/* selfcheck.h — the Level 3 self-check of a live instance.
 *
 * Every item of compliance/selfcheck.h is evaluated against what this
 * instance is and holds now — its configuration, the TLS it offers, its
 * accounts, grants, journal, backups, keys, database and nodes — never
 * against what the code could do.  The evidence of each item names the
 * values read, how they were read and when.  The integrity scan and the
 * journal verification run as part of it, so it may take seconds on a
 * large instance.  The run is an audit event (selfcheck.run).
 */
#ifndef IH_APP_SELFCHECK_H
#define IH_APP_SELFCHECK_H

#include "app/app.h"

#include <jansson.h>

typedef struct ih_selfcheck_env {
    ih_instance *in;
    ih_identity *id;     /* the services, for the integrity catalog */
    ih_clinic *clinic;
    ih_report *report;
    const json_t *sbom;  /* the bill of materials when the caller already built it (NULL: built here) */
} ih_selfcheck_env;

/* The finished report (compliance/selfcheck.h) in *out. */
ih_err ih_app_selfcheck(const ih_selfcheck_env *env, const ih_actor *who, json_t **out);

#endif
