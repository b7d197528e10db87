-- When a SKU's stock last changed (the commit time of its last applied event), for GET
-- /inventory/<sku> (Last-Modified) like read_orders.updated_at. Rows projected before this
-- migration take the commit time of the event at their version.

ALTER TABLE read_inventory ADD COLUMN updated_at timestamptz;

UPDATE read_inventory i SET updated_at = e.recorded_at
  FROM events e
 WHERE e.stream_id = 'inventory/' || i.sku AND e.stream_version = i.version;

-- A row whose event is gone (it cannot be, events are never deleted) still gets a time.
UPDATE read_inventory SET updated_at = clock_timestamp() WHERE updated_at IS NULL;

ALTER TABLE read_inventory ALTER COLUMN updated_at SET NOT NULL;
