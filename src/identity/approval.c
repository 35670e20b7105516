/* approval.c — changes one administrator may only propose, and a second
 * one decides (L3 8.1.4.2d: the administrators check each other).
 *
 *   role   a clinical account's role changed (a pharmacist made a doctor
 *          gains a doctor's reach into patients' data)
 *   grant  a permission that reaches personal or clinical data granted to a
 *          role, or anything taken from the auditor (ih_perm_needs_second)
 *
 * The proposer (the security administrator) records the change; it takes
 * effect only when an administrator of another role — the system
 * administrator or the auditor, never the proposer — approves it, in the
 * same transaction as the approval.  Proposals, decisions and the applied
 * change are audit events; the rows carry a MAC and a version. */
#include "identity/identity_impl.h"

#include "core/clock.h"
#include "core/json.h"
#include "crypto/protect.h"

#include <stdio.h>
#include <string.h>

typedef struct approval {
    int64_t id, account_id, granted, proposed_by, proposed_at, decided_by, decided_at, rv;
    char kind[8], role[16], perm[40], state[12];
} approval;

#define APPROVAL_COLS                                                                                       \
    "id, kind, account_id, role, perm, granted, state, proposed_by, proposed_at, decided_by, decided_at, rv, mac"
/* A read's columns: the row, then the newest version the journal knows. */
#define APPROVAL_SELECT APPROVAL_COLS ", " IH_AUDIT_KNOWN_RV("approval")

static void approval_canon(const approval *p, ih_canon *c)
{
    ih_canon_text(c, p->kind);
    ih_canon_int(c, p->account_id);
    ih_canon_text(c, p->role);
    ih_canon_text(c, p->perm);
    ih_canon_int(c, p->granted);
    ih_canon_text(c, p->state);
    ih_canon_int(c, p->proposed_by);
    ih_canon_int(c, p->proposed_at);
    ih_canon_int(c, p->decided_by);
    ih_canon_int(c, p->decided_at);
    ih_canon_text(c, "rv");
    ih_canon_int(c, p->rv);
}

static ih_err approval_read(ih_identity *id, ih_stmt *st, approval *p)
{
    memset(p, 0, sizeof *p);
    p->id = ih_col_int(st, 0);
    snprintf(p->kind, sizeof p->kind, "%s", ih_col_text(st, 1));
    p->account_id = ih_col_int(st, 2);
    snprintf(p->role, sizeof p->role, "%s", ih_col_text(st, 3));
    snprintf(p->perm, sizeof p->perm, "%s", ih_col_text(st, 4));
    p->granted = ih_col_int(st, 5);
    snprintf(p->state, sizeof p->state, "%s", ih_col_text(st, 6));
    p->proposed_by = ih_col_int(st, 7);
    p->proposed_at = ih_col_int(st, 8);
    p->decided_by = ih_col_int(st, 9);
    p->decided_at = ih_col_int(st, 10);
    p->rv = ih_col_int(st, 11);
    size_t n;
    const uint8_t *mac = ih_col_blob(st, 12, &n);
    ih_canon c = {0};
    approval_canon(p, &c);
    ih_err e = ih_row_mac_check(id->o.keys, "approval", p->id, &c, mac, mac ? n : 0);
    ih_canon_free(&c);
    if (e == IH_OK) e = ih_audit_version_known("approval", p->id, p->rv, ih_col_int(st, 13));
    return e;
}

