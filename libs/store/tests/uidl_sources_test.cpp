// Tests for reading other servers' UIDL records and expanding Dovecot's UIDL format.
#include "postroom/store/uidl_sources.hpp"

#include <doctest/doctest.h>

using namespace postroom::store;

TEST_CASE("dovecot-uidlist v3: UIDs by base name, P field and UIDVALIDITY") {
  auto list = parse_dovecot_uidlist(
      "3 V1700000000 N4 G3085f01b7f11094c501100008c4a11c1\n"
      "1 :1700000001.M1P1.host,S=120,W=123:2,S\n"
      "2 W2000 P0000abcd :1700000002.M2P1.host:2,\n"
      "3 G9f3a :1700000003.M3P1.host\n");
  REQUIRE(list);
  CHECK(list->uidvalidity == 1700000000u);
  REQUIRE(list->by_base_name.size() == 3);
  auto first = list->by_base_name.find("1700000001.M1P1.host,S=120,W=123");
  REQUIRE(first != list->by_base_name.end());
  CHECK(first->second.uid == 1);
  CHECK(first->second.pop3_uidl.empty());
  CHECK(list->by_base_name.at("1700000002.M2P1.host").pop3_uidl == "0000abcd");
  CHECK(list->by_base_name.at("1700000003.M3P1.host").guid == "9f3a");
}

TEST_CASE("dovecot-uidlist v1 and CRLF line ends") {
  auto list = parse_dovecot_uidlist("1 1234 3\r\n1 1.a.host:2,S\r\n2 2.b.host\r\n");
  REQUIRE(list);
  CHECK(list->uidvalidity == 1234u);
  CHECK(list->by_base_name.at("1.a.host").uid == 1);
  CHECK(list->by_base_name.at("2.b.host").uid == 2);
}

TEST_CASE("dovecot-uidlist: bad input is an error naming the line") {
  CHECK_FALSE(parse_dovecot_uidlist(""));
  CHECK_FALSE(parse_dovecot_uidlist("2 V1 N1\n"));
  CHECK_FALSE(parse_dovecot_uidlist("3 N4\n"));
  auto bad = parse_dovecot_uidlist("3 V1 N2\nx :name\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("line 2") != std::string::npos);
  CHECK_FALSE(parse_dovecot_uidlist("3 V1 N2\n0 :name\n"));
}

TEST_CASE("UIDL format: Dovecot's default %08Xu%08Xv") {
  UidlVariables v{.uid = 26, .uidvalidity = 1700000000, .filename = "1.M2.host", .guid = "g"};
  CHECK(expand_uidl_format("%08Xu%08Xv", v).value() == "0000001a6553f100");
  CHECK(expand_uidl_format("%u-%v", v).value() == "26-1700000000");
  CHECK(expand_uidl_format("%f", v).value() == "1.M2.host");
  CHECK(expand_uidl_format("%{uid}.%{uidvalidity}.%{filename}", v).value() ==
        "26.1700000000.1.M2.host");
  CHECK(expand_uidl_format("%UXu", v).value() == "1A");
  CHECK(expand_uidl_format("%3f", v).value() == "1.M");
  CHECK(expand_uidl_format("%05u%%", v).value() == "00026%");
  CHECK(expand_uidl_format("UID%u-%v", v).value() == "UID26-1700000000");
}

TEST_CASE("UIDL format: unknown variables and a dangling percent are errors") {
  UidlVariables v{};
  CHECK_FALSE(expand_uidl_format("%m", v));
  CHECK_FALSE(expand_uidl_format("%08X", v));
  CHECK_FALSE(expand_uidl_format("abc%", v));
  CHECK_FALSE(expand_uidl_format("%{uid", v));
}

TEST_CASE("courierpop3dsizelist: UID<uid>-<uidv> per base name") {
  auto list = parse_courier_sizelist(
      "/2 4 1600000000\n"
      "1600000001.M1.host:2,S 1234 1:1600000000\n"
      "cur/1600000002.M2.host 99 2:1600000000:1\n"
      "1600000003.M3.host 5 3:0\n");
  REQUIRE(list);
  CHECK(list->at("1600000001.M1.host") == "UID1-1600000000");
  CHECK(list->at("1600000002.M2.host") == "UID2-1600000000");
  CHECK(list->at("1600000003.M3.host") == "UID3");
  CHECK_FALSE(parse_courier_sizelist("/1 4\n"));
  CHECK_FALSE(parse_courier_sizelist("/3 4 5\nname 12 x:5\n"));
}

TEST_CASE("X-UIDL: the first field in the header section, any case, trimmed") {
  CHECK(find_x_uidl("From: a\r\nx-uidl:  abc123 \r\nX-UIDL: second\r\n\r\nbody").value() ==
        "abc123");
  CHECK(find_x_uidl("From: a\n\nX-UIDL: in-body\n") == std::nullopt);
  CHECK(find_x_uidl("X-UIDLX: no\nX-UIDL : yes\n").value() == "yes");
  CHECK(find_x_uidl("X-UIDL:\n") == std::nullopt);
}
