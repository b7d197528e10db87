#include "actors/settlement_runner.hpp"

#include "actors/inventory/errors.hpp"
#include "actors/inventory/messages.hpp"
#include "actors/inventory/replies.hpp"
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
  return s;
}

std::string text_of(const persistence::log_checkpoint& c) {
  return std::to_string(c.transaction_id) + ":" + std::to_string(c.position);
}

/// How long a stopping runner may wait for an answer before it looks again.
constexpr milliseconds wait_slice{100};

} // namespace

std::map<std::string, std::vector<std::string>>
confirmed_sales_by_sku(const std::vector<persistence::recorded_event>& events) {
  std::map<std::string, std::vector<std::string>> sales;
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
    const auto order_id = e.stream_id.substr(6);
    for (const auto& sku : confirmed->skus) {
      sales[sku].push_back(order_id);
    }
  }
  return sales;
}

settlement_runner::settlement_runner(caf::actor_system& sys, config::pg_config pg,
                                     config::journal_config journal, caf::actor inventory_host,
                                     settlement_settings settings)
    : sys_(sys), pg_(std::move(pg)), journal_(std::move(journal)),
      inventory_host_(std::move(inventory_host)), settings_(sanitized(std::move(settings))),
      loop_([this] { run(); }) {}

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
  s.errors = errors_.load();
  s.skus_skipped = skus_skipped_.load();
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
      // range is read again: its id deduplicates a resent settle_orders, whose answer is then
      // the first one's.
      auto sales = confirmed_sales_by_sku(*page);
      if (!sales.empty()) {
        if (!settle(sales, text_of(*checkpoint) + "-" + text_of(log.checkpoint()))) {
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
        // Read and settled again next time: a settled order records nothing twice.
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

bool settlement_runner::settle(const std::map<std::string, std::vector<std::string>>& sales,
                               const std::string& page_id) {
  auto pending = sales;
  std::map<std::string, int> attempts;
  auto backoff = settings_.backoff_min;
  caf::scoped_actor self{sys_};
  while (!pending.empty()) {
    // One helper per attempt sends every pending SKU's command at once and reports the SKUs
    // that failed ("<sku>\n<why>"), once all answered or timed out.
    auto client = caf::actor{self};
    auto helper =
        self->spawn([=, host = inventory_host_,
                     timeout = caf::duration{settings_.answer_timeout}](caf::event_based_actor* a) {
          auto left = std::make_shared<size_t>(pending.size());
          auto failures = std::make_shared<std::vector<std::string>>();
          auto answered = [=] {
            if (--*left == 0) {
              a->send(client, *failures);
              a->quit();
            }
          };
          for (const auto& [sku, ids] : pending) {
            envelope env;
            env.message_id = "settlement/" + page_id + "/" + sku;
            env.correlation_id = env.message_id;
            runtime::send_command<inventory::inventory_reply>(
                a, host, sku, timeout, std::move(env),
                caf::make_message(inventory::settle_orders{ids}),
                [=](inventory::inventory_reply&) { answered(); },
                [=, sku = sku](caf::error& err) {
                  // A refusal was decided on a current copy: sending it again changes nothing.
                  const bool refused =
                      runtime::rejection_code<inventory::inventory_errc>(err).has_value();
                  failures->push_back(sku + "\n" + (refused ? "refused" : "failed") + "\n" +
                                      a->system().render(err));
                  answered();
                });
          }
        });
    std::optional<std::vector<std::string>> failures;
    while (!failures) {
      self->receive([&](std::vector<std::string>& f) { failures = std::move(f); },
                    caf::after(wait_slice) >> [] {});
      if (!failures && stopping()) {
        caf::anon_send_exit(helper, caf::exit_reason::user_shutdown);
        return false;
      }
    }
    auto sent = std::move(pending);
    for (const auto& failure : *failures) {
      auto cut = failure.find('\n');
      auto sku = failure.substr(0, cut);
      auto kind_cut = failure.find('\n', cut + 1);
      const bool refused = failure.substr(cut + 1, kind_cut - cut - 1) == "refused";
      auto why = failure.substr(kind_cut + 1);
      errors_.fetch_add(1);
      if (refused || ++attempts[sku] >= settings_.max_attempts) {
        skus_skipped_.fetch_add(1);
        observability::log_event(spdlog::level::err, "settlement skips a SKU",
                                 {{"settlement", settings_.name},
                                  {"sku", sku},
                                  {"orders", sent[sku].size()},
                                  {"attempts", attempts[sku]},
                                  {"error", why}});
      } else {
        observability::log_event(spdlog::level::warn, "settlement retries a SKU",
                                 {{"settlement", settings_.name},
                                  {"sku", sku},
                                  {"attempt", attempts[sku]},
                                  {"error", why}});
        pending[sku] = sent[sku];
      }
      sent.erase(sku);
    }
    for (const auto& [sku, ids] : sent) {
      commands_.fetch_add(1);
      orders_settled_.fetch_add(ids.size());
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
