#include "postroom/base/wipe.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <utility>

using namespace postroom;

namespace {

// The bytes of the string's whole buffer, read after the string was emptied.
bool buffer_is_zero(const std::string& s) {
  const char* p = s.data();
  return std::all_of(p, p + s.capacity(), [](char c) { return c == '\0'; });
}

}  // namespace

TEST_CASE("wipe: a heap-allocated secret is zeroed across its whole capacity") {
  std::string secret(200, 'x');
  secret.resize(10);  // the tail past size() still holds 'x'
  wipe(secret);
  CHECK(secret.empty());
  CHECK(secret.capacity() >= 200);
  CHECK(buffer_is_zero(secret));
}

TEST_CASE("wipe: a moved-from short secret loses the bytes it kept in place") {
  std::string secret = "hunter2";
  std::string taken = std::move(secret);
  wipe(secret);
  CHECK(buffer_is_zero(secret));
  CHECK(taken == "hunter2");
  wipe(taken);
  CHECK(taken.empty());
  CHECK(buffer_is_zero(taken));
}
