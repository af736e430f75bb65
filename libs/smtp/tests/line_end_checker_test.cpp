// LineEndChecker: the BDAT scan for NUL and bare CR or LF, fed whole and one octet at a time.
#include "line_end_checker.hpp"

#include <doctest/doctest.h>

#include <string>

using postroom::smtp::LineEndChecker;
using std::string;

namespace {

struct Verdict {
  bool bare = false;
  bool nul = false;
};

Verdict check(const string& input, bool bytewise) {
  LineEndChecker c;
  if (bytewise) {
    for (char ch : input) c.feed(string(1, ch));
  } else {
    c.feed(input);
  }
  c.finish();
  return {c.bare_cr_or_lf(), c.nul()};
}

}  // namespace

TEST_CASE("line end checker: verdicts do not depend on how the input is split") {
  struct Case {
    string input;
    bool bare;
    bool nul;
  };
  const Case cases[] = {
      {"", false, false},
      {"a\r\nb\r\n", false, false},
      {"no line end at all", false, false},
      {"\r\n\r\n.\r\n", false, false},
      {"a\nb\r\n", true, false},
      {"\n", true, false},
      {"a\rb\r\n", true, false},
      {"a\r\r\n", true, false},
      {"ends with CR\r", true, false},
      {string("nul \0 here\r\n", 12), false, true},
      {string("\0\n", 2), true, true},
  };
  for (const Case& c : cases) {
    for (bool bytewise : {false, true}) {
      CAPTURE(c.input);
      CAPTURE(bytewise);
      Verdict v = check(c.input, bytewise);
      CHECK(v.bare == c.bare);
      CHECK(v.nul == c.nul);
    }
  }
}
