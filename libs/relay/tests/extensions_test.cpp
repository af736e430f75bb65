// EHLO keyword parsing (RFC 5321 §4.1.1.1 and the extension RFCs).
#include "postroom/relay/extensions.hpp"

#include <doctest/doctest.h>

using namespace postroom::relay;

TEST_CASE("extensions: keywords are read case-insensitively, the greeting line skipped") {
  Reply reply{
      250,
      {"mx.example PIPELINING is just a greeting word here", "pipelining", "Size 1000", "8bitmime",
       "SMTPUTF8", "STARTTLS", "AUTH plain LOGIN", "AUTH=CRAM-MD5 LOGIN", "ENHANCEDSTATUSCODES"}};
  Extensions ext = Extensions::parse(reply);
  CHECK(ext.pipelining);
  CHECK(ext.size == 1000u);
  CHECK(ext.eightbitmime);
  CHECK(ext.smtputf8);
  CHECK(ext.starttls);
  CHECK(ext.auth_mechanisms == std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"});
  CHECK(ext.offers_auth("PLAIN"));
  CHECK_FALSE(ext.offers_auth("XOAUTH2"));
}

TEST_CASE("extensions: nothing listed, SIZE without or with a bad limit") {
  Extensions none = Extensions::parse(Reply{250, {"mx.example PIPELINING SIZE"}});
  CHECK_FALSE(none.pipelining);
  CHECK_FALSE(none.size.has_value());
  CHECK(Extensions::parse(Reply{250, {"mx", "SIZE"}}).size == 0u);
  CHECK(Extensions::parse(Reply{250, {"mx", "SIZE 12ab"}}).size == 0u);
}
