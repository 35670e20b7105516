/* perm.c — see perm.h.  L3 8.1.4.2a/d/e/f; GB/T 39786 8.4b (grants carry a MAC). */
#include "policy/perm.h"

#include "audit/audit.h"
#include "crypto/protect.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define R(x) (1u << IH_ROLE_##x)
#define CLINICAL (R(DOCTOR) | R(PHARMACIST) | R(NURSE))

static const char *const role_names[IH_ROLE__COUNT] = {
    "none", "patient", "doctor", "pharmacist", "nurse", "sysadmin", "secadmin", "auditadmin",
};

typedef struct {
    const char *name;
    unsigned defaults; /* roles holding it out of the box */
    unsigned bounds;   /* roles it may ever be granted to */
    bool optional;     /* secadmin may toggle it within bounds */
    bool personal;     /* reaches personal or clinical data: granting it takes a second person */
} perm_info;

static const perm_info perms[IH_PERM__COUNT] = {
    [IH_PERM_NONE] = {"none", 0, 0, false},
    [IH_PERM_PUBLIC] = {"public", 0, 0, false},
    [IH_PERM_METRICS] = {"metrics", 0, 0, false},
    [IH_PERM_SELF] = {"self", 0, 0, false},
    [IH_PERM_AUTHENTICATED] = {"authenticated", 0, 0, false},
    [IH_PERM_ACCOUNT_READ] = {"account.read", R(SYSADMIN) | R(SECADMIN), R(SYSADMIN) | R(SECADMIN), true, true},
    [IH_PERM_ACCOUNT_CREATE] = {"account.create", R(SYSADMIN), R(SYSADMIN), false},
    [IH_PERM_ACCOUNT_MANAGE] = {"account.manage", R(SYSADMIN), R(SYSADMIN), false},
    [IH_PERM_ROLE_ASSIGN] = {"role.assign", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_PERM_GRANT] = {"permission.grant", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_SECURITY_POLICY] = {"security.policy", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_ACCOUNT_UNLOCK] = {"account.unlock", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_TOTP_RESET] = {"totp.reset", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_ADMIN_MANAGE] = {"admin.manage", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_KEY_ROTATE] = {"key.rotate", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_AUDIT_READ] = {"audit.read", R(AUDITADMIN), R(AUDITADMIN), false},
    [IH_PERM_AUDIT_VERIFY] = {"audit.verify", R(AUDITADMIN), R(AUDITADMIN), false},
    [IH_PERM_AUDIT_EXPORT] = {"audit.export", R(AUDITADMIN), R(AUDITADMIN), true},
    [IH_PERM_METRICS_READ] = {"metrics.read", R(SYSADMIN), R(SYSADMIN), true},
    [IH_PERM_BACKUP_RUN] = {"backup.run", R(SYSADMIN), R(SYSADMIN), false},
    [IH_PERM_INSTITUTION_EDIT] = {"institution.edit", R(SYSADMIN), R(SYSADMIN), false},
    [IH_PERM_DEPARTMENT_MANAGE] = {"department.manage", R(SYSADMIN), R(SYSADMIN), false},
    [IH_PERM_STAFF_READ] = {"staff.read", R(SYSADMIN) | R(SECADMIN), R(SYSADMIN) | R(SECADMIN), true, true},
    [IH_PERM_STAFF_MANAGE] = {"staff.manage", R(SYSADMIN), R(SYSADMIN), false},
    [IH_PERM_STAFF_ONLINE] = {"staff.online", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_DRUG_READ] = {"drug.read", CLINICAL | R(SYSADMIN), CLINICAL | R(SYSADMIN), true},
    [IH_PERM_DRUG_MANAGE] = {"drug.manage", R(PHARMACIST) | R(SYSADMIN), R(PHARMACIST) | R(SYSADMIN), true},
    [IH_PERM_SCHEDULE_MANAGE] = {"schedule.manage", R(SYSADMIN), R(SYSADMIN) | R(NURSE), true},
    [IH_PERM_ICD_MANAGE] = {"icd.manage", R(SYSADMIN), R(SYSADMIN), false},
    [IH_PERM_PATIENT_SELF] = {"patient.self", R(PATIENT), R(PATIENT), false},
    [IH_PERM_PATIENT_READ] = {"patient.read", CLINICAL | R(SYSADMIN), CLINICAL | R(SYSADMIN) | R(SECADMIN), true, true},
    [IH_PERM_VISIT_REQUEST] = {"visit.request", R(PATIENT), R(PATIENT), false},
    [IH_PERM_VISIT_READ] = {"visit.read", R(PATIENT) | CLINICAL, R(PATIENT) | CLINICAL, true, true},
    [IH_PERM_VISIT_HANDLE] = {"visit.handle", R(DOCTOR), R(DOCTOR), false},
    [IH_PERM_MESSAGE_WRITE] = {"message.write", R(PATIENT) | R(DOCTOR), R(PATIENT) | R(DOCTOR) | R(NURSE), true},
    [IH_PERM_RECORD_WRITE] = {"record.write", R(DOCTOR), R(DOCTOR), false},
    [IH_PERM_RX_ISSUE] = {"rx.issue", R(DOCTOR), R(DOCTOR), false},
    [IH_PERM_RX_READ] = {"rx.read", R(PATIENT) | R(DOCTOR) | R(PHARMACIST), R(PATIENT) | CLINICAL, true, true},
    [IH_PERM_RX_REVIEW] = {"rx.review", R(PHARMACIST), R(PHARMACIST), false},
    [IH_PERM_RX_DISPENSE] = {"rx.dispense", R(PHARMACIST), R(PHARMACIST), false},
    [IH_PERM_PAYMENT_RECORD] = {"payment.record", R(PATIENT), R(PATIENT) | R(SYSADMIN), true},
    [IH_PERM_EVALUATE] = {"visit.evaluate", R(PATIENT), R(PATIENT), false},
    [IH_PERM_ADVERSE_REPORT] = {"adverse.report", CLINICAL, CLINICAL, true, true},
    [IH_PERM_BREAK_GLASS] = {"break_glass", R(DOCTOR), R(DOCTOR), true, true},
    [IH_PERM_LABEL_MANAGE] = {"label.manage", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_STATS_REQUEST] = {"stats.request", R(PHARMACIST), R(PHARMACIST) | R(SYSADMIN), true, true},
    [IH_PERM_STATS_APPROVE] = {"stats.approve", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_REPORT_READ] = {"report.read", R(SYSADMIN), R(SYSADMIN), true, true},
    [IH_PERM_APPROVAL_DECIDE] = {"approval.decide", R(SYSADMIN) | R(AUDITADMIN), R(SYSADMIN) | R(AUDITADMIN), false, false},
    [IH_PERM_APPROVAL_READ] = {"approval.read", R(SYSADMIN) | R(SECADMIN) | R(AUDITADMIN),
                               R(SYSADMIN) | R(SECADMIN) | R(AUDITADMIN), false, false},
    [IH_PERM_PAYMENT_READ] = {"payment.read", R(PATIENT) | R(SYSADMIN), R(PATIENT) | R(SYSADMIN), false},
    [IH_PERM_PAYMENT_REFUND] = {"payment.refund", R(SYSADMIN), R(SYSADMIN), false},
    [IH_PERM_SELFCHECK_READ] = {"selfcheck.read", R(SECADMIN) | R(AUDITADMIN), R(SECADMIN) | R(AUDITADMIN), false},
    [IH_PERM_INCIDENT_MANAGE] = {"incident.manage", R(SECADMIN), R(SECADMIN), false},
    [IH_PERM_HIS_LINK] = {"his.link", R(SYSADMIN), R(SYSADMIN), false, true},
    [IH_PERM_CALL] = {"call.join", R(PATIENT) | R(DOCTOR), R(PATIENT) | R(DOCTOR), false},
    [IH_PERM_CONSULT] = {"consult", R(DOCTOR), R(DOCTOR), false},
    [IH_PERM_AGREEMENT_READ] = {"agreement.read", R(SYSADMIN) | R(DOCTOR), R(SYSADMIN) | R(DOCTOR), false},
};

