#include "postroom/store/mbox.hpp"

#include <doctest/doctest.h>

#include <vector>

using postroom::store::MboxReader;

namespace {
std::vector<std::string> split(const std::string& mbox) {
  std::vector<std::string> messages;
  std::string current;
  MboxReader reader([&] { current.clear(); }, [&](std::string_view b) { current += b; },
                    [&] { messages.push_back(current); });
  std::size_t start = 0;
  while (start < mbox.size()) {
    auto end = mbox.find('\n', start);
    end = end == std::string::npos ? mbox.size() : end + 1;
    reader.line(std::string_view(mbox).substr(start, end - start));
    start = end;
  }
  reader.finish();
  return messages;
}
}  // namespace

TEST_CASE("mbox: messages split at From lines, separator blank line dropped, >From unquoted") {
  auto messages = split(
      "From alice@example.test Mon Jan  1 00:00:00 2024\n"
      "Subject: one\n\nbody\n>From here\n>>From deeper\n\n"
      "From bob@example.test Mon Jan  1 00:00:00 2024\n"
      "Subject: two\n\nlast\n\n\n");
  REQUIRE(messages.size() == 2);
  CHECK(messages[0] == "Subject: one\n\nbody\nFrom here\n>From deeper\n");
  CHECK(messages[1] == "Subject: two\n\nlast\n\n");
}

TEST_CASE("mbox: an empty file holds no message, junk before the first separator is skipped") {
  CHECK(split("").empty());
  auto messages = split("junk\nFrom x Mon Jan  1 00:00:00 2024\nA: b\n\nc");
  REQUIRE(messages.size() == 1);
  CHECK(messages[0] == "A: b\n\nc");
}
