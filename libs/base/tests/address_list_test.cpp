#include "postroom/base/address_list.hpp"

#include <doctest/doctest.h>

using postroom::address_list;
using List = std::vector<std::string>;

TEST_CASE("address list: the forms RFC 5322 §3.4 and its appendix A show") {
  struct Case {
    const char* text;
    List want;
  };
  const Case cases[] = {
      {"a@example.test", {"a@example.test"}},
      {"John Doe <jdoe@machine.example>", {"jdoe@machine.example"}},
      {"\"Joe Q. Public\" <john.q.public@example.com>", {"john.q.public@example.com"}},
      {"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
       {"mary@x.test", "jdoe@example.org", "one@y.test"}},
      {"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
       {"boss@nil.test", "sysservices@example.net"}},
      {"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
       {"c@a.test", "joe@where.test", "jdoe@one.test"}},
      {"Undisclosed recipients:;", {}},
      {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", {"pete@silly.test"}},
      {"a@b.test (Alice (the (nested) one)),\r\n\tb@c.test", {"a@b.test", "b@c.test"}},
      {"\"a,b\"@quoted.test", {"\"a,b\"@quoted.test"}},
      {"user@[192.0.2.1]", {"user@[192.0.2.1]"}},
      {"<@route.test,@other.test:user@final.test>", {"user@final.test"}},
      {"root", {"root"}},
      {"", {}},
      {" , ,", {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto got = address_list(c.text);
    REQUIRE(got);
    CHECK(*got == c.want);
  }
}

TEST_CASE("address list: unterminated parts are errors, not guesses") {
  for (const char* bad : {"\"open@x.test", "a@x.test (comment", "<a@x.test", "a@[1.2.3.4",
                          "a@x.test>", "<<a@x.test>>"}) {
    CAPTURE(bad);
    CHECK_FALSE(address_list(bad));
  }
}
