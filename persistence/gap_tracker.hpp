#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace ordermesh::persistence {

/// The parts of a PostgreSQL snapshot (`pg_current_snapshot()`) a subscription needs.
struct db_snapshot {
  uint64_t xmin = 0;
  uint64_t xmax = 0;
  /// Transactions in progress when the snapshot was taken, ascending.
  std::vector<uint64_t> in_progress;
};

/// Parses the text form "xmin:xmax:xip1,xip2,..."; nullopt if malformed.
std::optional<db_snapshot> parse_db_snapshot(std::string_view text);

/// Decides which read events a subscription may deliver without ever skipping one that commits
/// late.
///
/// Positions come from a sequence, so a transaction can take position p, and a later transaction
/// p + 1 and commit first: a reader then sees a gap at p that may still fill. Every appending
/// transaction takes its transaction id before its positions (see the events migration), so every
/// position at or below the highest visible one belongs to a transaction that had finished, or was
/// listed as in progress, when that snapshot was taken. Once all of those have finished, every gap
/// at or below that position is final: visible now, or never (rolled back).
///
/// Pure: fed with what each read saw, it answers which positions are final.
class gap_tracker {
public:
  /// Starts with everything at or below `checkpoint` known to be final.
  explicit gap_tracker(int64_t checkpoint = 0) : final_through_(checkpoint) {}

  /// Records one read: its snapshot and the highest global position visible in it.
  void observe(const db_snapshot& snapshot, int64_t max_visible_position);

  /// Whether an event visible at `position` may be delivered right after `delivered_through`.
  bool deliverable(int64_t delivered_through, int64_t position) const {
    return position == delivered_through + 1 || position - 1 <= final_through_;
  }

  /// Every position at or below this one is final.
  int64_t final_through() const { return final_through_; }

private:
  struct candidate {
    int64_t position;
    std::vector<uint64_t> waiting_for;
  };

  int64_t final_through_;
  std::optional<candidate> candidate_;
};

} // namespace ordermesh::persistence