static ih_err approval_write(ih_identity *id, ih_tx *tx, approval *p, bool insert)
{
    int64_t old = p->rv;
    p->rv = insert ? 1 : old + 1;
    ih_canon c = {0};
    approval_canon(p, &c);
    uint8_t mac[IH_MAC_LEN];
    ih_err e = ih_row_mac(id->o.keys, "approval", p->id, &c, mac);
    ih_canon_free(&c);
    IH_TRY(e);
    ih_stmt *st;
    IH_TRY(ih_tx_prepare(tx, insert ? "INSERT INTO approval (" APPROVAL_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                                      "$9, $10, $11, $12, $13)"
                                    : "UPDATE approval SET kind = $2, account_id = $3, role = $4, perm = $5, "
                                      "granted = $6, state = $7, proposed_by = $8, proposed_at = $9, decided_by = $10, "
                                      "decided_at = $11, rv = $12, mac = $13 WHERE id = $1 AND rv = $14",
                         &st));
    ih_stmt_int(st, 1, p->id);
    ih_stmt_text(st, 2, p->kind);
    ih_stmt_int(st, 3, p->account_id);
    ih_stmt_text(st, 4, p->role);
    ih_stmt_text(st, 5, p->perm);
    ih_stmt_int(st, 6, p->granted);
    ih_stmt_text(st, 7, p->state);
    ih_stmt_int(st, 8, p->proposed_by);
    ih_stmt_int(st, 9, p->proposed_at);
    ih_stmt_int(st, 10, p->decided_by);
    ih_stmt_int(st, 11, p->decided_at);
    ih_stmt_int(st, 12, p->rv);
    ih_stmt_blob(st, 13, mac, sizeof mac);
    if (!insert) ih_stmt_int(st, 14, old);
    IH_TRY(ih_stmt_exec(st));
    if (!insert && ih_stmt_changes(st) != 1)
        return ih_fail(IH_E_BUSY, "approval %lld changed since it was read", (long long)p->id);
    ih_tx_note_row(tx, "approval", p->id, p->rv);
    return IH_OK;
}

static json_t *approval_json(const approval *p)
{
    json_t *j = json_pack("{s:I, s:s, s:s, s:I, s:o}", "id", (json_int_t)p->id, "kind", p->kind, "state", p->state,
                          "proposed_by", (json_int_t)p->proposed_by, "proposed_at", ih_json_time(p->proposed_at));
    if (!j) return NULL;
    if (!strcmp(p->kind, "role")) {
        json_object_set_new(j, "account_id", json_integer(p->account_id));
        json_object_set_new(j, "role", json_string(p->role));
    } else {
        json_object_set_new(j, "role", json_string(p->role));
        json_object_set_new(j, "permission", json_string(p->perm));
        json_object_set_new(j, "granted", json_boolean(p->granted));
    }
    if (p->decided_by) {
        json_object_set_new(j, "decided_by", json_integer(p->decided_by));
        json_object_set_new(j, "decided_at", ih_json_time(p->decided_at));
    }
    return j;
}

static ih_err audit_approval(ih_identity *id, ih_tx *tx, const ih_actor *who, const char *action, const approval *p,
                             const char *reason)
{
    char oid[24];
    snprintf(oid, sizeof oid, "%lld", (long long)p->id);
    ih_audit_event ev = {.action = action, .object_type = "approval", .object_id = oid, .reason = reason};
    return ih_audit_append(id->o.audit, tx, who, &ev);
}

static bool clinical(ih_role r) { return r == IH_ROLE_DOCTOR || r == IH_ROLE_PHARMACIST || r == IH_ROLE_NURSE; }

typedef struct {
    ih_identity *id;
    const ih_actor *who;
    ih_role who_role;
    approval p;
    bool approve;
    json_t *out;
    bool integrity_failed;
} prop_arg;

static ih_err propose_fn(ih_tx *tx, void *arg)
{
    prop_arg *a = arg;
    approval *p = &a->p;
    if (!strcmp(p->kind, "role")) {
        account acc;
        bool found;
        ih_err e = acct_load(a->id, tx, p->account_id, &acc, &found);
        if (e == IH_E_INTEGRITY) a->integrity_failed = true;
        IH_TRY(e);
        if (!found) return ih_reject(IH_E_NOT_FOUND, NULL, "No account %lld.", (long long)p->account_id);
        if (!clinical(acc.role) || !clinical(ih_role_parse(p->role)))
            return ih_reject(IH_E_STATE, "role",
                             "Only clinical roles (doctor, pharmacist, nurse) can be changed; administrators and "
                             "patients keep the role they were created with.");
        if (acc.role == ih_role_parse(p->role))
            return ih_reject(IH_E_STATE, "role", "The account already has that role.");
    }
    IH_TRY(ih_tx_next_id(tx, "approval", &p->id));
    snprintf(p->state, sizeof p->state, "pending");
    p->proposed_by = a->who ? a->who->id : 0;
    p->proposed_at = ih_now_ms();
    IH_TRY(approval_write(a->id, tx, p, true));
    a->out = approval_json(p);
    IH_CHECK_ALLOC(a->out);
    return audit_approval(a->id, tx, a->who, "approval.propose", p, p->kind);
}

