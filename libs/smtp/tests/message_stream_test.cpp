#include "message_stream.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace postroom::smtp;

TEST_CASE("message stream: chunks are cut at fixed 64 KiB boundaries, trace first") {
  MessageStream s(1 << 20, "T\r\n");
  std::vector<std::string> ready;
  std::string body(200 * 1024, 'b');
  for (std::size_t i = 0; i < body.size(); i += 1000)
    s.write(std::string_view(body).substr(i, 1000), ready);
  REQUIRE(ready.size() == 3);
  for (const auto& c : ready) CHECK(c.size() == kChunkSize);
  CHECK(ready[0].starts_with("T\r\nbbb"));
  std::string rest = s.finish();
  CHECK(rest.size() == 3 + body.size() - 3 * kChunkSize);
  CHECK(s.size() == body.size());  // the trace does not count
}

TEST_CASE("message stream: exceeding the size stops buffering at once and reports 552 5.3.4") {
  MessageStream s(100, "");
  std::vector<std::string> ready;
  s.write(std::string(100, 'a'), ready);
  CHECK_FALSE(s.failure());
  s.write("b", ready);
  REQUIRE(s.failure());
  CHECK(s.failure()->code == 552);
  CHECK(s.failure()->enhanced == "5.3.4");
  s.write(std::string(1 << 20, 'c'), ready);
  CHECK(ready.empty());
  CHECK(s.finish().empty());
  CHECK(s.size() == 101 + (1 << 20));
}

TEST_CASE("message stream: more than 50 Received fields is a loop, 554 5.4.6") {
  MessageStream ok(1 << 20, "");
  MessageStream loop(1 << 20, "");
  std::vector<std::string> ready;
  std::string fifty;
  for (int i = 0; i < 50; ++i) fifty += "Received: from x\r\n";
  ok.write(fifty + "\r\nbody\r\n", ready);
  CHECK_FALSE(ok.failure());
  loop.write(fifty + "Received: one more\r\n\r\n", ready);
  REQUIRE(loop.failure());
  CHECK(loop.failure()->code == 554);
  CHECK(loop.failure()->enhanced == "5.4.6");
}

TEST_CASE("message stream: the first failure wins") {
  MessageStream s(10, "");
  std::vector<std::string> ready;
  s.fail(make_reply(550, "5.6.0", "first"));
  s.write(std::string(100, 'x'), ready);
  CHECK(s.failure()->lines.front() == "first");
}
