// A deterministic harness for the entity runtime (actors/runtime/): the real host and entity actors
// under caf::scheduler::test_coordinator (one thread, virtual time), driven from Boost.Test
// (caf-0.17.md §11), with a scripted fake journal and reader in place of PostgreSQL. The entity is
// the inventory aggregate, wrapped so that a test can make decide or apply throw.
#define BOOST_TEST_MODULE runtime_harness
#include <boost/test/unit_test.hpp>

#include "actors/inventory/actor.hpp"
#include "actors/inventory/codec.hpp"
#include "actors/inventory/replies.hpp"
#include "actors/notification/actor.hpp"
#include "actors/order/actor.hpp"
#include "actors/payment/actor.hpp"
#include "actors/payment/codec.hpp"
#include "actors/runtime/entity.hpp"
#include "actors/runtime/host.hpp"
#include "actors/runtime/routing.hpp"
#include "core/actor_system.hpp"
#include "persistence/journal.hpp"
#include "persistence/reader.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

using namespace ordermesh;
using namespace ordermesh::actors;
using namespace ordermesh::actors::inventory;
using namespace std::chrono_literals;

namespace {

/// How the fake journal answers one append.
enum class journal_answer {
  /// Written (or version_conflict if the expected version is stale).
  committed,
  /// Another writer appended first: a foreign restock{1} is written, the append is refused.
  conflict,
  /// Written, but answered outcome_unknown (the connection broke after COMMIT).
  unknown_committed,
  /// Not written, answered outcome_unknown.
  unknown_lost,
  /// Not written, answered unavailable.
  unavailable,
  /// Not written, answered rejected.
  rejected,
  /// Not answered until the test releases it (release_atom).
  hold,
};

const char* to_string(journal_answer x) {
  switch (x) {
    case journal_answer::committed:
      return "committed";
    case journal_answer::conflict:
      return "conflict";
    case journal_answer::unknown_committed:
      return "unknown_committed";
    case journal_answer::unknown_lost:
      return "unknown_lost";
    case journal_answer::unavailable:
      return "unavailable";
    case journal_answer::rejected:
      return "rejected";
    case journal_answer::hold:
      return "hold";
  }
  return "?";
}

using release_atom = caf::atom_constant<caf::atom("release")>;

/// The journal and snapshot store the fakes share with the test (one thread: the test's).
struct fake_store {
  std::map<std::string, std::vector<persistence::recorded_event>> streams;
  std::map<std::string, persistence::snapshot> snapshots;
  /// Answers for the next appends, in order; committed once empty.
  std::deque<journal_answer> script;
  std::vector<std::pair<persistence::stream_append, caf::response_promise>> held;
  int64_t next_position = 1;
  size_t appends = 0;
  /// Recovery reads served (an entity rebuilding its copy from the stream).
  size_t recovery_reads = 0;
  /// events_after reads served (an entity checking its copy before a rejection).
  size_t catch_up_reads = 0;
  /// Whether events_after reads answer unavailable (the database is away).
  bool catch_up_fails = false;
  /// How many of the next recovery and events_after reads the reader never answers (a hung
  /// connection, a lost reply), and their promises, kept unanswered.
  size_t recovery_reads_to_hold = 0;
  size_t catch_up_reads_to_hold = 0;
  /// The held reads: each promise with what answers it once released (release_atom).
  std::vector<std::pair<caf::response_promise, std::function<persistence::stream_history()>>>
      held_reads;
  /// The commit time recorded with each event.
  std::function<int64_t()> now_us;

  int64_t version(const std::string& stream) const {
    auto i = streams.find(stream);
    return i == streams.end() ? 0 : static_cast<int64_t>(i->second.size());
  }

  persistence::append_result write(const persistence::stream_append& a) {
    auto& events = streams[a.stream_id];
    if (a.expected_version != static_cast<int64_t>(events.size())) {
      return {persistence::append_status::version_conflict, static_cast<int64_t>(events.size()), 0,
              0};
    }
    auto first = next_position;
    for (const auto& ev : a.events) {
      events.push_back(persistence::recorded_event{
          next_position++, a.stream_id, static_cast<int64_t>(events.size()) + 1, ev.type,
          ev.schema_version, ev.payload, ev.metadata, now_us()});
    }
    return {persistence::append_status::committed, static_cast<int64_t>(events.size()), first,
            next_position - 1};
  }

  void write_foreign(const std::string& stream, event what = restocked{1}) {
    auto ev = runtime::to_new_event(encode(what));
    ev.metadata = R"({"message_id":"foreign-)" + std::to_string(next_position) + R"("})";
    write(persistence::stream_append{stream, version(stream), {ev}});
  }

  persistence::stream_history history(const std::string& stream) const {
    persistence::stream_history h;
    int64_t after = 0;
    if (auto s = snapshots.find(stream); s != snapshots.end()) {
      h.has_snapshot = true;
      h.latest_snapshot = s->second;
      after = s->second.stream_version;
    }
    if (auto i = streams.find(stream); i != streams.end()) {
      for (const auto& ev : i->second) {
        if (ev.stream_version > after) {
          h.events.push_back(ev);
        }
      }
    }
    return h;
  }

  persistence::stream_history events_after(const std::string& stream, int64_t version) const {
    persistence::stream_history h;
    if (auto i = streams.find(stream); i != streams.end()) {
      for (const auto& ev : i->second) {
        if (ev.stream_version > version) {
          h.events.push_back(ev);
        }
      }
    }
    return h;
  }

  /// The stream replayed from its first event, without snapshots.
  inventory_state replay(const std::string& stream) const {
    inventory_state s;
    if (auto i = streams.find(stream); i != streams.end()) {
      for (const auto& recorded : i->second) {
        s = inventory::apply(std::move(s),
                             *decode(recorded.type, recorded.schema_version, recorded.payload));
      }
    }
    return s;
  }

  std::vector<std::string> message_ids(const std::string& stream) const {
    std::vector<std::string> ids;
    if (auto i = streams.find(stream); i != streams.end()) {
      for (const auto& ev : i->second) {
        ids.push_back(nlohmann::json::parse(ev.metadata).value("message_id", ""));
      }
    }
    return ids;
  }
};

caf::error store_error(persistence::store_errc code, const char* what) {
  return caf::make_error(code, what);
}

caf::behavior fake_journal(caf::event_based_actor* self, std::shared_ptr<fake_store> store) {
  auto answer = [=](const persistence::stream_append& a, journal_answer how,
                    caf::response_promise rp) mutable {
    switch (how) {
      case journal_answer::committed:
        rp.deliver(store->write(a));
        break;
      case journal_answer::conflict:
        store->write_foreign(a.stream_id);
        rp.deliver(persistence::append_result{persistence::append_status::version_conflict,
                                              store->version(a.stream_id), 0, 0});
        break;
      case journal_answer::unknown_committed:
        store->write(a);
        rp.deliver(store_error(persistence::store_errc::outcome_unknown, "lost during COMMIT"));
        break;
      case journal_answer::unknown_lost:
        rp.deliver(store_error(persistence::store_errc::outcome_unknown, "lost before COMMIT"));
        break;
      case journal_answer::unavailable:
        rp.deliver(store_error(persistence::store_errc::unavailable, "database down"));
        break;
      case journal_answer::rejected:
        rp.deliver(store_error(persistence::store_errc::rejected, "statement rejected"));
        break;
      case journal_answer::hold:
        store->held.emplace_back(a, rp);
        break;
    }
  };
  return {
      [=](persistence::append_atom, persistence::stream_append& a) mutable {
        auto rp = self->make_response_promise();
        store->appends += 1;
        auto how = journal_answer::committed;
        if (!store->script.empty()) {
          how = store->script.front();
          store->script.pop_front();
        }
        answer(a, how, rp);
        return rp;
      },
      [=](release_atom, int32_t how) mutable {
        auto held = std::move(store->held);
        store->held.clear();
        for (auto& [a, rp] : held) {
          answer(a, static_cast<journal_answer>(how), rp);
        }
      },
      [=](caf::get_atom, persistence::journal_stats_atom) { return persistence::journal_stats{}; },
  };
}

caf::behavior fake_reader(caf::event_based_actor* self, std::shared_ptr<fake_store> store) {
  return {
      [=](persistence::recover_atom,
          const std::string& stream) -> caf::result<persistence::stream_history> {
        store->recovery_reads += 1;
        if (store->recovery_reads_to_hold > 0) {
          store->recovery_reads_to_hold -= 1;
          store->held_reads.emplace_back(self->make_response_promise(),
                                         [=] { return store->history(stream); });
          return store->held_reads.back().first;
        }
        return store->history(stream);
      },
      [=](persistence::events_after_atom, const std::string& stream, int64_t version) {
        store->catch_up_reads += 1;
        if (store->catch_up_reads_to_hold > 0) {
          store->catch_up_reads_to_hold -= 1;
          store->held_reads.emplace_back(self->make_response_promise(),
                                         [=] { return store->events_after(stream, version); });
          return caf::result<persistence::stream_history>{store->held_reads.back().first};
        }
        if (store->catch_up_fails) {
          return caf::result<persistence::stream_history>{
              store_error(persistence::store_errc::unavailable, "database down")};
        }
        return caf::result<persistence::stream_history>{store->events_after(stream, version)};
      },
      [=](release_atom) {
        // Answers the held reads now, from the stream as it is now.
        auto held = std::move(store->held_reads);
        store->held_reads.clear();
        for (auto& [rp, history] : held) {
          rp.deliver(history());
        }
      },
      [=](persistence::unfinished_atom, const std::string&, const std::string&,
          const std::vector<std::string>&) { return std::vector<std::string>{}; },
      [=](persistence::snapshot_atom, persistence::snapshot& s) {
        auto& kept = store->snapshots[s.stream_id];
        if (kept.stream_version < s.stream_version) {
          kept = s;
        }
      },
  };
}

/// Bugs a test switches on: a restock of exactly this qty throws in decide (every time) or in
/// apply (the next `apply_throws` times).
struct faults {
  int64_t decide_throws_for_qty = -1;
  /// The host's entity factory throws when it starts the entity of this SKU.
  std::string factory_throws_for;
  int64_t apply_throws_for_qty = -1;
  int apply_throws = 0;
  /// The traits' starts_stream: which commands an entity they activate may take for the first of
  /// an empty stream (unset: none, the entity reads its stream before deciding).
  std::function<bool(const command&)> starts_stream;
  /// The stock on hand at which a finishing inventory's work is finished (finishing_traits).
  int64_t finished_on_hand = -1;
};

/// What the traits' committed hook heard: on_hand (before, after), in order.
using heard_commits = std::vector<std::pair<int64_t, int64_t>>;

struct faulty_inventory_traits : inventory_traits {
  std::shared_ptr<faults> bugs;
  std::shared_ptr<heard_commits> heard;

  void committed(caf::event_based_actor*, const inventory_state& before,
                 const inventory_state& after) const {
    heard->emplace_back(before.on_hand, after.on_hand);
  }

  bool starts_stream(const command& c) const {
    return bugs->starts_stream && bugs->starts_stream(c);
  }

  inventory_decision decide(const inventory_state& s, const command& c,
                            const decide_context& ctx) const {
    if (auto* r = std::get_if<restock>(&c); r && r->qty == bugs->decide_throws_for_qty) {
      throw std::runtime_error("decide bug");
    }
    return inventory_traits::decide(s, c, ctx);
  }

