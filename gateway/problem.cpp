#include "gateway/problem.hpp"

#include <boost/beast/http/status.hpp>
#include <nlohmann/json.hpp>

namespace ordermesh::gateway {

response make_problem(const problem_details& p) {
  nlohmann::json body = {
      {"type", p.type},
      {"title", p.title.empty() ? std::string{boost::beast::http::obsolete_reason(
                                      static_cast<boost::beast::http::status>(p.status))}
                                : p.title},
      {"status", p.status},
      {"detail", p.detail},
  };
  if (!p.instance.empty()) {
    body["instance"] = p.instance;
  }
  for (const auto& [name, value] : p.extensions.items()) {
    body.emplace(name, value); // never overrides a standard member
  }
  response r;
  r.status = p.status;
  r.content_type = "application/problem+json";
  // Replace invalid UTF-8 rather than throw: details may echo what the client sent.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

response make_json(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

} // namespace ordermesh::gateway
