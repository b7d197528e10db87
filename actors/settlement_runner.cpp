#include "actors/settlement_runner.hpp"

#include "actors/inventory/errors.hpp"
#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/notification/errors.hpp"
#include "actors/notification/messages.hpp"
#include "actors/notification/replies.hpp"
#include "actors/order/codec.hpp"
#include "actors/runtime/messages.hpp"
#include "actors/runtime/routing.hpp"
#include "observability/log.hpp"
#include "persistence/pg_event_store.hpp"
#include "persistence/subscription.hpp"
#include "util/fail_point.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <utility>

namespace ordermesh::actors {

namespace {

using std::chrono::milliseconds;

settlement_settings sanitized(settlement_settings s) {
  s.interval = std::max(s.interval, milliseconds{1});
  s.page_size = std::max(s.page_size, 1);
  s.answer_timeout = std::max(s.answer_timeout, milliseconds{1});
  s.backoff_min = std::max(s.backoff_min, milliseconds{1});
  s.backoff_max = std::max(s.backoff_max, s.backoff_min);
  s.max_attempts = std::max(s.max_attempts, 1);
  s.max_in_flight = std::max(s.max_in_flight, 1);
  return s;
}

std::string text_of(const persistence::log_checkpoint& c) {
  return std::to_string(c.transaction_id) + ":" + std::to_string(c.position);
}

/// How long a stopping runner may wait for an answer before it looks again.
constexpr milliseconds wait_slice{100};

/// One command of a round: a SKU's settle_orders or a confirmed sale's notification.
struct round_item {
  enum class kind : uint8_t { settle, notify };
  kind what = kind::settle;
  /// The SKU (settle) or the order id (notify).
  std::string key;
  /// settle: the SKU's orders.
  std::vector<std::string> order_ids;

  std::string name() const { return (what == kind::settle ? "sku " : "order ") + key; }
};

struct item_failure {
  size_t index = 0;
  /// Decided on a current copy: sending it again changes nothing.
  bool refused = false;
  std::string why;
  /// Never sent (the round gave up first): sent again without counting an attempt.
  bool unsent = false;
};

using watch_atom = caf::atom_constant<caf::atom("rwatch")>;

/// The state of one attempt's helper actor: sends `items` (at most `window` awaiting an answer),
/// gathers the failures, and tells `client` `true` once every item was answered, or once no
/// answer came for `timeout`: what is still unanswered then counts as failed. One watch for all
/// its commands: in CAF 0.17 a request timeout is a clock-thread event per command, never
/// cancelled, that fires later as a message. `failures` is complete when `client` reads it
/// (written before the message).
struct round_sender : std::enable_shared_from_this<round_sender> {
  caf::event_based_actor* self = nullptr;
  caf::actor client;
  caf::actor inventory;
  caf::actor notifications;
  std::chrono::milliseconds timeout{5000};
  std::string page_id;
  std::shared_ptr<const std::vector<round_item>> items;
  std::vector<item_failure> failures;
  size_t next = 0;
  size_t answered = 0;
  /// Sent and not answered yet.
  std::set<size_t> outstanding;
  bool finished = false;

  void start(size_t window) {
    if (items->empty()) {
      finish();
      return;
    }
    for (size_t i = 0; i < window && next < items->size(); ++i) {
      send_next();
    }
    watch();
  }

  /// Looks again in `timeout`: if nothing was answered meanwhile, gives up on the rest.
  void watch() { self->delayed_send(self, timeout, watch_atom::value, uint64_t{answered}); }

  void on_watch(uint64_t answered_then) {
    if (finished) {
      return;
    }
    if (answered_then != answered) {
      watch();
      return;
    }
    for (auto index : outstanding) {
      failures.push_back(
          {index, false, "no answer within " + std::to_string(timeout.count()) + " ms"});
    }
    for (auto index = next; index < items->size(); ++index) {
      failures.push_back({index, false, "not sent: the round gave up waiting", true});
    }
    finish();
  }

  void send_next() {
    auto index = next++;
    outstanding.insert(index);
    const auto& item = (*items)[index];
    // Held by the answer handlers: the helper's state lives as long as one may still run.
    auto me = shared_from_this();
    envelope env;
    if (item.what == round_item::kind::settle) {
      // The page id deduplicates a resent settle_orders, whose answer is then the first one's.
      env.message_id = "settlement/" + page_id + "/" + item.key;
      env.correlation_id = env.message_id;
      runtime::send_command<inventory::inventory_reply>(
          self, inventory, item.key, caf::infinite, std::move(env),
          caf::make_message(inventory::settle_orders{item.order_ids}),
          [me, index](inventory::inventory_reply&) { me->on_answer(index, std::nullopt); },
          [me, index](caf::error& err) {
            me->on_answer(index, me->failure_of<inventory::inventory_errc>(index, err));
          });
    } else {
      // The id the order's own saga used for the same notification.
      env.message_id = item.key + "/notify";
      env.correlation_id = item.key;
      runtime::send_command<notification::notification_reply>(
          self, notifications, item.key, caf::infinite, std::move(env),
          caf::make_message(notification::record_notification{
              item.key, notification::terminal_status::confirmed}),
          [me, index](notification::notification_reply&) { me->on_answer(index, std::nullopt); },
          [me, index](caf::error& err) {
            me->on_answer(index, me->failure_of<notification::notification_errc>(index, err));
          });
    }
  }