  inventory_state apply(inventory_state s, const event& e) const {
    if (auto* r = std::get_if<restocked>(&e);
        r && r->qty == bugs->apply_throws_for_qty && bugs->apply_throws > 0) {
      bugs->apply_throws -= 1;
      throw std::runtime_error("apply bug");
    }
    return inventory_traits::apply(std::move(s), e);
  }
};

/// The inventory as an aggregate whose work can finish (the real one never does, and so arms its
/// passivation tick at start): finished once its stock on hand is bugs->finished_on_hand.
struct finishing_inventory_traits : faulty_inventory_traits {
  bool finished(const inventory_state& s) const { return s.on_hand == bugs->finished_on_hand; }
};

using answer_type = std::variant<inventory_reply, caf::error>;

/// One caller: its own actor, so that its answers can be counted.
struct caller {
  std::unique_ptr<caf::scoped_actor> self;
  std::string message_id;
  std::vector<answer_type> answers;
  /// The actor that sent the command for send_direct (the entity answers it, not `self`).
  caf::actor sender;
};

struct harness {
  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    core::configure(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::actor_clock::time_point start = sched.clock().now();
  std::shared_ptr<fake_store> store = std::make_shared<fake_store>();
  std::shared_ptr<faults> bugs = std::make_shared<faults>();
  std::shared_ptr<heard_commits> heard = std::make_shared<heard_commits>();
  caf::actor journal;
  caf::actor reader;
  caf::actor host;
  runtime::host_settings settings;
  caf::scoped_actor probe{sys, true};
  std::vector<std::unique_ptr<caller>> callers;
  int next_message = 0;
  /// Virtual wall clock: 2027-01-15 plus the scheduler's virtual time.
  static constexpr int64_t epoch_us = 1'800'000'000'000'000;

  harness() {
    sys.await_actors_before_shutdown(false); // else ~actor_system waits for the hosts (§11)
    settings.tick_interval = 1s;
    settings.idle_timeout = 10s;
    settings.restart_backoff = 50ms;
    settings.max_crashes = 5;
    settings.snapshot_every = 3;
    settings.now_us = [this] { return now_us(); };
    store->now_us = settings.now_us;
    journal = sys.spawn(fake_journal, store);
    reader = sys.spawn(fake_reader, store);
    host = spawn_host_with(settings);
    sched.run();
  }

  /// A host (and its entities) running with `s`; of finishing_inventory_traits if `finishing`.
  caf::actor spawn_host_with(runtime::host_settings s, bool finishing = false) {
    auto j = caf::actor_cast<persistence::journal_actor>(journal);
    auto r = caf::actor_cast<persistence::reader_actor>(reader);
    auto b = bugs;
    auto c = heard;
    auto factory = [=](caf::actor_system& system, const std::string& id, caf::actor h) {
      if (id == b->factory_throws_for) {
        throw std::runtime_error("factory bug");
      }
      faulty_inventory_traits traits;
      traits.bugs = b;
      traits.heard = c;
      if (finishing) {
        return runtime::spawn_entity(system, finishing_inventory_traits{traits}, id, std::move(h),
                                     j, r, s);
      }
      return runtime::spawn_entity(system, traits, id, std::move(h), j, r, s);
    };
    return runtime::spawn_host(sys, "inventory", factory, s);
  }

  /// Replaces the (idle) host with one running `s`, of finishing entities if `finishing`.
  void respawn_host(runtime::host_settings s, bool finishing = false) {
    caf::anon_send_exit(host, caf::exit_reason::user_shutdown);
    sched.run();
    settings = std::move(s);
    host = spawn_host_with(settings, finishing);
    sched.run();
  }

  ~harness() {
    // user_shutdown, not kill: the host's exit handler stops its entities, whose ticks would
    // otherwise keep test_coordinator::stop() busy forever.
    caf::anon_send_exit(host, caf::exit_reason::user_shutdown);
    sched.run();
    caf::anon_send_exit(journal, caf::exit_reason::kill);
    caf::anon_send_exit(reader, caf::exit_reason::kill);
    sched.run();
  }

  int64_t now_us() const {
    return epoch_us +
           std::chrono::duration_cast<std::chrono::microseconds>(sched.clock().now() - start)
               .count();
  }

  envelope env(std::string message_id = "") {
    envelope e;
    e.message_id = message_id.empty() ? "m-" + std::to_string(next_message++) : message_id;
    e.correlation_id = "harness";
    e.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    return e;
  }

  /// Sends a command from a new caller; nothing runs until the scheduler does.
  caller& send(const std::string& sku, envelope e, caf::message cmd) {
    auto c = std::make_unique<caller>();
    c->self = std::make_unique<caf::scoped_actor>(sys, true);
    c->message_id = e.message_id;
    (*c->self)->send(host, runtime::route_atom::value, sku, std::move(e), std::move(cmd));
    callers.push_back(std::move(c));
    return *callers.back();
  }

  /// Sends `cmd` straight to the entity `to` as a direct caller, from a new caller; nothing runs
  /// until the scheduler does.
  caller& send(runtime::deliver_atom, const caf::actor& to, envelope e, caf::message cmd) {
    auto c = std::make_unique<caller>();
    c->self = std::make_unique<caf::scoped_actor>(sys, true);
    c->message_id = e.message_id;
    (*c->self)->send(to, runtime::deliver_atom::value, std::move(e), std::move(cmd));
    callers.push_back(std::move(c));
    return *callers.back();
  }

  /// Sends a command the way entities and the gateway do (runtime::send_command: straight to a
  /// running entity), from a new caller; nothing runs until the scheduler does.
  caller& send_direct(const std::string& sku, envelope e, caf::message cmd) {
    auto c = std::make_unique<caller>();
    c->self = std::make_unique<caf::scoped_actor>(sys, true);
    c->message_id = e.message_id;
    auto to = caf::actor_cast<caf::actor>(*c->self);
    c->sender = sys.spawn([=, h = host](caf::event_based_actor* self) {
      runtime::send_command<inventory::inventory_reply>(
          self, h, sku, caf::infinite, e, cmd,
          [=](inventory::inventory_reply& r) {
            self->send(to, r);
            self->quit();
          },
          [=](caf::error& err) {
            self->send(to, err);
            self->quit();
          });
    });
    callers.push_back(std::move(c));
    return *callers.back();
  }

  /// Runs every actor until idle; how many of the jobs were the host's.
  size_t run_counting_host_jobs() {
    size_t n = 0;
    auto* h = caf::actor_cast<caf::abstract_actor*>(host);
    while (sched.has_job()) {
      if (dynamic_cast<caf::abstract_actor*>(&sched.next_job<caf::resumable>()) == h) {
        ++n;
      }
      sched.run_once();
    }
    return n;
  }

  /// Moves every answer that has arrived into its caller's list.
  void collect() {
    for (auto& c : callers) {
      bool more = true;
      while (more) {
        (*c->self)->receive([&](inventory_reply& r) { c->answers.emplace_back(r); },
                            [&](caf::error& e) { c->answers.emplace_back(e); },
                            caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
      }
    }
  }

  /// Runs every actor until idle, then lets `span` of virtual time pass in small steps.
  void settle(caf::timespan span = 0s, caf::timespan step = 10ms) {
    sched.run();
    for (caf::timespan passed{0}; passed < span; passed += step) {
      sched.advance_time(step);
      sched.run();
    }
    collect();
  }

  /// Sends and waits (virtual time) for one answer.
  answer_type call(const std::string& sku, envelope e, caf::message cmd) {
    auto& c = send(sku, std::move(e), std::move(cmd));
    settle(2s);
    BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
    return c.answers.front();
  }

  inventory_reply ok(const std::string& sku, caf::message cmd, envelope e) {
    auto r = call(sku, std::move(e), std::move(cmd));
    if (auto* err = std::get_if<caf::error>(&r)) {
      BOOST_FAIL("command failed: " << sys.render(*err));
    }
    return std::get<inventory_reply>(r);
  }
  inventory_reply ok(const std::string& sku, caf::message cmd) {
    return ok(sku, std::move(cmd), env());
  }

  void release_held(journal_answer how) {
    caf::anon_send(journal, release_atom::value, static_cast<int32_t>(how));
  }

  void release_held_reads() { caf::anon_send(reader, release_atom::value); }

  /// The status of entity `id` at its host ("" if the host holds none).
  std::string status(const std::string& id) {
    for (const auto& e : entities()) {
      if (e.id == id) {
        return e.status;
      }
    }
    return "";
  }

  std::vector<runtime::entity_info> entities() {
    std::vector<runtime::entity_info> out;
    auto rh =
        probe->request(host, caf::infinite, caf::get_atom::value, runtime::entities_atom::value);
    sched.run();
    rh.receive([&](std::vector<runtime::entity_info>& xs) { out = xs; },
               [&](caf::error& e) { BOOST_FAIL("no entity list: " << sys.render(e)); });
    return out;
  }

  uint32_t crashes(const std::string& id) {
    for (const auto& e : entities()) {
      if (e.id == id) {
        return e.crashes;
      }
    }
    return 0;
  }
};

std::string error_name(const answer_type& a) {
  if (auto* e = std::get_if<caf::error>(&a)) {
    if (e->category() == caf::atom("entity")) {
      return runtime::to_string(static_cast<runtime::entity_errc>(e->code()));
    }
    return caf::to_string(*e);
  }
  return "";
}

bool accepted(const answer_type& a) {
  return std::holds_alternative<inventory_reply>(a);
}

/// Whether `a` is the inventory's rejection (a caf::error of inventory_errc).
bool rejected(const answer_type& a) {
  const auto* e = std::get_if<caf::error>(&a);
  return e != nullptr && runtime::rejection_code<inventory_errc>(*e).has_value();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(entity_runtime, harness)

BOOST_AUTO_TEST_CASE(an_envelope_with_invalid_utf8_fails_nobody_in_its_batch_and_crashes_nothing) {
  ok("sku-u", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& first = send("sku-u", env(), caf::make_message(restock{1}));
  settle();
  // Queued behind the held append, so that they are decided together in one batch.
  auto& good_before = send("sku-u", env(), caf::make_message(reserve{"o-1", 2, 60000}));
  auto poisoned_env = env();
  poisoned_env.traceparent = "00-" + std::string(32, '\xFF') + "-aaaaaaaaaaaaaaaa-01";
  poisoned_env.correlation_id = std::string("bad \xC3\x28 bytes");
  auto& poisoned = send("sku-u", poisoned_env, caf::make_message(restock{5}));
  auto& good_after = send("sku-u", env(), caf::make_message(reserve{"o-2", 3, 60000}));
  settle();
  release_held(journal_answer::committed);
  settle(1s);
  for (auto* c : {&first, &good_before, &poisoned, &good_after}) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(accepted(c->answers[0]), c->message_id << ": " << error_name(c->answers[0]));
  }
  BOOST_TEST(crashes("sku-u") == 0u);
  BOOST_TEST(store->replay("inventory/sku-u").available() == 11);
  // The poisoned envelope is recorded with its invalid bytes replaced: the metadata parses.
  for (const auto& ev : store->streams["inventory/sku-u"]) {
    BOOST_TEST(nlohmann::json::parse(ev.metadata, nullptr, false).is_object());
  }
}

BOOST_AUTO_TEST_CASE(a_command_whose_decide_throws_fails_alone_and_never_parks_the_entity) {
  bugs->decide_throws_for_qty = 13;
  ok("sku-b", caf::make_message(restock{10}));
  // Six times, more than max_crashes: each poisoned command fails with a typed error, its batch
  // neighbours are recorded, and the entity neither crashes nor gets parked.
  for (int round = 0; round < 6; ++round) {
    store->script = {journal_answer::hold};
    auto& head = send("sku-b", env(), caf::make_message(restock{1}));
    settle();
    auto& before = send("sku-b", env(), caf::make_message(restock{2}));
    auto& poison = send("sku-b", env(), caf::make_message(restock{13}));
    auto& after = send("sku-b", env(), caf::make_message(restock{3}));
    settle();
    release_held(journal_answer::committed);
    settle(1s);
    BOOST_REQUIRE_EQUAL(poison.answers.size(), 1u);
    BOOST_TEST(error_name(poison.answers[0]) == "unrecordable_command");
    for (auto* c : {&head, &before, &after}) {
      BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
      BOOST_TEST(accepted(c->answers[0]), c->message_id << ": " << error_name(c->answers[0]));
    }
  }
  BOOST_TEST(crashes("sku-b") == 0u);
  BOOST_TEST(entities().at(0).status == "running");
  BOOST_TEST(store->replay("inventory/sku-b").on_hand == 10 + 6 * 6);
  auto later = ok("sku-b", caf::make_message(restock{1}));
  BOOST_TEST((later.recorded == std::vector<inventory_recorded>{inventory_recorded::restocked}));
}

// The host ends when starting an entity throws (the node must stop), and the command that made
// it start the entity is answered with the error, not left to a caller that waits without a
// timeout.
BOOST_AUTO_TEST_CASE(the_command_whose_entity_fails_to_start_is_answered_when_its_host_ends) {
  bugs->factory_throws_for = "sku-f";
  auto& first = send("sku-f", env(), caf::make_message(restock{1}));
  settle(1s);
  BOOST_REQUIRE_EQUAL(first.answers.size(), 1u);
  BOOST_TEST(!accepted(first.answers[0]));
  BOOST_TEST(error_name(first.answers[0]).find("runtime_error") != std::string::npos,
             error_name(first.answers[0]));
}

BOOST_AUTO_TEST_CASE(
    commands_queued_at_a_killed_entity_are_answered_promptly_by_its_next_incarnation) {
  ok("sku-k", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& in_append = send("sku-k", env(), caf::make_message(restock{1}));
  settle();
  auto& queued_1 = send("sku-k", env(), caf::make_message(restock{2}));
  auto& queued_2 = send("sku-k", env(), caf::make_message(reserve{"o-1", 4, 60000}));
  settle();
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u); // all three are inside the entity now
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-k"});
  settle(2s); // far below the host's 2-minute reply timeout
  for (auto* c : {&in_append, &queued_1, &queued_2}) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(accepted(c->answers[0]), c->message_id << ": " << error_name(c->answers[0]));
  }
  BOOST_TEST(crashes("sku-k") == 1u);
  // The dead incarnation's append arrives at the journal late: it can no longer commit.
  release_held(journal_answer::committed);
  settle(1s);
  BOOST_TEST(store->replay("inventory/sku-k").on_hand == 13);
  BOOST_TEST(store->replay("inventory/sku-k").reserved_qty == 4);
  for (auto* c : {&in_append, &queued_1, &queued_2}) {
    BOOST_TEST(c->answers.size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(
    an_entity_that_dies_on_unreadable_history_answers_its_callers_parked_promptly) {
  ok("sku-h", caf::make_message(restock{10}));
  // A later build cannot decode this event: every incarnation quits while recovering.
  store->streams["inventory/sku-h"].push_back(persistence::recorded_event{
      99, "inventory/sku-h", 2, "inventory.unknown.v9", 1, "{}", "{}", 0});
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-h"});
  settle(60ms); // the first restart: this incarnation takes the command, then fails recovering
  auto& c = send("sku-h", env(), caf::make_message(restock{1}));
  settle(10s);
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(error_name(c.answers[0]) == "parked");
}

BOOST_AUTO_TEST_CASE(
    a_flood_while_entities_restart_is_answered_overloaded_beyond_the_bounds_and_the_rest_once) {
  auto s = settings;
  s.max_queue = 4;      // kept per entity, as in the entity's own queue
  s.max_host_queue = 6; // kept by the whole host
  respawn_host(s);
  ok("sku-f", caf::make_message(restock{10}));
  ok("sku-g", caf::make_message(restock{10}));
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-f"});
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-g"});
  settle(); // both restarting: their 50 ms back-off has not passed
  std::vector<caller*> f;
  std::vector<caller*> g;
  for (int i = 0; i < 10; ++i) {
    f.push_back(&send("sku-f", env(), caf::make_message(restock{1})));
    settle();
  }
  for (int i = 0; i < 10; ++i) {
    g.push_back(&send("sku-g", env(), caf::make_message(restock{1})));
    settle();
  }
  // Beyond the bounds: answered overloaded at once, while the entities are still down.
  auto overloaded_now = [](const std::vector<caller*>& cs) {
    size_t n = 0;
    for (auto* c : cs) {
      n += c->answers.size() == 1u && error_name(c->answers[0]) == "overloaded" ? 1 : 0;
    }
    return n;
  };
  BOOST_TEST(overloaded_now(f) == 6u); // 4 kept for sku-f
  BOOST_TEST(overloaded_now(g) == 8u); // 2 kept for sku-g: the host keeps 6 in all
  settle(2s);
  // Everything answered exactly once; what was kept is executed by the restarted entities.
  size_t accepted_f = 0;
  size_t accepted_g = 0;
  for (auto* c : f) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    accepted_f += accepted(c->answers[0]) ? 1 : 0;
  }
  for (auto* c : g) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    accepted_g += accepted(c->answers[0]) ? 1 : 0;
  }
  BOOST_TEST(accepted_f == 4u);
  BOOST_TEST(accepted_g == 2u);
  BOOST_TEST(store->replay("inventory/sku-f").on_hand == 14);
  BOOST_TEST(store->replay("inventory/sku-g").on_hand == 12);
  // Kept commands that were handed on no longer count against the bounds.
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-f"});
  settle();
  std::vector<caller*> next;
  for (int i = 0; i < 4; ++i) {
    next.push_back(&send("sku-f", env(), caf::make_message(restock{1})));
    settle();
  }
  settle(2s);
  for (auto* c : next) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(accepted(c->answers[0]), c->message_id << ": " << error_name(c->answers[0]));
  }
}

BOOST_AUTO_TEST_CASE(
    a_command_kept_behind_a_hung_append_is_answered_deadline_exceeded_at_its_deadline_once) {
  ok("sku-d", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& in_append = send("sku-d", env(), caf::make_message(restock{1}));
  settle();
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u);
  // Passivating: the entity answers what it holds first, and its append hangs.
  caf::anon_send(host, runtime::stop_atom::value, std::string{"sku-d"});
  settle();
  auto e = env();
  e.deadline_us = now_us() + 500'000;
  auto& kept = send("sku-d", e, caf::make_message(restock{2}));
  settle(490ms);
  BOOST_TEST(kept.answers.empty());
  settle(20ms);
  BOOST_REQUIRE_EQUAL(kept.answers.size(), 1u);
  BOOST_TEST(error_name(kept.answers[0]) == "deadline_exceeded");
  BOOST_TEST(in_append.answers.empty());
  // The append commits late: its own command is answered, the expired one not again.
  release_held(journal_answer::committed);
  settle(2s);
  BOOST_REQUIRE_EQUAL(in_append.answers.size(), 1u);
  BOOST_TEST(accepted(in_append.answers[0]));
  BOOST_TEST(kept.answers.size() == 1u);
  BOOST_TEST(store->replay("inventory/sku-d").on_hand == 11);
  BOOST_TEST(entities().empty()); // passivated: nothing was left to wake it
}

// Each command the host handed on with a deadline armed a CAF request timeout of its own (in
// 0.17 a clock-thread event, never cancelled, firing later as a message); one sweep now serves
// every deadline of its stretch.
BOOST_AUTO_TEST_CASE(
    commands_handed_to_a_hung_entity_are_answered_past_their_deadline_by_one_host_timer) {
  ok("sku-h", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& in_append = send("sku-h", env(), caf::make_message(restock{1}));
  settle();
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u);
  auto timers_before = sched.clock().schedule().size();
  auto deadline = now_us() + 500'000;
  std::vector<caller*> behind;
  for (int i = 0; i < 20; ++i) {
    auto e = env();
    e.deadline_us = deadline;
    behind.push_back(&send("sku-h", e, caf::make_message(restock{1})));
  }
  settle();
  BOOST_TEST(sched.clock().schedule().size() - timers_before <= 2u); // a sweep, maybe a tick
  // The entity holds them behind its hung append; the host answers them a grace after their
  // deadline (1 s), at most a sweep's slack (100 ms) later.
  settle(1480ms);
  for (auto* c : behind) {
    BOOST_TEST(c->answers.empty());
  }
  settle(150ms);
  for (auto* c : behind) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(error_name(c->answers[0]) == "system_error(request_timeout)");
  }
  // The append commits late: its command is answered; the others, past their deadline in the
  // entity's queue, are not executed and not answered again.
  release_held(journal_answer::committed);
  settle(2s);
  BOOST_REQUIRE_EQUAL(in_append.answers.size(), 1u);
  BOOST_TEST(accepted(in_append.answers[0]));
  for (auto* c : behind) {
    BOOST_TEST(c->answers.size() == 1u);
  }
  BOOST_TEST(store->replay("inventory/sku-h").on_hand == 11);
}

BOOST_AUTO_TEST_CASE(
    commands_taken_back_from_a_killed_entity_are_answered_outcome_unknown_at_their_deadline) {
  auto s = settings;
  s.restart_backoff = 5s; // the restart comes after the deadlines
  respawn_host(s);
  ok("sku-r", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto e1 = env();
  e1.deadline_us = now_us() + 1'000'000;
  auto& in_append = send("sku-r", e1, caf::make_message(restock{1}));
  settle();
  auto e2 = env();
  e2.deadline_us = e1.deadline_us;
  auto& queued = send("sku-r", e2, caf::make_message(restock{2}));
  settle();
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u);
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-r"});
  settle(990ms);
  BOOST_TEST(in_append.answers.empty());
  BOOST_TEST(queued.answers.empty());
  settle(20ms);
  // The dead incarnation had them: they may have been recorded, so not "deadline_exceeded".
  for (auto* c : {&in_append, &queued}) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(error_name(c->answers[0]) == "outcome_unknown", c->message_id);
  }
  // Indeed: the dead incarnation's append commits late.
  release_held(journal_answer::committed);
  settle(6s);
  BOOST_TEST(store->replay("inventory/sku-r").on_hand == 11);
  for (auto* c : {&in_append, &queued}) {
    BOOST_TEST(c->answers.size() == 1u, c->message_id);
  }
}

BOOST_AUTO_TEST_CASE(a_command_rejected_on_a_stale_copy_is_accepted_after_catching_up) {
  ok("sku-s", caf::make_message(restock{5}));
  // Another process hosting the same SKU records the reservation: this entity's copy has none.
  store->write_foreign("inventory/sku-s", reserved{"o-1", 2, now_us() + 60'000'000});
  ok("sku-s", caf::make_message(commit{"o-1"}));
  BOOST_TEST(store->version("inventory/sku-s") == 3);
  BOOST_TEST(store->replay("inventory/sku-s").on_hand == 3);
  // The caught-up copy is the entity's state from now on: the next decision appends after it.
  ok("sku-s", caf::make_message(restock{1}));
  BOOST_TEST(store->version("inventory/sku-s") == 4);
}

BOOST_AUTO_TEST_CASE(a_direct_command_whose_catch_up_ends_the_entity_is_answered_once) {
  ok("sku-cu", caf::make_message(restock{5}));
  // Another writer's event that this incarnation cannot apply (once): the catch-up read of a
  // rejection ends it, with the command it was checking.
  bugs->apply_throws_for_qty = 13;
  bugs->apply_throws = 1;
  store->write_foreign("inventory/sku-cu", restocked{13});
  auto& c = send_direct("sku-cu", env(), caf::make_message(commit{"o-unknown"}));
  settle(2s);
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  // Decided again by the next incarnation, on the whole stream.
  BOOST_TEST(rejected(c.answers[0]), error_name(c.answers[0]));
  BOOST_TEST(store->replay("inventory/sku-cu").on_hand == 18);
}

BOOST_AUTO_TEST_CASE(a_rejection_on_a_current_copy_costs_one_read_and_is_answered) {
  ok("sku-c", caf::make_message(restock{1}));
  auto reads = store->catch_up_reads;
  auto r = call("sku-c", env(), caf::make_message(commit{"o-unknown"}));
  BOOST_TEST(rejected(r), error_name(r));
  BOOST_TEST(store->catch_up_reads == reads + 1);
  BOOST_TEST(store->version("inventory/sku-c") == 1);
  // Accepted commands read nothing more.
  ok("sku-c", caf::make_message(restock{1}));
  BOOST_TEST(store->catch_up_reads == reads + 1);
}

// An unknown SKU: the command that activates its entity is rejected on a copy read after the
// command arrived, as fresh as a catch-up would read it.
BOOST_AUTO_TEST_CASE(a_rejection_by_the_command_that_activated_the_entity_costs_one_read) {
  auto r = call("sku-none", env(), caf::make_message(reserve{"o-1", 1, 60000}));
  BOOST_TEST(rejected(r), error_name(r));
  BOOST_TEST(store->recovery_reads == 1u);
  BOOST_TEST(store->catch_up_reads == 0u);
  // Once active, a rejection on the copy it holds still reads the stream first.
  auto again = call("sku-none", env(), caf::make_message(reserve{"o-2", 1, 60000}));
  BOOST_TEST(!accepted(again));
  BOOST_TEST(store->catch_up_reads == 1u);
}

BOOST_AUTO_TEST_CASE(a_rejection_whose_catch_up_read_fails_is_not_answered_from_the_stale_copy) {
  ok("sku-f", caf::make_message(restock{5}));
  store->write_foreign("inventory/sku-f", reserved{"o-1", 2, now_us() + 60'000'000});
  store->catch_up_fails = true;
  auto r = call("sku-f", env(), caf::make_message(commit{"o-1"}));
  BOOST_TEST(error_name(r) == "journal_unavailable");
  store->catch_up_fails = false;
  ok("sku-f", caf::make_message(commit{"o-1"}));
}

// No CAF request timeout guards an entity's append or read (each cost clock-thread events per
// command): the entity's tick ends it once the journal or the reader is overdue, and the next
// incarnation answers what it held, from the stream.
BOOST_AUTO_TEST_CASE(an_append_the_journal_never_answers_ends_the_entity_and_loses_no_command) {
  ok("sku-h", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& via_host = send("sku-h", env(), caf::make_message(restock{5}));
  auto& direct = send_direct("sku-h", env(), caf::make_message(restock{7}));
  settle(runtime::append_limit + 3 * settings.tick_interval, 100ms);
  BOOST_TEST(crashes("sku-h") == 1u);
  for (auto* c : {&via_host, &direct}) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(accepted(c->answers[0]), error_name(c->answers[0]));
  }
  BOOST_TEST(store->replay("inventory/sku-h").on_hand == 22);
  // The hung append commits after all: refused by its version, nothing is recorded twice.
  auto events = store->streams["inventory/sku-h"].size();
  release_held(journal_answer::committed);
  settle(2s);
  BOOST_TEST(store->streams["inventory/sku-h"].size() == events);
  BOOST_TEST(store->replay("inventory/sku-h").on_hand == 22);
}

BOOST_AUTO_TEST_CASE(an_append_overdue_after_it_committed_is_answered_from_the_stream_once) {
  ok("sku-hc", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& c = send_direct("sku-hc", env(), caf::make_message(restock{4}));
  settle(1s);
  // Committed, but its answer never comes (lost on the way back).
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u);
  store->write(store->held.front().first);
  store->held.clear();
  settle(runtime::append_limit + 3 * settings.tick_interval, 100ms);
  BOOST_TEST(crashes("sku-hc") == 1u);
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(accepted(c.answers[0]), error_name(c.answers[0]));
  BOOST_TEST(store->replay("inventory/sku-hc").on_hand == 14);
}

BOOST_AUTO_TEST_CASE(a_recovery_read_the_reader_never_answers_ends_the_entity_and_is_read_again) {
  store->recovery_reads_to_hold = 1;
  auto& c = send("sku-rh", env(), caf::make_message(restock{5}));
  settle(runtime::read_limit + 3 * settings.tick_interval, 100ms);
  BOOST_TEST(crashes("sku-rh") == 1u);
  BOOST_TEST(store->recovery_reads == 2u);
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(accepted(c.answers[0]), error_name(c.answers[0]));
  BOOST_TEST(store->replay("inventory/sku-rh").on_hand == 5);
}

BOOST_AUTO_TEST_CASE(
    a_catch_up_read_the_reader_never_answers_ends_the_entity_and_is_decided_again) {
  ok("sku-ch", caf::make_message(restock{5}));
  store->write_foreign("inventory/sku-ch", reserved{"o-1", 2, now_us() + 600'000'000});
  store->catch_up_reads_to_hold = 1;
  auto& c = send_direct("sku-ch", env(), caf::make_message(commit{"o-1"}));
  settle(runtime::read_limit + 3 * settings.tick_interval, 100ms);
  BOOST_TEST(crashes("sku-ch") == 1u);
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  // The next incarnation read the whole stream: the reservation is there, the commit accepted.
  BOOST_TEST(accepted(c.answers[0]), error_name(c.answers[0]));
  BOOST_TEST(store->replay("inventory/sku-ch").on_hand == 3);
}

// The order's ?wait answer rides on the committed hook: an append whose reply is lost (or a
// killed incarnation's) must still be heard, from the recovery that finds it in the stream.
BOOST_AUTO_TEST_CASE(an_append_answered_outcome_unknown_that_committed_is_heard_by_the_hook) {
  ok("sku-o", caf::make_message(restock{10}));
  BOOST_TEST((heard->back() == std::pair<int64_t, int64_t>{0, 10}));
  store->script = {journal_answer::unknown_committed};
  auto r = call("sku-o", env(), caf::make_message(restock{1}));
  BOOST_TEST(error_name(r) == "outcome_unknown");
  BOOST_TEST_REQUIRE(!heard->empty());
  BOOST_TEST((heard->back() == std::pair<int64_t, int64_t>{10, 11}));
}

BOOST_AUTO_TEST_CASE(an_entity_activated_on_a_written_stream_tells_the_hook_what_it_rebuilt) {
  // Written by an incarnation that died before its append was answered.
  store->write(persistence::stream_append{
      "inventory/sku-a", 0, {runtime::to_new_event(encode(event{restocked{7}}))}});
  caf::anon_send(host, runtime::wake_atom::value, std::string{"sku-a"});
  settle();
  BOOST_TEST_REQUIRE(heard->size() == 1u);
  BOOST_TEST((heard->back() == std::pair<int64_t, int64_t>{0, 7}));
}

BOOST_AUTO_TEST_CASE(a_redelivered_rejected_command_gets_the_same_rejection_and_records_nothing) {
  ok("sku-rj", caf::make_message(restock{1}));
  auto first = call("sku-rj", env("commit-unknown"), caf::make_message(commit{"o-unknown"}));
  auto again = call("sku-rj", env("commit-unknown"), caf::make_message(commit{"o-unknown"}));
  for (const auto* r : {&first, &again}) {
    BOOST_TEST_REQUIRE(rejected(*r), error_name(*r));
    const auto& err = std::get<caf::error>(*r);
    BOOST_TEST(
        (runtime::rejection_code<inventory_errc>(err) == inventory_errc::unknown_reservation));
    BOOST_TEST(runtime::reason_of(err) == runtime::reason_of(std::get<caf::error>(first)));
  }
  BOOST_TEST(store->version("inventory/sku-rj") == 1);
}

BOOST_AUTO_TEST_CASE(a_restock_retried_after_a_snapshot_and_a_restart_is_applied_once) {
  auto first = ok("sku-s", caf::make_message(restock{5}), env("restock-key-1"));
  BOOST_TEST(first.recorded.size() == 1u);
  for (int i = 0; i < 5; ++i) { // snapshot_every = 3: a snapshot now covers restock-key-1
    ok("sku-s", caf::make_message(restock{1}));
  }
  BOOST_REQUIRE(store->snapshots.count("inventory/sku-s") == 1u);
  BOOST_REQUIRE(store->snapshots["inventory/sku-s"].stream_version >= 3);
  // A crash: the next incarnation recovers from the snapshot and the events after it.
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-s"});
  settle(1s);
  auto retried = ok("sku-s", caf::make_message(restock{5}), env("restock-key-1"));
  // The first outcome again (its events and version), nothing new recorded.
  BOOST_TEST((retried.recorded == first.recorded));
  BOOST_TEST(retried.version == first.version);
  BOOST_TEST(store->replay("inventory/sku-s").on_hand == 10);
  // Passivation, then another retry: the same.
  settle(settings.idle_timeout + 2 * settings.tick_interval);
  BOOST_REQUIRE(entities().empty());
  auto again = ok("sku-s", caf::make_message(restock{5}), env("restock-key-1"));
  BOOST_TEST(again.version == first.version);
  BOOST_TEST(store->replay("inventory/sku-s").on_hand == 10);
}

// A snapshot this build cannot decode (written by a newer build, or by an older one after a
// format change and a rollback) is only a shortcut: the entity replays its whole stream instead.
// It used to end unreadable_history on every activation, and its host parked it.
BOOST_AUTO_TEST_CASE(an_entity_whose_snapshot_it_cannot_decode_replays_its_whole_stream) {
  auto first = ok("sku-snap", caf::make_message(restock{5}), env("restock-key-1"));
  for (int i = 0; i < 5; ++i) { // snapshot_every = 3
    ok("sku-snap", caf::make_message(restock{1}));
  }
  BOOST_REQUIRE(store->snapshots.count("inventory/sku-snap") == 1u);
  store->snapshots["inventory/sku-snap"].payload = R"({"written by":"another build"})";
  auto catch_ups = store->catch_up_reads;
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-snap"});
  settle(1s);
  auto after = ok("sku-snap", caf::make_message(restock{1}));
  BOOST_TEST(after.version == 7);
  BOOST_TEST(store->replay("inventory/sku-snap").on_hand == 11);
  BOOST_TEST(store->catch_up_reads == catch_ups + 1); // the stream from its first event
  // Its dedupe came back with it: a retry of the first restock gets its first outcome.
  auto retried = ok("sku-snap", caf::make_message(restock{5}), env("restock-key-1"));
  BOOST_TEST(retried.version == first.version);
  BOOST_TEST(store->replay("inventory/sku-snap").on_hand == 11);
  BOOST_TEST(status("sku-snap") == "running");
}

BOOST_AUTO_TEST_CASE(a_message_id_is_forgotten_only_after_the_dedupe_window) {
  auto first = ok("sku-w", caf::make_message(restock{5}), env("old-key"));
  for (int i = 0; i < 3; ++i) {
    ok("sku-w", caf::make_message(restock{1}));
  }
  settle(runtime::dedupe_window - 1h, 1h); // passivates, snapshot on record
  auto inside = ok("sku-w", caf::make_message(restock{5}), env("old-key"));
  BOOST_TEST(inside.version == first.version);
  settle(2h, 1h);
  auto outside = ok("sku-w", caf::make_message(restock{5}), env("old-key"));
  BOOST_TEST(outside.version == 5); // past the promised window: a new restock
}

BOOST_AUTO_TEST_CASE(a_sku_holding_reservations_stays_active_until_they_expire) {
  ok("sku-x", caf::make_message(restock{10}));
  ok("sku-x", caf::make_message(reserve{"o-1", 3, 60000}));
  settle(settings.idle_timeout + 3 * settings.tick_interval);
  BOOST_TEST(entities().size() == 1u); // idle, but holding a reservation
  settle(60s, 100ms);
  BOOST_TEST(store->replay("inventory/sku-x").reserved_qty == 0);
  BOOST_TEST(store->streams["inventory/sku-x"].back().type == wire::reservation_expired);
  settle(settings.idle_timeout + 3 * settings.tick_interval);
  BOOST_TEST(entities().empty()); // nothing held any more: it passivates
}

// Thousands of idle entities, each woken every tick_interval, kept the node's clock thread and
// workers busy for nothing: an idle entity waits for one timer, when it may passivate.
BOOST_AUTO_TEST_CASE(an_idle_entity_is_woken_by_no_timer_until_it_may_passivate) {
  ok("sku-i", caf::make_message(restock{10}));
  size_t fired = 0;
  for (int i = 0; i < 5; ++i) {
    fired += sched.advance_time(settings.tick_interval);
    sched.run();
  }
  BOOST_TEST(fired == 0u);
  settle(settings.idle_timeout);
  BOOST_TEST(entities().empty()); // it still passivates
}

// A command re-armed a tick within tick_interval on an entity that had only its passivation tick
// left, and that tick armed the passivation tick again: two clock-thread events per command on
// an idle entity (every stock take on a quiet SKU), for no check that needed them.
BOOST_AUTO_TEST_CASE(a_command_to_an_idle_entity_arms_no_tick) {
  ok("sku-q", caf::make_message(restock{10}));
  auto& c = send_direct("sku-q", env(), caf::make_message(restock{1}));
  sched.run();
  size_t fired = 0;
  for (int i = 0; i < 5; ++i) {
    fired += sched.advance_time(settings.tick_interval);
    sched.run();
  }
  BOOST_TEST(fired == 0u);
  collect();
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(accepted(c.answers[0]), error_name(c.answers[0]));
  settle(settings.idle_timeout);
  BOOST_TEST(entities().empty()); // it still passivates
}

// Each order activates entities that get one command and then idle (its notification, its
// payment): each armed a tick within tick_interval at activation, and that tick the passivation
// tick; one tick, when it may passivate, does.
BOOST_AUTO_TEST_CASE(
    an_entity_idle_after_the_command_that_activated_it_is_woken_once_to_passivate) {
  auto& c = send("sku-once", env(), caf::make_message(restock{3}));
  size_t fired = 0;
  for (auto passed = 0s; passed < settings.idle_timeout + 3 * settings.tick_interval;
       passed += 1s) {
    sched.run();
    fired += sched.advance_time(1s);
  }
  sched.run();
  collect();
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(accepted(c.answers[0]), error_name(c.answers[0]));
  BOOST_TEST(entities().empty());
  BOOST_TEST(fired == 1u);
}

BOOST_AUTO_TEST_CASE(expired_holds_are_released_on_activation_before_any_command_is_decided) {
  // Written while no entity was active (a passivated or crashed node): a hold that has expired.
  auto held = runtime::to_new_event(encode(event{reserved{"o-old", 5, now_us() - 1'000'000}}));
  store->write(persistence::stream_append{
      "inventory/sku-a", 0, {runtime::to_new_event(encode(event{restocked{5}})), held}});
  auto r = ok("sku-a", caf::make_message(reserve{"o-new", 5, 60000}));
  BOOST_TEST((r.recorded == std::vector<inventory_recorded>{inventory_recorded::reserved}));
  auto state = store->replay("inventory/sku-a");
  BOOST_TEST(state.reservations.count("o-old") == 0u);
  BOOST_TEST(state.reserved_qty == 5);
}

BOOST_AUTO_TEST_CASE(a_recorded_command_resent_after_its_deadline_gets_its_first_outcome) {
  // A client retries with the same message id after its first deadline: the command was
  // recorded, so the retry learns that, not "deadline passed, not executed".
  auto first = env("restock-late-retry");
  first.deadline_us = now_us() + 500'000;
  ok("sku-late", caf::make_message(restock{3}), first);
  settle(1s);
  auto& again = send("sku-late", first, caf::make_message(restock{3}));
  settle();
  BOOST_REQUIRE_EQUAL(again.answers.size(), 1u);
  BOOST_TEST(accepted(again.answers[0]), error_name(again.answers[0]));
  BOOST_TEST(store->replay("inventory/sku-late").on_hand == 3);
}

// Activation without a read. Each order activates three entities whose streams cannot exist yet
// (the gateway mints the order id): the command that may start a stream (the traits'
// starts_stream) is decided on a copy assumed empty, which only an append, at expected version 0,
// checks. Whatever would be answered without appending is answered only from the stream read.

namespace {

bool is_restock(const command& c) {
  return std::holds_alternative<restock>(c);
}

bool every_command(const command&) {
  return true;
}

/// The events `what`, written to `stream` by another node (the entity's copy knows nothing).
void written_elsewhere(fake_store& store, const std::string& stream, std::vector<event> what) {
  persistence::stream_append a{stream, store.version(stream), {}};
  for (const auto& e : what) {
    a.events.push_back(runtime::to_new_event(encode(e)));
  }
  store.write(a);
}

} // namespace

// An order's saga starts from the committed hook: a new stream's first append answered
// outcome_unknown after idle_timeout, with the recovery read that finds it still out, let the
// entity ask to passivate on its pre-read copy (empty: it may) and stop; the hook never ran.
BOOST_AUTO_TEST_CASE(an_entity_whose_recovery_read_is_out_does_not_passivate) {
  bugs->starts_stream = is_restock;
  store->script = {journal_answer::hold};
  auto& c = send("sku-np", env(), caf::make_message(restock{5}));
  settle(settings.idle_timeout + 2 * settings.tick_interval, 100ms);
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u);
  store->recovery_reads_to_hold = 1;
  release_held(journal_answer::unknown_committed); // committed, its answer lost
  settle(5 * settings.tick_interval, 100ms);
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(error_name(c.answers[0]) == "outcome_unknown");
  BOOST_REQUIRE_EQUAL(store->held_reads.size(), 1u);
  BOOST_TEST(status("sku-np") == "running");
  BOOST_TEST(heard->empty());
  release_held_reads();
  settle(1s);
  BOOST_TEST_REQUIRE(heard->size() == 1u);
  BOOST_TEST((heard->back() == std::pair<int64_t, int64_t>{0, 5}));
  BOOST_TEST(crashes("sku-np") == 0u);
  settle(settings.idle_timeout + 2 * settings.tick_interval, 100ms);
  BOOST_TEST(entities().empty()); // recovered and idle: now it passivates
}

