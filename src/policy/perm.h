/* perm.h — permissions that routes declare.
 *
 * IH_PERM_NONE (0) is what an undeclared route carries and is always denied.
 * IH_PERM_PUBLIC needs no login; IH_PERM_METRICS is the Prometheus scrape,
 * allowed from loopback only.
 */
#ifndef IH_POLICY_PERM_H
#define IH_POLICY_PERM_H

typedef enum ih_perm {
    IH_PERM_NONE = 0,
    IH_PERM_PUBLIC,
    IH_PERM_METRICS,
    IH_PERM__COUNT
} ih_perm;

#endif
