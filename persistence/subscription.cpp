#include "persistence/subscription.hpp"

#include <algorithm>
#include <tuple>

namespace ordermesh::persistence {

store_result<std::vector<recorded_event>> subscription::poll(int32_t max_count) {
  if (!only_types_.empty()) {
    return poll_of_type(max_count);
  }
  auto events = store_.read_log(checkpoint_, max_count);
  if (events && !events->empty()) {
    checkpoint_ = log_checkpoint::after(events->back());
  }
  return events;
}

store_result<std::vector<recorded_event>> subscription::poll_of_type(int32_t max_count) {
  auto page = store_.read_log_of_types(checkpoint_, max_count, only_types_);
  if (!page) {
    return page.error();
  }
  if (page->events.size() < static_cast<size_t>(std::max(max_count, 0)) && page->log_end) {
    // Every event of the types up to the log's end has been read: the others up to there are
    // passed over for good (the end is a real event's checkpoint, like every other one).
    const auto& end = *page->log_end;
    if (std::tie(checkpoint_.transaction_id, checkpoint_.position) <
        std::tie(end.transaction_id, end.position)) {
      checkpoint_ = end;
    }
  } else if (!page->events.empty()) {
    checkpoint_ = log_checkpoint::after(page->events.back());
  }
  return std::move(page->events);
}

} // namespace ordermesh::persistence
