// A property test of the order saga: the pure saga core (decide, apply, saga_decide, saga_resume)
// runs against the pure inventory core and a pure model of the payment entity and its PSP, over a
// simulated network that delays, drops, duplicates and reorders messages, with transient
// inventory failures, lost and late answers, order entities that crash and recover from their
// recorded events, and inventory entities that crash (forgetting what they only held in memory)
// and forget message ids past a (scaled-down) dedupe window, as the runtime does.
// Orders take the current path (take every line's stock, then one sale: authorize and capture in
// one PSP call under one key per order; the order's first sell is carried out by a payment that
// has not read its journal, and may be delivered again after the outcome was recorded), and some
// start from a journal the older binary wrote mid-saga (reserved, payment requested, authorized,
// committing, confirmed before capture), with the inventory and PSP as that binary left them:
// they must finish on the older path; and some from a sale the binary before this one confirmed
// naming its SKUs and left awaiting its notification's answer (its notification recorded or not,
// a late answer maybe still on its way): finished at once, the settlement runner settles and
// notifies it.
// Every run is driven by one seed. After each run:
// - every order has exactly one terminal event and its saga completed;
// - stock is conserved: on hand = restocked - what confirmed orders bought; nothing stays held;
// - nothing is captured (or sold) unless every line of the order is committed at that moment;
// - no hold outlives its order: authorizations = captures + voids, and a cancelled or rejected
//   order keeps no money; a sale charges at most once, a confirmed order's sale is kept and a
//   cancelled or rejected order's is refunded or never carried out;
// - an order on the current path records no event per taken line and none for its first sale:
//   the inventory made each take durable and answers a repeat the same, and the sale's one key is
//   the PSP's and the payment's; the sale is the effect of the takes' answers (after a crash, which
//   may fall between the answers and the sale, the order takes again and sells again under the
//   same key), and only a failed first sale is recorded (sale_requested{1} with its failure);
// - a sell is marked first (the payment calls the PSP without reading its stream) only if no
//   sell of the order was ever sent: a first sell resent after the PSP forgot its key would
//   charge again;
// Some orders start from a journal the binary before this one wrote: sale_requested{1} recorded,
// the sale maybe charged, its outcome not recorded.
// - an inventory keeps no confirmed sale's committed quantity (a sale confirmed with its SKUs is
//   settled by a model of the settlement runner, which reads the order journals, sends one
//   settle_orders per SKU, keeps what was not answered for its next round and sometimes restarts
//   forgetting what it settled; a sale confirmed without them ends only once every line's settle
//   was answered: a lost settle is sent again), nor an older-path order's unless its settle was
//   lost on the way, and no return or release reaches an inventory for an order it settled
//   (settling never loses a unit a compensation needs);
// - every sale confirmed naming its SKUs (straight from placed) ends at its confirmation (one
//   confirmed after a recorded sale request notifies itself too and ends once answered) and is
//   notified exactly once in effect (one notification.recorded, confirmed) by the settlement
//   runner's model, which sends one record_notification per such sale to the pure notification core
//   and counts it only once answered; no order is notified with another status than its terminal
//   one (the saga's own notifications of rejected, cancelled and older-path orders are not awaited:
//   at most one).
// On failure the seed and the trace of the run are printed.
#define BOOST_TEST_MODULE order_saga_property
#include <boost/test/unit_test.hpp>

#include "actors/common/overloaded.hpp"
#include "actors/inventory/state.hpp"
#include "actors/notification/state.hpp"
#include "actors/order/state.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace ordermesh::actors;
namespace inv = ordermesh::actors::inventory;
namespace nfy = ordermesh::actors::notification;
namespace ord = ordermesh::actors::order;

namespace {

constexpr int seeds = 10'000;
/// Steps with faults; after them the network only delays, so that every saga can finish.
constexpr int chaos_steps = 250;
constexpr int step_limit = 20'000;
/// The inventory's dedupe window and id cap, scaled down from 24 h and 100 000 ids so that the
/// saga's resends (stall period 2 s here) outlive them.
constexpr int64_t dedupe_window_ms = 1500;
constexpr size_t max_remembered_messages = 8;

ord::saga_policy test_policy() {
  ord::saga_policy p;
  p.max_payment_attempts = 3;
  p.step_timeout_ms = 1000;
  p.retry_base_ms = 100;
  p.retry_max_ms = 400;
  p.reservation_ttl_ms = 2500; // short: commits race the expiry
  p.max_commit_rounds = 3;     // small: undecided commits give up and compensate
  return p;
}

/// What a pure model of the payment entity and its PSP knows about one order.
struct payment_model {
  /// The PSP's answer per attempt (its idempotency key): the same on every resend.
  std::map<int32_t, ord::payment_outcome> answers;
  /// Authorizations held at the PSP and not yet captured or voided.
  std::set<int32_t> open_holds;
  int authorizations = 0;
  int captures = 0;
  int voids = 0;
  int refunds = 0;
  /// A void was asked for: holds that appear later are voided when they appear (item 6's
  /// contract: late results count).
  bool voided = false;

  // -- a sale: one key per order -----------------------------------------------------------------
  /// What the PSP did with the order's sale key.
  enum class psp_sale { none, charged, declined, blocked, refunded };
  psp_sale psp = psp_sale::none;
  /// Sales carried out (charges) under the key: more than one is a double charge.
  int charges = 0;
  /// What the payment entity recorded (sold, sale_declined, sale_reversed).
  enum class recorded_sale { none, sold, declined, reversed };
  recorded_sale recorded = recorded_sale::none;
};

struct order_entity {
  ord::order_state state;
  std::vector<ord::event> journal;
  /// Bumped by a crash: timers and answers addressed to an earlier incarnation are lost.
  int incarnation = 0;
  /// This incarnation decided a record_stock_taken: the runtime answers a later one (its message
  /// id, <order>/taken, is the same for every round of takes) with that outcome, deciding nothing.
  bool taken_handled = false;
  int64_t last_progress_ms = 0;
};

struct inventory_entity {
  inv::inventory_state state;
  int64_t restocked = 0;
  /// The answer given to each message id, given again to a redelivery.
  struct answer {
    bool accepted = false;
    uint8_t code = 0;
    /// Accepted with no event or with `reserved` first: what the order actor reads as "held".
    bool reserved = false;
    /// Recorded events: remembered across a crash (rebuilt from the events' message ids).
    bool recorded = false;
  };
  std::map<std::string, answer> handled;
  /// (decided at, message id) of each entry of `handled`, oldest first: the runtime forgets ids
  /// past its dedupe window or its id cap (runtime::dedupe_window,
  /// runtime::max_remembered_messages), here scaled down so that resends outlive them.
  std::deque<std::pair<int64_t, std::string>> handled_order;
  /// Bumped by a crash: answers not yet sent by an earlier incarnation become errors.
  int incarnation = 0;
};

struct pending {
  int64_t at_ms = 0;
  /// May be lost in the chaos phase (a command or an answer on the way; not a timer).
  bool droppable = true;
  /// May arrive twice in the chaos phase (a command; an answer to a request arrives at most once).
  bool duplicable = true;
  std::string label;
  std::function<void()> deliver;
};

nfy::terminal_status notification_status_of(ord::order_status s) {
  switch (s) {
    case ord::order_status::rejected:
      return nfy::terminal_status::rejected;
    case ord::order_status::cancelled:
      return nfy::terminal_status::cancelled;
    default:
      return nfy::terminal_status::confirmed;
  }
}

class simulation {
public:
  simulation(uint64_t seed, bool tracing) : rng_(seed), tracing_(tracing) {}