const char *ih_role_name(ih_role r) { return (r >= 0 && r < IH_ROLE__COUNT) ? role_names[r] : "none"; }

ih_role ih_role_parse(const char *name)
{
    for (int i = 1; i < IH_ROLE__COUNT; i++)
        if (!strcmp(role_names[i], name)) return (ih_role)i;
    return IH_ROLE_NONE;
}

bool ih_role_is_admin(ih_role r) { return r == IH_ROLE_SYSADMIN || r == IH_ROLE_SECADMIN || r == IH_ROLE_AUDITADMIN; }

const char *ih_perm_name(ih_perm p) { return (p >= 0 && p < IH_PERM__COUNT && perms[p].name) ? perms[p].name : "none"; }

ih_perm ih_perm_parse(const char *name)
{
    for (int i = 1; i < IH_PERM__COUNT; i++)
        if (perms[i].name && !strcmp(perms[i].name, name)) return (ih_perm)i;
    return IH_PERM_NONE;
}

bool ih_perm_optional(ih_perm p) { return p > 0 && p < IH_PERM__COUNT && perms[p].optional; }

bool ih_perm_needs_second(ih_perm p, ih_role r, bool granted)
{
    if (p <= 0 || p >= IH_PERM__COUNT) return true;
    if (granted) return perms[p].personal;            /* widening access to personal data */
    return r == IH_ROLE_AUDITADMIN;                   /* narrowing the auditor */
}
bool ih_perm_in_bounds(ih_perm p, ih_role r) { return p > 0 && p < IH_PERM__COUNT && (perms[p].bounds & (1u << r)); }
bool ih_perm_default(ih_perm p, ih_role r) { return p > 0 && p < IH_PERM__COUNT && (perms[p].defaults & (1u << r)); }

