/* sbom.h — what ihos is made of, for tracking known vulnerabilities
 * (GB/T 22239-2019 8.1.4.4e: known vulnerabilities are found and fixed in
 * time).  L3 8.1.4.4e.
 *
 * The bill of materials is read from the running program, not from a list
 * kept by hand: every shared object loaded into this process (ihos and ihosd
 * link the same libraries), each mapped to the Debian package that owns it
 * and that package's installed version (dpkg-query), with the file's SHA-256.
 * Sources compiled in (llhttp, from Debian's node-llhttp) are listed with the
 * package version they were built from.  The result is CycloneDX 1.5 JSON,
 * which the hospital's vulnerability tracking (or the Debian security
 * tracker, by package and version) reads.
 *
 * A shared object no package owns (built by hand, copied in) is listed too,
 * marked unpackaged: nobody announces advisories for it, so the operator
 * must track it some other way. */
#ifndef IH_COMPLIANCE_SBOM_H
#define IH_COMPLIANCE_SBOM_H

#include "core/err.h"

#include <jansson.h>

/* The bill of materials of this process, as a CycloneDX document. */
ih_err ih_sbom_build(json_t **out);

#endif
