/* selfcheck.h — the Level 3 self-check report: the clause catalogue, the
 * verdicts, the conformance estimate, JSON and printable HTML.
 *
 * The catalogue is ../shared/reference/level3.md as data: every
 * application-level item of GB/T 22239-2019 (8.1.4.1 to 8.1.4.11, 8.1.2.2,
 * 8.1.5) and GB/T 39786-2021 8.4 a–h, with its weight and what makes its
 * failure high-risk, plus the items that belong to the host and network,
 * listed with what the operator shows instead.  Who evaluates an item
 * against the live instance (app/selfcheck.h) sets its result here; an item
 * left unset is reported as not evaluated, which fails the report.
 *
 * The estimate follows the assessors' method in spirit: over the 22239
 * items that apply, sum(weight × score) / sum(weight), scoring 符合 1,
 * 部分符合 0.5, 不符合 0.  39786 items (the cryptography assessment, 密评)
 * carry no weights in the reference and are counted separately.
 */
#ifndef IH_COMPLIANCE_SELFCHECK_H
#define IH_COMPLIANCE_SELFCHECK_H

#include "core/buf.h"
#include "core/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    IH_SC_UNSET = 0,
    IH_SC_PASS,    /* 符合 */
    IH_SC_PARTIAL, /* 部分符合 */
    IH_SC_FAIL,    /* 不符合 */
    IH_SC_NA,      /* 不适用 */
} ih_sc_verdict;

typedef struct ih_sc_report ih_sc_report;

ih_err ih_sc_new(ih_sc_report **out);
void ih_sc_free(ih_sc_report *r);

/* The result of clause `id` (as in the catalogue: "8.1.4.1a", "39786-8.4a").
 * finding: one Chinese sentence saying what was found; evidence: a JSON
 * object with the values read, how they were read and when (the reference
 * is taken, even on error); remedy: what to do when it is not 符合 (NULL
 * otherwise); high_risk: this failure is a high-risk finding. */
ih_err ih_sc_set(ih_sc_report *r, const char *id, ih_sc_verdict v, const char *finding, json_t *evidence,
                 const char *remedy, bool high_risk);

/* The whole report (format "ihos-selfcheck/1"): summary with the estimate,
 * the high-risk findings first, then every item in clause order, then the
 * items outside the application.  IH_E_INTERNAL if an item was never set. */
ih_err ih_sc_finish(ih_sc_report *r, const char *instance, int64_t now_ms, json_t **out);

/* A printable HTML page (Chinese, clause ids, evidence as text; no script,
 * no external resource) from a finished report. */
ih_err ih_sc_html(const json_t *report, ih_buf *out);

/* The catalogue's clause ids, in order (i < ih_sc_clause_count()). */
size_t ih_sc_clause_count(void);
const char *ih_sc_clause_id(size_t i);

/* Does the finished report hold a high-risk finding? */
bool ih_sc_has_high_risk(const json_t *report);

#endif