  /// Runs one seed; returns the first violated property, or "" if all hold.
  std::string run() {
    setup();
    int steps = 0;
    while (!finished()) {
      if (++steps > step_limit) {
        return "the sagas did not finish within " + std::to_string(step_limit) + " steps";
      }
      chaos_ = steps < chaos_steps;
      step();
      if (!violation_.empty()) {
        return violation_;
      }
    }
    // Late messages still in flight must change nothing; then every held unit expires.
    while (!network_.empty()) {
      step();
    }
    now_ms_ += policy_.reservation_ttl_ms + 1;
    for (auto& [sku, _] : inventory_) {
      expire(sku);
    }
    return violation_.empty() ? check_end() : violation_;
  }

  const std::vector<std::string>& trace() const { return trace_; }

private:
  // -- randomness ---------------------------------------------------------------------------------

  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  bool chance(double p) { return std::uniform_real_distribution<double>{0.0, 1.0}(rng_) < p; }

  void note(const std::string& line) {
    if (tracing_) {
      trace_.push_back("t=" + std::to_string(now_ms_) + " " + line);
    }
  }

  // -- the network --------------------------------------------------------------------------------

  enum class kind { command, answer, timer };

  void send(std::string label, std::function<void()> deliver, kind k = kind::command,
            int64_t delay_ms = -1) {
    if (delay_ms < 0) {
      // Mostly quick; sometimes very late (past step timeouts and reservation TTLs).
      delay_ms = chance(0.1) ? 1 + pick(3000) : 1 + pick(60);
    }
    network_.push_back(pending{now_ms_ + delay_ms, k != kind::timer, k == kind::command,
                               std::move(label), std::move(deliver)});
  }

  void step() {
    if (chaos_ && chance(0.02) && !orders_.empty()) {
      crash(order_ids_[static_cast<size_t>(pick(static_cast<int>(order_ids_.size())))]);
      return;
    }
    if (chaos_ && chance(0.01)) {
      crash_inventory(pick(2) == 0 ? "a" : "b");
      return;
    }
    std::vector<size_t> due;
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < network_.size(); ++i) {
      if (network_[i].at_ms <= now_ms_) {
        due.push_back(i);
      }
      next = std::min(next, network_[i].at_ms);
    }
    if (due.empty()) {
      // Nothing due: time moves on to the next message or the next tick of the entities.
      auto tick = (now_ms_ / tick_ms + 1) * tick_ms;
      now_ms_ = std::min(next, tick);
      if (now_ms_ == tick) {
        on_tick();
      }
      return;
    }
    auto i = due[static_cast<size_t>(pick(static_cast<int>(due.size())))];
    auto msg = std::move(network_[i]);
    network_.erase(network_.begin() + static_cast<std::ptrdiff_t>(i));
    if (chaos_ && msg.droppable && chance(0.05)) {
      note("drop " + msg.label);
      if (auto at = msg.label.find("/settle/"); at != std::string::npos) {
        settle_lost_.insert(msg.label.substr(0, at)); // "inventory <sku> <- <order>"
      }
      return;
    }
    if (chaos_ && msg.duplicable && chance(0.05)) {
      note("duplicate " + msg.label);
      send(msg.label, msg.deliver);
    }
    note("deliver " + msg.label);
    msg.deliver();
  }

  static constexpr int64_t tick_ms = 100;

  /// The runtime's tick: stalled sagas resend (no commit for two step timeouts), and the
  /// inventory expires reservations past their deadline.
  void on_tick() {
    for (const auto& oid : order_ids_) {
      auto& o = orders_[oid];
      if (o.state.status != ord::order_status::none && !o.state.saga_completed &&
          now_ms_ - o.last_progress_ms > 2 * policy_.step_timeout_ms) {
        note("stalled " + oid);
        resume(oid);
      }
    }
    if (now_ms_ % 500 == 0) {
      for (auto& [sku, _] : inventory_) {
        expire(sku);
      }
    }
    if (now_ms_ % 300 == 0) {
      settlement_round();
    }
  }

  // -- setup and the end ------------------------------------------------------------------------

  void setup() {
    for (const auto* sku : {"a", "b"}) {
      auto& e = inventory_[sku];
      auto qty = 1 + pick(3);
      e.state = inv::apply(std::move(e.state), inv::restocked{qty});
      e.restocked = qty;
    }
    auto orders = 2 + pick(2);
    for (int i = 0; i < orders; ++i) {
      auto oid = "o" + std::to_string(i);
      std::vector<ord::order_line> lines;
      if (pick(3) != 0) {
        lines.push_back({"a", 1 + pick(2)});
      }
      if (lines.empty() || pick(2) == 0) {
        lines.push_back({"b", 1 + pick(2)});
      }
      order_ids_.push_back(oid);
      orders_[oid];
      payments_[oid];
      auto cmd = ord::place_order{oid, "c", lines, {"tok", 1000}};
      // A sale the binary before this one confirmed naming its SKUs, awaiting its notification.
      if (pick(12) == 0 && confirmed_awaiting_notification(oid, cmd)) {
        continue;
      }
      // Half of the orders start from a journal the older binary left (stages 1 to 6).
      if (auto stage = pick(12); stage == 7 && recorded_by_previous_binary(oid, cmd)) {
        send(
            "wake " + oid, [=] { crash(oid); }, kind::timer, pick(50));
        continue;
      }
      if (auto stage = pick(12);
          stage <= 6 && stage > 0 && recorded_by_older_binary(oid, cmd, stage)) {
        // The node starts and wakes the unfinished order (resume_unfinished_orders).
        send(
            "wake " + oid, [=] { crash(oid); }, kind::timer, pick(50));
        continue;
      }
      // The client is answered only once the order is recorded: its place is never lost, and
      // sometimes sent twice.
      current_path_.insert(oid);
      send(
          "place " + oid, [=] { to_order(oid, cmd); }, kind::timer, pick(50));
      if (pick(4) == 0) {
        send(
            "place again " + oid, [=] { to_order(oid, cmd); }, kind::timer, pick(2000));
      }
    }
  }

