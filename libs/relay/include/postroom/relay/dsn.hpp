// Composes delivery status notifications (RFC 3464 bounces) for the original sender.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/relay/retry.hpp"

namespace postroom::relay {

enum class DsnAction { failed, delayed };  // RFC 3464 §2.3.3

struct DsnRecipient {
  std::string address;
  DsnAction action = DsnAction::failed;
  std::string status;  // RFC 3463 enhanced status, "5.1.1"
  // The server's reply ("550 5.1.1 no such user": Diagnostic-Code: smtp;) or
  // our own words ("5.6.7 ...": Diagnostic-Code: X-Postroom;). Empty: no field.
  std::string diagnostic;
  std::string remote_mta;  // the host that answered; empty when none did
};

struct DsnInput {
  std::string reporting_mta;    // our hostname
  std::string original_sender;  // the original envelope sender: the bounce goes to it
  std::vector<DsnRecipient> recipients;
  Clock::time_point arrival_date;  // when the original was queued
  Clock::time_point now;           // Date: and Message-ID
  std::string queue_id;
  // The original header section, CRLF lines without the blank line (see
  // HeaderSectionReader), and whether it was cut at the cap.
  std::string original_headers;
  bool headers_truncated = false;
};

// RFC 3464 §2 / RFC 5321 §6.1: a message from the null sender is itself a
// notification and never gets one back. Accepts "" and "<>".
bool should_bounce(std::string_view original_sender);

// The bounce, ready to queue with the null envelope sender ("<>") to
// input.original_sender: multipart/report (RFC 6522) holding a text/plain
// explanation, message/delivery-status and text/rfc822-headers, CRLF line
// ends throughout, no line over 998 octets. Subject "Undelivered Mail
// Returned to Sender" when any recipient failed, else "Delayed Mail (still
// being retried)". Fails when should_bounce() is false or there are no recipients.
Result<std::string> compose_dsn(const DsnInput& input);

// RFC 5322 §3.3 date-time in UTC: "Tue, 04 Mar 2025 09:05:00 +0000".
std::string format_rfc5322_date(Clock::time_point when);

}  // namespace postroom::relay
