#include "postroom/base/sasl.hpp"

#include <doctest/doctest.h>

using namespace postroom::sasl;

TEST_CASE("sasl: RFC 4648 §10 test vectors both ways") {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    CAPTURE(plain);
    CHECK(base64_encode(plain) == encoded);
    CHECK(base64_decode(encoded).value() == plain);
  }
  CHECK(base64_decode("+/+/").value() == "\xfb\xff\xbf");
}

TEST_CASE("sasl: malformed base64 is rejected, not guessed") {
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v YmFy", "Zm9v!mFy",
                          "Zh==", "Zm9=", "=Zm9", "Zm9v\r\n", "Zm9v-_=="}) {
    CAPTURE(bad);
    CHECK_FALSE(base64_decode(bad));
  }
}

TEST_CASE("sasl: PLAIN messages split into authzid, authcid and password") {
  auto c = parse_plain(plain_message("alice@example.test", "secret"));
  REQUIRE(c);
  CHECK(c->authzid.empty());
  CHECK(c->authcid == "alice@example.test");
  CHECK(c->password == "secret");
  auto z = parse_plain(std::string("admin\0alice\0pw", 14));
  REQUIRE(z);
  CHECK(z->authzid == "admin");
  for (std::string bad :
       {std::string("alice secret"), std::string("\0alice", 6), std::string("\0\0pw", 4),
        std::string("\0a\0", 3), std::string("\0a\0b\0c", 6)}) {
    CHECK_FALSE(parse_plain(bad));
  }
}

TEST_CASE("sasl: wipe clears the secret") {
  std::string secret = "hunter2";
  wipe(secret);
  CHECK(secret.empty());
}
