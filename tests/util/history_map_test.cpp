#define BOOST_TEST_MODULE history_map
#include <boost/test/unit_test.hpp>

#include "util/history_map.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

/// 12 entries at most, forgotten 4 at a time (runs of 1 and 2 entries, then a full generation).
using small_map = ordermesh::util::history_map<int, 12, 4>;

std::string key(size_t i) {
  // Beyond the small-string buffer, so that keys really live in the runs.
  return "order-0000-0000-0000-" + std::to_string(i);
}

template <class Map>
std::vector<std::pair<std::string, int>> entries_of(const Map& m) {
  std::vector<std::pair<std::string, int>> all;
  m.for_each([&](std::string_view k, int v) { all.emplace_back(std::string{k}, v); });
  return all;
}

/// What the map must remember, kept the plain way: every entry in order, the oldest generation
/// dropped when one more would exceed the capacity.
struct plain_history {
  size_t capacity;
  size_t generation;
  std::deque<std::pair<std::string, int>> entries;

  std::optional<int> find(const std::string& k) const {
    for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
      if (e->first == k) {
        return e->second;
      }
    }
    return std::nullopt;
  }

  void remember(const std::string& k, int v) {
    if (find(k) == v) {
      return;
    }
    if (entries.size() == capacity) {
      entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(generation));
    }
    entries.emplace_back(k, v);
  }
};

