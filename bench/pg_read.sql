-- pgbench: the equivalent of one audited visit read on bare PostgreSQL: the
-- visit and its last 20 messages, and the read's audit row, committed
-- durably before the answer (as ihos does).
BEGIN;
SELECT * FROM visit WHERE id = 1;
SELECT * FROM message WHERE visit_id = 1 ORDER BY id DESC LIMIT 20;
INSERT INTO audit_event (ts, actor_id, action, object_type, object_id, outcome, entry, leaf_hash)
  VALUES (extract(epoch from now())::bigint * 1000, 3, 'visit.read', 'visit', '1', 'success', decode(repeat('ef', 200), 'hex'), decode(repeat('01', 32), 'hex'));
COMMIT;
