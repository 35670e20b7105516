-- pgbench baseline tables: the shape of ihos's message and audit_event
-- tables (src/app/schema.c), with the same indexes.
CREATE TABLE message (id BIGSERIAL PRIMARY KEY, visit_id BIGINT NOT NULL, sender_id BIGINT NOT NULL,
  sender_role TEXT NOT NULL, body_enc BYTEA NOT NULL, created_at BIGINT NOT NULL, mac BYTEA NOT NULL);
CREATE INDEX message_visit ON message(visit_id, id);
CREATE TABLE audit_event (seq BIGSERIAL PRIMARY KEY, ts BIGINT, actor_id BIGINT, action TEXT, object_type TEXT,
  object_id TEXT, outcome TEXT, entry BYTEA, leaf_hash BYTEA NOT NULL, purged BIGINT NOT NULL DEFAULT 0);
CREATE INDEX audit_event_ts ON audit_event(ts);
CREATE INDEX audit_event_actor ON audit_event(actor_id, seq);
CREATE INDEX audit_event_object ON audit_event(object_type, object_id, seq);
-- the visit a read fetches with its messages (the columns a visit view needs)
CREATE TABLE visit (id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, patient_id BIGINT NOT NULL, doctor_id BIGINT NOT NULL,
  status TEXT NOT NULL, complaint_enc BYTEA NOT NULL, label INTEGER NOT NULL, requested_at BIGINT NOT NULL,
  mac BYTEA NOT NULL);
INSERT INTO visit (kind, patient_id, doctor_id, status, complaint_enc, label, requested_at, mac)
  VALUES ('followup', 2, 3, 'accepted', decode(repeat('ab', 80), 'hex'), 3, 0, decode(repeat('cd', 32), 'hex'));