// Stopped by its host while its recovery read was out, the entity quit at once on its unread
// copy: the hook never heard the append the read would have found.
BOOST_AUTO_TEST_CASE(an_entity_stopped_while_its_recovery_read_hangs_ends_by_the_read_limit) {
  bugs->starts_stream = is_restock;
  store->script = {journal_answer::unknown_committed};
  store->recovery_reads_to_hold = 1;
  auto& first = send("sku-sh", env(), caf::make_message(restock{5}));
  settle(1s);
  BOOST_REQUIRE_EQUAL(store->held_reads.size(), 1u);
  caf::anon_send(host, runtime::stop_atom::value, std::string{"sku-sh"});
  settle(1s);
  auto& later = send("sku-sh", env(), caf::make_message(restock{2})); // kept by the host
  settle(runtime::read_limit + 3 * settings.tick_interval, 100ms);
  BOOST_TEST(crashes("sku-sh") == 1u);
  BOOST_TEST(store->recovery_reads == 2u);
  BOOST_REQUIRE_EQUAL(first.answers.size(), 1u);
  BOOST_TEST(error_name(first.answers[0]) == "outcome_unknown");
  BOOST_REQUIRE_EQUAL(later.answers.size(), 1u);
  BOOST_TEST(accepted(later.answers[0]), error_name(later.answers[0]));
  BOOST_TEST_REQUIRE(!heard->empty());
  BOOST_TEST((heard->front() == std::pair<int64_t, int64_t>{0, 5}));
  BOOST_TEST(store->replay("inventory/sku-sh").on_hand == 7);
}

