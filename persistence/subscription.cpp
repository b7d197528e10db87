#include "persistence/subscription.hpp"

namespace ordermesh::persistence {

store_result<std::vector<recorded_event>> subscription::poll(int32_t max_count) {
  auto page = store_.read_log(position_, max_count);
  if (!page) {
    return page.error();
  }
  gaps_.observe(page->snapshot, page->max_visible_position);
  std::vector<recorded_event> ready;
  for (auto& event : page->events) {
    if (!gaps_.deliverable(position_, event.global_position)) {
      break;
    }
    position_ = event.global_position;
    ready.push_back(std::move(event));
  }
  return ready;
}

} // namespace ordermesh::persistence
