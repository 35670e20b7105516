/* perm.h — roles, permissions and who holds which.
 *
 * Every route declares one permission (net/router.h); IH_PERM_NONE, what an
 * undeclared route carries, is always denied.  Special permissions:
 *   PUBLIC         no login
 *   METRICS        loopback, or a session holding METRICS_READ
 *   SELF           any logged-in session, even one that must first change its
 *                  password or enrol its second factor
 *   AUTHENTICATED  any full session
 * The rest are held by roles.  Each permission has the roles that hold it
 * by default and the bounds — the only roles it may ever be granted to.
 * Bounds keep the three administrators apart (L3 8.1.4.2d): audit
 * permissions only ever go to auditadmin, role and security administration
 * only to secadmin, account administration only to sysadmin.  secadmin may
 * grant or revoke the *optional* permissions within their bounds
 * (ih_policy_set); nothing else changes at run time.
 */
#ifndef IH_POLICY_PERM_H
#define IH_POLICY_PERM_H

#include "core/err.h"
#include "store/store.h"

#include <stdbool.h>

typedef enum ih_role {
    IH_ROLE_NONE = 0,
    IH_ROLE_PATIENT,
    IH_ROLE_DOCTOR,
    IH_ROLE_PHARMACIST,
    IH_ROLE_NURSE,
    IH_ROLE_SYSADMIN,
    IH_ROLE_SECADMIN,
    IH_ROLE_AUDITADMIN,
    IH_ROLE__COUNT
} ih_role;

typedef enum ih_perm {
    IH_PERM_NONE = 0,
    IH_PERM_PUBLIC,
    IH_PERM_METRICS,
    IH_PERM_SELF,
    IH_PERM_AUTHENTICATED,
    /* accounts (sysadmin) */
    IH_PERM_ACCOUNT_READ,
    IH_PERM_ACCOUNT_CREATE,
    IH_PERM_ACCOUNT_MANAGE, /* disable, enable, expiry, password reset of non-administrators */
    /* security administration (secadmin) */
    IH_PERM_ROLE_ASSIGN,    /* activate pending accounts, change clinical roles */
    IH_PERM_PERM_GRANT,
    IH_PERM_SECURITY_POLICY,
    IH_PERM_ACCOUNT_UNLOCK,
    IH_PERM_TOTP_RESET,
    IH_PERM_ADMIN_MANAGE,   /* disable/enable administrator accounts */
    IH_PERM_KEY_ROTATE,
    /* audit (auditadmin) */
    IH_PERM_AUDIT_READ,
    IH_PERM_AUDIT_VERIFY,
    IH_PERM_AUDIT_EXPORT,
    /* system operation (sysadmin) */
    IH_PERM_METRICS_READ,
    IH_PERM_BACKUP_RUN,
    /* registry */
    IH_PERM_INSTITUTION_EDIT,
    IH_PERM_DEPARTMENT_MANAGE,
    IH_PERM_STAFF_READ,
    IH_PERM_STAFF_MANAGE,
    IH_PERM_STAFF_ONLINE,   /* enable a doctor for online care (secadmin: a second person) */
    IH_PERM_DRUG_READ,
    IH_PERM_DRUG_MANAGE,
    IH_PERM_SCHEDULE_MANAGE,
    IH_PERM_ICD_MANAGE,
    IH_PERM_PATIENT_SELF,   /* a patient's own profile and consents */
    IH_PERM_PATIENT_READ,   /* other patients: care relationship checked per record */
    /* care (relationships checked per record) */
    IH_PERM_VISIT_REQUEST,
    IH_PERM_VISIT_READ,
    IH_PERM_VISIT_HANDLE,   /* accept, refuse, close; media sessions */
    IH_PERM_MESSAGE_WRITE,
    IH_PERM_RECORD_WRITE,
    IH_PERM_RX_ISSUE,
    IH_PERM_RX_READ,
    IH_PERM_RX_REVIEW,
    IH_PERM_RX_DISPENSE,
    IH_PERM_PAYMENT_RECORD,
    IH_PERM_EVALUATE,
    IH_PERM_ADVERSE_REPORT,
    IH_PERM_BREAK_GLASS,
    IH_PERM_LABEL_MANAGE,   /* change a visit's security label (secadmin) */
    IH_PERM_STATS_REQUEST,  /* ask for a 统方 report */
    IH_PERM_STATS_APPROVE,  /* approve it (a second person) */
    IH_PERM_REPORT_READ,    /* supervision-platform upload status */
    IH_PERM_APPROVAL_DECIDE, /* approve another administrator's proposed change (sysadmin, auditadmin) */
    IH_PERM_APPROVAL_READ,  /* the proposed changes (every administrator) */
    IH_PERM_PAYMENT_READ,   /* a payment order: its patient, the system administrator */
    IH_PERM_PAYMENT_REFUND, /* refund a payment for a service not given (system administrator) */
    IH_PERM_SELFCHECK_READ, /* run the Level 3 self-check (security and audit administrators) */
    IH_PERM_INCIDENT_MANAGE, /* security incidents: list, acknowledge, assign, resolve, breach reports */
    IH_PERM_HIS_LINK,        /* review the HIS patients waiting to be linked (system administrator) */
    IH_PERM_CALL,            /* take part in a visit's audio-video call (its patient and treating doctor) */
    IH_PERM_CONSULT,         /* remote care between institutions: request, approve, accept, report (doctors) */
    IH_PERM_AGREEMENT_READ,  /* the cooperation agreements with partner institutions */
    IH_PERM__COUNT
} ih_perm;

