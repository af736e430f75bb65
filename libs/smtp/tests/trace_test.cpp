#include "trace.hpp"

#include <doctest/doctest.h>

using namespace postroom::smtp;

TEST_CASE("trace: RFC 5322 date-time in UTC") {
  CHECK(rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(rfc5322_date(1700000000) == "Tue, 14 Nov 2023 22:13:20 +0000");
}

TEST_CASE("trace: protocol names follow RFC 3848 and RFC 6531") {
  CHECK(with_protocol(false, false, false, false) == "SMTP");
  CHECK(with_protocol(true, false, false, false) == "ESMTP");
  CHECK(with_protocol(true, true, false, false) == "ESMTPS");
  CHECK(with_protocol(true, false, true, false) == "ESMTPA");
  CHECK(with_protocol(true, true, true, false) == "ESMTPSA");
  CHECK(with_protocol(true, true, true, true) == "UTF8SMTPSA");
}

TEST_CASE("trace: Return-Path for a sender and for the null sender") {
  CHECK(return_path_field(postroom::Address{"a", "b.test"}) == "Return-Path: <a@b.test>\r\n");
  CHECK(return_path_field(std::nullopt) == "Return-Path: <>\r\n");
}

TEST_CASE("trace: Received names helo, peer literal, host, protocol, id, recipient and date") {
  ReceivedInfo info{"client.test", "192.0.2.7", "mail.example.test",
                    "ESMTPS",      "S1.1",      std::string("bob@example.test"),
                    1700000000};
  CHECK(received_field(info) ==
        "Received: from client.test ([192.0.2.7])\r\n\tby mail.example.test with ESMTPS id S1.1\r\n"
        "\tfor <bob@example.test>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
  info.peer_ip = "2001:db8::1";
  info.for_recipient.reset();
  CHECK(received_field(info) ==
        "Received: from client.test ([IPv6:2001:db8::1])\r\n\tby mail.example.test with ESMTPS id "
        "S1.1; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
}
