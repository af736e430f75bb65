#include "hop_counter.hpp"

#include <doctest/doctest.h>

#include <string>

using postroom::smtp::HopCounter;

namespace {
std::size_t count(std::string_view text, bool bytewise) {
  HopCounter h;
  if (bytewise) {
    for (char c : text) h.feed(std::string_view(&c, 1));
  } else {
    h.feed(text);
  }
  return h.count();
}
}  // namespace

TEST_CASE("hop counter: counts Received fields case-insensitively, header section only") {
  std::string msg =
      "Received: from a\r\nRECEIVED: from b\r\n\tby c\r\nSubject: Received: no\r\n"
      "X-Received: no\r\nreceived:x\r\n\r\nReceived: in the body\r\n";
  for (bool bytewise : {false, true}) {
    CAPTURE(bytewise);
    CHECK(count(msg, bytewise) == 3);
  }
}

TEST_CASE("hop counter: an LF-only empty line also ends the header section (BDAT data)") {
  CHECK(count("Received: a\nReceived: b\n\nReceived: c\n", true) == 2);
}

TEST_CASE("hop counter: a body without header fields counts nothing") {
  HopCounter h;
  h.feed("\r\nReceived: x\r\n");
  CHECK(h.count() == 0);
  CHECK_FALSE(h.in_header());
}
