-- pgbench: the equivalent of one audited message write, on bare PostgreSQL:
-- a message row and an audit row in one transaction.
BEGIN;
INSERT INTO message (visit_id, sender_id, sender_role, body_enc, created_at, mac)
  VALUES (1, 2, 'patient', decode(repeat('ab', 150), 'hex'), extract(epoch from now())::bigint * 1000, decode(repeat('cd', 32), 'hex'));
INSERT INTO audit_event (ts, actor_id, action, object_type, object_id, outcome, entry, leaf_hash)
  VALUES (extract(epoch from now())::bigint * 1000, 2, 'message.create', 'message', '1', 'success', decode(repeat('ef', 200), 'hex'), decode(repeat('01', 32), 'hex'));
COMMIT;
