#define BOOST_TEST_MODULE inventory_state_copy
#include <boost/test/unit_test.hpp>

#include "actors/inventory/state.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>

// The entity runtime copies the state once per batch (it decides on a copy and keeps the committed
// state until the append is durable), so what a copy costs is what every command pays. This binary
// counts the allocations a copy makes: the global operator new is replaced here, and counts only
// while `counting` is set (on the test's main thread).

namespace {

std::atomic<bool> counting{false};
std::atomic<size_t> allocations{0};

void* allocate(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) {
    allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc{};
}

/// How many allocations `f` makes.
template <class F>
size_t allocations_of(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations.load();
}

} // namespace

void* operator new(std::size_t size) {
  return allocate(size);
}
void* operator new[](std::size_t size) {
  return allocate(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace ordermesh::actors::inventory;

namespace {

/// A SKU that sold one unit to each of `orders` orders, each settled (its order confirmed): the
/// finished orders it remembers are its history, and nothing is held or committed any more.
inventory_state sold_and_settled(size_t orders) {
  auto s = apply(inventory_state{}, restocked{max_quantity});
  for (size_t i = 0; i < orders; ++i) {
    // Long ids (beyond the small-string buffer), like the gateway's order ids.
    auto id = "order-00000000-0000-0000-0000-" + std::to_string(100'000'000 + i);
    s = apply(std::move(s), committed{id, 1});
    s = apply(std::move(s), settled{id});
  }
  return s;
}

} // namespace

BOOST_AUTO_TEST_CASE(copying_the_state_does_not_copy_its_finished_orders) {
  const auto small = sold_and_settled(10);
  const auto full = sold_and_settled(max_finished_orders);
  const auto copy_small = allocations_of([&] { inventory_state copy = small; });
  const auto copy_full = allocations_of([&] { inventory_state copy = full; });
  BOOST_TEST_MESSAGE("allocations per copy: " << copy_small << " with 10 finished orders, "
                                              << copy_full << " with " << max_finished_orders);
  // The same handful, whatever the history: none per finished order.
  BOOST_TEST(copy_full <= 8u);
  BOOST_TEST(copy_full <= copy_small + 4);
}

BOOST_AUTO_TEST_CASE(a_sale_on_a_copy_allocates_no_more_with_a_long_history) {
  // What the runtime does per batch: copy the committed state, fold the batch's events into the
  // copy, keep the copy once durable. The most one sale and its settle allocate over a generation
  // of sales in a row (so that every merge of the history is counted), with a short and with a
  // full history.
  auto worst_sale = [](inventory_state committed_state) {
    size_t worst = 0;
    for (size_t n = 0; n < max_finished_orders / 10; ++n) {
      auto id = "order-ffffffff-0000-0000-0000-" + std::to_string(100'000'000 + n);
      worst = std::max(worst, allocations_of([&] {
                         inventory_state next = committed_state;
                         next = apply(std::move(next), committed{id, 1});
                         next = apply(std::move(next), settled{id});
                         committed_state = std::move(next);
                       }));
    }
    return worst;
  };
  const auto worst_small = worst_sale(sold_and_settled(10));
  const auto worst_full = worst_sale(sold_and_settled(max_finished_orders));
  BOOST_TEST_MESSAGE("most allocations per sale: " << worst_small << " (10 finished), "
                                                   << worst_full << " (" << max_finished_orders
                                                   << " finished)");
  BOOST_TEST(worst_full <= worst_small + 4);
}
