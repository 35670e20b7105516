/* filing.h — the filing pack (`ihos filing DIR --out OUTDIR`): what the Level 3
 * filing (等保备案) and the supervision platform's access ask of the system,
 * drawn from the live instance:
 *
 *   topology.dot / topology.svg  nodes, database primary and standbys, every
 *                                outside system configured (Graphviz `dot`
 *                                draws the SVG when installed)
 *   data-inventory.json          every sealed field by table: key purpose,
 *                                cipher, row MAC, retention (from the table
 *                                descriptors through the catalog)
 *   crypto.json                  algorithms in use per function, the crypto
 *                                products (library versions, the PKCS#11
 *                                module), keys and their ages
 *   selfcheck.json / .html       the self-check (app/selfcheck.h)
 *   sbom.json                    the bill of materials
 *   index.html                   all of it, printable, in Chinese
 *   manifest.json                every file's SHA-256, signed by the audit key
 *
 * Audited (filing.create).  On failure the files already written are
 * removed: no half pack.
 */
#ifndef IH_APP_FILING_H
#define IH_APP_FILING_H

#include "app/selfcheck.h"

/* Write the pack into out_dir (created 0700 if absent; files 0600). */
ih_err ih_app_filing(const ih_selfcheck_env *env, const ih_actor *who, const char *out_dir);

#endif
