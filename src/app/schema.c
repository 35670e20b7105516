/* schema.c — every schema migration, oldest first.
 *
 * Written in SQLite's dialect; the store translates INTEGER/BLOB for
 * PostgreSQL, or a migration carries explicit PostgreSQL text.  Released
 * migrations are never edited: a change is a new migration.  Times are
 * UTC epoch milliseconds; ids come from ih_tx_next_id().
 */
#include "app/instance.h"

/* An event is its canonical entry (the bytes that are hashed; NULL once
 * archived) plus copies of the fields audit queries filter on.  Verification
 * checks the copies against the entry, and everything shown is decoded from
 * the entry, so what an auditor reads is exactly what was hashed. */
#define AUDIT_EVENT_COLUMNS                                                                                    \
    "seq INTEGER PRIMARY KEY, ts INTEGER, actor_id INTEGER, action TEXT, object_type TEXT, object_id TEXT, "   \
    "outcome TEXT, entry BLOB, leaf_hash BLOB NOT NULL, purged INTEGER NOT NULL DEFAULT 0"
#define AUDIT_INDEXES                                                                                          \
    "CREATE INDEX audit_event_ts ON audit_event(ts);"                                                          \
    "CREATE INDEX audit_event_actor ON audit_event(actor_id, seq);"                                            \
    "CREATE INDEX audit_event_object ON audit_event(object_type, object_id, seq);"

/* An update may only purge an archived event's payload, keeping its hash. */
#define PURGE_ONLY(N, O)                                                                                       \
    O ".purged = 0 AND " N ".purged = 1 AND " N ".seq = " O ".seq AND " N ".leaf_hash = " O ".leaf_hash AND " N \
    ".ts IS NULL AND " N ".actor_id IS NULL AND " N ".action IS NULL AND " N ".object_type IS NULL AND " N       \
    ".object_id IS NULL AND " N ".outcome IS NULL AND " N ".entry IS NULL"

static const char audit_sqlite[] =
    "CREATE TABLE audit_event (" AUDIT_EVENT_COLUMNS ");" AUDIT_INDEXES
    "CREATE TABLE audit_node (lvl INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, "
    "PRIMARY KEY (lvl, idx)) WITHOUT ROWID;"
    "CREATE TABLE audit_tree (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, "
    "frontier BLOB NOT NULL);"
    "CREATE TABLE audit_checkpoint (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, "
    "created_at INTEGER NOT NULL);"
    "INSERT INTO audit_tree(id, size, frontier) VALUES (1, 0, zeroblob(0));"
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event WHEN NOT (" PURGE_ONLY("NEW", "OLD") ") "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"
    "CREATE TRIGGER audit_node_no_update BEFORE UPDATE ON audit_node "
    "BEGIN SELECT RAISE(ABORT, 'audit nodes are append-only'); END;"
    "CREATE TRIGGER audit_node_no_delete BEFORE DELETE ON audit_node "
    "BEGIN SELECT RAISE(ABORT, 'audit nodes are append-only'); END;"
    "CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint "
    "BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint "
    "BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER audit_tree_no_delete BEFORE DELETE ON audit_tree "
    "BEGIN SELECT RAISE(ABORT, 'the audit tree cannot be deleted'); END;";

static const char audit_pg[] =
    "CREATE TABLE audit_event (seq BIGINT PRIMARY KEY, ts BIGINT, actor_id BIGINT, action TEXT, object_type TEXT, "
    "object_id TEXT, outcome TEXT, entry BYTEA, leaf_hash BYTEA NOT NULL, purged BIGINT NOT NULL DEFAULT 0);"
    AUDIT_INDEXES
    "CREATE TABLE audit_node (lvl BIGINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (lvl, idx));"
    "CREATE TABLE audit_tree (id BIGINT PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, frontier BYTEA NOT NULL);"
    "CREATE TABLE audit_checkpoint (size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note TEXT NOT NULL, "
    "created_at BIGINT NOT NULL);"
    "INSERT INTO audit_tree(id, size, frontier) VALUES (1, 0, ''::bytea);"
    "CREATE FUNCTION ihos_audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'DELETE' OR NOT (" PURGE_ONLY("NEW", "OLD") ") THEN "
    "RAISE EXCEPTION 'audit events are append-only'; END IF; RETURN NEW; END $$;"
    "CREATE TRIGGER audit_event_guard BEFORE UPDATE OR DELETE ON audit_event FOR EACH ROW "
    "EXECUTE FUNCTION ihos_audit_event_guard();"
    "CREATE FUNCTION ihos_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;"
    "CREATE TRIGGER audit_node_guard BEFORE UPDATE OR DELETE ON audit_node FOR EACH ROW "
    "EXECUTE FUNCTION ihos_append_only();"
    "CREATE TRIGGER audit_checkpoint_guard BEFORE UPDATE OR DELETE ON audit_checkpoint FOR EACH ROW "
    "EXECUTE FUNCTION ihos_append_only();"
    "CREATE TRIGGER audit_tree_guard BEFORE DELETE ON audit_tree FOR EACH ROW EXECUTE FUNCTION ihos_append_only();";

