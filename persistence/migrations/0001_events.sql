-- The event store: one row per event, globally ordered by position, unique per stream version.

CREATE SEQUENCE events_position_seq AS bigint;

-- Every appending transaction takes its transaction id before it takes a position. Subscriptions
-- rely on it (persistence/gap_tracker.hpp): a position below a visible one then always belongs to
-- a transaction that a later snapshot lists as in progress, or that has finished.
CREATE FUNCTION ordermesh_next_position() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_current_xact_id();
  RETURN nextval('events_position_seq');
END
$$;

CREATE TABLE events (
  global_position bigint PRIMARY KEY DEFAULT ordermesh_next_position(),
  stream_id       text        NOT NULL,
  stream_version  bigint      NOT NULL CHECK (stream_version > 0),
  event_type      text        NOT NULL,
  schema_version  integer     NOT NULL DEFAULT 1,
  payload         jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);
ALTER SEQUENCE events_position_seq OWNED BY events.global_position;

CREATE TABLE snapshots (
  stream_id      text        PRIMARY KEY,
  stream_version bigint      NOT NULL,
  snapshot_type  text        NOT NULL,
  schema_version integer     NOT NULL DEFAULT 1,
  payload        jsonb       NOT NULL,
  recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE subscription_checkpoints (
  subscription text        PRIMARY KEY,
  position     bigint      NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
