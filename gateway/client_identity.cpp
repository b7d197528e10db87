#include "gateway/client_identity.hpp"

#include "gateway/order_request.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <optional>

namespace ordermesh::gateway {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

problem_details unauthorized(std::string detail) {
  return problem(401, problem_type::unauthorized, std::move(detail));
}

} // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // EVP_Digest only fails on allocation failure inside OpenSSL.
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw std::bad_alloc{};
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

client_identity::client_identity(const config::gateway_config& cfg)
    : trusted_proxy_(cfg.trusted_proxy) {
  for (const auto& k : cfg.api_keys) {
    clients_by_hash_.emplace(k.sha256_hex, k.client);
  }
}

std::variant<std::string, problem_details>
client_identity::identify(const client_claims& claims) const {
  std::optional<std::string_view> key;
  if (!claims.authorization.empty()) {
    const auto auth = trim(claims.authorization);
    const auto space = auth.find(' ');
    if (space == std::string_view::npos || !iequals(auth.substr(0, space), "Bearer") ||
        trim(auth.substr(space + 1)).empty()) {
      return unauthorized("Authorization must be \"Bearer <API key>\"");
    }
    key = trim(auth.substr(space + 1));
  }
  if (!claims.api_key.empty()) {
    const auto other = trim(claims.api_key);
    if (key && *key != other) {
      return unauthorized("Authorization and X-Api-Key carry different keys; send one");
    }
    key = other;
  }
  if (key) {
    auto it = clients_by_hash_.find(sha256_hex(*key));
    if (it == clients_by_hash_.end()) {
      return unauthorized("the API key is not known");
    }
    return "key:" + it->second;
  }
  if (trusted_proxy_ && valid_id(claims.client_id)) {
    // Its own namespace: a name a proxy passes on is never an API-key client or an address.
    return "proxy:" + std::string{claims.client_id};
  }
  return "ip:" + (claims.remote_address.empty() ? std::string{"unknown"}
                                                : std::string{claims.remote_address});
}

} // namespace ordermesh::gateway