struct ih_policy {
    pthread_rwlock_t lock;
    unsigned holders[IH_PERM__COUNT]; /* role bitmask per permission */
    int64_t seen_rows, seen_versions;  /* the grants as last loaded (ih_policy_refresh) */
};

ih_err ih_policy_new(ih_policy **out)
{
    ih_policy *p = calloc(1, sizeof *p);
    IH_CHECK_ALLOC(p);
    pthread_rwlock_init(&p->lock, NULL);
    for (int i = 0; i < IH_PERM__COUNT; i++) p->holders[i] = perms[i].defaults & perms[i].bounds;
    *out = p;
    return IH_OK;
}

void ih_policy_free(ih_policy *p)
{
    if (!p) return;
    pthread_rwlock_destroy(&p->lock);
    free(p);
}

bool ih_policy_allows(ih_policy *p, ih_role r, ih_perm perm)
{
    if (perm <= IH_PERM_AUTHENTICATED || perm >= IH_PERM__COUNT || r <= IH_ROLE_NONE || r >= IH_ROLE__COUNT) return false;
    pthread_rwlock_rdlock(&p->lock);
    /* Bounds are checked again at every use, whatever the table holds. */
    bool ok = (p->holders[perm] & (1u << r)) && (perms[perm].bounds & (1u << r));
    pthread_rwlock_unlock(&p->lock);
    return ok;
}

void ih_policy_apply(ih_policy *p, ih_role r, ih_perm perm, bool granted)
{
    if (!ih_perm_optional(perm) || !ih_perm_in_bounds(perm, r)) return;
    pthread_rwlock_wrlock(&p->lock);
    if (granted) p->holders[perm] |= 1u << r;
    else p->holders[perm] &= ~(1u << r);
    pthread_rwlock_unlock(&p->lock);
}