static ih_err propose(prop_arg *a, json_t **out)
{
    ih_err e = ih_store_write(a->id->o.store, propose_fn, a);
    if (a->integrity_failed) acct_integrity_alarm(a->id, "account", a->p.account_id, a->who);
    if (e == IH_OK) *out = a->out;
    else json_decref(a->out);
    return e;
}

ih_err ih_identity_propose_role(ih_identity *id, const ih_actor *who, int64_t account_id, ih_role role, json_t **out)
{
    prop_arg a = {.id = id, .who = who};
    snprintf(a.p.kind, sizeof a.p.kind, "role");
    a.p.account_id = account_id;
    snprintf(a.p.role, sizeof a.p.role, "%s", ih_role_name(role));
    if (role == IH_ROLE_NONE) return ih_reject(IH_E_INVALID, "role", "Field 'role' is not a known role.");
    return propose(&a, out);
}

ih_err ih_identity_propose_grant(ih_identity *id, const ih_actor *who, ih_role role, ih_perm perm, bool granted,
                                 json_t **out)
{
    if (!ih_perm_optional(perm))
        return ih_reject(IH_E_FORBIDDEN, "permission", "Permission '%s' is not optional and cannot be changed.",
                         ih_perm_name(perm));
    if (!ih_perm_in_bounds(perm, role))
        return ih_reject(IH_E_FORBIDDEN, "role", "Permission '%s' may not be held by role '%s'.", ih_perm_name(perm),
                         ih_role_name(role));
    prop_arg a = {.id = id, .who = who};
    snprintf(a.p.kind, sizeof a.p.kind, "grant");
    snprintf(a.p.role, sizeof a.p.role, "%s", ih_role_name(role));
    snprintf(a.p.perm, sizeof a.p.perm, "%s", ih_perm_name(perm));
    a.p.granted = granted;
    return propose(&a, out);
}

static ih_err decide_fn(ih_tx *tx, void *arg)
{
    prop_arg *a = arg;
    approval *p = &a->p;
    ih_stmt *st;
    bool row;
    int64_t want = p->id;
    IH_TRY(ih_tx_prepare(tx, "SELECT " APPROVAL_SELECT " FROM approval WHERE id = $1", &st));
    ih_stmt_int(st, 1, want);
    IH_TRY(ih_stmt_step(st, &row));
    if (!row) return ih_reject(IH_E_NOT_FOUND, NULL, "No proposed change %lld.", (long long)want);
    ih_err e = approval_read(a->id, st, p);
    if (e == IH_E_INTEGRITY) a->integrity_failed = true;
    IH_TRY(e);
    IH_TRY(ih_stmt_exec(st));
    if (strcmp(p->state, "pending")) return ih_reject(IH_E_STATE, NULL, "The change was %s already.", p->state);
    if (a->who && p->proposed_by == a->who->id)
        return ih_reject(IH_E_FORBIDDEN, NULL, "A second person decides: not whoever proposed the change.");
    if (a->who_role == IH_ROLE_SECADMIN)
        return ih_reject(IH_E_FORBIDDEN, NULL, "The security administrator proposes; another administrator decides.");
    p->decided_by = a->who ? a->who->id : 0;
    p->decided_at = ih_now_ms();
    snprintf(p->state, sizeof p->state, "%s", a->approve ? "approved" : "rejected");
    IH_TRY(approval_write(a->id, tx, p, false));
    IH_TRY(audit_approval(a->id, tx, a->who, a->approve ? "approval.approve" : "approval.reject", p, p->kind));
    if (a->approve && !strcmp(p->kind, "role")) {
        account acc;
        bool found;
        e = acct_load(a->id, tx, p->account_id, &acc, &found);
        if (e == IH_E_INTEGRITY) a->integrity_failed = true;
        IH_TRY(e);
        if (!found || !clinical(acc.role)) return ih_reject(IH_E_STATE, NULL, "The account can no longer change role.");
        acc.role = ih_role_parse(p->role);
        IH_TRY(session_revoke_all(a->id, tx, acc.id, 0, "role changed", ih_now_ms()));
        IH_TRY(acct_save(a->id, tx, &acc));
        char oid[24];
        snprintf(oid, sizeof oid, "%lld", (long long)acc.id);
        ih_audit_event ev = {.action = "account.role", .object_type = "account", .object_id = oid, .reason = p->role};
        IH_TRY(ih_audit_append(a->id->o.audit, tx, a->who, &ev));
    } else if (a->approve) {
        ih_role r = ih_role_parse(p->role);
        ih_perm perm = ih_perm_parse(p->perm);
        IH_TRY(ih_policy_set(tx, a->id->o.keys, r, perm, p->granted != 0, p->proposed_by, ih_now_ms()));
        char oid[80];
        snprintf(oid, sizeof oid, "%s/%s", p->role, p->perm);
        ih_audit_event ev = {.action = p->granted ? "permission.grant" : "permission.revoke", .object_type = "permission",
                             .object_id = oid};
        IH_TRY(ih_audit_append(a->id->o.audit, tx, a->who, &ev));
    }
    a->out = approval_json(p);
    IH_CHECK_ALLOC(a->out);
    return IH_OK;
}