BOOST_AUTO_TEST_CASE(a_command_that_starts_a_new_stream_is_answered_after_one_append_and_no_read) {
  bugs->starts_stream = is_restock;
  auto r = ok("sku-new", caf::make_message(restock{5}));
  BOOST_TEST(r.version == 1);
  BOOST_TEST(store->recovery_reads == 0u);
  BOOST_TEST(store->catch_up_reads == 0u);
  BOOST_TEST(store->appends == 1u);
  BOOST_TEST((heard->back() == std::pair<int64_t, int64_t>{0, 5}));
  // The appended copy is the stream: what follows is decided on it.
  ok("sku-new", caf::make_message(reserve{"o-1", 2, 60000}));
  BOOST_TEST(store->recovery_reads == 0u);
  BOOST_TEST(store->replay("inventory/sku-new").reserved_qty == 2);
}

// The race between a host's spawn and its first command: a worker may run the new entity before
// the host has handed it anything. It must still wait for that command to decide whether to read.
BOOST_AUTO_TEST_CASE(
    an_entity_run_before_its_first_command_arrives_reads_nothing_for_a_new_stream) {
  bugs->starts_stream = is_restock;
  faulty_inventory_traits traits;
  traits.bugs = bugs;
  traits.heard = heard;
  auto entity = runtime::spawn_entity(sys, traits, "sku-early", host,
                                      caf::actor_cast<persistence::journal_actor>(journal),
                                      caf::actor_cast<persistence::reader_actor>(reader), settings);
  sched.run(); // the scheduler gets to the entity before anyone sends it a command
  auto& c = send(runtime::deliver_atom::value, entity, env(), caf::make_message(restock{5}));
  settle(2s);
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(accepted(c.answers.front()));
  BOOST_TEST(store->recovery_reads == 0u);
  BOOST_TEST(store->appends == 1u);
  caf::anon_send_exit(entity, caf::exit_reason::user_shutdown);
  sched.run();
}

