-- Read models for the HTTP queries, filled by persistence/projections.hpp from the global log.
-- Every row carries the last stream version applied to it, so replaying an event changes nothing.

CREATE TABLE read_orders (
  order_id     text        PRIMARY KEY,
  customer_id  text        NOT NULL,
  status       text        NOT NULL
               CHECK (status IN ('placed', 'reserved', 'confirmed', 'rejected', 'cancelled')),
  reason       text        NOT NULL DEFAULT '',
  amount_cents bigint      NOT NULL,
  placed_at    timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  -- Last applied version of the stream "order/<order_id>".
  version      bigint      NOT NULL
);

-- GET /orders?customer=...: keyset pagination, newest first.
CREATE INDEX read_orders_customer_placed_idx
  ON read_orders (customer_id, placed_at DESC, order_id DESC);

CREATE TABLE read_order_lines (
  order_id    text    NOT NULL REFERENCES read_orders (order_id),
  line_no     integer NOT NULL,
  sku         text    NOT NULL,
  qty         integer NOT NULL,
  -- pending | reserved | failed: an order is 'reserved' once every line is.
  reservation text    NOT NULL DEFAULT 'pending',
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE read_inventory (
  sku       text   PRIMARY KEY,
  on_hand   bigint NOT NULL,
  reserved  bigint NOT NULL,
  available bigint NOT NULL,
  -- Last applied version of the stream "inventory/<sku>".
  version   bigint NOT NULL
);

-- The reservations held per SKU, from which read_inventory.reserved is summed (a repeated
-- reservation for one order replaces the earlier one, as in the aggregate).
CREATE TABLE read_inventory_holds (
  sku      text   NOT NULL,
  order_id text   NOT NULL,
  qty      bigint NOT NULL,
  PRIMARY KEY (sku, order_id)
);