ih_err ih_identity_decide(ih_identity *id, const ih_actor *who, ih_role who_role, int64_t approval_id, bool approve,
                          json_t **out, ih_approved_grant *grant)
{
    prop_arg a = {.id = id, .who = who, .who_role = who_role, .approve = approve};
    a.p.id = approval_id;
    ih_err e = ih_store_write(id->o.store, decide_fn, &a);
    if (a.integrity_failed) acct_integrity_alarm(id, "approval", approval_id, who);
    if (e != IH_OK) {
        json_decref(a.out);
        return e;
    }
    if (grant) {
        grant->applied = approve && !strcmp(a.p.kind, "grant");
        grant->role = ih_role_parse(a.p.role);
        grant->perm = ih_perm_parse(a.p.perm);
        grant->granted = a.p.granted != 0;
    }
    *out = a.out;
    return IH_OK;
}

typedef struct {
    ih_identity *id;
    bool pending;
    json_t *out;
    int64_t bad;
} list_arg;

static ih_err list_fn(ih_tx *tx, void *arg)
{
    list_arg *l = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, l->pending ? "SELECT " APPROVAL_SELECT " FROM approval WHERE state = 'pending' ORDER BY id "
                                          "LIMIT 500"
                                        : "SELECT " APPROVAL_SELECT " FROM approval ORDER BY id DESC LIMIT 500",
                         &st));
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        approval p;
        ih_err re = approval_read(l->id, st, &p);
        if (re == IH_E_INTEGRITY) {
            l->bad = p.id;
            ih_err_clear();
            continue; /* not listed: a forged proposal is no proposal */
        }
        if (re != IH_OK) {
            ih_stmt_exec(st);
            return re;
        }
        json_array_append_new(l->out, approval_json(&p));
    }
    return e;
}

ih_err ih_identity_approvals(ih_identity *id, bool pending, json_t **out)
{
    list_arg l = {.id = id, .pending = pending, .out = json_array()};
    IH_CHECK_ALLOC(l.out);
    ih_err e = ih_store_read(id->o.store, list_fn, &l);
    if (l.bad) acct_integrity_alarm(id, "approval", l.bad, NULL);
    if (e != IH_OK) {
        json_decref(l.out);
        return e;
    }
    *out = l.out;
    return IH_OK;
}

/* ---- integrity scan ------------------------------------------------------------------ */

typedef struct {
    ih_identity *id;
    int64_t after;
    int got;
    uint64_t rows, bad;
    int64_t bad_ids[64];
    int nbad;
} scan_arg;

static ih_err scan_fn(ih_tx *tx, void *arg)
{
    scan_arg *s = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT " APPROVAL_SELECT " FROM approval WHERE id > $1 ORDER BY id LIMIT 500", &st));
    ih_stmt_int(st, 1, s->after);
    s->got = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) {
        approval p;
        s->got++;
        s->rows++;
        ih_err re = approval_read(s->id, st, &p);
        s->after = p.id;
        if (re == IH_E_INTEGRITY) {
            ih_err_clear();
            s->bad++;
            if (s->nbad < 64) s->bad_ids[s->nbad++] = p.id;
        } else if (re != IH_OK) {
            ih_stmt_exec(st);
            return re;
        }
    }
    return e;
}

ih_err approval_scan(void *ctx, uint64_t *rows, uint64_t *bad)
{
    scan_arg s = {.id = ctx};
    do {
        IH_TRY(ih_store_read(s.id->o.store, scan_fn, &s));
    } while (s.got == 500);
    for (int i = 0; i < s.nbad; i++) acct_integrity_alarm(s.id, "approval", s.bad_ids[i], NULL);
    *rows += s.rows;
    *bad += s.bad;
    return IH_OK;
}