/// Random remembers over `keys` keys against plain_history; every `check_every` steps, the answers
/// for up to 100 keys and the entries in order are compared.
template <class Map>
void check_against_plain_history(unsigned seed, size_t keys, size_t steps, size_t check_every) {
  std::mt19937 rng{seed};
  Map m;
  plain_history model{Map::capacity, Map::generation, {}};
  for (size_t step = 0; step < steps; ++step) {
    auto k = key(std::uniform_int_distribution<size_t>{0, keys - 1}(rng));
    auto v = std::uniform_int_distribution<int>{0, 2}(rng);
    m.remember(k, v);
    model.remember(k, v);
    BOOST_REQUIRE_EQUAL(m.size(), model.entries.size());
    if (step % check_every == 0) {
      for (size_t i = step % 3; i < keys; i += 1 + keys / 100) {
        BOOST_REQUIRE(m.find(key(i)) == model.find(key(i)));
      }
      const std::vector<std::pair<std::string, int>> expected(model.entries.begin(),
                                                              model.entries.end());
      BOOST_REQUIRE(entries_of(m) == expected);
    }
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(finds_the_newest_value_of_each_key) {
  small_map m;
  BOOST_TEST(m.empty());
  BOOST_TEST(!m.find(key(1)));
  m.remember(key(1), 10);
  m.remember(key(2), 20);
  m.remember(key(3), 30);
  BOOST_CHECK(m.find(key(1)) == 10);
  BOOST_CHECK(m.find(key(2)) == 20);
  BOOST_CHECK(m.find(key(3)) == 30);
  BOOST_TEST(!m.find(key(4)));
  BOOST_TEST(!m.find("order-0000-0000-0000-")); // a prefix is another key
  // The same value again changes nothing; another value is the newest entry.
  m.remember(key(1), 10);
  BOOST_TEST(m.size() == 3u);
  m.remember(key(1), 11);
  BOOST_TEST(m.size() == 4u);
  BOOST_CHECK(m.find(key(1)) == 11);
  using entries = std::vector<std::pair<std::string, int>>;
  BOOST_CHECK(entries_of(m) == (entries{{key(1), 10}, {key(2), 20}, {key(3), 30}, {key(1), 11}}));
}

BOOST_AUTO_TEST_CASE(forgets_the_oldest_generation_at_once_when_full) {
  small_map m;
  for (size_t i = 0; i < 12; ++i) {
    m.remember(key(i), static_cast<int>(i));
  }
  BOOST_TEST(m.size() == 12u);
  BOOST_CHECK(m.find(key(0)) == 0);
  m.remember(key(12), 12);
  // key(0..3) went together; the rest, and the new one, are remembered.
  BOOST_TEST(m.size() == 9u);
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST(!m.find(key(i)));
  }
  for (size_t i = 4; i <= 12; ++i) {
    BOOST_CHECK(m.find(key(i)) == static_cast<int>(i));
  }
  // Then the next generation in its turn: key(4..7) once three more make it full again.
  for (size_t i = 13; i <= 16; ++i) {
    m.remember(key(i), static_cast<int>(i));
  }
  BOOST_TEST(m.size() == 9u);
  BOOST_TEST(!m.find(key(7)));
  BOOST_CHECK(m.find(key(8)) == 8);
}

BOOST_AUTO_TEST_CASE(a_key_remembered_again_lives_as_long_as_its_newest_entry) {
  small_map m;
  m.remember(key(0), 1);
  for (size_t i = 1; i < 8; ++i) {
    m.remember(key(i), 0);
  }
  m.remember(key(0), 2); // its newest entry is in the third generation
  for (size_t i = 8; i < 12; ++i) {
    m.remember(key(i), 0);
  }
  BOOST_CHECK(m.find(key(0)) == 2); // the first generation, with its first entry, is gone
  BOOST_TEST(!m.find(key(1)));
}

BOOST_AUTO_TEST_CASE(a_change_to_a_copy_never_shows_in_the_original_nor_the_other_way) {
  small_map original;
  for (size_t i = 0; i < 7; ++i) {
    original.remember(key(i), 1);
  }
  const auto before = entries_of(original);
  auto copy = original;
  BOOST_CHECK(copy == original);
  copy.remember(key(0), 2);   // another value for a key the original has
  copy.remember(key(100), 1); // a new key (carries the runs of 1 and 2 into one of 4)
  for (size_t i = 200; i < 205; ++i) {
    copy.remember(key(i), 3); // past a full generation and a forgetting
  }
  BOOST_CHECK(entries_of(original) == before);
  BOOST_CHECK(original.find(key(0)) == 1);
  BOOST_TEST(!original.find(key(100)));
  BOOST_TEST(!original.find(key(204)));
  BOOST_CHECK(copy.find(key(0)) == 2);
  BOOST_CHECK(copy.find(key(204)) == 3);
  BOOST_CHECK(copy != original);
  // And the original changes without the copy seeing it.
  const auto copy_before = entries_of(copy);
  original.remember(key(300), 1);
  BOOST_CHECK(entries_of(copy) == copy_before);
  BOOST_TEST(!copy.find(key(300)));
}

BOOST_AUTO_TEST_CASE(maps_are_equal_when_they_hold_the_same_entries_in_the_same_order) {
  small_map a;
  small_map b;
  BOOST_CHECK(a == b);
  for (size_t i = 0; i < 10; ++i) {
    a.remember(key(i), static_cast<int>(i % 3));
    b.remember(key(i), static_cast<int>(i % 3));
  }
  BOOST_CHECK(a == b); // built apart, not shared
  small_map rebuilt;
  a.for_each([&](std::string_view k, int v) { rebuilt.append(k, v); });
  BOOST_CHECK(rebuilt == a);
  small_map other_value = b;
  other_value.remember(key(9), 2);
  BOOST_CHECK(other_value != a);
  small_map other_order;
  for (size_t i = 10; i-- > 0;) {
    other_order.remember(key(i), static_cast<int>(i % 3));
  }
  BOOST_CHECK(other_order != a);
  small_map fewer;
  for (size_t i = 0; i < 9; ++i) {
    fewer.remember(key(i), static_cast<int>(i % 3));
  }
  BOOST_CHECK(fewer != a);
}

BOOST_AUTO_TEST_CASE(agrees_with_a_plain_history_over_random_sequences) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    check_against_plain_history<small_map>(seed, 10, 300, 1);
    check_against_plain_history<ordermesh::util::history_map<int, 30, 10>>(seed, 40, 400, 3);
    check_against_plain_history<ordermesh::util::history_map<int, 64, 64>>(seed, 100, 400, 7);
  }
  // The inventory's shape: 10 000 entries, 1 000 at a time.
  check_against_plain_history<ordermesh::util::history_map<int, 10'000, 1'000>>(7, 30'000, 25'000,
                                                                                997);
}
