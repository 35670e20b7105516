/* drug_impl.h — shared by drug.c and drug_csv.c. */
#ifndef IH_REGISTRY_DRUG_IMPL_H
#define IH_REGISTRY_DRUG_IMPL_H

#include "table/record.h"

/* Cross-field rules of a drug row (restricted needs its class); sets the
 * defaults (active). */
ih_err drug_check_row(ih_row *r);
/* The id of the drug with this hospital code, 0 if none. */
ih_err drug_find_code(ih_tx *tx, const char *hosp_code, int64_t *id);

#endif