  /// Writes the journal the older binary (reserve, authorize, commit, confirm, capture) left for
  /// `cmd` at `stage` (1: placed, its reservations held; 2: the first line reserved; 3: every
  /// line reserved, payment requested; 4: authorized, commit round 1 requested; 5: every line
  /// committed, confirmed, not captured; 6: authorized, one line committed and one still held),
  /// with the inventory and the PSP as it left them. False (nothing written) if the stock does not
  /// allow it.
  bool recorded_by_older_binary(const std::string& oid, const ord::place_order& cmd, int stage) {
    for (const auto& line : cmd.lines) {
      if (inventory_[line.sku].state.available() < line.qty) {
        return false;
      }
    }
    if (cmd.lines.size() < 2 && (stage == 2 || stage == 6)) {
      // One line: reserving it recorded the payment request in the same append.
      stage = stage == 2 ? 3 : 4;
    }
    std::vector<ord::event> events{
        ord::order_placed{oid, cmd.customer_id, cmd.lines, "tok", cmd.payment.amount_cents}};
    for (size_t i = 0; i < cmd.lines.size(); ++i) {
      const auto& line = cmd.lines[i];
      auto& stock = inventory_[line.sku].state;
      stock = inv::apply(std::move(stock),
                         inv::reserved{oid, line.qty, policy_.reservation_ttl_ms * 1000});
      if (stage >= 3 || (stage == 2 && i == 0)) {
        events.emplace_back(ord::stock_reserved{line.sku});
      }
    }
    if (stage >= 3) {
      events.emplace_back(ord::payment_requested{1});
    }
    if (stage >= 4) {
      auto& p = payments_[oid];
      p.answers[1] = ord::payment_outcome::authorized;
      p.authorizations = 1;
      p.open_holds.insert(1);
      events.emplace_back(ord::payment_authorized{"psp"});
      events.emplace_back(ord::stock_commit_requested{1});
    }
    if (stage >= 5) {
      for (size_t i = 0; i < cmd.lines.size(); ++i) {
        if (stage == 6 && i > 0) {
          break;
        }
        auto& stock = inventory_[cmd.lines[i].sku].state;
        stock = inv::apply(std::move(stock), inv::committed{oid, cmd.lines[i].qty});
        events.emplace_back(ord::stock_committed{cmd.lines[i].sku});
      }
    }
    if (stage == 5) {
      events.emplace_back(ord::order_confirmed{});
    }
    orders_[oid].journal = events;
    note(oid + " recorded by the older binary up to stage " + std::to_string(stage));
    return true;
  }

  /// Whether `cmd`'s lines fit the stock left (the previous binaries' journals take it).
  bool stock_allows(const ord::place_order& cmd) {
    for (const auto& line : cmd.lines) {
      if (inventory_[line.sku].state.available() < line.qty) {
        return false;
      }
    }
    return true;
  }

  /// Writes the journal the binary before this one left for `cmd`: every line taken, then
  /// sale_requested{1} recorded before its first sale; the sale not sent, charged with its answer
  /// recorded by the payment, or charged with the answer lost. False if the stock does not allow
  /// it.
  bool recorded_by_previous_binary(const std::string& oid, const ord::place_order& cmd) {
    if (!stock_allows(cmd)) {
      return false;
    }
    for (const auto& line : cmd.lines) {
      auto& stock = inventory_[line.sku].state;
      auto d = inv::decide(stock, inv::commit{oid, line.qty}, decide_context{now_ms_ * 1000, 0.0});
      stock = inv::apply_all(std::move(stock), d.events);
    }
    orders_[oid].journal = {
        ord::order_placed{oid, cmd.customer_id, cmd.lines, "tok", cmd.payment.amount_cents},
        ord::sale_requested{1}};
    auto& p = payments_[oid];
    auto sold = pick(3);
    if (sold > 0) {
      ++sells_sent_[oid];
      p.psp = psp_sale::charged;
      p.charges = 1;
      p.recorded = sold == 1 ? recorded_sale::sold : recorded_sale::none;
    }
    note(oid + " recorded by the previous binary up to sale_requested{1}, sold " +
         std::to_string(sold));
    return true;
  }

  /// Writes what the binary before this one left of a sale it confirmed naming its SKUs whose
  /// notification had not answered: placed, sale_requested{1}, confirmed{skus}; every line taken,
  /// the sale charged; the notification recorded or not, and its answer maybe still on its way to
  /// the order. False (nothing written) if the stock does not allow it.
  bool confirmed_awaiting_notification(const std::string& oid, const ord::place_order& cmd) {
    if (!stock_allows(cmd)) {
      return false;
    }
    std::vector<std::string> skus;
    for (const auto& line : cmd.lines) {
      auto& stock = inventory_[line.sku].state;
      stock = inv::apply(std::move(stock), inv::committed{oid, line.qty});
      skus.push_back(line.sku);
    }
    auto& p = payments_[oid];
    ++sells_sent_[oid];
    p.psp = payment_model::psp_sale::charged;
    p.charges = 1;
    p.recorded = payment_model::recorded_sale::sold;
    auto& o = orders_[oid];
    o.journal = {
        ord::order_placed{oid, cmd.customer_id, cmd.lines, "tok", cmd.payment.amount_cents},
        ord::sale_requested{1}, ord::order_confirmed{skus}};
    // Its entity is not running: its state is what its journal says.
    o.state = ord::apply_all(ord::order_state{}, o.journal);
    const bool notified = pick(2) == 0;
    if (notified) {
      notify_core(oid, nfy::terminal_status::confirmed);
    }
    // The previous binary's runner may have saved its checkpoint past it (after the settles
    // alone): this runner never reads it. The node starts and wakes it (resume_unfinished_orders:
    // a sale request, no payment_captured): it notifies itself.
    if (pick(2) == 0) {
      behind_old_checkpoint_.insert(oid);
    }
    send(
        "wake " + oid, [=] { crash(oid); }, kind::timer, pick(50));
    if (notified && pick(2) == 0) {
      // The old notification's answer (it was recorded), still on its way.
      send("late notified answer " + oid, [=] { to_order(oid, ord::record_notified{}); });
    }
    note(oid + " confirmed naming its SKUs by the binary before, awaiting its notification");
    return true;
  }

  bool finished() const {
    for (const auto& [oid, o] : orders_) {
      if (!o.state.saga_completed) {
        return false;
      }
    }
    return settlement_caught_up();
  }

  // -- the notification entity: the real pure core; it records what it decides ------------------

