#pragma once

/// SQL over the `events` table about an order's saga, shared by the tests that wait for sagas to
/// end (the persisted wire names, written out: tests read the contract, not the code).
namespace ordermesh::testing {

/// A condition on one `events` row (unqualified columns): the event that ends an order's saga.
/// payment_captured or compensation_completed, or an order.confirmed naming its SKUs (a sale the
/// settlement runner settles and notifies from the journal: its saga ends at its confirmation).
/// The same as actors::resume_unfinished_orders.
inline constexpr const char* saga_end_sql =
    "(event_type IN ('order.payment_captured.v1', 'order.compensation_completed.v1')"
    " OR (event_type = 'order.confirmed.v1' AND payload ? 'skus'))";

/// A condition on one `events` row: a terminal event of an order.
inline constexpr const char* terminal_sql =
    "event_type IN ('order.confirmed.v1', 'order.rejected.v1', 'order.cancelled.v1')";

/// SQL counting the sales confirmed naming SKUs whose notification stream recorded nothing yet:
/// what the settlement runner has still to notify (0 once it caught up).
inline constexpr const char* unnotified_sales_sql =
    "SELECT count(*) FROM events c WHERE c.event_type = 'order.confirmed.v1' AND c.payload ? 'skus'"
    " AND NOT EXISTS (SELECT 1 FROM events n WHERE n.stream_id = 'notification/' ||"
    " substr(c.stream_id, 7) AND n.event_type = 'notification.recorded.v1')";

/// SQL counting the notification streams with more than one event (each records once).
inline constexpr const char* notified_twice_sql =
    "SELECT count(*) FROM (SELECT stream_id FROM events WHERE stream_id LIKE 'notification/%'"
    " GROUP BY stream_id HAVING count(*) > 1) x";

} // namespace ordermesh::testing
