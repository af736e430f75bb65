// Trace header fields a receiving SMTP server prepends: Return-Path and Received (RFC 5321 §4.4).
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/address.hpp"

namespace postroom::smtp {

// RFC 5322 §3.3 date-time in UTC: "Tue, 02 Jan 2024 03:04:05 +0000".
std::string rfc5322_date(std::time_t when);

// The "with" protocol of Received: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA (RFC 3848) and the
// UTF8SMTP variants for SMTPUTF8 transactions (RFC 6531 §3.7.3).
std::string with_protocol(bool esmtp, bool tls, bool authenticated, bool smtputf8);

// "Return-Path: <a@b>\r\n", or "Return-Path: <>\r\n" for the null sender.
std::string return_path_field(const std::optional<Address>& reverse_path);

struct ReceivedInfo {
  std::string helo;      // the client's EHLO/HELO argument
  std::string peer_ip;   // numeric; written as an address literal (RFC 5321 §4.1.3)
  std::string hostname;  // ours
  std::string protocol;  // with_protocol()
  std::string id;        // the transaction id
  std::optional<std::string> for_recipient;  // only with exactly one recipient (privacy)
  std::time_t when = 0;
};

// "Received: from helo ([ip])\r\n\tby host with ESMTPS id X\r\n\tfor <r>; date\r\n", folded
// (RFC 5322 §2.2.3) so no line comes near the 998-octet limit.
std::string received_field(const ReceivedInfo& info);

}  // namespace postroom::smtp
