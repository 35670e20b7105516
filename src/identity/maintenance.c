/* maintenance.c — identity rows under key rotation and integrity scans. */
#include "identity/identity_impl.h"

#include "keys/reseal.h"

#include <stdio.h>
#include <string.h>

/* Re-seal an account's TOTP secrets under the current key; the row's MAC
 * covers them, so it is recomputed by acct_save. */
static ih_err reseal_account(void *ctx, ih_tx *tx, int64_t account_id)
{
    ih_identity *id = ctx;
    account a;
    bool found;
    IH_TRY(acct_load(id, tx, account_id, &a, &found));
    if (!found) return IH_OK;
    uint8_t secret[64];
    size_t n;
    if (a.totp_len) {
        IH_TRY(totp_open(id, tx, a.id, "totp", a.totp, a.totp_len, secret, sizeof secret, &n));
        ih_err e = totp_seal(id, a.id, "totp", secret, n, a.totp, &a.totp_len);
        ih_wipe(secret, sizeof secret);
        IH_TRY(e);
    }
    if (a.pending_len) {
        IH_TRY(totp_open(id, tx, a.id, "totp_pending", a.pending, a.pending_len, secret, sizeof secret, &n));
        ih_err e = totp_seal(id, a.id, "totp_pending", secret, n, a.pending, &a.pending_len);
        ih_wipe(secret, sizeof secret);
        IH_TRY(e);
    }
    return acct_save(id, tx, &a);
}

/* The administrator's note on a disabled account, under the personal key. */
static ih_err reseal_note(void *ctx, ih_tx *tx, int64_t account_id)
{
    ih_identity *id = ctx;
    account a;
    bool found;
    IH_TRY(acct_load(id, tx, account_id, &a, &found));
    if (!found || !a.note_len) return IH_OK;
    ih_buf text = IH_BUF_INIT;
    ih_err e = note_open(id, tx, &a, &text);
    if (e == IH_OK) e = ih_buf_puts(&text, ""); /* NUL-terminate */
    if (e == IH_OK) e = note_seal(id, &a, text.p ? text.p : "");
    ih_buf_wipe(&text);
    IH_TRY(e);
    return acct_save(id, tx, &a);
}

size_t ih_identity_sealed_columns(ih_identity *id, ih_sealed_column *out, size_t cap)
{
    if (cap < 2) return 0;
    out[1] = (ih_sealed_column){"account", "disabled_note_enc", IH_KP_PERSONAL,
                                "SELECT id, disabled_note_enc FROM account WHERE id > $1 ORDER BY id LIMIT $2",
                                "SELECT count(*) FROM account WHERE substr(disabled_note_enc, 2, 4) < $1", reseal_note,
                                id, "账户存续期间"};
    /* One entry: a row is re-sealed whole. */
    out[0] = (ih_sealed_column){"account", "totp_enc,totp_pending", IH_KP_TOTP,
                                "SELECT id, totp_enc, totp_pending FROM account WHERE id > $1 ORDER BY id LIMIT $2",
                                "SELECT count(*) FROM account WHERE substr(totp_enc, 2, 4) < $1 OR "
                                "substr(totp_pending, 2, 4) < $1",
                                reseal_account, id, "账户存续期间（停用后即失效）"};
    return 2;
}

typedef struct {
    ih_identity *id;
    uint64_t rows, bad;
    int64_t bad_ids[64];
    const char *bad_tables[64];
    int nbad;
    int64_t after;
    int got;
} scan_arg;

static void note_bad(scan_arg *s, const char *table, int64_t row)
{
    s->bad++;
    if (s->nbad < 64) {
        s->bad_tables[s->nbad] = table;
        s->bad_ids[s->nbad++] = row;
    }
}

static ih_err accounts_fn(ih_tx *tx, void *arg)
{
    scan_arg *s = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM account WHERE id > $1 ORDER BY id LIMIT 500", &st));
    ih_stmt_int(st, 1, s->after);
    int64_t ids[500];
    s->got = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) ids[s->got++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < s->got; i++) {
        account a;
        bool found;
        s->rows++;
        if (acct_load(s->id, tx, ids[i], &a, &found) == IH_E_INTEGRITY) note_bad(s, "account", ids[i]);
        ih_err_clear();
        s->after = ids[i];
    }
    return IH_OK;
}

