#pragma once

// The field list of a message struct, written once: OM_FIELDS generates its CAF inspect() (what
// travels between actors and nodes) and its operator==/!= from that one list, instead of two
// hand-written copies per struct. No CAF here: inspect() is a template over CAF's Inspector. It
// sits in util/ because the aggregates' messages and persistence/'s (journal_stats) both use it.
//
//   struct reserved { std::string order_id; int64_t qty = 0; int64_t expires_at_us = 0; };
//   OM_FIELDS(reserved, order_id, qty, expires_at_us)      // in the struct's namespace
//
// The list names every member, in declaration order: it is a structured binding of the struct,
// so a list with a member too few or too many does not compile. The wire order is the
// declaration order (a binding is positional): reordering members changes what CAF sends. A
// struct without members uses OM_NO_FIELDS(type).

#include <tuple>

/// inspect(), operator== and operator!= of `type` over the members named in the list.
#define OM_FIELDS(type, ...)                                                                       \
  inline auto om_fields_of(const type& om_x) {                                                     \
    const auto& [__VA_ARGS__] = om_x;                                                              \
    return std::tie(__VA_ARGS__);                                                                  \
  }                                                                                                \
  inline auto om_fields_of(type& om_x) {                                                           \
    auto& [__VA_ARGS__] = om_x;                                                                    \
    return std::tie(__VA_ARGS__);                                                                  \
  }                                                                                                \
  template <class Inspector>                                                                       \
  typename Inspector::result_type inspect(Inspector& f, type& x) {                                 \
    return std::apply([&f](auto&... om_xs) { return f(om_xs...); }, om_fields_of(x));              \
  }                                                                                                \
  inline bool operator==(const type& x, const type& y) {                                           \
    return om_fields_of(x) == om_fields_of(y);                                                     \
  }                                                                                                \
  inline bool operator!=(const type& x, const type& y) {                                           \
    return !(x == y);                                                                              \
  }

/// inspect(), operator== and operator!= of a `type` without members (all of its values are equal).
#define OM_NO_FIELDS(type)                                                                         \
  template <class Inspector>                                                                       \
  typename Inspector::result_type inspect(Inspector& f, type&) {                                   \
    return f();                                                                                    \
  }                                                                                                \
  inline bool operator==(const type&, const type&) {                                               \
    return true;                                                                                   \
  }                                                                                                \
  inline bool operator!=(const type&, const type&) {                                               \
    return false;                                                                                  \
  }
