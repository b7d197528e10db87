// Prints the OpenAPI document exactly as GET /openapi.json serves it, for scripts/openapi-lint.

#include "gateway/api.hpp"

#include <iostream>

int main() {
  std::cout << ordermesh::gateway::openapi_document() << '\n';
  return std::cout.good() ? 0 : 1;
}
