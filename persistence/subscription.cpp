#include "persistence/subscription.hpp"

#include <algorithm>
#include <limits>
#include <tuple>

namespace ordermesh::persistence {

store_result<std::vector<recorded_event>> subscription::poll(int32_t max_count) {
  if (!only_type_.empty()) {
    return poll_of_type(max_count);
  }
  auto events = store_.read_log(checkpoint_, max_count);
  if (events && !events->empty()) {
    checkpoint_ = log_checkpoint::after(events->back());
  }
  return events;
}

store_result<std::vector<recorded_event>> subscription::poll_of_type(int32_t max_count) {
  auto page = store_.read_log_of_type(checkpoint_, max_count, only_type_);
  if (!page) {
    return page.error();
  }
  if (page->events.size() < static_cast<size_t>(std::max(max_count, 0)) &&
      page->snapshot_xmin > 0) {
    // Every event of the type below the xmin has been read: the rest below it is passed over for
    // good (any later writer's id is at least the xmin).
    log_checkpoint passed{page->snapshot_xmin - 1, std::numeric_limits<int64_t>::max()};
    if (std::tie(checkpoint_.transaction_id, checkpoint_.position) <
        std::tie(passed.transaction_id, passed.position)) {
      checkpoint_ = passed;
    }
  } else if (!page->events.empty()) {
    checkpoint_ = log_checkpoint::after(page->events.back());
  }
  return std::move(page->events);
}

} // namespace ordermesh::persistence
