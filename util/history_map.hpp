#pragma once

#include <algorithm>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ordermesh::util {

/// A string-keyed map that remembers only its newest entries (e.g. how each recent order ended, for
/// answers that must stay the same for a while without the memory growing forever), whose copies
/// are cheap and independent of each other.
///
/// What it remembers: the entries in the order they were added. Once `Capacity` entries are kept,
/// adding one first forgets the oldest `Generation` entries at once (a generation), so a full map
/// keeps between Capacity - Generation + 1 and Capacity entries, always the newest. `remember`
/// of a key already remembered with the same value changes nothing; with another value it adds a
/// new entry: `find` answers the newest value, and the key is remembered as long as that entry is.
///
/// What it costs: entries live in immutable runs that copies share (a change to a copy builds new
/// runs and never shows in another copy). A copy copies one pointer per run, at most
/// Capacity / Generation + log2(Generation) of them, whatever the number of entries. The open
/// (newest, incomplete) generation is held as runs of 2^k entries, like the set bits of a binary
/// counter: an added entry merges the runs it carries, so adding costs O(log Generation) entry
/// copies amortized and one new run; a full generation is one run. `find` probes each run's hash
/// table once, newest run first.
template <class Value, size_t Capacity, size_t Generation>
class history_map {
  static_assert(std::is_trivially_copyable_v<Value>, "values are copied bytewise into runs");
  static_assert(Generation > 0 && Capacity >= Generation && Capacity % Generation == 0,
                "forgotten a whole generation at a time");
  static_assert(Generation <= UINT32_MAX / 2, "a run's table numbers its entries in 32 bits");

public:
  static constexpr size_t capacity = Capacity;
  static constexpr size_t generation = Generation;

  /// The newest value remembered for `key`; nullopt if it was never added or is forgotten.
  std::optional<Value> find(std::string_view key) const {
    const auto hash = hash_of(key);
    for (auto r = runs_.rbegin(); r != runs_.rend(); ++r) {
      if (const auto* e = (*r)->find(hash, key)) {
        return e->value;
      }
    }
    return std::nullopt;
  }

  /// Remembers `value` for `key` as the newest entry, unless that is already what find answers.
  void remember(std::string_view key, const Value& value) {
    if (find(key) != value) {
      append(key, value);
    }
  }

  /// Adds the entry as the newest whatever is remembered (rebuilding a map from for_each's
  /// entries in order gives an equal map).
  void append(std::string_view key, const Value& value) {
    if (size_ == Capacity) {
      // Only full generations are left: size_ is a multiple of Generation.
      runs_.erase(runs_.begin());
      size_ -= Generation;
    }
    const size_t open = size_ % Generation;
    auto first = runs_.size();
    if (open + 1 == Generation) {
      first -= std::bitset<64>(open).count(); // the whole open generation becomes one run
    } else {
      for (size_t carried = 1; open & carried; carried <<= 1) {
        --first; // the trailing runs of 1, 2, 4, ... entries carry into the new one
      }
    }
    const auto carried = runs_.begin() + static_cast<std::ptrdiff_t>(first);
    size_t entries = 1;
    size_t chars = key.size();
    for (auto r = carried; r != runs_.end(); ++r) {
      entries += (*r)->entries.size();
      chars += (*r)->keys.size();
    }
    run_builder merged{entries, chars};
    for (auto r = carried; r != runs_.end(); ++r) {
      merged.add_run(**r);
    }
    merged.add(hash_of(key), key, value);
    runs_.erase(carried, runs_.end());
    runs_.push_back(merged.finish());
    ++size_;
  }

  /// How many entries are remembered (a key remembered again with another value counts twice).
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// Calls f(std::string_view key, const Value&) for every entry, oldest first.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& r : runs_) {
      for (const auto& e : r->entries) {
        f(r->key_of(e), e.value);
      }
    }
  }

  /// The same entries in the same order.
  friend bool operator==(const history_map& x, const history_map& y) {
    // The runs' sizes follow from size_ alone, so equal maps have runs of equal sizes.
    if (x.size_ != y.size_) {
      return false;
    }
    for (size_t i = 0; i < x.runs_.size(); ++i) {
      if (x.runs_[i] != y.runs_[i] && !(*x.runs_[i] == *y.runs_[i])) {
        return false;
      }
    }
    return true;
  }
  friend bool operator!=(const history_map& x, const history_map& y) { return !(x == y); }

private:
  struct entry {
    uint64_t hash;
    size_t key_offset;
    size_t key_size;
    Value value;
  };

  struct slot {
    /// The hash's high half, checked before the entry is read.
    uint32_t tag = 0;
    /// 1 + the index of the newest entry of a key; 0: empty.
    uint32_t entry = 0;
  };

  /// Entries in the order they were added, with an open-addressing table over them. Immutable
  /// once built.
  struct run {
    /// The keys' characters, back to back.
    std::string keys;
    std::vector<entry> entries;
    /// A power of two, at least twice the entries.
    std::vector<slot> slots;

    std::string_view key_of(const entry& e) const {
      return {keys.data() + e.key_offset, e.key_size};
    }

    const entry* find(uint64_t hash, std::string_view key) const {
      const size_t mask = slots.size() - 1;
      const auto tag = static_cast<uint32_t>(hash >> 32);
      for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const auto& s = slots[i];
        if (s.entry == 0) {
          return nullptr;
        }
        const auto& e = entries[s.entry - 1];
        if (s.tag == tag && e.hash == hash && key_of(e) == key) {
          return &e;
        }
      }
    }

    friend bool operator==(const run& x, const run& y) {
      return std::equal(x.entries.begin(), x.entries.end(), y.entries.begin(), y.entries.end(),
                        [&](const entry& a, const entry& b) {
                          return a.hash == b.hash && a.value == b.value &&
                                 x.key_of(a) == y.key_of(b);
                        });
    }
  };

  class run_builder {
  public:
    run_builder(size_t entries, size_t chars) {
      run_->entries.reserve(entries);
      run_->keys.reserve(chars);
    }

    void add_run(const run& r) {
      const auto offset = run_->keys.size();
      run_->keys += r.keys;
      for (auto e : r.entries) {
        e.key_offset += offset;
        run_->entries.push_back(e);
      }
    }

    void add(uint64_t hash, std::string_view key, const Value& value) {
      run_->entries.push_back(entry{hash, run_->keys.size(), key.size(), value});
      run_->keys += key;
    }

    std::shared_ptr<const run> finish() {
      size_t size = 2;
      while (size < 2 * run_->entries.size()) {
        size *= 2;
      }
      run_->slots.assign(size, slot{});
      const size_t mask = size - 1;
      for (size_t n = 0; n < run_->entries.size(); ++n) {
        const auto& e = run_->entries[n];
        const auto tag = static_cast<uint32_t>(e.hash >> 32);
        for (size_t i = e.hash & mask;; i = (i + 1) & mask) {
          auto& s = run_->slots[i];
          if (s.entry == 0 || (s.tag == tag && run_->entries[s.entry - 1].hash == e.hash &&
                               run_->key_of(run_->entries[s.entry - 1]) == run_->key_of(e))) {
            s = slot{tag, static_cast<uint32_t>(n + 1)}; // a later entry of a key wins
            break;
          }
        }
      }
      return std::move(run_);
    }

  private:
    std::shared_ptr<run> run_ = std::make_shared<run>();
  };

  static uint64_t hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

  /// Oldest first: the full generations, then the open generation's runs, largest first.
  std::vector<std::shared_ptr<const run>> runs_;
  size_t size_ = 0;
};

} // namespace ordermesh::util
