#include "gateway/routes.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace ordermesh::gateway {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

/// "/orders/{id}" -> {"orders", "{id}"}; empty segments (double or trailing slashes) are kept so
/// that "/orders/" does not match "/orders".
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  if (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  while (true) {
    const auto slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      return out;
    }
    path.remove_prefix(slash + 1);
  }
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

/// Fills `params` when `segments` match `pattern`.
bool match(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
           std::map<std::string, std::string>& params) {
  if (pattern.size() != segments.size()) {
    return false;
  }
  params.clear();
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (is_param(pattern[i])) {
      if (segments[i].empty()) {
        return false;
      }
      params[pattern[i].substr(1, pattern[i].size() - 2)] = segments[i];
    } else if (pattern[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

/// The media type of a Content-Type value, lower-cased, without parameters.
std::string media_type(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  std::string out;
  for (const char c : content_type) {
    if (c != ' ' && c != '\t') {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

} // namespace

std::string request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) {
      return v;
    }
  }
  return {};
}

bool responder::operator()(response r) const {
  if (slot_->answered.exchange(true)) {
    return false;
  }
  if (slot_->observer) {
    slot_->observer(r);
  }
  slot_->deliver(std::move(r));
  return true;
}

void route_table::add(std::string method, std::string pattern, handler h, body_kind consumes) {
  routes_.push_back(route{std::move(method), split_path(pattern), std::move(h), consumes});
}

void route_table::dispatch(const request& req, const responder& answer) const {
  const auto segments = split_path(req.path);
  std::set<std::string> allowed;
  std::map<std::string, std::string> params;
  for (const auto& r : routes_) {
    if (!match(r.segments, segments, params)) {
      continue;
    }
    if (r.method != req.method) {
      allowed.insert(r.method);
      continue;
    }
    if (r.consumes == body_kind::json && !req.body.empty() &&
        media_type(req.header("Content-Type")) != "application/json") {
      answer(make_problem(
          {415, "about:blank", "",
           "this route consumes application/json, got \"" + req.header("Content-Type") + "\"",
           req.path}));
      return;
    }
    request routed = req;
    routed.params = std::move(params);
    r.h(routed, answer);
    return;
  }
  if (allowed.empty()) {
    answer(make_problem({404, "about:blank", "", "no resource at " + req.path, req.path}));
    return;
  }
  std::string allow;
  for (const auto& m : allowed) {
    allow += (allow.empty() ? "" : ", ") + m;
  }
  auto r = make_problem(
      {405, "about:blank", "", req.method + " is not allowed here; allowed: " + allow, req.path});
  r.headers.emplace_back("Allow", allow);
  answer(std::move(r));
}

} // namespace ordermesh::gateway