const ih_migration ih_schema[] = {
    {1, "instance", "CREATE TABLE instance_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);", NULL},
    {2, "keys",
     "CREATE TABLE dek (purpose INTEGER NOT NULL, version INTEGER NOT NULL, wrapped BLOB, kek_id TEXT NOT NULL, "
     "state TEXT NOT NULL CHECK (state IN ('active', 'retired')), created_at INTEGER NOT NULL, retired_at INTEGER, "
     "PRIMARY KEY (purpose, version));"
     "CREATE TABLE signing_key (id INTEGER PRIMARY KEY, owner_kind TEXT NOT NULL, owner_id INTEGER NOT NULL, "
     "suite TEXT NOT NULL, public_pem TEXT NOT NULL, private_enc BLOB NOT NULL, "
     "state TEXT NOT NULL CHECK (state IN ('active', 'retired')), created_at INTEGER NOT NULL);"
     "CREATE INDEX signing_key_owner ON signing_key(owner_kind, owner_id, state);",
     NULL},
    {3, "audit", audit_sqlite, audit_pg},
    {4, "identity",
     /* One role per account (CHECK): no account can ever hold two of the
      * administrator roles (L3 8.1.4.2d).  Rows carry a MAC (mac). */
     "CREATE TABLE account (id INTEGER PRIMARY KEY, username TEXT NOT NULL, username_lc TEXT NOT NULL UNIQUE, "
     "role TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'pharmacist', 'nurse', 'sysadmin', 'secadmin', "
     "'auditadmin')), status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disabled')), "
     "pw_hash TEXT NOT NULL, pw_changed_at INTEGER NOT NULL, must_change INTEGER NOT NULL, totp_enc BLOB, "
     "totp_alg TEXT NOT NULL, totp_digits INTEGER NOT NULL, totp_pending BLOB, pending_alg TEXT NOT NULL, "
     "totp_last_step INTEGER NOT NULL, failed_count INTEGER NOT NULL, locked_until INTEGER NOT NULL, "
     "expires_at INTEGER NOT NULL, last_login_at INTEGER NOT NULL, created_at INTEGER NOT NULL, "
     "created_by INTEGER NOT NULL, disabled_reason TEXT NOT NULL, mac BLOB NOT NULL);"
     "CREATE TABLE password_history (account_id INTEGER NOT NULL REFERENCES account(id), pw_hash TEXT NOT NULL, "
     "changed_at INTEGER NOT NULL);"
     "CREATE INDEX password_history_account ON password_history(account_id, changed_at);"
     "CREATE TABLE session (id INTEGER PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, "
     "account_id INTEGER NOT NULL REFERENCES account(id), created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, "
     "expires_at INTEGER NOT NULL, csrf TEXT NOT NULL, factors INTEGER NOT NULL, ip TEXT, revoked_at INTEGER, "
     "revoke_reason TEXT, mac BLOB NOT NULL);"
     "CREATE INDEX session_account ON session(account_id);"
     "CREATE TABLE role_grant (id INTEGER PRIMARY KEY, role TEXT NOT NULL, perm TEXT NOT NULL, "
     "granted INTEGER NOT NULL, changed_by INTEGER NOT NULL, changed_at INTEGER NOT NULL, mac BLOB NOT NULL, "
     "UNIQUE (role, perm));",
     NULL},
};

const size_t ih_schema_count = sizeof ih_schema / sizeof ih_schema[0];
