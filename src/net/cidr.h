/* cidr.h — address ranges ("10.0.0.0/8,::1/128") and membership tests.
 * Used to limit where administrators may log in from (L3 8.1.4.4c). */
#ifndef IH_NET_CIDR_H
#define IH_NET_CIDR_H

#include "core/err.h"

#include <stdbool.h>
#include <stdint.h>

#define IH_CIDR_MAX 32

typedef struct ih_cidr_list {
    int n;
    struct {
        int family; /* 4 or 6 */
        uint8_t addr[16];
        int prefix;
    } e[IH_CIDR_MAX];
} ih_cidr_list;

/* Comma-separated list; an empty string gives an empty list (matches nothing). */
ih_err ih_cidr_parse(const char *text, ih_cidr_list *out);
/* Is the textual address inside any range?  IPv4-mapped IPv6 counts as IPv4. */
bool ih_cidr_match(const ih_cidr_list *l, const char *ip);

#endif