BOOST_AUTO_TEST_CASE(an_entity_restarted_with_no_command_waiting_recovers_and_expires_its_holds) {
  ok("sku-back", caf::make_message(restock{5}));
  ok("sku-back", caf::make_message(reserve{"o-1", 2, 3000}));
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-back"});
  settle(settings.idle_timeout + 3 * settings.tick_interval, 100ms);
  // Checked before asking the host anything: its entity list asks each running entity too.
  BOOST_TEST(store->replay("inventory/sku-back").reserved_qty == 0);
  BOOST_TEST(store->streams["inventory/sku-back"].back().type == wire::reservation_expired);
}

BOOST_AUTO_TEST_CASE(a_command_replayed_to_an_entity_that_assumed_its_stream_new_is_answered_once) {
  bugs->starts_stream = is_restock;
  auto first = ok("sku-rp", caf::make_message(restock{5}), env("restock-key"));
  for (int i = 0; i < 4; ++i) { // snapshot_every = 3: a snapshot holds restock-key's outcome
    ok("sku-rp", caf::make_message(restock{1}));
  }
  BOOST_REQUIRE(store->snapshots.count("inventory/sku-rp") == 1u);
  settle(settings.idle_timeout + 2 * settings.tick_interval);
  BOOST_REQUIRE(entities().empty());
  auto appends = store->appends;
  auto& c = send("sku-rp", env("restock-key"), caf::make_message(restock{5}));
  settle(2s);
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_REQUIRE(accepted(c.answers[0]));
  const auto& again = std::get<inventory_reply>(c.answers[0]);
  BOOST_TEST((again.recorded == first.recorded));
  BOOST_TEST(again.version == first.version);
  // The append at version 0 was refused; the read that followed found the key: nothing new.
  BOOST_TEST(store->appends == appends + 1);
  BOOST_TEST(store->recovery_reads == 1u);
  BOOST_TEST(store->version("inventory/sku-rp") == 5);
  BOOST_TEST(store->replay("inventory/sku-rp").on_hand == 9);
}

BOOST_AUTO_TEST_CASE(a_new_command_to_an_entity_that_assumed_its_stream_new_is_decided_on_it) {
  bugs->starts_stream = is_restock;
  written_elsewhere(*store, "inventory/sku-ex",
                    {restocked{5}, reserved{"o-1", 2, now_us() + 60'000'000}});
  auto r = ok("sku-ex", caf::make_message(restock{1}));
  BOOST_TEST(r.version == 3);
  BOOST_TEST(r.summary.on_hand == 6);
  BOOST_TEST(r.summary.reserved == 2);
  BOOST_TEST(store->version("inventory/sku-ex") == 3);
  BOOST_TEST(store->appends == 2u); // the one at version 0, refused
  BOOST_TEST(store->recovery_reads == 1u);
  // The hook heard the stream it found, then the restock.
  BOOST_TEST((*heard == heard_commits{{0, 5}, {5, 6}}));
}

BOOST_AUTO_TEST_CASE(a_rejection_on_a_copy_assumed_new_is_answered_only_from_the_stream_read) {
  bugs->starts_stream = every_command;
  written_elsewhere(*store, "inventory/sku-rj",
                    {restocked{5}, reserved{"o-1", 2, now_us() + 60'000'000}});
  // Refused on an empty copy (no such reservation); the stream has it.
  auto r = ok("sku-rj", caf::make_message(commit{"o-1"}));
  BOOST_TEST((r.recorded == std::vector<inventory_recorded>{inventory_recorded::committed}));
  BOOST_TEST(store->recovery_reads == 1u);
  BOOST_TEST(store->catch_up_reads == 0u);
  BOOST_TEST(store->appends == 1u);
}

BOOST_AUTO_TEST_CASE(a_command_changing_nothing_on_a_copy_assumed_new_is_answered_from_the_stream) {
  bugs->starts_stream = every_command;
  written_elsewhere(*store, "inventory/sku-st",
                    {restocked{5}, reserved{"o-1", 2, now_us() + 60'000'000}, committed{"o-1", 2}});
  // Nothing to settle on an empty copy; the stream has the order's committed quantity.
  auto r = ok("sku-st", caf::make_message(inventory::settle{"o-1"}));
  BOOST_TEST((r.recorded == std::vector<inventory_recorded>{inventory_recorded::settled}));
  BOOST_TEST(r.version == 4);
  BOOST_TEST(store->recovery_reads == 1u);
  BOOST_TEST(store->appends == 1u);
}

