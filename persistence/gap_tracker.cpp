#include "persistence/gap_tracker.hpp"

#include <algorithm>
#include <charconv>

namespace ordermesh::persistence {

namespace {

std::optional<uint64_t> parse_xid(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

} // namespace

std::optional<db_snapshot> parse_db_snapshot(std::string_view text) {
  auto first = text.find(':');
  auto second = first == std::string_view::npos ? first : text.find(':', first + 1);
  if (second == std::string_view::npos) {
    return std::nullopt;
  }
  auto xmin = parse_xid(text.substr(0, first));
  auto xmax = parse_xid(text.substr(first + 1, second - first - 1));
  if (!xmin || !xmax || *xmin > *xmax) {
    return std::nullopt;
  }
  db_snapshot result{*xmin, *xmax, {}};
  auto rest = text.substr(second + 1);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto xid = parse_xid(rest.substr(0, comma));
    if (!xid) {
      return std::nullopt;
    }
    result.in_progress.push_back(*xid);
    if (comma == std::string_view::npos) {
      break;
    }
    rest = rest.substr(comma + 1);
    if (rest.empty()) {
      return std::nullopt; // a trailing comma
    }
  }
  std::sort(result.in_progress.begin(), result.in_progress.end());
  return result;
}

void gap_tracker::observe(const db_snapshot& snapshot, int64_t max_visible_position) {
  auto still_running = [&](uint64_t xid) {
    return std::binary_search(snapshot.in_progress.begin(), snapshot.in_progress.end(), xid);
  };
  if (candidate_ &&
      std::none_of(candidate_->waiting_for.begin(), candidate_->waiting_for.end(), still_running)) {
    final_through_ = std::max(final_through_, candidate_->position);
    candidate_.reset();
  }
  if (max_visible_position <= final_through_) {
    return;
  }
  if (snapshot.in_progress.empty()) {
    final_through_ = max_visible_position;
    candidate_.reset();
    return;
  }
  // Keep the older candidate until it resolves: replacing it on every read would starve it under
  // steady load, where some transaction is always in progress.
  if (!candidate_) {
    candidate_ = candidate{max_visible_position, snapshot.in_progress};
  }
}

} // namespace ordermesh::persistence