static void grant_canon(ih_canon *c, const char *role, const char *perm, int64_t granted, int64_t by, int64_t at,
                        int64_t rv)
{
    ih_canon_text(c, role);
    ih_canon_text(c, perm);
    ih_canon_int(c, granted);
    ih_canon_int(c, by);
    ih_canon_int(c, at);
    if (rv > 0) { /* version (rows from before it were MAC'd without) */
        ih_canon_text(c, "rv");
        ih_canon_int(c, rv);
    }
}

typedef struct {
    ih_policy *p;
    ih_keyring *k;
    bool scan; /* count failures instead of stopping */
    uint64_t rows;
    int64_t *bad;
    int cap, nbad;
} load_arg;

static ih_err load_fn(ih_tx *tx, void *arg)
{
    load_arg *a = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id, role, perm, granted, changed_by, changed_at, mac, rv, " IH_AUDIT_KNOWN_RV("role_grant") " FROM role_grant", &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        ih_canon c = {0};
        grant_canon(&c, ih_col_text(st, 1), ih_col_text(st, 2), ih_col_int(st, 3), ih_col_int(st, 4), ih_col_int(st, 5),
                    ih_col_int(st, 7));
        size_t n;
        const uint8_t *mac = ih_col_blob(st, 6, &n);
        ih_err me = ih_row_mac_check(a->k, "role_grant", ih_col_int(st, 0), &c, mac, n);
        ih_canon_free(&c);
        /* a grant's earlier copy put back (a revoked permission restored) */
        if (me == IH_OK) me = ih_audit_version_known("role_grant", ih_col_int(st, 0), ih_col_int(st, 7), ih_col_int(st, 8));
        a->rows++;
        if (a->scan) {
            if (me != IH_OK && a->nbad < a->cap) a->bad[a->nbad++] = ih_col_int(st, 0);
            continue;
        }
        IH_TRY(me); /* a forged grant stops the load: integrity_error */
        ih_policy_apply(a->p, ih_role_parse(ih_col_text(st, 1)), ih_perm_parse(ih_col_text(st, 2)), ih_col_int(st, 3) != 0);
    }
    return e;
}

/* How many grants there are and the sum of their versions: any change of a
 * grant moves one or the other. */
typedef struct {
    int64_t rows, versions;
} stamp_arg;

static ih_err stamp_fn(ih_tx *tx, void *arg)
{
    stamp_arg *a = arg;
    ih_stmt *st;
    bool row;
    IH_TRY(ih_tx_prepare(tx, "SELECT count(*), COALESCE(sum(rv), 0) FROM role_grant", &st));
    IH_TRY(ih_stmt_step(st, &row));
    a->rows = row ? ih_col_int(st, 0) : 0;
    a->versions = row ? ih_col_int(st, 1) : 0;
    return ih_stmt_exec(st);
}

static ih_err load_stamped_fn(ih_tx *tx, void *arg)
{
    load_arg *a = arg;
    stamp_arg st = {0};
    IH_TRY(stamp_fn(tx, &st)); /* the same snapshot as the grants read */
    IH_TRY(load_fn(tx, arg));
    pthread_rwlock_wrlock(&a->p->lock);
    a->p->seen_rows = st.rows;
    a->p->seen_versions = st.versions;
    pthread_rwlock_unlock(&a->p->lock);
    return IH_OK;
}

ih_err ih_policy_load(ih_policy *p, ih_store *s, ih_keyring *k)
{
    load_arg a = {.p = p, .k = k};
    return ih_store_read(s, load_stamped_fn, &a);
}