BOOST_AUTO_TEST_CASE(a_recorded_command_resent_late_to_a_copy_assumed_new_gets_its_first_outcome) {
  bugs->starts_stream = is_restock;
  auto first = env("restock-late-retry");
  first.deadline_us = now_us() + 500'000;
  auto r = ok("sku-late", caf::make_message(restock{3}), first);
  settle(settings.idle_timeout + 2 * settings.tick_interval);
  BOOST_REQUIRE(entities().empty());
  auto& again = send("sku-late", first, caf::make_message(restock{3}));
  settle();
  BOOST_REQUIRE_EQUAL(again.answers.size(), 1u);
  BOOST_REQUIRE_MESSAGE(accepted(again.answers[0]), error_name(again.answers[0]));
  BOOST_TEST(std::get<inventory_reply>(again.answers[0]).version == r.version);
  BOOST_TEST(store->replay("inventory/sku-late").on_hand == 3);
}

BOOST_AUTO_TEST_CASE(expired_holds_are_released_before_a_command_on_a_copy_assumed_new_decides) {
  bugs->starts_stream = every_command;
  written_elsewhere(*store, "inventory/sku-a",
                    {restocked{5}, reserved{"o-old", 5, now_us() - 1'000'000}});
  auto r = ok("sku-a", caf::make_message(reserve{"o-new", 5, 60000}));
  BOOST_TEST((r.recorded == std::vector<inventory_recorded>{inventory_recorded::reserved}));
  auto state = store->replay("inventory/sku-a");
  BOOST_TEST(state.reservations.count("o-old") == 0u);
  BOOST_TEST(state.reserved_qty == 5);
}

BOOST_AUTO_TEST_CASE(the_commands_that_create_an_order_its_payment_or_notification_start_streams) {
  order::order_traits order_kind;
  BOOST_TEST(order_kind.starts_stream(order::place_order{}));
  BOOST_TEST(!order_kind.starts_stream(order::record_reservation{}));
  BOOST_TEST(!order_kind.starts_stream(order::record_timeout{}));
  payment::payment_traits payment_kind;
  BOOST_TEST(payment_kind.starts_stream(payment::sell{}));
  BOOST_TEST(payment_kind.starts_stream(payment::authorize{}));
  BOOST_TEST(!payment_kind.starts_stream(payment::record_sale_result{}));
  BOOST_TEST(!payment_kind.starts_stream(payment::reverse_sale{}));
  BOOST_TEST(!payment_kind.starts_stream(payment::capture{}));
  notification::notification_traits notification_kind;
  BOOST_TEST(notification_kind.starts_stream(notification::record_notification{}));
}

// The node's gauge poller reads every host each second while thousands of entities are active
// (an order's entities stay 30 s): asking each entity for its report cost a message, a reply and
// a timer per entity and second. The host answers from its own bookkeeping.
BOOST_AUTO_TEST_CASE(reading_a_hosts_waiting_commands_wakes_no_entity_and_arms_no_timer) {
  for (const auto* id : {"sku-1", "sku-2", "sku-3"}) {
    ok(id, caf::make_message(restock{1}));
  }
  store->script = {journal_answer::hold};
  send("sku-1", env(), caf::make_message(restock{1}));
  settle();
  send("sku-1", env(), caf::make_message(restock{2}));
  send("sku-2", env(), caf::make_message(restock{3}));
  settle();
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u); // sku-2 committed, sku-1's second waits
  // What the gauge poller asks, and what it costs: actors run and timers armed.
  auto read_waiting = [&](size_t& jobs, size_t& timers) {
    auto before = sched.clock().schedule().size();
    auto rh =
        probe->request(host, caf::infinite, caf::get_atom::value, runtime::waiting_atom::value);
    jobs = sched.run();
    timers = sched.clock().schedule().size() - before;
    uint64_t waiting = 0;
    rh.receive([&](uint64_t n) { waiting = n; },
               [&](caf::error& e) { BOOST_FAIL("no count: " << sys.render(e)); });
    return waiting;
  };
  size_t jobs = 0;
  size_t timers = 0;
  BOOST_TEST(read_waiting(jobs, timers) == 2u); // the held append's command, the one behind it
  BOOST_TEST(jobs == 1u);                       // the host alone
  BOOST_TEST(timers == 0u);
  release_held(journal_answer::committed);
  settle(1s);
  BOOST_TEST(read_waiting(jobs, timers) == 0u);
}

BOOST_AUTO_TEST_CASE(a_direct_command_whose_caller_ended_first_is_not_counted_as_waiting) {
  ok("sku-gone", caf::make_message(restock{1}));
  store->script = {journal_answer::hold};
  auto& c = send_direct("sku-gone", env(), caf::make_message(restock{1}));
  settle();
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u);
  // The caller ends (an entity passivating or crashing with a step in flight) before the answer.
  caf::anon_send_exit(c.sender, caf::exit_reason::kill);
  settle();
  release_held(journal_answer::committed);
  settle(1s);
  auto rh = probe->request(host, caf::infinite, caf::get_atom::value, runtime::waiting_atom::value);
  sched.run();
  uint64_t waiting = 99;
  rh.receive([&](uint64_t n) { waiting = n; },
             [&](caf::error& e) { BOOST_FAIL("no count: " << sys.render(e)); });
  BOOST_TEST(waiting == 0u);
  BOOST_TEST(store->replay("inventory/sku-gone").on_hand == 2);
}

// A command an entity took straight from its caller and did not answer before it ended goes to
// the host (take_back_atom), which keeps it for the next incarnation. Its caller still waits for
// the answer, so entity_handles::direct_in_flight still counts it: the host must not count it too.
BOOST_AUTO_TEST_CASE(a_taken_back_command_is_counted_once_as_waiting) {
  ok("sku-tb", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& in_append = send_direct("sku-tb", env(), caf::make_message(restock{1}));
  settle();
  auto& queued = send_direct("sku-tb", env(), caf::make_message(restock{2}));
  settle();
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u);
  // (Every run through settle(): test_coordinator runs actors on a worker object of its stack
  // frame, and a promise a dead entity made delivers on the last one it ran on.)
  auto read_waiting = [&] {
    auto rh =
        probe->request(host, caf::infinite, caf::get_atom::value, runtime::waiting_atom::value);
    settle();
    uint64_t waiting = 99;
    rh.receive([&](uint64_t n) { waiting = n; },
               [&](caf::error& e) { BOOST_FAIL("no count: " << sys.render(e)); });
    return waiting;
  };
  // Killed: the host keeps both for the next incarnation (restart_backoff later).
  BOOST_TEST(read_waiting() == 2u); // both inside the entity, counted by their callers
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-tb"});
  settle();
  BOOST_TEST(read_waiting() == 2u);
  settle(2s);
  for (auto* c : {&in_append, &queued}) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(accepted(c->answers[0]), c->message_id << ": " << error_name(c->answers[0]));
  }
  BOOST_TEST(read_waiting() == 0u);
  release_held(journal_answer::committed); // the dead incarnation's append: refused by version
  settle(1s);
  BOOST_TEST(store->replay("inventory/sku-tb").on_hand == 13);
}

BOOST_AUTO_TEST_CASE(a_command_for_a_running_entity_reaches_it_without_the_host) {
  ok("sku-r", caf::make_message(restock{10}));
  auto& c = send_direct("sku-r", env(), caf::make_message(restock{1}));
  BOOST_TEST(run_counting_host_jobs() == 0u);
  collect();
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(accepted(c.answers[0]), error_name(c.answers[0]));
  // An entity not running is reached through the host, which activates it.
  auto& cold = send_direct("sku-new", env(), caf::make_message(restock{1}));
  BOOST_TEST(run_counting_host_jobs() > 0u);
  collect();
  BOOST_REQUIRE_EQUAL(cold.answers.size(), 1u);
  BOOST_TEST(accepted(cold.answers[0]), error_name(cold.answers[0]));
}

