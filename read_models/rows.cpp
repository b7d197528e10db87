#include "read_models/rows.hpp"

#include <array>
#include <utility>

namespace ordermesh::read_models {

namespace {

constexpr std::array<std::pair<line_reservation, std::string_view>, 3> reservation_names{{
    {line_reservation::pending, "pending"},
    {line_reservation::reserved, "reserved"},
    {line_reservation::failed, "failed"},
}};

} // namespace

std::string_view to_string(line_reservation x) {
  for (const auto& [reservation, name] : reservation_names) {
    if (reservation == x) {
      return name;
    }
  }
  return "pending";
}

std::optional<line_reservation> line_reservation_from(std::string_view name) {
  for (const auto& [reservation, n] : reservation_names) {
    if (n == name) {
      return reservation;
    }
  }
  return std::nullopt;
}

} // namespace ordermesh::read_models