  /// Decides `status` for `oid`'s notification; whether it was accepted (a conflicting status is
  /// a violation: an order ends once).
  bool notify_core(const std::string& oid, nfy::terminal_status status) {
    auto& n = notifications_[oid];
    auto d = nfy::decide(n.state, nfy::command{nfy::record_notification{oid, status}}, {});
    if (!d.accepted()) {
      violation_ = oid + " notified with two statuses: " + d.rejected->reason;
      return false;
    }
    for (const auto& ev : d.events) {
      n.state = nfy::apply(std::move(n.state), ev);
      ++n.recorded;
    }
    return true;
  }

  /// record_notification over the network: the command or its answer may be lost.
  void to_notification(const std::string& oid, nfy::terminal_status status,
                       std::function<void()> on_answer) {
    auto answered = std::make_shared<bool>(false);
    send("notify " + oid, [=] {
      if (notify_core(oid, status)) {
        send(
            "notify answer " + oid,
            [=] {
              if (!std::exchange(*answered, true)) {
                on_answer();
              }
            },
            kind::answer);
      }
    });
  }

  // -- the settlement runner: settles confirmed sales from the order journals --------------------

  /// "<sku>/<order>" of every sale confirmed with its SKUs: what the runner must settle.
  std::set<std::string> confirmed_sale_lines() const {
    std::set<std::string> lines;
    for (const auto& [oid, o] : orders_) {
      for (const auto& ev : o.journal) {
        if (const auto* confirmed = std::get_if<ord::order_confirmed>(&ev)) {
          for (const auto& sku : confirmed->skus) {
            lines.insert(sku + "/" + oid);
          }
        }
      }
    }
    return lines;
  }

  /// Every order confirmed naming its SKUs: what the runner must notify (but those the previous
  /// binary's runner passed already: its checkpoint is behind them for good).
  std::set<std::string> confirmed_sales() const {
    std::set<std::string> sales;
    for (const auto& line : confirmed_sale_lines()) {
      auto oid = line.substr(line.find('/') + 1);
      if (behind_old_checkpoint_.count(oid) == 0) {
        sales.insert(oid);
      }
    }
    return sales;
  }

  bool settlement_caught_up() const {
    auto lines = confirmed_sale_lines();
    auto sales = confirmed_sales();
    return std::includes(settlement_done_.begin(), settlement_done_.end(), lines.begin(),
                         lines.end()) &&
           std::includes(notification_done_.begin(), notification_done_.end(), sales.begin(),
                         sales.end());
  }

  /// One round: every confirmed sale line not settled yet (after its checkpoint), grouped by SKU,
  /// one settle_orders per SKU, and every confirmed sale not notified yet, one
  /// record_notification each; answered ones count as done (its checkpoint), the others (failed,
  /// or unanswered by now: timed out) go again. A restart forgets what was settled and notified
  /// since the start: settled and notified again, idempotently.
  void settlement_round() {
    if (chaos_ && chance(0.05)) {
      note("restart the settlement runner");
      settlement_done_.clear();
      notification_done_.clear();
    }
    for (const auto& oid : confirmed_sales()) {
      if (notification_done_.count(oid) == 0) {
        to_notification(oid, nfy::terminal_status::confirmed,
                        [=] { notification_done_.insert(oid); });
      }
    }
    std::map<std::string, std::vector<std::string>> by_sku;
    for (const auto& line : confirmed_sale_lines()) {
      if (settlement_done_.count(line) == 0) {
        auto slash = line.find('/');
        by_sku[line.substr(0, slash)].push_back(line.substr(slash + 1));
      }
    }
    ++settlement_rounds_;
    for (auto& [sku, ids] : by_sku) {
      auto round = settlement_rounds_;
      to_inventory(sku, "settlement/" + std::to_string(round) + "/" + sku, inv::settle_orders{ids},
                   [=, sku = sku](bool ok, bool accepted, uint8_t, bool, bool) {
                     if (ok && !accepted) {
                       violation_ = "inventory " + sku + " refused to settle confirmed sales";
                     }
                     if (ok && accepted) {
                       for (const auto& id : ids) {
                         settlement_done_.insert(sku + "/" + id);
                       }
                     }
                   });
    }
  }

  std::string check_end() {
    std::map<std::string, int64_t> sold;
    for (const auto& oid : order_ids_) {
      const auto& o = orders_[oid];
      const auto& p = payments_[oid];
      int terminal = 0;
      for (const auto& ev : o.journal) {
        terminal += std::holds_alternative<ord::order_confirmed>(ev) +
                    std::holds_alternative<ord::order_rejected>(ev) +
                    std::holds_alternative<ord::order_cancelled>(ev);
      }
      if (terminal != 1) {
        return oid + " has " + std::to_string(terminal) + " terminal events";
      }
      if (!o.state.saga_completed) {
        return oid + " did not complete its saga";
      }
      const auto& n = notifications_[oid];
      if (n.recorded > 1) {
        return oid + " was notified " + std::to_string(n.recorded) + " times";
      }
      if (o.state.settled_by_runner &&
          (n.recorded != 1 || n.state.status != nfy::terminal_status::confirmed)) {
        return oid + " is a sale confirmed naming its SKUs, notified " +
               std::to_string(n.recorded) + " times";
      }
      if (n.recorded == 1 && n.state.status != notification_status_of(o.state.status)) {
        return oid + " was notified with another status than its own";
      }
      auto line_events = std::count_if(o.journal.begin(), o.journal.end(), [](const auto& ev) {
        return std::holds_alternative<ord::stock_committed>(ev);
      });
      if (current_path_.count(oid) != 0 && line_events != 0) {
        return oid + " recorded " + std::to_string(line_events) +
               " stock_committed events: one per taken line";
      }
      if (p.charges > 1) {
        return oid + " was charged " + std::to_string(p.charges) + " times";
      }
      if (o.state.sale) {
        using sale = payment_model::psp_sale;
        if (o.state.status == ord::order_status::confirmed) {
          if (p.psp != sale::charged || p.authorizations != 0) {
            return oid + " is confirmed without its sale kept";
          }
          for (const auto& line : o.state.lines) {
            sold[line.sku] += line.qty;
          }
        } else if (p.psp == sale::charged) {
          return oid + " is cancelled or rejected but keeps the sale's money";
        }
        continue;
      }
      if (p.charges > 0) {
        return oid + " sold without recording a sale";
      }
      if (p.authorizations != p.captures + p.voids || !p.open_holds.empty()) {
        return oid + ": " + std::to_string(p.authorizations) + " authorizations, " +
               std::to_string(p.captures) + " captures, " + std::to_string(p.voids) + " voids";
      }
      if (o.state.status == ord::order_status::confirmed) {
        if (p.captures != 1 || p.refunds != 0) {
          return oid + " is confirmed with " + std::to_string(p.captures) + " captures and " +
                 std::to_string(p.refunds) + " refunds";
        }
        for (const auto& line : o.state.lines) {
          sold[line.sku] += line.qty;
        }
      } else if (p.captures != p.refunds) {
        return oid + " is cancelled or rejected but keeps money";
      }
    }
    for (const auto& [sku, e] : inventory_) {
      for (const auto& [oid, qty] : e.state.committed_qty) {
        // A sale ends only once its settles were answered; the older path still settles after
        // its end, once, and may lose it.
        const auto& o = orders_[oid].state;
        if (o.status == ord::order_status::confirmed &&
            (o.sale || settle_lost_.count("inventory " + sku + " <- " + oid) == 0)) {
          return "inventory " + sku + " keeps the committed quantity of confirmed order " + oid;
        }
      }
      if (e.state.on_hand != e.restocked - sold[sku] || e.state.reserved_qty != 0) {
        return "stock of " + sku + " not conserved: on hand " + std::to_string(e.state.on_hand) +
               ", reserved " + std::to_string(e.state.reserved_qty) + ", restocked " +
               std::to_string(e.restocked) + ", sold " + std::to_string(sold[sku]);
      }
    }
    return "";
  }

