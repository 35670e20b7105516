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

/* A record's plain columns, old and new (row values; NULL-safe): nothing
 * but re-sealing may touch a record. */
#define RECORD_FIXED_CHANGED(N, O)                                                                               \
    "(" N ".id, " N ".visit_id, " N ".revision, " N ".author_id, " N ".correction_reason, " N ".label, " N         \
    ".created_at, " N ".sign_key_id, " N ".signature) IS DISTINCT FROM (" O ".id, " O ".visit_id, " O             \
    ".revision, " O ".author_id, " O ".correction_reason, " O ".label, " O ".created_at, " O ".sign_key_id, " O   \
    ".signature)"

/* A version column on every MAC'd table (migration 13). */
#define RV(t) "ALTER TABLE " t " ADD COLUMN rv INTEGER NOT NULL DEFAULT 0;"
#define ROW_VERSIONS                                                                                           \
    RV("account") RV("session") RV("role_grant") RV("signing_key") RV("institution") RV("staff") RV("drug")     \
    RV("schedule") RV("patient") RV("consent") RV("visit") RV("message") RV("media_session") RV("record")       \
    RV("prescription") RV("payment") RV("evaluation") RV("adverse_event") RV("break_glass")                     \
    RV("stats_request") RV("outbox")

/* From migration 14: the plaintext correction reason may only be cleared
 * (its text moves to the sealed column). */