ih_err ih_policy_refresh(ih_policy *p, ih_store *s, ih_keyring *k)
{
    stamp_arg now = {0};
    IH_TRY(ih_store_read(s, stamp_fn, &now));
    pthread_rwlock_rdlock(&p->lock);
    bool same = now.rows == p->seen_rows && now.versions == p->seen_versions;
    pthread_rwlock_unlock(&p->lock);
    if (same) return IH_OK;
    ih_policy *fresh;
    IH_TRY(ih_policy_new(&fresh));
    ih_err e = ih_policy_load(fresh, s, k);
    if (e == IH_OK) {
        pthread_rwlock_wrlock(&p->lock);
        memcpy(p->holders, fresh->holders, sizeof p->holders);
        p->seen_rows = fresh->seen_rows;
        p->seen_versions = fresh->seen_versions;
        pthread_rwlock_unlock(&p->lock);
    }
    ih_policy_free(fresh);
    return e;
}

ih_err ih_policy_scan(ih_store *s, ih_keyring *k, uint64_t *rows, int64_t *bad_ids, int cap, int *nbad)
{
    ih_policy *scratch;
    IH_TRY(ih_policy_new(&scratch));
    load_arg a = {.p = scratch, .k = k, .scan = true, .bad = bad_ids, .cap = cap};
    ih_err e = ih_store_read(s, load_fn, &a);
    ih_policy_free(scratch);
    *rows = a.rows;
    *nbad = a.nbad;
    return e;
}

ih_err ih_policy_set(ih_tx *tx, ih_keyring *k, ih_role r, ih_perm perm, bool granted, int64_t by, int64_t now)
{
    if (!ih_perm_optional(perm))
        return ih_reject(IH_E_FORBIDDEN, "permission", "Permission '%s' is not optional and cannot be changed.",
                         ih_perm_name(perm));
    if (!ih_perm_in_bounds(perm, r))
        return ih_reject(IH_E_FORBIDDEN, "role",
                         "Permission '%s' may not be held by role '%s' (the administrators are kept apart).",
                         ih_perm_name(perm), ih_role_name(r));
    ih_stmt *st;
    bool row;
    int64_t id = 0, rv = 1;
    IH_TRY(ih_tx_prepare(tx, "SELECT id, rv FROM role_grant WHERE role = $1 AND perm = $2", &st));
    ih_stmt_text(st, 1, ih_role_name(r));
    ih_stmt_text(st, 2, ih_perm_name(perm));
    IH_TRY(ih_stmt_step(st, &row));
    if (row) {
        id = ih_col_int(st, 0);
        rv = ih_col_int(st, 1) + 1;
        IH_TRY(ih_stmt_exec(st));
    } else
        IH_TRY(ih_tx_next_id(tx, "role_grant", &id));
    ih_canon c = {0};
    grant_canon(&c, ih_role_name(r), ih_perm_name(perm), granted, by, now, rv);
    uint8_t mac[IH_MAC_LEN];
    ih_err e = ih_row_mac(k, "role_grant", id, &c, mac);
    ih_canon_free(&c);
    IH_TRY(e);
    IH_TRY(ih_tx_prepare(tx, "INSERT INTO role_grant(id, role, perm, granted, changed_by, changed_at, mac, rv) "
                             "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (role, perm) DO UPDATE SET "
                             "granted = excluded.granted, changed_by = excluded.changed_by, "
                             "changed_at = excluded.changed_at, mac = excluded.mac, rv = excluded.rv",
                         &st));
    ih_stmt_int(st, 1, id);
    ih_stmt_text(st, 2, ih_role_name(r));
    ih_stmt_text(st, 3, ih_perm_name(perm));
    ih_stmt_int(st, 4, granted);
    ih_stmt_int(st, 5, by);
    ih_stmt_int(st, 6, now);
    ih_stmt_blob(st, 7, mac, sizeof mac);
    ih_stmt_int(st, 8, rv);
    IH_TRY(ih_stmt_exec(st));
    ih_tx_note_row(tx, "role_grant", id, rv);
    return IH_OK;
}
