-- read_order_lines no longer references read_orders: both are derived rows that the projector
-- writes together (an order's lines only with its row, in one transaction), so the key checked
-- nothing the projection does not already guarantee, and it cost one lookup (and a KEY SHARE lock
-- on the order's row) per inserted line, from a plan each connection keeps: after an early
-- ANALYZE saw read_orders tiny, that plan seq-scanned it (13 ms per line at 100k orders).

ALTER TABLE read_order_lines DROP CONSTRAINT IF EXISTS read_order_lines_order_id_fkey;