  template <class Errc>
  item_failure failure_of(size_t index, const caf::error& err) const {
    return {index, runtime::rejection_code<Errc>(err).has_value(), self->system().render(err)};
  }

  void on_answer(size_t index, std::optional<item_failure> failure) {
    if (finished || outstanding.erase(index) == 0) {
      return; // given up on already
    }
    if (answered++ == 0) {
      util::fail_point("settlement.answered_in_part");
    }
    if (failure) {
      failures.push_back(std::move(*failure));
    }
    if (next < items->size()) {
      send_next();
    } else if (answered == items->size()) {
      finish();
    }
  }

  void finish() {
    finished = true;
    self->send(client, true);
    self->quit();
  }
};

} // namespace

confirmed_sales confirmed_sales_in(const std::vector<persistence::recorded_event>& events) {
  confirmed_sales sales;
  for (const auto& e : events) {
    if (e.type != order::wire::order_confirmed || e.stream_id.rfind("order/", 0) != 0) {
      continue;
    }
    auto decoded = order::decode(e.type, e.schema_version, e.payload);
    const auto* confirmed = decoded ? std::get_if<order::order_confirmed>(&*decoded) : nullptr;
    if (confirmed == nullptr) {
      // Undecodable: the order's own codec refuses it too, so its entity cannot recover either;
      // nothing this runner could settle.
      observability::log_event(spdlog::level::err, "settlement skips an undecodable confirmation",
                               {{"stream", e.stream_id}, {"position", e.global_position}});
      continue;
    }
    if (confirmed->skus.empty()) {
      continue;
    }
    const auto order_id = e.stream_id.substr(6);
    for (const auto& sku : confirmed->skus) {
      sales.by_sku[sku].push_back(order_id);
    }
    sales.orders.push_back(order_id);
  }
  return sales;
}

settlement_runner::settlement_runner(caf::actor_system& sys, config::pg_config pg,
                                     config::journal_config journal, caf::actor inventory_host,
                                     caf::actor notification_host, settlement_settings settings)
    : sys_(sys), pg_(std::move(pg)), journal_(std::move(journal)),
      inventory_host_(std::move(inventory_host)), notification_host_(std::move(notification_host)),
      settings_(sanitized(std::move(settings))), loop_([this] { run(); }) {}

settlement_runner::~settlement_runner() {
  stop();
}

void settlement_runner::stop() {
  loop_.stop();
}

settlement_stats settlement_runner::stats() const {
  settlement_stats s;
  s.rounds = rounds_.load();
  s.orders_settled = orders_settled_.load();
  s.commands = commands_.load();
  s.notifications = notifications_.load();
  s.errors = errors_.load();
  s.skus_skipped = skus_skipped_.load();
  s.notifications_skipped = notifications_skipped_.load();
  s.checkpoint = checkpoint_.load();
  s.newest_position = newest_position_.load();
  s.lag = std::max<int64_t>(0, s.newest_position - s.checkpoint);
  s.failing = failing_.load();
  return s;
}

bool settlement_runner::wait_until_caught_up(std::chrono::milliseconds timeout) {
  return loop_.wait_until_caught_up(timeout);
}

bool settlement_runner::pause(std::chrono::milliseconds delay) {
  return loop_.pause(delay);
}

bool settlement_runner::stopping() const {
  return loop_.stopping();
}

void settlement_runner::failed(const std::string& what, const std::string& detail,
                               std::chrono::milliseconds retry_in) {
  errors_.fetch_add(1);
  failing_.store(true);
  observability::log_event(spdlog::level::warn, "settlement failed",
                           {{"settlement", settings_.name},
                            {"what", what},
                            {"detail", detail},
                            {"checkpoint", checkpoint_.load()},
                            {"retry_in_ms", retry_in.count()}});
}

void settlement_runner::run() {
  persistence::pg_event_store store{pg_, journal_};
  std::optional<persistence::log_checkpoint> checkpoint;
  auto backoff = settings_.backoff_min;
  auto retry = [&](const std::string& what, const std::string& detail) {
    failed(what, detail, backoff);
    auto wait = backoff;
    backoff = std::min(backoff * 2, settings_.backoff_max);
    return pause(wait);
  };
  while (auto round = loop_.begin_round()) {
    if (!checkpoint) {
      auto loaded = store.load_checkpoint(settings_.name);
      if (!loaded) {
        if (!retry("load checkpoint", loaded.error().detail)) {
          return;
        }
        continue;
      }
      checkpoint = *loaded;
      checkpoint_.store(checkpoint->position);
    }
    // Only the confirmations: the rest of the log is passed over in the server.
    persistence::subscription log{store, *checkpoint, {order::wire::order_confirmed}};
    auto page = log.poll(settings_.page_size);
    if (!page) {
      if (!retry("read log", page.error().detail)) {
        return;
      }
      continue;
    }
    if (!page->empty()) {
      // The page (after `checkpoint` up to the end the read reached) is the same whenever that
      // range is read again: its id deduplicates a resent settle_orders.
      auto sales = confirmed_sales_in(*page);
      if (!sales.empty()) {
        if (!settle_and_notify(sales, text_of(*checkpoint) + "-" + text_of(log.checkpoint()))) {
          return; // stopped
        }
        util::fail_point("settlement.settled_before_checkpoint");
      }
      rounds_.fetch_add(1);
    }
    // Also when no confirmation came: the read passed over everything else up to where it
    // reached, which is then never scanned again.
    if (!(log.checkpoint() == *checkpoint)) {
      auto saved = store.save_checkpoint(settings_.name, log.checkpoint());
      if (!saved) {
        // Read, settled and notified again next time: neither records anything twice.
        if (!retry("save checkpoint", saved.error().detail)) {
          return;
        }
        continue;
      }
      checkpoint = log.checkpoint();
      checkpoint_.store(checkpoint->position);
    }
    if (failing_.exchange(false)) {
      observability::log_event(
          spdlog::level::info, "settlement recovered",
          {{"settlement", settings_.name}, {"checkpoint", checkpoint_.load()}});
    }
    backoff = settings_.backoff_min;
    if (auto end = store.log_end()) {
      newest_position_.store(end->position);
    }
    if (page->size() >= static_cast<size_t>(settings_.page_size)) {
      continue;
    }
    loop_.caught_up(*round);
    if (!pause(settings_.interval)) {
      return;
    }
  }
}

bool settlement_runner::settle_and_notify(const confirmed_sales& sales,
                                          const std::string& page_id) {
  std::vector<round_item> pending;
  for (const auto& [sku, ids] : sales.by_sku) {
    pending.push_back({round_item::kind::settle, sku, ids});
  }
  for (const auto& id : sales.orders) {
    pending.push_back({round_item::kind::notify, id, {}});
  }
  std::map<std::string, int> attempts; // by round_item::name()
  auto backoff = settings_.backoff_min;
  caf::scoped_actor self{sys_};
  while (!pending.empty()) {
    auto sender = std::make_shared<round_sender>();
    sender->client = caf::actor{self};
    sender->inventory = inventory_host_;
    sender->notifications = notification_host_;
    sender->timeout = settings_.answer_timeout;
    sender->page_id = page_id;
    sender->items = std::make_shared<const std::vector<round_item>>(std::move(pending));
    auto window = static_cast<size_t>(settings_.max_in_flight);
    auto helper = self->spawn([sender, window](caf::event_based_actor* a) -> caf::behavior {
      sender->self = a;
      sender->start(window);
      return {[sender](watch_atom, uint64_t answered_then) { sender->on_watch(answered_then); }};
    });
    bool done = false;
    while (!done) {
      self->receive([&](bool) { done = true; }, caf::after(wait_slice) >> [] {});
      if (!done && stopping()) {
        caf::anon_send_exit(helper, caf::exit_reason::user_shutdown);
        return false;
      }
    }
    // The helper wrote its failures before it answered.
    const auto& sent = *sender->items;
    std::vector<bool> failed(sent.size(), false);
    for (const auto& failure : sender->failures) {
      const auto& item = sent[failure.index];
      failed[failure.index] = true;
      if (failure.unsent) {
        pending.insert(pending.begin(), item); // not an attempt: it never left, so it goes first
        continue;
      }
      errors_.fetch_add(1);
      auto attempt = ++attempts[item.name()];
      if (failure.refused || attempt >= settings_.max_attempts) {
        (item.what == round_item::kind::settle ? skus_skipped_ : notifications_skipped_)
            .fetch_add(1);
        observability::log_event(spdlog::level::err, "settlement skips a command",
                                 {{"settlement", settings_.name},
                                  {"what", item.name()},
                                  {"orders", std::max<size_t>(1, item.order_ids.size())},
                                  {"attempts", attempt},
                                  {"error", failure.why}});
      } else {
        observability::log_event(spdlog::level::warn, "settlement retries a command",
                                 {{"settlement", settings_.name},
                                  {"what", item.name()},
                                  {"attempt", attempt},
                                  {"error", failure.why}});
        pending.push_back(item);
      }
    }
    for (size_t i = 0; i < sent.size(); ++i) {
      if (failed[i]) {
        continue;
      }
      if (sent[i].what == round_item::kind::settle) {
        commands_.fetch_add(1);
        orders_settled_.fetch_add(sent[i].order_ids.size());
      } else {
        notifications_.fetch_add(1);
      }
    }
    if (!pending.empty()) {
      failing_.store(true);
      if (!pause(backoff)) {
        return false;
      }
      backoff = std::min(backoff * 2, settings_.backoff_max);
    }
  }
  return true;
}

} // namespace ordermesh::actors