#define RECORD_FIXED_CHANGED_14(N, O)                                                                            \
    "((" N ".id, " N ".visit_id, " N ".revision, " N ".author_id, " N ".label, " N ".created_at, " N               \
    ".sign_key_id, " N ".signature) IS DISTINCT FROM (" O ".id, " O ".visit_id, " O ".revision, " O              \
    ".author_id, " O ".label, " O ".created_at, " O ".sign_key_id, " O ".signature) OR (" N                       \
    ".correction_reason IS NOT NULL AND " N ".correction_reason IS DISTINCT FROM " O ".correction_reason))"

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
    {5, "registry",
     /* Personal fields are sealed (<field>_enc) and looked up through blind
      * indexes (<field>_idx); rows an attacker would want to change carry a
      * MAC.  Column lists are generated from src/clinic/ descriptors. */
     "CREATE TABLE institution (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT, ih_name TEXT, organ_id TEXT, "
     "unit_id TEXT, licence_no TEXT, licence_valid_until TEXT, ih_approval TEXT, entity_hospital TEXT, "
     "address TEXT, phone TEXT, intro TEXT, updated_at INTEGER, updated_by INTEGER, mac BLOB NOT NULL);"
     "CREATE TABLE department (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, name TEXT NOT NULL, "
     "subject_code TEXT NOT NULL, category_code TEXT NOT NULL, kind TEXT NOT NULL, active INTEGER NOT NULL, "
     "intro TEXT, created_at INTEGER NOT NULL);"
     "CREATE TABLE staff (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL UNIQUE REFERENCES account(id), "
     "kind TEXT NOT NULL CHECK (kind IN ('doctor', 'pharmacist', 'nurse')), name_enc BLOB NOT NULL, "
     "cert_type TEXT NOT NULL, cert_no_enc BLOB NOT NULL, cert_no_idx BLOB NOT NULL UNIQUE, sex TEXT NOT NULL, "
     "birth_date_enc BLOB NOT NULL, title_code TEXT NOT NULL, subject_code TEXT NOT NULL, "
     "qualification_no TEXT NOT NULL, practice_no TEXT NOT NULL, practice_years INTEGER NOT NULL, "
     "insurance_policy TEXT, insurance_until TEXT, intro TEXT, "
     "status TEXT NOT NULL CHECK (status IN ('active', 'suspended')), online INTEGER NOT NULL, "
     "online_changed_at INTEGER, created_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE TABLE staff_department (staff_id INTEGER NOT NULL REFERENCES staff(id), "
     "department_id INTEGER NOT NULL REFERENCES department(id), PRIMARY KEY (staff_id, department_id));"
     "CREATE TABLE drug (id INTEGER PRIMARY KEY, hosp_code TEXT NOT NULL UNIQUE, national_code TEXT, "
     "name TEXT NOT NULL, trade_name TEXT, spec TEXT NOT NULL, unit TEXT NOT NULL, manufacturer TEXT NOT NULL, "
     "dosage_form TEXT NOT NULL, drug_class TEXT NOT NULL, price INTEGER NOT NULL, otc INTEGER, "
     "restricted INTEGER NOT NULL, restricted_class TEXT, active INTEGER NOT NULL, updated_at INTEGER NOT NULL, "
     "mac BLOB NOT NULL);"
     "CREATE TABLE schedule (id INTEGER PRIMARY KEY, staff_id INTEGER NOT NULL REFERENCES staff(id), "
     "department_id INTEGER NOT NULL REFERENCES department(id), day TEXT NOT NULL, start_time TEXT NOT NULL, "
     "end_time TEXT NOT NULL, consult_type TEXT NOT NULL, capacity INTEGER NOT NULL, "
     "response_minutes INTEGER NOT NULL, fee INTEGER NOT NULL, cancelled INTEGER NOT NULL, "
     "created_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX schedule_day ON schedule(day, staff_id);"
     "CREATE TABLE patient (id INTEGER PRIMARY KEY, account_id INTEGER UNIQUE REFERENCES account(id), "
     "name_enc BLOB NOT NULL, cert_type TEXT NOT NULL, cert_no_enc BLOB NOT NULL, cert_no_idx BLOB NOT NULL UNIQUE, "
     "sex TEXT NOT NULL, birth_date_enc BLOB NOT NULL, phone_enc BLOB NOT NULL, phone_idx BLOB NOT NULL, "
     "address_enc BLOB, allergies_enc BLOB, guardian_name_enc BLOB, guardian_cert_type TEXT, "
     "guardian_cert_no_enc BLOB, guardian_phone_enc BLOB, realname TEXT NOT NULL, created_at INTEGER NOT NULL, "
     "updated_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX patient_phone ON patient(phone_idx);"
     "CREATE TABLE consent (id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES patient(id), "
     "document TEXT NOT NULL, version TEXT NOT NULL, accepted_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX consent_patient ON consent(patient_id, document);",
     NULL},
    {6, "care",
     /* Visits (consultations and follow-ups), their messages, media sessions,
      * medical-record revisions, prescriptions with review, payments,
      * evaluations, adverse events, break-glass grants and 统方 requests.
      * Migration 7 keeps them: records are never updated (a correction is a
      * new signed revision) and no clinical row is ever deleted. */
     "CREATE TABLE visit (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, patient_id INTEGER NOT NULL REFERENCES patient(id), "
     "doctor_id INTEGER NOT NULL REFERENCES staff(id), department_id INTEGER NOT NULL REFERENCES department(id), "
     "schedule_id INTEGER, consult_type TEXT NOT NULL, attribute TEXT, fee INTEGER NOT NULL, status TEXT NOT NULL, "
     "complaint_enc BLOB NOT NULL, first_diagnosis_enc BLOB, disease_history_enc BLOB, guardian_present INTEGER, "
     "followup_confirmed INTEGER, label INTEGER NOT NULL, requested_at INTEGER NOT NULL, respond_by INTEGER NOT NULL, "
     "accepted_at INTEGER, refused_at INTEGER, refuse_type TEXT, refuse_reason TEXT, closed_at INTEGER, "
     "updated_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX visit_patient ON visit(patient_id, id);"
     "CREATE INDEX visit_doctor ON visit(doctor_id, id);"
     "CREATE INDEX visit_status ON visit(status, respond_by);"
     "CREATE TABLE message (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL REFERENCES visit(id), "
     "sender_id INTEGER NOT NULL, sender_role TEXT NOT NULL, body_enc BLOB NOT NULL, created_at INTEGER NOT NULL, "
     "mac BLOB NOT NULL);"
     "CREATE INDEX message_visit ON message(visit_id, id);"
     "CREATE TABLE media_session (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL REFERENCES visit(id), "
     "kind TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT NOT NULL, recording_ref TEXT, recording_hash TEXT, "
     "created_by INTEGER NOT NULL, created_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX media_visit ON media_session(visit_id);"
     "CREATE TABLE icd (code TEXT PRIMARY KEY, name TEXT NOT NULL);"
     "CREATE TABLE record (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL REFERENCES visit(id), "
     "revision INTEGER NOT NULL, author_id INTEGER NOT NULL, chief_complaint_enc BLOB NOT NULL, "
     "present_history_enc BLOB NOT NULL, diagnosis_codes_enc BLOB NOT NULL, diagnosis_enc BLOB NOT NULL, "
     "opinion_enc BLOB NOT NULL, assist_result_enc BLOB, correction_reason TEXT, label INTEGER NOT NULL, "
     "created_at INTEGER NOT NULL, sign_key_id INTEGER NOT NULL, signature BLOB NOT NULL, mac BLOB NOT NULL, "
     "UNIQUE (visit_id, revision));"
     "CREATE TABLE prescription (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL REFERENCES visit(id), "
     "patient_id INTEGER NOT NULL, doctor_id INTEGER NOT NULL, recipe_no TEXT NOT NULL UNIQUE, recipe_type TEXT NOT NULL, "
     "diagnosis_codes_enc BLOB NOT NULL, items_enc BLOB NOT NULL, total_fee INTEGER NOT NULL, "
     "effective_days INTEGER NOT NULL, status TEXT NOT NULL, label INTEGER NOT NULL, issued_at INTEGER NOT NULL, "
     "sign_key_id INTEGER NOT NULL, signature BLOB NOT NULL, reviewer_id INTEGER, review_decision TEXT, "
     "review_reason TEXT, reviewed_at INTEGER, review_key_id INTEGER, review_signature BLOB, delivery_type TEXT, "
     "delivery_firm TEXT, finished_at INTEGER, expires_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, "
     "mac BLOB NOT NULL);"
     "CREATE INDEX prescription_status ON prescription(status, id);"
     "CREATE INDEX prescription_visit ON prescription(visit_id);"
     "CREATE INDEX prescription_reviewer ON prescription(reviewer_id, id);"
     "CREATE TABLE payment (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL REFERENCES visit(id), "
     "prescription_id INTEGER, amount INTEGER NOT NULL, channel TEXT NOT NULL, trade_no TEXT, paid INTEGER NOT NULL, "
     "paid_at INTEGER, created_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX payment_visit ON payment(visit_id);"
     "CREATE TABLE evaluation (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL UNIQUE REFERENCES visit(id), "
     "satisfaction INTEGER NOT NULL, score INTEGER NOT NULL, text_enc BLOB NOT NULL, complaint_enc BLOB, "
     "created_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE TABLE adverse_event (id INTEGER PRIMARY KEY, visit_id INTEGER REFERENCES visit(id), "
     "kind TEXT NOT NULL, description_enc BLOB NOT NULL, cause_enc BLOB NOT NULL, measures_enc BLOB NOT NULL, "
     "damage_degree TEXT NOT NULL, improvements_enc BLOB NOT NULL, department_id INTEGER NOT NULL, "
     "reporter_id INTEGER NOT NULL, event_date TEXT NOT NULL, reported_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE TABLE break_glass (id INTEGER PRIMARY KEY, staff_id INTEGER NOT NULL, patient_id INTEGER NOT NULL, "
     "reason_enc BLOB NOT NULL, granted_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX break_glass_staff ON break_glass(staff_id, patient_id, expires_at);"
     "CREATE TABLE stats_request (id INTEGER PRIMARY KEY, requester_id INTEGER NOT NULL, report TEXT NOT NULL, "
     "purpose_enc BLOB NOT NULL, window_from TEXT NOT NULL, window_to TEXT NOT NULL, status TEXT NOT NULL, "
     "decided_by INTEGER, decided_at INTEGER, decision_reason TEXT, run_at INTEGER, result_rows INTEGER, "
     "created_at INTEGER NOT NULL, mac BLOB NOT NULL);",
     NULL},
    {7, "care guards",
     "CREATE TRIGGER record_no_update BEFORE UPDATE ON record "
     "BEGIN SELECT RAISE(ABORT, 'records are never changed: add a revision'); END;"
     "CREATE TRIGGER record_no_delete BEFORE DELETE ON record BEGIN SELECT RAISE(ABORT, 'records are kept'); END;"
     "CREATE TRIGGER prescription_no_delete BEFORE DELETE ON prescription "
     "BEGIN SELECT RAISE(ABORT, 'prescriptions are kept'); END;"
     "CREATE TRIGGER visit_no_delete BEFORE DELETE ON visit BEGIN SELECT RAISE(ABORT, 'visits are kept'); END;"
     "CREATE TRIGGER message_no_delete BEFORE DELETE ON message BEGIN SELECT RAISE(ABORT, 'messages are kept'); END;",
     "CREATE FUNCTION ihos_kept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
     "RAISE EXCEPTION '% rows are kept: % refused', TG_TABLE_NAME, TG_OP; END $$;"
     "CREATE TRIGGER record_guard BEFORE UPDATE OR DELETE ON record FOR EACH ROW EXECUTE FUNCTION ihos_kept();"
     "CREATE TRIGGER prescription_guard BEFORE DELETE ON prescription FOR EACH ROW EXECUTE FUNCTION ihos_kept();"
     "CREATE TRIGGER visit_guard BEFORE DELETE ON visit FOR EACH ROW EXECUTE FUNCTION ihos_kept();"
     "CREATE TRIGGER message_guard BEFORE DELETE ON message FOR EACH ROW EXECUTE FUNCTION ihos_kept();"},
    {8, "report",
     /* The supervision outbox: one row per business key and version; the
      * platform record sealed; the delivery state.  appSecret sealed too. */
     "CREATE TABLE outbox (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, method TEXT NOT NULL, "
     "business_key TEXT NOT NULL, version INTEGER NOT NULL, payload_enc BLOB NOT NULL, state TEXT NOT NULL, "
     "attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, depends_on INTEGER, last_error TEXT, "
     "created_at INTEGER NOT NULL, sent_at INTEGER, updated_at INTEGER NOT NULL, mac BLOB NOT NULL, "
     "UNIQUE (method, business_key, version));"
     "CREATE INDEX outbox_due ON outbox(state, next_at, id);"
     "CREATE TABLE report_secret (profile TEXT PRIMARY KEY, secret_enc BLOB NOT NULL, updated_at INTEGER NOT NULL);",
     NULL},
    {9, "report ready index",
     /* the uploader walks the rows still to send in id order; without it a
      * claim sorted every pending row (quadratic drain of a backlog) */
     "CREATE INDEX outbox_ready ON outbox(id) WHERE state IN ('pending', 'unknown');", NULL},
    {10, "session mac covers revocation",
     /* The session MAC now covers last_seen and revoked_at as well; a row
      * sealed before cannot be told from a tampered one, so the sessions
      * open at the upgrade end and everyone signs in again. */
     "DELETE FROM session;", NULL},
    {11, "detector",
     /* The 防统方 detector's windows, shared by every ihosd of the instance:
      * outside prescription reads (drugs as decimal ids joined by ','), list
      * pages per minute, and per user the off-hours count and last alerts. */
     "CREATE TABLE detector_read (user_id INTEGER NOT NULL, rx_id INTEGER NOT NULL, doctor_id INTEGER NOT NULL, "
     "drugs TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (user_id, rx_id));"
     "CREATE INDEX detector_read_ts ON detector_read(ts);"
     "CREATE TABLE detector_page (user_id INTEGER NOT NULL, minute INTEGER NOT NULL, n INTEGER NOT NULL, "
     "PRIMARY KEY (user_id, minute));"
     "CREATE TABLE detector_user (user_id INTEGER PRIMARY KEY, off_day INTEGER NOT NULL, off_reads INTEGER NOT NULL, "
     "alerted_spread INTEGER NOT NULL, alerted_pages INTEGER NOT NULL, alerted_off INTEGER NOT NULL);",
     NULL},
    {12, "records may be re-sealed",
     /* A record revision never changes — but its ciphertexts must move to a
      * new key version when one is rotated (a rotation that skipped them
      * left every record unreadable once the old version was retired).
      * The guard now lets an update through when every plain column keeps
      * its value: only the sealed columns and the MAC change. */
     "DROP TRIGGER record_no_update;"
     "CREATE TRIGGER record_no_update BEFORE UPDATE ON record WHEN " RECORD_FIXED_CHANGED("NEW", "OLD") " "
     "BEGIN SELECT RAISE(ABORT, 'records are never changed: add a revision'); END;",
     "DROP TRIGGER record_guard ON record;"
     "CREATE FUNCTION ihos_record_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
     "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'records are kept: DELETE refused'; END IF; "
     "IF " RECORD_FIXED_CHANGED("NEW", "OLD") " THEN "
     "RAISE EXCEPTION 'records are never changed: add a revision'; END IF; RETURN NEW; END $$;"
     "CREATE TRIGGER record_guard BEFORE UPDATE OR DELETE ON record FOR EACH ROW "
     "EXECUTE FUNCTION ihos_record_guard();"},
    {13, "row versions",
     /* Rollback detection (docs/security.md): every MAC'd row gets a version
      * its MAC covers (0: written before this release, MAC'd without it);
      * every audit event copies the versions its transaction wrote into
      * audit_version, append-only like the events it is checked against.
      * Staff rows carry their departments (covered by the MAC: a nurse's
      * access to a department's visits was decided by an unprotected join
      * table), and signing keys get a MAC of their own. */
     ROW_VERSIONS
     "ALTER TABLE staff ADD COLUMN departments TEXT;"
     "ALTER TABLE signing_key ADD COLUMN mac BLOB;"
     "CREATE TABLE audit_version (tbl TEXT NOT NULL, row_id INTEGER NOT NULL, rv INTEGER NOT NULL, "
     "seq INTEGER NOT NULL);"
     "CREATE INDEX audit_version_row ON audit_version(tbl, row_id, rv);"
     "CREATE INDEX audit_version_seq ON audit_version(seq);"
     "CREATE TRIGGER audit_version_no_update BEFORE UPDATE ON audit_version "
     "BEGIN SELECT RAISE(ABORT, 'audit versions are append-only'); END;"
     "CREATE TRIGGER audit_version_no_delete BEFORE DELETE ON audit_version "
     "BEGIN SELECT RAISE(ABORT, 'audit versions are append-only'); END;",
     ROW_VERSIONS
     "ALTER TABLE staff ADD COLUMN departments TEXT;"
     "ALTER TABLE signing_key ADD COLUMN mac BYTEA;"
     "CREATE TABLE audit_version (tbl TEXT NOT NULL, row_id BIGINT NOT NULL, rv BIGINT NOT NULL, seq BIGINT NOT NULL);"
     "CREATE INDEX audit_version_row ON audit_version(tbl, row_id, rv);"
     "CREATE INDEX audit_version_seq ON audit_version(seq);"
     "CREATE TRIGGER audit_version_guard BEFORE UPDATE OR DELETE ON audit_version FOR EACH ROW "
     "EXECUTE FUNCTION ihos_append_only();"},
    {14, "free text sealed; break-glass review",
     /* Free text people type (refusal, review, correction, decision, status
      * and label reasons, an administrator's note on a disabled account) is
      * sealed like every other clinical or personal text; audit events carry
      * ids only.  The plaintext columns stay for rows written before: ihosd
      * moves each into its sealed column at start (ih_app_upgrade), and a
      * record's may only be cleared.  Break-glass grants get their review. */
     "ALTER TABLE visit ADD COLUMN refuse_reason_enc BLOB;"
     "ALTER TABLE visit ADD COLUMN label_reason_enc BLOB;"
     "ALTER TABLE prescription ADD COLUMN review_reason_enc BLOB;"
     "ALTER TABLE record ADD COLUMN correction_reason_enc BLOB;"
     "ALTER TABLE stats_request ADD COLUMN decision_reason_enc BLOB;"
     "ALTER TABLE staff ADD COLUMN status_reason_enc BLOB;"
     "ALTER TABLE staff ADD COLUMN online_reason_enc BLOB;"
     "ALTER TABLE account ADD COLUMN disabled_note_enc BLOB;"
     "ALTER TABLE break_glass ADD COLUMN reviewed_by INTEGER;"
     "ALTER TABLE break_glass ADD COLUMN reviewed_at INTEGER;"
     "ALTER TABLE break_glass ADD COLUMN review_verdict TEXT;"
     "ALTER TABLE break_glass ADD COLUMN review_note_enc BLOB;"
     "CREATE INDEX break_glass_unreviewed ON break_glass(staff_id, reviewed_at, granted_at);"
     "DROP TRIGGER record_no_update;"
     "CREATE TRIGGER record_no_update BEFORE UPDATE ON record WHEN " RECORD_FIXED_CHANGED_14("NEW", "OLD") " "
     "BEGIN SELECT RAISE(ABORT, 'records are never changed: add a revision'); END;",
     "ALTER TABLE visit ADD COLUMN refuse_reason_enc BYTEA;"
     "ALTER TABLE visit ADD COLUMN label_reason_enc BYTEA;"
     "ALTER TABLE prescription ADD COLUMN review_reason_enc BYTEA;"
     "ALTER TABLE record ADD COLUMN correction_reason_enc BYTEA;"
     "ALTER TABLE stats_request ADD COLUMN decision_reason_enc BYTEA;"
     "ALTER TABLE staff ADD COLUMN status_reason_enc BYTEA;"
     "ALTER TABLE staff ADD COLUMN online_reason_enc BYTEA;"
     "ALTER TABLE account ADD COLUMN disabled_note_enc BYTEA;"
     "ALTER TABLE break_glass ADD COLUMN reviewed_by BIGINT;"
     "ALTER TABLE break_glass ADD COLUMN reviewed_at BIGINT;"
     "ALTER TABLE break_glass ADD COLUMN review_verdict TEXT;"
     "ALTER TABLE break_glass ADD COLUMN review_note_enc BYTEA;"
     "CREATE INDEX break_glass_unreviewed ON break_glass(staff_id, reviewed_at, granted_at);"
     "CREATE OR REPLACE FUNCTION ihos_record_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
     "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'records are kept: DELETE refused'; END IF; "
     "IF " RECORD_FIXED_CHANGED_14("NEW", "OLD") " THEN "
     "RAISE EXCEPTION 'records are never changed: add a revision'; END IF; RETURN NEW; END $$;"},
    {15, "approvals",
     /* Changes one administrator proposes and another decides (a clinical
      * role, a grant reaching personal data, anything taken from the
      * auditor); rows MAC'd and versioned like the others. */
     "CREATE TABLE approval (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, account_id INTEGER, role TEXT NOT NULL, "
     "perm TEXT, granted INTEGER, state TEXT NOT NULL, proposed_by INTEGER NOT NULL, proposed_at INTEGER NOT NULL, "
     "decided_by INTEGER, decided_at INTEGER, rv INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX approval_state ON approval(state, id);",
     NULL},
    {16, "sms codes",
     /* One-time codes sent by SMS: self-registration and a patient's own
      * password reset.  The phone, the code and what waits for it sealed. */
     "CREATE TABLE sms_code (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, token_hash BLOB NOT NULL UNIQUE, "
     "phone_enc BLOB NOT NULL, phone_idx BLOB NOT NULL, code_enc BLOB, body_enc BLOB, account_id INTEGER, "
     "attempts INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER, "
     "rv INTEGER NOT NULL, mac BLOB NOT NULL);"
     "CREATE INDEX sms_code_phone ON sms_code(phone_idx, created_at);"
     "CREATE INDEX sms_code_expiry ON sms_code(expires_at);",
     NULL},
    {17, "clinical safety",
     /* Drugs name an allergy class; prescriptions keep who dispensed and,
      * sealed, why a doctor prescribed against a recorded allergy. */
     "ALTER TABLE drug ADD COLUMN allergy_class TEXT;"
     "ALTER TABLE prescription ADD COLUMN dispenser_id INTEGER;"
     "ALTER TABLE prescription ADD COLUMN allergy_override_enc BLOB;",
     NULL},
    {18, "payment orders",
     /* Orders the payment channel confirms by signed notification; refunds. */
     "ALTER TABLE payment ADD COLUMN order_no TEXT;"
     "ALTER TABLE payment ADD COLUMN state TEXT;"
     "ALTER TABLE payment ADD COLUMN refund_no TEXT;"
     "ALTER TABLE payment ADD COLUMN refund_reason_enc BLOB;"
     "ALTER TABLE payment ADD COLUMN refund_by INTEGER;"
     "ALTER TABLE payment ADD COLUMN refunded_at INTEGER;"
     "CREATE UNIQUE INDEX payment_order_no ON payment(order_no);"
     /* trade numbers patients typed before this may repeat: only the channel's are unique */
     "CREATE UNIQUE INDEX payment_trade_no ON payment(channel, trade_no) WHERE state IS NOT NULL;",
     NULL},
    {19, "cluster",
     /* Several ihosd nodes on one database: leases for the work that runs
      * once (store/lease.h), and the per-address throttles every node counts
      * the same (identity/throttle.h). */
     "CREATE TABLE lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL, "
     "expires_at INTEGER NOT NULL, acquired_at INTEGER NOT NULL, position INTEGER NOT NULL DEFAULT 0);"
     "CREATE TABLE throttle (name TEXT NOT NULL, addr TEXT NOT NULL, minute INTEGER NOT NULL, "
     "count INTEGER NOT NULL, PRIMARY KEY (name, addr, minute));",
     NULL},
    {20, "incidents",
     /* Security incidents (compliance/incident.h): an alert opens one, or
      * counts again on the one of its kind still open; the security
      * administrator acknowledges, assigns, resolves; a personal-data breach
      * carries its report and the 24-hour deadline.  Each step is also in the
      * audit journal, which is what protects this table's history. */
     "CREATE TABLE incident (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, category TEXT NOT NULL, "
     "severity TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')), "
     "detail TEXT NOT NULL, node TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, "
     "occurrences INTEGER NOT NULL, assignee_id INTEGER, acknowledged_by INTEGER, acknowledged_at INTEGER, "
     "resolved_by INTEGER, resolved_at INTEGER, resolution TEXT, notified TEXT, breach INTEGER NOT NULL DEFAULT 0, "
     "breach_report TEXT, breach_deadline INTEGER, breach_reported_at INTEGER, breach_overdue_alerted INTEGER NOT NULL "
     "DEFAULT 0);"
     "CREATE INDEX incident_status ON incident(status, id);"
     "CREATE INDEX incident_kind ON incident(kind, status);",
     NULL},
    {21, "his exchange",
     /* What the hospital's HIS/LIS sends over HL7 v2 (care/his.h): each
      * message id once with the acknowledgement it earned, the link of each
      * HIS patient (peer + MRN) to an ihos patient by the ID number's blind
      * index, and the results (lab, imaging) attached to a link. */
     "CREATE TABLE his_inbound (id INTEGER PRIMARY KEY, peer TEXT NOT NULL, control_id TEXT NOT NULL, "
     "type TEXT NOT NULL, ack_code TEXT NOT NULL, ack_text TEXT NOT NULL, received_at INTEGER NOT NULL, "
     "rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL, UNIQUE (peer, control_id));"
     "CREATE TABLE his_link (id INTEGER PRIMARY KEY, peer TEXT NOT NULL, mrn TEXT NOT NULL, "
     "patient_id INTEGER REFERENCES patient(id), status TEXT NOT NULL, reason TEXT, name_enc BLOB, cert_no_enc BLOB, "
     "cert_no_idx BLOB, merged_to TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, "
     "rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL, UNIQUE (peer, mrn));"
     "CREATE INDEX his_link_patient ON his_link(patient_id);"
     "CREATE INDEX his_link_status ON his_link(status, id);"
     "CREATE TABLE his_result (id INTEGER PRIMARY KEY, link_id INTEGER NOT NULL REFERENCES his_link(id), "
     "peer TEXT NOT NULL, order_no TEXT, kind TEXT NOT NULL, title_enc BLOB NOT NULL, content_enc BLOB NOT NULL, "
     "observed_at TEXT, label INTEGER NOT NULL, received_at INTEGER NOT NULL, rv INTEGER NOT NULL DEFAULT 0, "
     "mac BLOB NOT NULL);"
     "CREATE INDEX his_result_link ON his_result(link_id, id);"
     /* outpatient encounters: the offline first diagnosis a follow-up rests on */
     "CREATE TABLE his_encounter (id INTEGER PRIMARY KEY, link_id INTEGER NOT NULL REFERENCES his_link(id), "
     "peer TEXT NOT NULL, visit_no TEXT NOT NULL, department TEXT, doctor TEXT, encounter_at TEXT NOT NULL, "
     "diagnoses_enc BLOB NOT NULL, received_at INTEGER NOT NULL, rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL, "
     "UNIQUE (peer, visit_no));"
     "CREATE INDEX his_encounter_link ON his_encounter(link_id, encounter_at);"
     "ALTER TABLE visit ADD COLUMN his_encounter_id INTEGER;",
     NULL},
    {22, "his orders and outbox",
     /* What ihos tells the hospital (care/his.h): lab and imaging orders
      * placed in a visit (an imaging order's study in the PACS once it
      * arrives), and the outbound HL7 outbox, one row per peer and
      * message, delivered in row order per peer; the patient's choice of the
      * hospital pharmacy on a prescription. */
     "CREATE TABLE his_order (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL REFERENCES visit(id), "
     "patient_id INTEGER NOT NULL, doctor_id INTEGER NOT NULL, kind TEXT NOT NULL, order_no TEXT NOT NULL UNIQUE, "
     "accession TEXT UNIQUE, modality TEXT, code TEXT NOT NULL, name_enc BLOB NOT NULL, note_enc BLOB, "
     "status TEXT NOT NULL, label INTEGER NOT NULL, created_at INTEGER NOT NULL, study_uid TEXT, "
     "rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL);"
     "CREATE INDEX his_order_visit ON his_order(visit_id, id);"
     "CREATE INDEX his_order_imaging ON his_order(kind, status, id);"
     "CREATE TABLE his_outbox (id INTEGER PRIMARY KEY, peer TEXT NOT NULL, type TEXT NOT NULL, "
     "control_id TEXT NOT NULL UNIQUE, patient_id INTEGER NOT NULL, object TEXT NOT NULL, payload_enc BLOB NOT NULL, "
     "state TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, ack_code TEXT, error_code TEXT, "
     "detail_enc BLOB, "
     "created_at INTEGER NOT NULL, sent_at INTEGER, rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL);"
     "CREATE INDEX his_outbox_due ON his_outbox(peer, state, id);"
     "CREATE INDEX his_outbox_state ON his_outbox(state, id);"
     "ALTER TABLE prescription ADD COLUMN dispensing TEXT;",
     NULL},
    {23, "audio-video calls",
     /* A visit's or a remote consultation's calls (care/call.h): which system carries it (Janus, or
      * WebRTC between the browsers relayed by coturn), the room and its PIN
      * and secret (sealed), the patient's consent, the switch from one
      * system to the other; and the offers and answers system B's browsers
      * exchange through ihosd. */
     "CREATE TABLE av_session (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL REFERENCES visit(id), consult_id INTEGER, "
     "system TEXT NOT NULL, state TEXT NOT NULL, room INTEGER NOT NULL, pin_enc BLOB NOT NULL, "
     "room_secret_enc BLOB NOT NULL, expires_at INTEGER NOT NULL, opened_by INTEGER NOT NULL, "
     "created_at INTEGER NOT NULL, consent_by INTEGER, consent_at INTEGER, recording_consent INTEGER, "
     "started_at INTEGER, switched_at INTEGER, switch_reason TEXT, ended_by INTEGER, ended_at INTEGER, "
     "media_id INTEGER, recording TEXT, rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL);"
     "CREATE INDEX av_session_visit ON av_session(visit_id, id);"
     "CREATE INDEX av_session_recording ON av_session(recording, id);"
     /* a call's recordings: each file sealed under its own key, that key
      * sealed here (so key rotation re-seals it like any field) */
     "CREATE TABLE av_recording (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES av_session(id), "
     "visit_id INTEGER NOT NULL, kind TEXT NOT NULL, format TEXT NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, "
     "file TEXT NOT NULL, file_key_enc BLOB NOT NULL, created_at INTEGER NOT NULL, rv INTEGER NOT NULL DEFAULT 0, "
     "mac BLOB NOT NULL);"
     "CREATE INDEX av_recording_session ON av_recording(session_id, id);"
     "CREATE INDEX av_session_consult ON av_session(consult_id, id);"
     "CREATE TABLE av_signal (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES av_session(id), "
     "sender_id INTEGER NOT NULL, sender_role TEXT NOT NULL, kind TEXT NOT NULL, data_enc BLOB, "
     "created_at INTEGER NOT NULL, rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL);"
     "CREATE INDEX av_signal_session ON av_signal(session_id, id);",
     NULL},
    {24, "remote consultations",
     /* Remote consultation between institutions (care/consult.h): the
      * cooperation agreements, the requests with their state, the invited
      * experts (each one's signature of the report) and the material
      * attached (studies, ECGs, records, results). */
     "CREATE TABLE remote_agreement (id INTEGER PRIMARY KEY, partner TEXT NOT NULL, partner_organ_id TEXT NOT NULL, "
     "document_no TEXT NOT NULL, services TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, "
     "created_by INTEGER NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER, "
     "rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL);"
     "CREATE TABLE consult (id INTEGER PRIMARY KEY, visit_id INTEGER NOT NULL REFERENCES visit(id), "
     "patient_id INTEGER NOT NULL, requester_id INTEGER NOT NULL, agreement_id INTEGER NOT NULL, type TEXT NOT NULL, "
     "status TEXT NOT NULL, reason_enc BLOB, purpose_enc BLOB, summary_enc BLOB, qualifications TEXT, "
     "proposed_at TEXT NOT NULL, scheduled_at TEXT, consent_by TEXT NOT NULL, guardian_enc BLOB, "
     "consent_at INTEGER NOT NULL, approved_by INTEGER, approved_at INTEGER, decided_by INTEGER, decided_at INTEGER, "
     "reject_reason_enc BLOB, started_at INTEGER, report_enc BLOB, hr INTEGER, pr INTEGER, qrs INTEGER, qt INTEGER, "
     "qtc INTEGER, axis INTEGER, reported_at INTEGER, signed_at INTEGER, returned_at INTEGER, decision_enc BLOB, "
     "acknowledged_at INTEGER, closed_at INTEGER, cancelled_at INTEGER, label INTEGER NOT NULL, "
     "created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL);"
     "CREATE INDEX consult_requester ON consult(requester_id, id);"
     "CREATE INDEX consult_status ON consult(status, id);"
     "CREATE TABLE consult_expert (id INTEGER PRIMARY KEY, consult_id INTEGER NOT NULL REFERENCES consult(id), "
     "staff_id INTEGER NOT NULL, lead INTEGER NOT NULL, signed_at INTEGER, sign_key_id INTEGER, signature BLOB, "
     "rv INTEGER NOT NULL DEFAULT 0, mac BLOB NOT NULL, UNIQUE (consult_id, staff_id));"
     "CREATE INDEX consult_expert_staff ON consult_expert(staff_id, consult_id);"
     "CREATE TABLE consult_material (id INTEGER PRIMARY KEY, consult_id INTEGER NOT NULL REFERENCES consult(id), "
     "kind TEXT NOT NULL, ref_id INTEGER NOT NULL, created_at INTEGER NOT NULL, rv INTEGER NOT NULL DEFAULT 0, "
     "mac BLOB NOT NULL);"
     "CREATE INDEX consult_material_consult ON consult_material(consult_id, id);",
     NULL},
    {25, "outbox counted from an index",
     /* The queue's counts by state and method (status, /metrics) read this
      * index alone; they sorted every row of the outbox before, which only
      * grows (sent rows are kept).  Nothing else used outbox_due. */
     "CREATE INDEX outbox_state ON outbox(state, method, created_at);"
     "DROP INDEX outbox_due;",
     NULL},
    {26, "incident notifications retried",
     /* A notification that failed, or never went out because its node
      * stopped, is tried again (compliance/incident.h): how many attempts
      * were claimed, and when the next is due (NULL: nothing left to send).
      * Any node takes a due one by moving notify_next_at on (compare and set). */
     "ALTER TABLE incident ADD COLUMN notify_attempts INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE incident ADD COLUMN notify_next_at INTEGER;"
     "CREATE INDEX incident_notify ON incident(notify_next_at);",
     NULL},
    {27, "outbox claims apart from the rows",
     /* The supervision uploader's claim (report/uploader.c): one small row
      * per outbox row being sent, written with the claim and deleted with
      * the outcome; the outbox row itself is written once, with the outcome.
      * What a dead process left here is found at the next start. */
     "CREATE TABLE outbox_inflight (outbox_id INTEGER PRIMARY KEY, claim INTEGER NOT NULL, claimed_by TEXT NOT NULL, "
     "claimed_at INTEGER NOT NULL);",
     NULL},
    {28, "order cancel",
     /* An order the treating doctor withdrew (care/his_out.c): why, sealed, and when. */
     "ALTER TABLE his_order ADD COLUMN cancel_reason_enc BLOB;"
     "ALTER TABLE his_order ADD COLUMN cancelled_at INTEGER;",
     "ALTER TABLE his_order ADD COLUMN cancel_reason_enc BYTEA;"
     "ALTER TABLE his_order ADD COLUMN cancelled_at BIGINT;"},
    {29, "results answer orders",
     /* A result whose placer number is one of ihos's orders (care/his.c). */
     "ALTER TABLE his_result ADD COLUMN order_id INTEGER;"
     "CREATE INDEX his_result_order ON his_result(order_id, id);",
     "ALTER TABLE his_result ADD COLUMN order_id BIGINT;"
     "CREATE INDEX his_result_order ON his_result(order_id, id);"},
    {30, "outbound messages by what they tell",
     /* An order's messages to a peer: a cancel goes where the order went
      * (care/his_out.c). */
     "CREATE INDEX his_outbox_object ON his_outbox(object, peer, id);",
     "CREATE INDEX his_outbox_object ON his_outbox(object, peer, id);"},
    {31, "long operations",
     /* Runs of the self-check, the journal's verification and a backup
      * asked for, which can outlast a proxy's timeout (app/ops.h): who asked,
      * which node runs it (its beat), and the answer, signed with the audit
      * key. */
     "CREATE TABLE op_run (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, node TEXT NOT NULL, actor_id INTEGER NOT NULL, "
     "state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')), started_at INTEGER NOT NULL, "
     "beat_at INTEGER NOT NULL, finished_at INTEGER, result TEXT);"
     "CREATE INDEX op_run_kind ON op_run(kind, state, id);",
     NULL},
    {32, "results waiting for their link",
     /* A result naming an order of ihos's that came on a link not yet
      * confirmed answers the order once a person links it (care/his.c). */
     "ALTER TABLE his_result ADD COLUMN placer_no TEXT;"
     "CREATE INDEX his_result_placer ON his_result(placer_no) WHERE placer_no IS NOT NULL;",
     NULL},
    {33, "sessions and accounts announce their changes",
     /* A node keeps the sessions it verified (identity/authcache.h) and
      * forgets one when told on channel ihos_auth that its session or
      * account row changed: by any node, or by hand (the next read then
      * checks the row's MAC again).  TRUNCATE: forget everything.  SQLite
      * is one process and keeps nothing. */
     "",
     "CREATE FUNCTION ihos_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
     "IF TG_LEVEL = 'STATEMENT' THEN PERFORM pg_notify('ihos_auth', '*'); "
     "ELSE PERFORM pg_notify('ihos_auth', TG_TABLE_NAME || ':' || OLD.id); END IF; "
     "RETURN NULL; END $$;"
     "CREATE TRIGGER session_changed AFTER UPDATE OR DELETE ON session FOR EACH ROW "
     "EXECUTE FUNCTION ihos_auth_changed();"
     "CREATE TRIGGER account_changed AFTER UPDATE OR DELETE ON account FOR EACH ROW "
     "EXECUTE FUNCTION ihos_auth_changed();"
     "CREATE TRIGGER session_truncated AFTER TRUNCATE ON session FOR EACH STATEMENT "
     "EXECUTE FUNCTION ihos_auth_changed();"
     "CREATE TRIGGER account_truncated AFTER TRUNCATE ON account FOR EACH STATEMENT "
     "EXECUTE FUNCTION ihos_auth_changed();"},
};

const size_t ih_schema_count = sizeof ih_schema / sizeof ih_schema[0];
