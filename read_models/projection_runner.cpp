#include "read_models/projection_runner.hpp"

#include "observability/log.hpp"

#include <algorithm>
#include <exception>

namespace ordermesh::read_models {

using persistence::store_errc;

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Settings that cannot loop busily or read empty pages.
projection_runner_settings sanitized(projection_runner_settings s) {
  s.page_size = std::max(s.page_size, 1);
  s.backoff_min = std::max(s.backoff_min, milliseconds{1});
  s.backoff_max = std::max(s.backoff_max, s.backoff_min);
  s.poll_interval = std::max(s.poll_interval, milliseconds{0});
  return s;
}

} // namespace

projection_runner::projection_runner(config::pg_config pg, projection_runner_settings settings,
                                     change_handler on_changes)
    : pg_(std::move(pg)), settings_(sanitized(std::move(settings))),
      on_changes_(std::move(on_changes)), loop_([this] { run(); }) {}

projection_runner::~projection_runner() {
  stop();
}

void projection_runner::stop() {
  loop_.stop(); // from on_changes: the loop ends after it returns; the destructor joins
}

projection_runner_stats projection_runner::stats() const {
  projection_runner_stats s;
  s.events_applied = events_applied_.load();
  s.pages = pages_.load();
  s.errors = errors_.load();
  s.checkpoint = checkpoint_.load();
  s.newest_position = newest_position_.load();
  s.lag = std::max<int64_t>(0, s.newest_position - s.checkpoint);
  s.failing = failing_.load();
  s.database_unreachable = s.failing && unreachable_.load();
  return s;
}

bool projection_runner::wait_until_caught_up(std::chrono::milliseconds timeout) {
  return loop_.wait_until_caught_up(timeout);
}

bool projection_runner::pause(std::chrono::milliseconds delay) {
  return loop_.pause(delay);
}

void projection_runner::run() {
  projector p{pg_, settings_.name};
  auto backoff = settings_.backoff_min;
  auto next_lag_refresh = clock_type::now();
  while (auto round = loop_.begin_round()) {
    auto page = p.run_once(settings_.page_size);
    if (!page) {
      errors_.fetch_add(1);
      failing_.store(true);
      unreachable_.store(page.error().code == store_errc::unavailable ||
                         page.error().code == store_errc::outcome_unknown);
      report_failure(page.error(), backoff);
      if (!unreachable_.load()) {
        refresh_newest_position(p); // a stuck projection's lag keeps growing in stats()
      }
      if (!pause(backoff)) {
        return;
      }
      backoff = std::min(backoff * 2, settings_.backoff_max);
      continue;
    }
    if (failing_.exchange(false)) {
      observability::log_event(
          spdlog::level::info, "projection recovered",
          {{"projection", settings_.name}, {"checkpoint", page->checkpoint.position}});
    }
    backoff = settings_.backoff_min;
    auto highest = std::max(page->highest_position, page->checkpoint.position);
    if (highest > checkpoint_.load()) {
      checkpoint_.store(highest); // only this thread writes it
    }
    if (page->read > 0) {
      pages_.fetch_add(1);
      events_applied_.fetch_add(page->applied);
    }
    if (!page->empty()) {
      deliver(*page);
    }
    if (clock_type::now() >= next_lag_refresh) {
      refresh_newest_position(p);
      next_lag_refresh = clock_type::now() + settings_.lag_refresh;
    }
    if (page->read >= static_cast<size_t>(settings_.page_size)) {
      continue;
    }
    loop_.caught_up(*round);
    if (!pause(settings_.poll_interval)) {
      return;
    }
  }
}

void projection_runner::refresh_newest_position(projector& p) {
  // Only a figure for stats(): a failure here is not the projection's, the next page will tell.
  if (auto newest = p.newest_position()) {
    newest_position_.store(*newest);
  }
}

void projection_runner::report_failure(const persistence::store_error& e,
                                       std::chrono::milliseconds retry_in) {
  observability::log_event(spdlog::level::warn, "projection page failed",
                           {{"projection", settings_.name},
                            {"error", persistence::to_string(e.code)},
                            {"detail", e.detail},
                            {"checkpoint", checkpoint_.load()},
                            {"failures", errors_.load()},
                            {"retry_in_ms", retry_in.count()}});
}

void projection_runner::deliver(const projection_changes& changes) {
  if (!on_changes_) {
    return;
  }
  try {
    on_changes_(changes);
  } catch (const std::exception& e) {
    observability::log_event(spdlog::level::err, "projection change handler threw",
                             {{"projection", settings_.name}, {"what", e.what()}});
  } catch (...) {
    observability::log_event(spdlog::level::err, "projection change handler threw",
                             {{"projection", settings_.name}});
  }
}

} // namespace ordermesh::read_models
