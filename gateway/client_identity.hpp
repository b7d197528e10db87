#pragma once

// Who a request counts against (rate limits, idempotency keys): pure, no I/O.

#include "config/config.hpp"
#include "gateway/problem.hpp"

#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace ordermesh::gateway {

/// SHA-256 of `data`, 64 lowercase hex characters (what gateway.api_keys holds per key).
std::string sha256_hex(std::string_view data);

/// What a request says about who sent it.
struct client_claims {
  /// The Authorization header ("" when absent).
  std::string_view authorization;
  /// The X-Api-Key header ("" when absent).
  std::string_view api_key;
  /// The X-Client-Id header ("" when absent).
  std::string_view client_id;
  /// The peer's IP address.
  std::string_view remote_address;
};

/// The configured API keys and whether X-Client-Id is trusted; built once, read-only after.
class client_identity {
public:
  explicit client_identity(const config::gateway_config& cfg);

  /// The client: "key:<client>" for a known API key (`Authorization: Bearer <key>` or
  /// `X-Api-Key: <key>`; both sent must be the same key); else "proxy:<X-Client-Id>" when the
  /// gateway is behind a trusted proxy and the id is valid; else "ip:<peer address>". A key that is not
  /// configured, another Authorization scheme, or two different keys: 401 problem (unauthorized).
  std::variant<std::string, problem_details> identify(const client_claims& claims) const;

private:
  /// SHA-256 hex of a key -> its client.
  std::unordered_map<std::string, std::string> clients_by_hash_;
  bool trusted_proxy_;
};

} // namespace ordermesh::gateway
