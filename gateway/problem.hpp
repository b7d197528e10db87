#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace ordermesh::gateway {

/// One HTTP answer as handlers produce it; the server adds Content-Length, Connection and Server.
struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  /// Extra headers (name, value), e.g. Allow or Retry-After.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// The members of an RFC 9457 problem document.
struct problem_details {
  unsigned status = 500;
  /// A URI naming the kind of problem; "about:blank" when the status says it all.
  std::string type = "about:blank";
  /// Short summary; empty: the status's reason phrase.
  std::string title;
  /// What went wrong with this request, for a human.
  std::string detail;
  /// The request path the problem is about; left out when empty.
  std::string instance;
  /// Extension members (RFC 9457 section 3.2), e.g. "errors" or "order_id"; must be an object.
  nlohmann::json extensions = nlohmann::json::object();
};

/// The one builder of error answers: `application/problem+json` with {type, title, status, detail,
/// instance} plus the extension members, and the status set accordingly.
response make_problem(const problem_details& p);

/// A 200-family (or any) answer with a JSON body already serialized.
response make_json(unsigned status, std::string body);

} // namespace ordermesh::gateway
