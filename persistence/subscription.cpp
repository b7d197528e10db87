#include "persistence/subscription.hpp"

namespace ordermesh::persistence {

store_result<std::vector<recorded_event>> subscription::poll(int32_t max_count) {
  auto events = store_.read_log(checkpoint_, max_count);
  if (events && !events->empty()) {
    checkpoint_ = log_checkpoint::after(events->back());
  }
  return events;
}

} // namespace ordermesh::persistence
