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

TEST_CASE("message stream: the fault with precedence wins, in whatever order they come") {
  std::vector<std::string> ready;
  MessageStream size_later(10, "");
  size_later.fail(Fault::bare_line_end, make_reply(550, "5.6.0", "bare"));
  size_later.write(std::string(100, 'x'), ready);  // the size is still counted and checked
  CHECK(size_later.failure()->code == 552);
  MessageStream size_first(10, "");
  size_first.write(std::string(100, 'x'), ready);
  size_first.fail(Fault::bare_line_end, make_reply(550, "5.6.0", "bare"));
  CHECK(size_first.failure()->code == 552);
  MessageStream text(1000, "");
  text.fail(Fault::bare_line_end, make_reply(550, "5.6.0", "bare"));
  text.fail(Fault::long_line, make_reply(550, "5.6.0", "long"));
  CHECK(text.failure()->lines.front() == "bare");
  CHECK(ready.empty());
}
