// A program for fail_point_test: passes the point "test.point" five times, saying so after each.

#include "util/fail_point.hpp"

#include <cstdio>

int main() {
  for (int i = 1; i <= 5; ++i) {
    ordermesh::util::fail_point("test.point");
    std::fprintf(stderr, "passed %d\n", i);
  }
  return 0;
}