  // -- the order entity (as the runtime runs it) --------------------------------------------------

  void to_order(const std::string& oid, const ord::command& cmd) {
    auto& o = orders_[oid];
    decide_context ctx{now_ms_ * 1000, std::uniform_real_distribution<double>{0.0, 1.0}(rng_)};
    auto d = ord::decide(o.state, cmd, ctx, policy_);
    if (d.accepted() && d.events.empty()) {
      auto effects = ord::saga_effects(o.state, cmd, policy_); // the command's effects
      if (!effects.empty() && chaos_ && chance(0.05)) {
        // Nothing recorded (e.g. every line taken, the sale not yet sent): it recovers as it was.
        note("crash " + oid + " before sending its command's effects");
        crash(oid);
        return;
      }
      execute(oid, effects);
    }
    if (!d.accepted() || d.events.empty()) {
      return;
    }
    std::vector<std::vector<ord::saga_action>> reactions;
    for (const auto& ev : d.events) {
      o.state = ord::apply(std::move(o.state), ev);
      o.journal.push_back(ev);
      reactions.push_back(ord::saga_decide(o.state, ev, policy_, ctx));
    }
    o.last_progress_ms = now_ms_;
    if (chaos_ && chance(0.03)) {
      note("crash " + oid + " after its commit, before sending");
      for (const auto& actions : reactions) {
        for (const auto& a : actions) {
          if (const auto* settle = std::get_if<ord::settle_stock>(&a)) {
            settle_lost_.insert("inventory " + settle->sku + " <- " + oid);
          }
        }
      }
      crash(oid);
      return;
    }
    for (const auto& actions : reactions) {
      execute(oid, actions);
    }
    execute(oid, ord::saga_effects(o.state, cmd, policy_));
  }

  void crash(const std::string& oid) {
    auto& o = orders_[oid];
    ++o.incarnation;
    o.taken_handled = false;
    note("restart " + oid + " from " + std::to_string(o.journal.size()) + " events");
    o.state = ord::apply_all(ord::order_state{}, o.journal);
    resume(oid);
  }

  void resume(const std::string& oid) {
    auto& o = orders_[oid];
    decide_context ctx{now_ms_ * 1000, 0.5};
    execute(oid, ord::saga_resume(o.state, policy_, ctx));
    o.last_progress_ms = now_ms_;
  }

