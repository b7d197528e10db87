#include "persistence/subscription.hpp"

namespace ordermesh::persistence {

store_result<std::vector<recorded_event>> subscription::poll(int32_t max_count) {
  auto events = only_type_.empty() ? store_.read_log(checkpoint_, max_count)
                                   : store_.read_log_of_type(checkpoint_, max_count, only_type_);
  if (events && !events->empty()) {
    checkpoint_ = log_checkpoint::after(events->back());
  }
  return events;
}

} // namespace ordermesh::persistence
