/* tianjin_map.h — facts (care/facts.c) to Tianjin platform records. */
#ifndef IH_REPORT_TIANJIN_MAP_H
#define IH_REPORT_TIANJIN_MAP_H

#include "report/profile.h"

ih_err ih_tj_map(const char *kind, json_t *fact, const ih_profile_ctx *ctx, json_t **record);
/* The ih_field_kind of a record key that holds personal data, else -1. */
int ih_tj_personal(const char *key);

#endif