  /// Sends what the saga asks for, like order_traits::execute; answers to requests and timers
  /// reach only the incarnation that sent them, reports to the order go through its host.
  void execute(const std::string& oid, const std::vector<ord::saga_action>& actions) {
    auto incarnation = orders_[oid].incarnation;
    auto alive = [this, oid, incarnation] { return orders_[oid].incarnation == incarnation; };
    auto compensations = std::make_shared<int>(0);
    for (const auto& a : actions) {
      *compensations += std::holds_alternative<ord::release_stock>(a) ||
                        std::holds_alternative<ord::return_stock>(a) ||
                        std::holds_alternative<ord::void_or_refund_payment>(a);
      if (const auto* r = std::get_if<ord::reverse_sale_payment>(&a)) {
        *compensations += 1 + static_cast<int>(r->then_return.size());
      }
    }
    auto compensation_done = [=] {
      if (alive() && --*compensations == 0) {
        send("compensated " + oid, [=] { to_order(oid, ord::record_compensated{}); });
      }
    };
    // The takes of this batch are recorded together, once all are answered.
    auto takes = std::make_shared<ord::take_tally>(actions);
    const auto& s = orders_[oid].state;
    // A confirmed sale ends once every line's inventory answered its settle.
    auto settles_left = std::make_shared<int>(static_cast<int>(
        std::count_if(actions.begin(), actions.end(), [](const ord::saga_action& a) {
          return std::holds_alternative<ord::settle_stock>(a);
        })));
    auto settle_done = [=, report = s.sale && !s.settled_by_runner && !s.saga_completed] {
      if (alive() && --*settles_left == 0 && report) {
        send("settled " + oid, [=] { to_order(oid, ord::record_stock_settled{}); });
      }
    };
    if (*compensations == 0 && !actions.empty() && !s.saga_completed &&
        (s.status == ord::order_status::rejected || s.status == ord::order_status::cancelled)) {
      *compensations = 1;
      compensation_done();
    }
    for (const auto& action : actions) {
      std::visit(
          overloaded{
              [&](const ord::reserve_stock& a) {
                auto sku = a.sku;
                to_inventory(sku, oid + "/reserve/" + sku, inv::reserve{oid, a.qty, a.ttl_ms},
                             [=](bool ok, bool accepted, uint8_t, bool reserved, bool) {
                               if (!ok || !alive()) {
                                 return; // errors are dropped: the saga's timer covers them
                               }
                               bool held = accepted && reserved;
                               send("reservation " + sku + " of " + oid, [=] {
                                 to_order(oid, ord::record_reservation{sku, held, "r"});
                               });
                             });
              },
              [&](const ord::release_stock& a) {
                to_inventory(a.sku, oid + "/release/" + a.sku, inv::release{oid},
                             [=](bool ok, bool, uint8_t, bool, bool) {
                               if (ok) {
                                 compensation_done();
                               }
                             });
              },
              [&](const ord::return_stock& a) {
                to_inventory(a.sku, oid + "/return/" + a.sku, inv::return_committed{oid, a.qty},
                             [=](bool ok, bool, uint8_t, bool, bool) {
                               if (ok) {
                                 compensation_done();
                               }
                             });
              },
              [&](const ord::commit_stock& a) {
                auto sku = a.sku;
                auto attempt = a.attempt;
                to_inventory(
                    sku, oid + "/commit/" + sku, inv::commit{oid},
                    [=](bool ok, bool accepted, uint8_t, bool, bool) {
                      if (!alive()) {
                        return;
                      }
                      auto outcome = !ok        ? ord::commit_outcome::failed
                                     : accepted ? ord::commit_outcome::committed
                                                : ord::commit_outcome::refused;
                      send("commit answer " + sku + " of " + oid, [=] {
                        to_order(oid, ord::record_stock_commit{sku, attempt, outcome, "r"});
                      });
                    });
              },
              [&](const ord::take_stock& a) {
                auto sku = a.sku;
                to_inventory(
                    sku, oid + "/take/" + sku, inv::commit{oid, a.qty},
                    [=](bool ok, bool accepted, uint8_t, bool taken, bool now) {
                      if (!ok || !alive()) {
                        return; // errors are dropped: the reservation timer covers them
                      }
                      auto outcome = accepted && taken ? ord::commit_outcome::committed
                                                       : ord::commit_outcome::refused;
                      auto decided =
                          takes->add(ord::record_stock_commit{sku, 0, outcome, "r"}, now);
                      if (!decided) {
                        return;
                      }
                      auto all_taken = std::holds_alternative<ord::record_stock_taken>(*decided);
                      send("take answer " + sku + " of " + oid, [=] {
                        auto& o = orders_[oid];
                        if (o.incarnation != incarnation) {
                          return; // sent to itself (tell_self): lost with the incarnation
                        }
                        if (all_taken) {
                          if (o.taken_handled) {
                            return; // deduplicated by its message id, <order>/taken
                          }
                          o.taken_handled = true;
                        }
                        to_order(oid, *decided);
                      });
                    },
                    now_ms_ + a.deadline_ms);
              },
              [&](const ord::sell_payment& a) {
                auto attempt = a.attempt;
                auto first = a.first;
                if (first && sells_sent_[oid] > 0) {
                  violation_ = oid + "'s sell marked first after " +
                               std::to_string(sells_sent_[oid]) + " sells were sent";
                }
                ++sells_sent_[oid];
                send("sell " + oid + " #" + std::to_string(attempt) + (first ? " first" : ""),
                     [=] { payment_sell(oid, attempt, first); });
              },
              [&](const ord::reverse_sale_payment& a) {
                auto answered = std::make_shared<bool>(false);
                auto then_return = a.then_return;
                send("reverse " + oid, [=] {
                  auto closed = payment_reverse(oid);
                  send(
                      "reverse answer " + oid,
                      [=] {
                        if (!closed || std::exchange(*answered, true) || !alive()) {
                          return;
                        }
                        compensation_done();
                        for (const auto& r : then_return) {
                          to_inventory(r.sku, oid + "/return/" + r.sku,
                                       inv::return_committed{oid, r.qty},
                                       [=](bool ok, bool, uint8_t, bool, bool) {
                                         if (ok) {
                                           compensation_done();
                                         }
                                       });
                        }
                      },
                      kind::answer);
                });
              },
              [&](const ord::authorize_payment& a) {
                auto attempt = a.attempt;
                send("authorize " + oid + " #" + std::to_string(attempt),
                     [=] { authorize(oid, attempt); });
              },
              [&](const ord::capture_payment&) { send("capture " + oid, [=] { capture(oid); }); },
              [&](const ord::void_or_refund_payment&) {
                auto answered = std::make_shared<bool>(false);
                send("void " + oid, [=] {
                  void_or_refund(oid);
                  auto once = [=] {
                    if (!std::exchange(*answered, true)) {
                      compensation_done();
                    }
                  };
                  send("void answer " + oid, once, kind::answer);
                });
              },
              [&](const ord::settle_stock& a) {
                to_inventory(a.sku, oid + "/settle/" + a.sku, inv::settle{oid},
                             [=](bool ok, bool, uint8_t, bool, bool) {
                               if (ok) {
                                 settle_done();
                               }
                             });
              },
              [&](const ord::notify& a) {
                // Idempotent by the order id. Only a sale confirmed after a recorded sale request
                // waits for the answer (it notifies itself: the previous binary's runner may have
                // passed it); a late or repeated answer records nothing.
                to_notification(oid, notification_status_of(a.status),
                                [=] { to_order(oid, ord::record_notified{}); });
              },
              [&](const ord::schedule_timeout& a) {
                auto t = ord::record_timeout{a.step, a.attempt};
                send(
                    "timer " + oid + " step " + std::to_string(static_cast<int>(a.step)) + " #" +
                        std::to_string(a.attempt),
                    [=] {
                      if (alive()) {
                        to_order(oid, t);
                      }
                    },
                    kind::timer, a.delay_ms);
              },
          },
          action);
    }
  }

  // -- the inventory entity: the real pure core, deduplication by message id ----------------------

