#include "postroom/base/dot_reader.hpp"

#include <doctest/doctest.h>

#include <string>

using postroom::DotReader;

namespace {

struct Outcome {
  std::string out;
  std::size_t consumed = 0;
  bool done = false;
  bool bare = false;
  bool nul = false;
  bool too_long = false;
};

Outcome decode(std::string_view input, bool bytewise) {
  DotReader reader;
  Outcome o;
  std::size_t i = 0;
  while (i < input.size() && !o.done) {
    std::size_t n = bytewise ? 1 : input.size() - i;
    auto step = reader.feed(input.substr(i, n), o.out);
    i += step.consumed;
    o.done = step.done;
  }
  o.consumed = i;
  o.bare = reader.bare_cr_or_lf();
  o.nul = reader.nul();
  o.too_long = reader.line_too_long();
  return o;
}

struct Case {
  const char* name;
  std::string input;
  std::string want;
  bool done;
  std::size_t consumed;  // 0: all of the input
  bool bare = false;
  bool nul = false;
};

}  // namespace

TEST_CASE("dot reader: end of data, unstuffing and smuggling variants, whole and byte by byte") {
  const Case cases[] = {
      {"empty message", ".\r\n", "", true, 3},
      {"one line", "Hi\r\n.\r\n", "Hi\r\n", true, 7},
      {"stops at the end", "Hi\r\n.\r\nQUIT\r\n", "Hi\r\n", true, 7},
      {"stuffed dot removed", "..x\r\n..\r\n.\r\n", ".x\r\n.\r\n", true, 0},
      {"unstuffed leading dot removed", ".x\r\n.\r\n", "x\r\n", true, 0},
      {"dot inside a line stays", "a.b\r\n a\r\n.\r\n", "a.b\r\n a\r\n", true, 0},
      {"incomplete", "Hi\r\n.\r", "Hi\r\n", false, 0},
      {"LF.LF is not the end", "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", true, 0, true},
      {"LF.CRLF is not the end", "a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", true, 0, true},
      {"CR.CR is not the end", "a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", true, 0, true},
      {"CRLF.LF is not the end", "a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n", true, 0, true},
      {"CRLF.CR+x is not the end", "a\r\n.\rx\r\n.\r\n", "a\r\n\rx\r\n", true, 0, true},
      {"CR CRLF", "a\r\r\n.\r\n", "a\r\r\n", true, 0, true},
      {"NUL is recorded", std::string("a\0b\r\n.\r\n", 8), std::string("a\0b\r\n", 5), true, 0,
       false, true},
  };
  for (const Case& c : cases) {
    for (bool bytewise : {false, true}) {
      CAPTURE(c.name);
      CAPTURE(bytewise);
      Outcome o = decode(c.input, bytewise);
      CHECK(o.out == c.want);
      CHECK(o.done == c.done);
      CHECK(o.consumed == (c.consumed ? c.consumed : c.input.size()));
      CHECK(o.bare == c.bare);
      CHECK(o.nul == c.nul);
      CHECK_FALSE(o.too_long);
    }
  }
}

TEST_CASE("dot reader: 998 octets plus CRLF is fine, 999 is too long (RFC 5321 4.5.3.1.6)") {
  std::string ok(998, 'x');
  CHECK_FALSE(decode(ok + "\r\n.\r\n", false).too_long);
  // The stuffed dot does not count.
  CHECK_FALSE(decode("." + ok + "\r\n.\r\n", true).too_long);
  std::string bad(999, 'x');
  Outcome o = decode(bad + "\r\n.\r\n", true);
  CHECK(o.too_long);
  CHECK(o.done);
}

TEST_CASE("dot reader: output never exceeds input") {
  DotReader reader;
  std::string out;
  auto step = reader.feed("abc\r\n..def\r\n", out);
  CHECK(out.size() <= step.consumed);
  CHECK_FALSE(step.done);
}