BOOST_AUTO_TEST_CASE(commands_sent_straight_to_an_entity_that_is_killed_are_executed_once) {
  ok("sku-k", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& in_append = send_direct("sku-k", env(), caf::make_message(restock{1}));
  settle();
  auto& queued = send_direct("sku-k", env(), caf::make_message(restock{2}));
  settle();
  BOOST_REQUIRE_EQUAL(store->held.size(), 1u); // both are inside the entity, not at the host
  caf::anon_send(host, runtime::kill_atom::value, std::string{"sku-k"});
  settle(2s);
  for (auto* c : {&in_append, &queued}) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(accepted(c->answers[0]), c->message_id << ": " << error_name(c->answers[0]));
  }
  // The dead incarnation's append arrives late: it can no longer commit.
  release_held(journal_answer::committed);
  settle(1s);
  BOOST_TEST(store->replay("inventory/sku-k").on_hand == 13);
  for (auto* c : {&in_append, &queued}) {
    BOOST_TEST(c->answers.size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(a_command_sent_to_the_handle_of_an_entity_that_just_ended_is_executed_once) {
  // Killed, stopped (passivating) or passivated by idleness: the caller finds the handle listed
  // (its host has not seen it end yet) or not; either way the command is executed once.
  struct way {
    const char* name;
    bool command_first;
    bool kill;
  };
  int n = 0;
  for (auto w : {way{"kill, then send", false, true}, way{"send, then kill", true, true},
                 way{"stop, then send", false, false}, way{"send, then stop", true, false}}) {
    auto sku = "sku-e" + std::to_string(n++);
    ok(sku, caf::make_message(restock{10}));
    auto end_it = [&] {
      if (w.kill) {
        caf::anon_send(host, runtime::kill_atom::value, sku);
      } else {
        caf::anon_send(host, runtime::stop_atom::value, sku);
      }
    };
    if (!w.command_first) {
      end_it();
    }
    auto& c = send_direct(sku, env(), caf::make_message(restock{1}));
    if (w.command_first) {
      end_it();
    }
    settle(2s);
    BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
    BOOST_TEST(accepted(c.answers[0]), w.name << ": " << error_name(c.answers[0]));
    BOOST_TEST(store->replay("inventory/" + sku).on_hand == 11, w.name);
  }
  // Passivated for idleness, then a command to it: activated again through the host.
  settle(settings.idle_timeout + 2 * settings.tick_interval);
  BOOST_REQUIRE(entities().empty());
  auto& late = send_direct("sku-e0", env(), caf::make_message(restock{1}));
  settle(2s);
  BOOST_REQUIRE_EQUAL(late.answers.size(), 1u);
  BOOST_TEST(accepted(late.answers[0]), error_name(late.answers[0]));
  BOOST_TEST(store->replay("inventory/sku-e0").on_hand == 12);
}

BOOST_AUTO_TEST_CASE(a_command_an_entity_took_directly_and_then_crashed_on_is_answered_once) {
  ok("sku-c", caf::make_message(restock{10}));
  store->script = {journal_answer::hold};
  auto& head = send_direct("sku-c", env(), caf::make_message(restock{1}));
  settle();
  bugs->apply_throws_for_qty = 7;
  bugs->apply_throws = 1;
  auto& crashing = send_direct("sku-c", env(), caf::make_message(restock{7}));
  auto& behind = send_direct("sku-c", env(), caf::make_message(restock{2}));
  settle();
  release_held(journal_answer::committed); // the batch with restock{7} is then decided: it throws
  settle(2s);
  for (auto* c : {&head, &crashing, &behind}) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
  }
  BOOST_TEST(accepted(head.answers[0]));
  BOOST_TEST(error_name(crashing.answers[0]) == "crashed");
  BOOST_TEST(accepted(behind.answers[0]), error_name(behind.answers[0]));
  BOOST_TEST(store->replay("inventory/sku-c").on_hand == 13);
  BOOST_TEST(crashes("sku-c") == 1u);
}

// Every order, payment and notification stayed in memory for idle_timeout after its last
// command (30 s: about 30 KB per order at ~1,900 orders/s) and passivated through a tick: a
// clock-thread event and a worker wake-up each. An entity whose aggregate says its work is
// finished ends right after the commit that finished it (this double awaits no answer; one that
// does ends at its next tick, within tick_interval).
BOOST_AUTO_TEST_CASE(a_finished_entity_ends_right_after_its_commit_without_a_tick) {
  respawn_host(settings, true);
  bugs->finished_on_hand = 7;
  for (bool new_stream : {false, true}) {
    bugs->starts_stream = new_stream ? is_restock : std::function<bool(const command&)>{};
    auto sku = std::string{new_stream ? "sku-fin-new" : "sku-fin"};
    auto& c = send(sku, env(), caf::make_message(restock{7}));
    sched.run(); // no virtual time passes: no tick comes
    collect();
    BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
    BOOST_TEST(accepted(c.answers[0]), error_name(c.answers[0]));
    BOOST_TEST(entities().empty(), sku);
    // No passivation tick: whatever is armed comes within a tick_interval (the overdue checks of
    // its read and append, which now find it gone).
    for (const auto& armed : sched.clock().schedule()) {
      BOOST_TEST((armed.first <= sched.clock().now() + settings.tick_interval), sku);
    }
    settle(settings.tick_interval);
  }
  // Not finished: it stays until it is idle, as before.
  ok("sku-unfinished", caf::make_message(restock{3}));
  BOOST_TEST(entities().size() == 1u);
  settle(settings.idle_timeout + 2 * settings.tick_interval, 100ms);
  BOOST_TEST(entities().empty());
}

// The journal answers every append (committed, refused, or outcome_unknown within its commit
// timeout or when it ends): an entity that may finish arms no tick for it. Such a tick fired after
// the entity ended, and kept the ended actor until then: per order, three clock events for nothing.
BOOST_AUTO_TEST_CASE(a_finishing_entity_that_read_nothing_leaves_no_tick_behind) {
  respawn_host(settings, true);
  bugs->finished_on_hand = 7;
  bugs->starts_stream = is_restock;
  const auto armed_before = sched.clock().schedule().size();
  auto& c = send("sku-no-tick", env(), caf::make_message(restock{7}));
  sched.run(); // no virtual time passes
  collect();
  BOOST_REQUIRE_EQUAL(c.answers.size(), 1u);
  BOOST_TEST(accepted(c.answers[0]), error_name(c.answers[0]));
  BOOST_TEST(entities().empty());
  BOOST_TEST(sched.clock().schedule().size() == armed_before);
}

BOOST_AUTO_TEST_CASE(
    a_late_duplicate_to_a_finished_entity_that_ended_is_answered_once_from_its_stream) {
  respawn_host(settings, true);
  bugs->finished_on_hand = 7;
  for (bool new_stream : {false, true}) {
    bugs->starts_stream = new_stream ? is_restock : std::function<bool(const command&)>{};
    auto sku = std::string{new_stream ? "sku-late-new" : "sku-late"};
    auto key = sku + "-key";
    auto& first = send(sku, env(key), caf::make_message(restock{7}));
    sched.run();
    collect();
    BOOST_REQUIRE_EQUAL(first.answers.size(), 1u);
    BOOST_REQUIRE(accepted(first.answers[0]));
    BOOST_REQUIRE(entities().empty());
    auto appends = store->appends;
    // The same message again, through the host and through the caller's routing (the entity
    // has ended: both activate it again).
    auto& again = send(sku, env(key), caf::make_message(restock{7}));
    auto& direct = send_direct(sku, env(key), caf::make_message(restock{7}));
    settle(3 * settings.tick_interval);
    for (auto* c : {&again, &direct}) {
      BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
      BOOST_REQUIRE(accepted(c->answers[0]));
      const auto& r = std::get<inventory_reply>(c->answers[0]);
      BOOST_TEST((r.recorded == std::vector<inventory_recorded>{inventory_recorded::restocked}),
                 sku);
      BOOST_TEST(r.version == 1, sku);
    }
    BOOST_TEST(store->appends - appends <= 1u, sku); // at most a refused append at version 0
    BOOST_TEST(store->streams["inventory/" + sku].size() == 1u, sku);
    BOOST_TEST(entities().empty(), sku); // ended again once it answered
  }
}

// Between its end and its host's down message the finished entity is still listed: a command
// sent straight to it then comes back (request_receiver_down), goes through the host and
// activates a new incarnation. It is executed once.
BOOST_AUTO_TEST_CASE(a_command_that_reaches_a_finished_entity_as_it_ends_is_executed_once) {
  respawn_host(settings, true);
  bugs->finished_on_hand = 7;
  auto handles = runtime::entity_handles::of(host);
  BOOST_REQUIRE(handles);
  auto& first = send("sku-race", env(), caf::make_message(restock{7}));
  auto ended = std::make_shared<bool>(false);
  caf::actor entity;
  while (!*ended && sched.has_job()) {
    if (!entity) {
      if ((entity = handles->find("sku-race"))) {
        entity->attach_functor([ended] { *ended = true; });
      }
    }
    sched.run_once();
  }
  BOOST_REQUIRE(*ended);
  BOOST_REQUIRE(handles->find("sku-race") == entity); // its host has not seen it end yet
  auto& late = send_direct("sku-race", env(), caf::make_message(restock{1}));
  // The caller runs before the host takes the down message: it finds the ended entity still
  // listed and sends to it directly; that request bounces (request_receiver_down, answered in
  // the same run) and goes through the host, behind the down message.
  BOOST_REQUIRE(sched.prioritize(late.sender));
  sched.run_once();
  BOOST_TEST((handles->find("sku-race") == entity)); // still listed when the caller ran
  settle(3 * settings.tick_interval);
  for (auto* c : {&first, &late}) {
    BOOST_REQUIRE_EQUAL(c->answers.size(), 1u);
    BOOST_TEST(accepted(c->answers[0]), error_name(c->answers[0]));
  }
  BOOST_TEST(store->replay("inventory/sku-race").on_hand == 8);
  BOOST_TEST(entities().size() == 1u); // 8 on hand: not finished
}

BOOST_AUTO_TEST_SUITE_END()

// -- every interleaving
// ----------------------------------------------------------------------------

namespace {

/// What happens to the entity at one point of a run.
enum class disruption { none, stop, passivate, kill, throw_in_decide, throw_in_apply };

const char* to_string(disruption x) {
  switch (x) {
    case disruption::none:
      return "none";
    case disruption::stop:
      return "stop";
    case disruption::passivate:
      return "passivate";
    case disruption::kill:
      return "kill";
    case disruption::throw_in_decide:
      return "throw_in_decide";
    case disruption::throw_in_apply:
      return "throw_in_apply";
  }
  return "?";
}

struct interleaving {
  journal_answer first_append;
  disruption what;
  /// Scheduler steps run before the disruption.
  int steps;
  /// Whether a restock may start the stream: an entity it activates assumes the stream empty
  /// (the stream exists: each such activation is refused its append at version 0).
  bool assume_new = false;
};

std::ostream& operator<<(std::ostream& out, const interleaving& x) {
  return out << "[first append " << to_string(x.first_append) << ", " << to_string(x.what)
             << " after " << x.steps << " steps" << (x.assume_new ? ", restock assumes new" : "")
             << "]";
}

constexpr const char* sku = "sku-i";
constexpr const char* stream = "inventory/sku-i";

/// The commands of one run: (message id, command); "c1" is sent twice by two callers.
std::vector<std::pair<std::string, caf::message>> workload() {
  return {{"c1", caf::make_message(restock{1})},
          {"c2", caf::make_message(reserve{"o-1", 2, 60000})},
          {"c3", caf::make_message(restock{3})},
          {"c1", caf::make_message(restock{1})},
          {"c4", caf::make_message(release{"o-1"})}};
}

void disrupt(harness& h, disruption what) {
  switch (what) {
    case disruption::none:
    case disruption::throw_in_decide: // switched on before the run
      break;
    case disruption::stop:
      caf::anon_send(h.host, runtime::stop_atom::value, std::string{sku});
      break;
    case disruption::passivate:
      h.sched.advance_time(h.settings.idle_timeout + h.settings.tick_interval);
      break;
    case disruption::kill:
      caf::anon_send(h.host, runtime::kill_atom::value, std::string{sku});
      break;
    case disruption::throw_in_apply:
      h.bugs->apply_throws_for_qty = 3;
      h.bugs->apply_throws = 1;
      break;
  }
}

/// How many events of the stream each message id caused.
std::map<std::string, size_t> events_by_message(const fake_store& store) {
  std::map<std::string, size_t> out;
  for (const auto& id : store.message_ids(stream)) {
    out[id] += 1;
  }
  return out;
}

/// {on_hand, reserved} of a summary, to compare an entity with a replay of its journal.
std::pair<int64_t, int64_t> stock_of(const inventory_summary& summary) {
  return {summary.on_hand, summary.reserved};
}

void check_run(const interleaving& run) {
  harness h;
  if (run.assume_new) {
    h.bugs->starts_stream = [](const command& c) { return std::holds_alternative<restock>(c); };
  }
  if (run.what == disruption::throw_in_decide) {
    h.bugs->decide_throws_for_qty = 3;
  }
  h.ok(sku, caf::make_message(restock{10}), h.env("seed"));
  h.store->script = {run.first_append};
  std::vector<caller*> callers;
  for (auto& [id, cmd] : workload()) {
    callers.push_back(&h.send(sku, h.env(id), cmd));
  }
  for (int i = 0; i < run.steps && h.sched.try_run_once(); ++i) {
  }
  disrupt(h, run.what);
  h.settle(2s);
  h.release_held(journal_answer::committed); // a held append commits late (its entity may be gone)
  h.settle(5s);

  // Every command answered exactly once, promptly.
  for (auto* c : callers) {
    BOOST_TEST(c->answers.size() == 1u,
               run << " " << c->message_id << " answered " << c->answers.size() << " times");
  }
  // No command applied twice, whatever the journal answered.
  auto counts = events_by_message(*h.store);
  BOOST_TEST(counts["c1"] <= 1u, run << " c1 recorded " << counts["c1"] << " events");
  BOOST_TEST(counts["c2"] <= 1u, run);
  BOOST_TEST(counts["c3"] <= 1u, run);
  BOOST_TEST(counts["c4"] <= 1u, run);
  // An accepted command's events are in the journal.
  for (auto* c : callers) {
    if (c->answers.size() == 1u && accepted(c->answers[0])) {
      auto& reply = std::get<inventory_reply>(c->answers[0]);
      BOOST_TEST(counts[c->message_id] == reply.recorded.size(), run << " " << c->message_id);
    }
  }
  // The entity's state is a replay of its journal.
  auto probe = h.call(sku, h.env("probe-1"), caf::make_message(expire_reservations{}));
  BOOST_REQUIRE_MESSAGE(accepted(probe), run << " probe: " << error_name(probe));
  auto replayed = h.store->replay(stream);
  BOOST_TEST((stock_of(std::get<inventory_reply>(probe).summary) ==
              std::pair{replayed.on_hand, replayed.reserved_qty}),
             run << " entity differs from its journal");

  // Dedupe survives snapshots and restarts: after a crash every command sent again changes
  // nothing already recorded.
  h.bugs->decide_throws_for_qty = -1;
  caf::anon_send(h.host, runtime::kill_atom::value, std::string{sku});
  h.settle(1s);
  auto before = events_by_message(*h.store);
  std::vector<caller*> again;
  for (auto& [id, cmd] : workload()) {
    again.push_back(&h.send(sku, h.env(id), cmd));
  }
  h.settle(2s);
  auto after = events_by_message(*h.store);
  for (const auto& [id, n] : before) {
    BOOST_TEST(after[id] == n, run << " " << id << " recorded again after a restart");
  }
  for (auto* c : again) {
    BOOST_TEST(c->answers.size() == 1u, run << " resent " << c->message_id);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(every_interleaving_answers_once_matches_the_journal_and_keeps_dedupe) {
  size_t runs = 0;
  for (auto answer :
       {journal_answer::committed, journal_answer::conflict, journal_answer::unknown_committed,
        journal_answer::unknown_lost, journal_answer::unavailable, journal_answer::rejected,
        journal_answer::hold}) {
    for (auto what : {disruption::none, disruption::stop, disruption::passivate, disruption::kill,
                      disruption::throw_in_decide, disruption::throw_in_apply}) {
      for (int steps = 0; steps <= 12; ++steps) {
        for (bool assume_new : {false, true}) {
          check_run(interleaving{answer, what, steps, assume_new});
          ++runs;
        }
      }
    }
  }
  BOOST_TEST_MESSAGE(runs << " interleavings");
}

// -- the payment entity on a stream it assumes new: the order's first sale -----------------------

namespace {

/// A PSP for the payment harness, with the stand-in's idempotency (psp/service.cpp): a key is
/// answered with its first answer, a sale is charged once per key, a reversal refunds a charged
/// sale or, before its sale arrived, blocks its key (the sale is then refused: failed).
struct fake_psp_ledger {
  /// How a new sale key is answered.
  payment::psp_outcome outcome = payment::psp_outcome::authorized;
  std::map<std::string, payment::psp_reply> answers;
  std::set<std::string> blocked;
  size_t sales = 0;
  size_t charges = 0;
  size_t refunds = 0;
};

caf::behavior fake_psp(caf::event_based_actor*, std::shared_ptr<fake_psp_ledger> psp) {
  return {
      [=](payment::psp_call_atom, const payment::psp_request& r) {
        if (auto known = psp->answers.find(r.idempotency_key); known != psp->answers.end()) {
          return known->second;
        }
        payment::psp_reply reply{payment::psp_outcome::authorized, "ref-" + r.idempotency_key, ""};
        if (r.operation == payment::psp_operation::sale) {
          psp->sales += 1;
          if (psp->blocked.count(r.idempotency_key) != 0) {
            return payment::psp_reply{payment::psp_outcome::failed, "", "409 voided"};
          }
          reply.outcome = psp->outcome;
          if (reply.outcome == payment::psp_outcome::authorized) {
            psp->charges += 1;
          }
        } else if (r.operation == payment::psp_operation::reverse) {
          auto sale = psp->answers.find(r.authorization_key);
          if (sale == psp->answers.end()) {
            psp->blocked.insert(r.authorization_key);
          } else if (sale->second.outcome == payment::psp_outcome::authorized) {
            psp->refunds += 1;
          }
        }
        psp->answers.emplace(r.idempotency_key, reply);
        return reply;
      },
      [](caf::get_atom, payment::breaker_atom) { return payment::breaker_report{}; },
  };
}

/// What the order host heard from the payments: each record_authorization, by message id.
using heard_reports = std::vector<std::pair<std::string, order::record_authorization>>;

caf::behavior reports_to_order(caf::event_based_actor*, std::shared_ptr<heard_reports> heard) {
  return {
      [=](runtime::route_atom, const std::string&, const envelope& env, const caf::message& cmd) {
        if (cmd.match_elements<order::record_authorization>()) {
          heard->emplace_back(env.message_id, cmd.get_as<order::record_authorization>(0));
        }
        return order::order_reply{};
      },
  };
}

/// The harness's fake journal and reader behind a payment host, with a fake PSP and an order host
/// that records what the payments report.
struct payment_harness : harness {
  std::shared_ptr<fake_psp_ledger> psp = std::make_shared<fake_psp_ledger>();
  std::shared_ptr<heard_reports> reports = std::make_shared<heard_reports>();
  caf::actor psp_actor = sys.spawn(fake_psp, psp);
  caf::actor order_host = sys.spawn(reports_to_order, reports);
  caf::actor payments;

  payment_harness() {
    auto hosts = std::make_shared<runtime::directory>();
    hosts->order = order_host;
    auto j = caf::actor_cast<persistence::journal_actor>(journal);
    auto r = caf::actor_cast<persistence::reader_actor>(reader);
    auto gateway = caf::actor_cast<payment::psp_gateway_actor>(psp_actor);
    auto s = settings;
    auto factory = [=](caf::actor_system& system, const std::string& id, caf::actor h) {
      return runtime::spawn_entity(system, payment::payment_traits{hosts, gateway, id, 1500ms}, id,
                                   std::move(h), j, r, s);
    };
    payments = runtime::spawn_host(sys, "payment", factory, s);
    sched.run();
  }

  ~payment_harness() {
    caf::anon_send_exit(payments, caf::exit_reason::user_shutdown);
    sched.run();
    caf::anon_send_exit(psp_actor, caf::exit_reason::kill);
    caf::anon_send_exit(order_host, caf::exit_reason::kill);
    sched.run();
  }

  /// The order's sell of attempt `attempt` (its message id, as order::order_actor sends it).
  std::vector<std::variant<payment::payment_reply, caf::error>> sell(const std::string& oid,
                                                                     int32_t attempt, bool first) {
    return pay(oid, oid + "/sell/" + std::to_string(attempt),
               payment::sell{1000, "tok_visa", oid + "/sale", attempt, first});
  }

  /// Sends one payment command and runs until idle; the answers it got.
  template <class Command>
  std::vector<std::variant<payment::payment_reply, caf::error>>
  pay(const std::string& oid, std::string message_id, Command cmd) {
    caf::scoped_actor caller{sys, true};
    caller->send(payments, runtime::route_atom::value, oid, env(std::move(message_id)),
                 caf::make_message(std::move(cmd)));
    settle(2s);
    std::vector<std::variant<payment::payment_reply, caf::error>> out;
    bool more = true;
    while (more) {
      caller->receive([&](payment::payment_reply& r) { out.emplace_back(r); },
                      [&](caf::error& e) { out.emplace_back(e); },
                      caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    }
    return out;
  }

  std::vector<std::string> recorded(const std::string& oid) {
    std::vector<std::string> types;
    for (const auto& ev : store->streams["payment/" + oid]) {
      types.push_back(ev.type);
    }
    return types;
  }

  /// The payment entity of `oid` passivates: the next command activates another, which takes
  /// its stream for new if the command may start it. (One that crashed is restarted at once and
  /// reads its stream.)
  void passivate(const std::string& oid) {
    settle(settings.idle_timeout + 2 * settings.tick_interval);
    auto listed = probe->request(payments, caf::infinite, caf::get_atom::value,
                                 runtime::entities_atom::value);
    sched.run();
    listed.receive(
        [&](std::vector<runtime::entity_info>& xs) {
          for (const auto& x : xs) {
            BOOST_REQUIRE_MESSAGE(x.id != oid, oid << " did not passivate");
          }
        },
        [&](caf::error& e) { BOOST_FAIL("no entity list: " << sys.render(e)); });
  }

  /// The outcomes the order heard, in order.
  std::vector<order::payment_outcome> heard() const {
    std::vector<order::payment_outcome> out;
    for (const auto& [id, r] : *reports) {
      out.push_back(r.outcome);
    }
    return out;
  }
};

bool answered_once(const std::vector<std::variant<payment::payment_reply, caf::error>>& answers) {
  return answers.size() == 1 && std::holds_alternative<payment::payment_reply>(answers.front());
}

using order::payment_outcome;
using payment::psp_outcome;

} // namespace

BOOST_FIXTURE_TEST_SUITE(payment_sale_on_a_stream_assumed_new, payment_harness)

BOOST_AUTO_TEST_CASE(a_new_payments_first_sale_reads_no_stream_and_is_recorded_at_version_0) {
  BOOST_TEST(answered_once(sell("o-new", 1, true)));
  BOOST_TEST(store->recovery_reads == 0u);
  BOOST_TEST(store->catch_up_reads == 0u);
  BOOST_TEST(store->appends == 1u);
  BOOST_TEST((recorded("o-new") == std::vector<std::string>{payment::wire::sold}));
  BOOST_TEST(psp->charges == 1u);
  BOOST_TEST((heard() == std::vector<payment_outcome>{payment_outcome::authorized}));
}

BOOST_AUTO_TEST_CASE(a_resent_sale_to_a_new_payment_reads_its_stream_first) {
  // Not the order's first sell (a resend, a later attempt): the PSP may have forgotten its key.
  BOOST_TEST(answered_once(sell("o-resent", 1, false)));
  BOOST_TEST(store->recovery_reads == 1u);
  BOOST_TEST((recorded("o-resent") == std::vector<std::string>{payment::wire::sold}));
  BOOST_TEST(psp->charges == 1u);
}

BOOST_AUTO_TEST_CASE(a_first_sale_redelivered_after_its_payment_sold_and_passivated_charges_once) {
  BOOST_TEST(answered_once(sell("o-sold", 1, true)));
  passivate("o-sold");
  // Delivered again to a payment that takes its stream for new: the PSP answers the key with its
  // first answer; recording it at version 0 is refused, the stream read, and what it holds
  // reported again.
  BOOST_TEST(answered_once(sell("o-sold", 1, true)));
  BOOST_TEST(psp->sales == 1u);
  BOOST_TEST(psp->charges == 1u);
  BOOST_TEST((recorded("o-sold") == std::vector<std::string>{payment::wire::sold}));
  BOOST_TEST(store->recovery_reads == 1u);
  BOOST_TEST((heard() == std::vector<payment_outcome>{payment_outcome::authorized,
                                                      payment_outcome::authorized}));
  // Its work is finished (sold and reported), so it ended; the order's next attempt activates it
  // on its stream (a read, whose resume reports once more) and is answered from it, without the
  // PSP.
  BOOST_TEST(answered_once(sell("o-sold", 2, false)));
  BOOST_TEST(store->recovery_reads == 2u);
  BOOST_TEST(heard().size() == 4u);
  BOOST_TEST(reports->back().second.attempt == 2);
  BOOST_TEST(psp->sales == 1u);
  BOOST_TEST(psp->charges == 1u);
}

BOOST_AUTO_TEST_CASE(a_first_sale_redelivered_after_its_payment_was_declined_is_declined_again) {
  psp->outcome = psp_outcome::declined;
  BOOST_TEST(answered_once(sell("o-declined", 1, true)));
  passivate("o-declined");
  BOOST_TEST(answered_once(sell("o-declined", 1, true)));
  BOOST_TEST(psp->charges == 0u);
  BOOST_TEST((recorded("o-declined") == std::vector<std::string>{payment::wire::sale_declined}));
  BOOST_TEST((heard() ==
              std::vector<payment_outcome>{payment_outcome::declined, payment_outcome::declined}));
}

BOOST_AUTO_TEST_CASE(a_first_sale_redelivered_after_its_sale_was_reversed_charges_nothing_more) {
  BOOST_TEST(answered_once(sell("o-rev", 1, true)));
  BOOST_TEST(answered_once(pay("o-rev", "o-rev/reverse", payment::reverse_sale{"o-rev/sale"})));
  BOOST_TEST(psp->refunds == 1u);
  BOOST_TEST((recorded("o-rev") ==
              std::vector<std::string>{payment::wire::sold, payment::wire::sale_reversed}));
  passivate("o-rev");
  auto reports_before = reports->size();
  BOOST_TEST(answered_once(sell("o-rev", 1, true)));
  // The PSP replays the sale's first answer (no second charge); the payment, having read its
  // stream, records nothing and tells the order nothing: its sale is reversed.
  BOOST_TEST(psp->charges == 1u);
  BOOST_TEST(psp->refunds == 1u);
  BOOST_TEST((recorded("o-rev") ==
              std::vector<std::string>{payment::wire::sold, payment::wire::sale_reversed}));
  BOOST_TEST(reports->size() == reports_before);
}

BOOST_AUTO_TEST_CASE(
    a_first_sale_arriving_after_its_reversal_is_refused_by_the_psp_and_records_nothing) {
  // The order gave up before its sale reached the payment: the reversal blocked the key.
  BOOST_TEST(answered_once(pay("o-late", "o-late/reverse", payment::reverse_sale{"o-late/sale"})));
  BOOST_TEST((recorded("o-late") == std::vector<std::string>{payment::wire::sale_reversed}));
  passivate("o-late");
  BOOST_TEST(answered_once(sell("o-late", 1, true)));
  BOOST_TEST(psp->charges == 0u);
  BOOST_TEST((recorded("o-late") == std::vector<std::string>{payment::wire::sale_reversed}));
  BOOST_TEST(heard().empty());
}

BOOST_AUTO_TEST_SUITE_END()