  /// on_answer(ok, accepted, code, first event is `reserved`); ok = false: an error, no decision
  /// known to the sender (overloaded, journal unavailable, outcome unknown, timeout).
  void to_inventory(const std::string& sku, const std::string& message_id, inv::command cmd,
                    std::function<void(bool, bool, uint8_t, bool, bool)> answer_once,
                    int64_t deadline_ms = 0) {
    // A request gets at most one answer, even if the request itself arrives twice.
    auto answered = std::make_shared<bool>(false);
    auto on_answer = [=](bool ok, bool accepted, uint8_t code, bool reserved, bool now = false) {
      if (!std::exchange(*answered, true)) {
        answer_once(ok, accepted, code, reserved, now);
      }
    };
    send("inventory " + sku + " <- " + message_id, [=] {
      if (chaos_ && chance(0.1)) {
        note("inventory " + sku + " overloaded");
        if (std::holds_alternative<inv::settle>(cmd)) {
          settle_lost_.insert("inventory " + sku + " <- " + oid_of(cmd));
        }
        send(
            "error answer " + message_id, [=] { on_answer(false, false, 0, false); }, kind::answer);
        return;
      }
      if (std::holds_alternative<inv::return_committed>(cmd) ||
          std::holds_alternative<inv::release>(cmd)) {
        if (settled_.count(sku + "/" + oid_of(cmd)) != 0) {
          violation_ = "a return or release of " + oid_of(cmd) + " reached inventory " + sku +
                       " after it settled the order";
        }
      }
      if (deadline_ms != 0 && now_ms_ > deadline_ms) {
        // The runtime drops a command past its deadline unexecuted.
        send(
            "deadline answer " + message_id, [=] { on_answer(false, false, 0, false); },
            kind::answer);
        return;
      }
      auto& e = inventory_[sku];
      bool ok = true;
      bool accepted = false;
      uint8_t code = 0;
      bool reserved = false;
      bool now = false; // decided in this delivery and recorded a commit (took_now)
      if (auto done = e.handled.find(message_id); done != e.handled.end()) {
        accepted = done->second.accepted;
        code = done->second.code;
        reserved = done->second.reserved;
      } else {
        auto d = inv::decide(e.state, cmd, decide_context{now_ms_ * 1000, 0.0});
        if (std::holds_alternative<inv::settle>(cmd)) {
          settled_.insert(sku + "/" + oid_of(cmd));
        }
        if (const auto* many = std::get_if<inv::settle_orders>(&cmd); many && d.accepted()) {
          for (const auto& id : many->order_ids) {
            settled_.insert(sku + "/" + id);
          }
        }
        accepted = d.accepted();
        code = d.rejected ? d.rejected->code : 0;
        // A take whose own older hold expired records that expiry first, then its commit.
        reserved = accepted &&
                   (d.events.empty() || std::holds_alternative<inv::reserved>(d.events.front()) ||
                    std::any_of(d.events.begin(), d.events.end(), [](const inv::event& ev) {
                      return std::holds_alternative<inv::committed>(ev);
                    }));
        now = std::any_of(d.events.begin(), d.events.end(), [](const inv::event& ev) {
          return std::holds_alternative<inv::committed>(ev);
        });
        e.state = inv::apply_all(std::move(e.state), d.events);
        e.handled[message_id] = {accepted, code, reserved, !d.events.empty()};
        e.handled_order.emplace_back(now_ms_, message_id);
        forget_old_message_ids(e);
        if (e.state.available() < 0) {
          violation_ = "inventory " + sku + " oversold";
        }
        // The decision is durable, but the answer may be lost on the way (outcome unknown).
        ok = !(chaos_ && chance(0.05));
      }
      auto incarnation = e.incarnation;
      if (!ok) {
        send(
            "error answer " + message_id, [=] { on_answer(false, false, 0, false); }, kind::answer);
      } else {
        send(
            "answer " + message_id,
            [=] {
              // Crashed before answering: the requester gets an error instead.
              bool sent = inventory_[sku].incarnation == incarnation;
              on_answer(sent, accepted, code, reserved, now);
            },
            kind::answer);
      }
    });
  }

  /// Like the runtime's dedupe record: ids older than the window, or beyond the cap, are
  /// forgotten; a command resent after that is decided again by the inventory core, which must
  /// then be idempotent by itself (by the order id).
  void forget_old_message_ids(inventory_entity& e) {
    while (!e.handled_order.empty() &&
           (e.handled_order.front().first < now_ms_ - dedupe_window_ms ||
            e.handled_order.size() > max_remembered_messages)) {
      e.handled.erase(e.handled_order.front().second);
      e.handled_order.pop_front();
    }
  }

  static std::string oid_of(const inv::command& cmd) {
    return std::visit(overloaded{
                          [](const inv::restock&) { return std::string{}; },
                          [](const inv::expire_reservations&) { return std::string{}; },
                          [](const inv::settle_orders&) { return std::string{}; },
                          [](const auto& x) { return x.order_id; },
                      },
                      cmd);
  }

  /// Whether `sku` holds units committed to `oid`: kept, or settled (remembered as committed).
  bool holds_committed(const std::string& sku, const std::string& oid) {
    const auto& stock = inventory_[sku].state;
    return stock.committed_qty.count(oid) != 0 ||
           stock.finished.find(oid) == inv::finish::committed;
  }

  void crash_inventory(const std::string& sku) {
    auto& e = inventory_[sku];
    ++e.incarnation;
    note("crash inventory " + sku);
    for (auto i = e.handled.begin(); i != e.handled.end();) {
      i = i->second.recorded ? std::next(i) : e.handled.erase(i);
    }
    e.handled_order.erase(std::remove_if(e.handled_order.begin(), e.handled_order.end(),
                                         [&](const auto& x) { return !e.handled.count(x.second); }),
                          e.handled_order.end());
  }

  void expire(const std::string& sku) {
    auto& e = inventory_[sku];
    auto d = inv::decide(e.state, inv::expire_reservations{}, decide_context{now_ms_ * 1000, 0.0});
    e.state = inv::apply_all(std::move(e.state), d.events);
  }

  // -- the payment entity and its PSP (a pure model) ---------------------------------------------

  void authorize(const std::string& oid, int32_t attempt) {
    auto& p = payments_[oid];
    auto known = p.answers.find(attempt);
    ord::payment_outcome reported;
    if (known != p.answers.end()) {
      reported = known->second;
    } else {
      auto draw = pick(100);
      bool hold = draw < 55;
      reported = draw < 45   ? ord::payment_outcome::authorized
                 : draw < 55 ? ord::payment_outcome::failed // held, but the answer timed out
                 : draw < 65 ? ord::payment_outcome::declined
                             : ord::payment_outcome::failed;
      p.answers[attempt] = reported;
      if (hold) {
        ++p.authorizations;
        if (p.voided || p.captures > 0) {
          ++p.voids; // a late hold after the order's void or capture is voided at once
        } else {
          p.open_holds.insert(attempt);
        }
      }
    }
    send("authorization result " + oid + " #" + std::to_string(attempt), [=] {
      to_order(oid, ord::record_authorization{attempt, reported, "r", "psp"});
    });
  }

  void capture(const std::string& oid) {
    auto& p = payments_[oid];
    const auto& o = orders_[oid];
    for (const auto& line : o.state.lines) {
      if (!holds_committed(line.sku, oid)) {
        violation_ = "capture of " + oid + " without committed stock of " + line.sku;
        return;
      }
    }
    if (p.voided) {
      violation_ = "capture of " + oid + " after its void";
      return;
    }
    if (p.captures == 0) {
      if (p.open_holds.empty()) {
        violation_ = "capture of " + oid + " without an authorization";
        return;
      }
      ++p.captures;
      // One hold is captured; every other hold of the order is voided.
      p.voids += static_cast<int>(p.open_holds.size()) - 1;
      p.open_holds.clear();
    }
    send("capture result " + oid, [=] { to_order(oid, ord::record_capture{true}); });
  }

  // -- a sale: the payment entity records only outcomes; the PSP deduplicates by the one key ------

  using psp_sale = payment_model::psp_sale;
  using recorded_sale = payment_model::recorded_sale;

  /// As the payment reports: a sale's outcome (sold, declined: final for its key) as attempt 0,
  /// a failure as the attempt that failed.
  void report_sale(const std::string& oid, int32_t attempt, ord::payment_outcome outcome) {
    if (outcome != ord::payment_outcome::failed) {
      attempt = 0;
    }
    send("sale result " + oid + " #" + std::to_string(attempt), [=] {
      to_order(oid, ord::record_authorization{attempt, outcome, "r", "psp"});
    });
  }