static void bad_session(void *ctx, int64_t row) { note_bad(ctx, "session", row); }

static ih_err sessions_fn(ih_tx *tx, void *arg)
{
    scan_arg *s = arg;
    int64_t last = s->after;
    IH_TRY(session_scan(s->id, tx, s->after, 500, &last, &s->got, bad_session, s));
    s->rows += (uint64_t)s->got;
    s->after = last;
    return IH_OK;
}

static ih_err scan(ih_identity *id, ih_tx_fn fn, uint64_t *rows, uint64_t *bad)
{
    scan_arg s = {.id = id};
    do {
        IH_TRY(ih_store_read(id->o.store, fn, &s));
    } while (s.got == 500);
    for (int i = 0; i < s.nbad; i++) acct_integrity_alarm(id, s.bad_tables[i], s.bad_ids[i], NULL);
    *rows += s.rows;
    *bad += s.bad;
    return IH_OK;
}

static ih_err scan_accounts(void *ctx, uint64_t *rows, uint64_t *bad) { return scan(ctx, accounts_fn, rows, bad); }
static ih_err scan_sessions(void *ctx, uint64_t *rows, uint64_t *bad) { return scan(ctx, sessions_fn, rows, bad); }

size_t ih_identity_mac_scans(ih_identity *id, ih_mac_scan *out, size_t cap)
{
    if (cap < 3) return 0;
    out[0] = (ih_mac_scan){"account", scan_accounts, id};
    out[1] = (ih_mac_scan){"session", scan_sessions, id};
    out[2] = (ih_mac_scan){"approval", approval_scan, id};
    return 3;
}

/* ---- upgrade: an administrator's words on disabling, sealed (migration 14) --------- */

typedef struct {
    ih_identity *id;
    int64_t after;
    int got, moved;
} up_arg;

static ih_err upgrade_fn(ih_tx *tx, void *arg)
{
    up_arg *u = arg;
    ih_stmt *st;
    bool row;
    ih_err e;
    int64_t ids[100];
    IH_TRY(ih_tx_prepare(tx, "SELECT id FROM account WHERE disabled_reason NOT IN ('', 'by administrator', 'inactive') "
                             "AND id > $1 ORDER BY id LIMIT 100", &st));
    ih_stmt_int(st, 1, u->after);
    u->got = 0;
    while ((e = ih_stmt_step(st, &row)) == IH_OK && row) ids[u->got++] = ih_col_int(st, 0);
    IH_TRY(e);
    for (int i = 0; i < u->got; i++) {
        account a;
        bool found;
        u->after = ids[i];
        e = acct_load(u->id, tx, ids[i], &a, &found);
        if (e == IH_E_INTEGRITY) { /* left as found: the scan reports it */
            ih_err_clear();
            continue;
        }
        IH_TRY(e);
        if (!found) continue;
        char text[32];
        snprintf(text, sizeof text, "%s", a.disabled_reason);
        IH_TRY(note_seal(u->id, &a, text));
        ih_wipe(text, sizeof text);
        snprintf(a.disabled_reason, sizeof a.disabled_reason, "by administrator");
        IH_TRY(acct_save(u->id, tx, &a));
        char oid[24];
        snprintf(oid, sizeof oid, "%lld", (long long)a.id);
        ih_audit_event ev = {.action = "record.seal_text", .object_type = "account", .object_id = oid};
        IH_TRY(ih_audit_append(u->id->o.audit, tx, &(ih_actor){.id = 0, .role = "system"}, &ev));
        u->moved++;
    }
    return IH_OK;
}

ih_err ih_identity_upgrade(ih_identity *id)
{
    up_arg u = {.id = id};
    do {
        IH_TRY(ih_store_write(id->o.store, upgrade_fn, &u));
    } while (u.got == 100);
    return IH_OK;
}
