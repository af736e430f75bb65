// Runs an outbound Attempt against a scripted world (DNS, policies, connections, a server)
// and renders what it did as a transcript.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "postroom/relay/attempt.hpp"

namespace postroom::relay::test {

// One event per line (leading spaces and blank lines ignored). Input lines:
//   << sts none | << sts enforce|testing PATTERN...   the MTA-STS lookup's answer
//   << mx PREF HOST [PREF HOST...] | << mx nodata|nxdomain|temporary
//   << a IP [IP...] | << a nxdomain|temporary
//   << tlsa insecure | << tlsa bogus | << tlsa secure U S M HEX [U S M HEX...]
//   << connected | << refused
//   << tls ok | << tls unverified REASON | << tls failed REASON
//   << closed REASON     the peer closed the connection
//   S: text              a server reply line (consecutive S lines form one write)
//   !! timeout           the command timer ran out
//   << next RCPT...      next_message() with the same sender and these recipients
//   << quit              quit()
// Output lines are describe(action) for each action, except that Send shows as "C: line"
// per line sent; after "== body" the harness streams the body; after ">> disconnect" it
// calls on_closed() at once.
struct AttemptRun {
  std::string transcript;
  std::vector<RecipientResult> results;                // the last Report's
  std::vector<std::vector<RecipientResult>> reported;  // every Report's, in order
  int reports = 0;
  int finishes = 0;
};

AttemptRun run_attempt(const AttemptParams& params, std::string_view script, std::string_view body,
                       bool byte_by_byte);

// Runs the script fed whole and byte by byte, CHECKs each transcript against the script,
// that exactly one Report and one Finished came, and returns the results.
std::vector<RecipientResult> check_attempt(const AttemptParams& params, std::string_view script,
                                           std::string_view body = "Subject: t\r\n\r\nhi\r\n");

// As check_attempt for an attempt that carries `messages` messages: that many Reports,
// one Finished; returns every Report's results.
std::vector<std::vector<RecipientResult>> check_attempt_messages(
    const AttemptParams& params, std::string_view script, int messages,
    std::string_view body = "Subject: t\r\n\r\nhi\r\n");

}  // namespace postroom::relay::test