  /// The payment entity's sell: an outcome it recorded is reported again; else the PSP is called
  /// (the call may be lost: the entity crashed before making it). The order's first sell calls
  /// the PSP without reading what was recorded (a copy assumed new; the network may deliver it
  /// again after the outcome was recorded).
  void payment_sell(const std::string& oid, int32_t attempt, bool first) {
    if (first) {
      send("psp sale " + oid + " #" + std::to_string(attempt),
           [=] { psp_sell(oid, attempt, true); });
      return;
    }
    auto& p = payments_[oid];
    switch (p.recorded) {
      case recorded_sale::sold:
        return report_sale(oid, attempt, ord::payment_outcome::authorized);
      case recorded_sale::declined:
        return report_sale(oid, attempt, ord::payment_outcome::declined);
      case recorded_sale::reversed:
        return; // rejected: payment_closed
      case recorded_sale::none:
        break;
    }
    send("psp sale " + oid + " #" + std::to_string(attempt),
         [=] { psp_sell(oid, attempt, false); });
  }

  /// `assumed`: called from a copy assumed new, which records the answer at version 0: refused if
  /// anything was recorded, then the entity reads the stream and reports what it holds (resume).
  void psp_sell(const std::string& oid, int32_t attempt, bool assumed) {
    auto& p = payments_[oid];
    ord::payment_outcome answer = ord::payment_outcome::failed;
    switch (p.psp) {
      case psp_sale::blocked:
        break; // 409: reversed before it arrived
      case psp_sale::charged:
      case psp_sale::refunded: // the first answer, replayed
        answer = ord::payment_outcome::authorized;
        break;
      case psp_sale::declined:
        answer = ord::payment_outcome::declined;
        break;
      case psp_sale::none: {
        auto draw = pick(100);
        if (draw < 55) {
          for (const auto& line : orders_[oid].state.lines) {
            if (!holds_committed(line.sku, oid)) {
              violation_ = "sale of " + oid + " without committed stock of " + line.sku;
              return;
            }
          }
          p.psp = psp_sale::charged;
          ++p.charges;
          answer = draw < 45 ? ord::payment_outcome::authorized
                             : ord::payment_outcome::failed; // charged, the answer lost
        } else if (draw < 65) {
          p.psp = psp_sale::declined;
          answer = ord::payment_outcome::declined;
        }
        break; // else 503: nothing done
      }
    }
    send(
        "psp sale answer " + oid + " #" + std::to_string(attempt),
        [=] {
          auto& q = payments_[oid];
          if (q.recorded != recorded_sale::none) {
            // Decided or reversed: a late answer changes nothing. Decided on an assumed copy, it
            // was refused by version and the stream read: the entity resumes (attempt 0).
            if (assumed && q.recorded == recorded_sale::sold) {
              report_sale(oid, 0, ord::payment_outcome::authorized);
            } else if (assumed && q.recorded == recorded_sale::declined) {
              report_sale(oid, 0, ord::payment_outcome::declined);
            }
            return;
          }
          if (answer == ord::payment_outcome::authorized) {
            q.recorded = recorded_sale::sold;
          } else if (answer == ord::payment_outcome::declined) {
            q.recorded = recorded_sale::declined;
          }
          report_sale(oid, attempt, answer);
        },
        kind::answer);
  }

  /// The payment entity's reverse_sale: answers whether the sale is closed (declined or
  /// reversed) now; if not, the reversal at the PSP follows (and may be lost).
  bool payment_reverse(const std::string& oid) {
    auto& p = payments_[oid];
    if (p.recorded == recorded_sale::declined || p.recorded == recorded_sale::reversed) {
      return true;
    }
    send("psp reverse " + oid, [=] {
      auto& q = payments_[oid];
      if (q.psp == psp_sale::charged) {
        q.psp = psp_sale::refunded;
      } else if (q.psp == psp_sale::none) {
        q.psp = psp_sale::blocked;
      }
      send(
          "psp reverse answer " + oid,
          [=] {
            auto& r = payments_[oid];
            if (r.recorded == recorded_sale::none || r.recorded == recorded_sale::sold) {
              r.recorded = recorded_sale::reversed;
              // The payment reports what it recorded (a reaction, like sold).
              send("sale reversed report " + oid,
                   [=] { to_order(oid, ord::record_sale_reversed{}); });
            }
          },
          kind::answer);
    });
    return false;
  }

  void void_or_refund(const std::string& oid) {
    auto& p = payments_[oid];
    if (p.captures > p.refunds) {
      ++p.refunds;
      return;
    }
    p.voided = true;
    p.voids += static_cast<int>(p.open_holds.size());
    p.open_holds.clear();
  }

  std::mt19937_64 rng_;
  bool tracing_;
  bool chaos_ = true;
  int64_t now_ms_ = 0;
  ord::saga_policy policy_ = test_policy();
  std::vector<std::string> order_ids_;
  /// Orders placed by this binary (not recorded by the older one).
  std::set<std::string> current_path_;
  std::map<std::string, order_entity> orders_;
  std::map<std::string, inventory_entity> inventory_;
  std::map<std::string, payment_model> payments_;
  /// Sells the orders sent, per order (a network duplicate counts once).
  std::map<std::string, int> sells_sent_;
  std::vector<pending> network_;
  std::vector<std::string> trace_;
  std::string violation_;
  /// "inventory <sku> <- <order>": settles that may never have reached a decision (dropped, the
  /// inventory overloaded, the order crashed before sending); only the older path may lose one.
  std::set<std::string> settle_lost_;
  /// "<sku>/<order>": settles an inventory decided.
  std::set<std::string> settled_;
  /// The settlement runner: "<sku>/<order>" settled since it started (its checkpoint), and its
  /// rounds (a request not answered by the next round counts as timed out: sent again).
  std::set<std::string> settlement_done_;
  /// The settlement runner: orders notified since it started (its checkpoint).
  std::set<std::string> notification_done_;
  /// Sales the previous binary confirmed that its runner passed (its checkpoint is behind them).
  std::set<std::string> behind_old_checkpoint_;
  int settlement_rounds_ = 0;
  /// The notification entities (notification/<order>): their state and the events they recorded.
  struct notification_entity {
    nfy::notification_state state;
    int recorded = 0;
  };
  std::map<std::string, notification_entity> notifications_;
};

} // namespace

BOOST_AUTO_TEST_CASE(every_interleaving_of_failures_timeouts_and_crashes_keeps_the_saga_safe) {
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    auto problem = simulation{seed, false}.run();
    if (!problem.empty()) {
      simulation traced{seed, true};
      traced.run();
      std::ostringstream out;
      for (const auto& line : traced.trace()) {
        out << "  " << line << "\n";
      }
      BOOST_FAIL("seed " << seed << ": " << problem << "\ntrace:\n" << out.str());
    }
  }
}
