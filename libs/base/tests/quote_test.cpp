#include "postroom/base/quote.hpp"

#include <doctest/doctest.h>

using namespace postroom;

TEST_CASE("quote: plain text is quoted as it is") {
  CHECK(quoted_value("mail.example.test") == "'mail.example.test'");
  CHECK(quoted_value("") == "''");
}

TEST_CASE("quote: control characters, backslashes and non-ASCII bytes are escaped") {
  CHECK(quoted_value(std::string("a\r\nb\0c\td\\e", 10)) == "'a\\r\\nb\\0c\\td\\\\e'");
  CHECK(quoted_value("caf\xc3\xa9\x7f\x01") == "'caf\\xc3\\xa9\\x7f\\x01'");
}

TEST_CASE("quote: a long value is cut at the limit with an ellipsis") {
  std::string huge(50 << 20, 'x');
  std::string q = quoted_value(huge);
  CHECK(q == "'" + std::string(80, 'x') + "...'");
  CHECK(printable("abcdef", 3) == "abc...");
  CHECK(printable("abc", 3) == "abc");
  // Escaping may grow the text, but never past 4 bytes per shown byte.
  CHECK(printable(std::string(100, '\n'), 10).size() == 2 * 10 + 3);
}
