-- Subscriptions read the log by writing transaction (persistence/subscription.hpp): each event
-- records the top-level transaction id that wrote it, and a reader takes only events whose
-- transaction id is below its snapshot's xmin. Those transactions have all ended, and every
-- transaction that writes later has an id at or above that xmin, so what such a read sees is final.
-- The old rule (ordermesh_next_position + snapshot gap tracking) could skip an event for good.

-- Events written before this migration share transaction id 0: all of them had committed (or
-- rolled back) when it ran, and every later one has a real, higher id.
ALTER TABLE events ADD COLUMN transaction_id xid8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id();
CREATE INDEX events_transaction_position_idx ON events (transaction_id, global_position);

-- Positions no longer need the transaction id taken first.
ALTER TABLE events ALTER COLUMN global_position SET DEFAULT nextval('events_position_seq');
DROP FUNCTION ordermesh_next_position();

-- A checkpoint is the (transaction id, position) of the last event handed on. A checkpoint stored
-- before this migration (position p, everything up to p delivered) becomes (0, p): the same events.
ALTER TABLE subscription_checkpoints ADD COLUMN transaction_id xid8 NOT NULL DEFAULT '0';