const char *ih_role_name(ih_role r);
ih_role ih_role_parse(const char *name); /* IH_ROLE_NONE if unknown */
bool ih_role_is_admin(ih_role r);        /* sysadmin, secadmin, auditadmin */
const char *ih_perm_name(ih_perm p);
ih_perm ih_perm_parse(const char *name); /* IH_PERM_NONE if unknown */
bool ih_perm_optional(ih_perm p);
/* Does setting p for r to `granted` need a second administrator's approval?
 * Granting a permission that reaches personal or clinical data does, and so
 * does taking anything from the auditor (L3 8.1.4.2d: mutual checks). */
bool ih_perm_needs_second(ih_perm p, ih_role r, bool granted);
bool ih_perm_in_bounds(ih_perm p, ih_role r);
bool ih_perm_default(ih_perm p, ih_role r);

/* The effective table: defaults overridden by stored grants. */
typedef struct ih_policy ih_policy;

ih_err ih_policy_new(ih_policy **out);
void ih_policy_free(ih_policy *p);
/* Does role r hold permission p right now?  Special permissions are the
 * dispatcher's business and return false here. */
bool ih_policy_allows(ih_policy *p, ih_role r, ih_perm perm);
/* Reload grants from the store (verifying each row's MAC). */
struct ih_keyring;
ih_err ih_policy_load(ih_policy *p, ih_store *s, struct ih_keyring *k);
/* Load the grants again when they changed since the last load or refresh
 * (another node of the cluster changed one), and swap them in whole. */
ih_err ih_policy_refresh(ih_policy *p, ih_store *s, struct ih_keyring *k);
/* Inside tx: set an optional permission for a role, within bounds. */
ih_err ih_policy_set(ih_tx *tx, struct ih_keyring *k, ih_role r, ih_perm perm, bool granted, int64_t by, int64_t now);
/* Check every grant row's MAC: rows seen and the ids that fail. */
ih_err ih_policy_scan(ih_store *s, struct ih_keyring *k, uint64_t *rows, int64_t *bad_ids, int cap, int *nbad);
/* Apply a change to the in-memory table after its transaction committed. */
void ih_policy_apply(ih_policy *p, ih_role r, ih_perm perm, bool granted);

#endif
