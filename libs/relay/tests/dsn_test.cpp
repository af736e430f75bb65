// DSN composition (RFC 3464 in RFC 6522 multipart/report), checked by parsing the bounce back.
#include "postroom/relay/dsn.hpp"

#include <doctest/doctest.h>

#include <map>
#include <vector>

using namespace postroom::relay;
using namespace std::chrono_literals;

namespace {

struct Part {
  std::map<std::string, std::string> headers;  // names lower-cased, unfolded
  std::string body;
};

struct Message {
  std::map<std::string, std::string> headers;
  std::string body;
};

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// Splits a header section from its body and unfolds fields (RFC 5322 §2.2.3).
Message split(std::string_view text) {
  Message message;
  std::size_t end = text.find("\r\n\r\n");
  REQUIRE(end != std::string_view::npos);
  std::string_view section = text.substr(0, end + 2);
  message.body = std::string(text.substr(end + 4));
  std::string last;
  while (!section.empty()) {
    std::size_t eol = section.find("\r\n");
    std::string_view line = section.substr(0, eol);
    section.remove_prefix(eol + 2);
    if (line.front() == ' ' || line.front() == '\t') {
      REQUIRE_FALSE(last.empty());
      message.headers[last] += std::string(line);
      continue;
    }
    std::size_t colon = line.find(':');
    REQUIRE(colon != std::string_view::npos);
    last = lower(std::string(line.substr(0, colon)));
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    message.headers[last] = std::string(value);
  }
  return message;
}

void check_crlf_only(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') REQUIRE((i > 0 && text[i - 1] == '\r'));
    if (text[i] == '\r') REQUIRE((i + 1 < text.size() && text[i + 1] == '\n'));
  }
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t eol = text.find("\r\n", start);
    REQUIRE(eol != std::string_view::npos);  // the message ends with CRLF
    CHECK(eol - start <= 998);
    start = eol + 2;
  }
}

std::vector<Part> parts_of(const Message& message) {
  const std::string& type = message.headers.at("content-type");
  std::size_t at = type.find("boundary=\"");
  REQUIRE(at != std::string::npos);
  std::string boundary = type.substr(at + 10, type.find('"', at + 10) - at - 10);
  REQUIRE(!boundary.empty());
  CHECK(boundary.size() <= 70);
  const std::string delimiter = "\r\n--" + boundary;
  // The preamble ends at the first delimiter; the first delimiter may start the body.
  std::string body = "\r\n" + message.body;
  std::vector<Part> parts;
  std::size_t pos = body.find(delimiter);
  REQUIRE(pos != std::string::npos);
  while (true) {
    pos += delimiter.size();
    if (body.compare(pos, 2, "--") == 0) {
      CHECK(body.substr(pos + 2) == "\r\n");
      break;
    }
    REQUIRE(body.compare(pos, 2, "\r\n") == 0);
    pos += 2;
    std::size_t next = body.find(delimiter, pos);
    REQUIRE(next != std::string::npos);
    Message inner = split(body.substr(pos, next - pos));
    parts.push_back(Part{inner.headers, inner.body});
    pos = next;
  }
  return parts;
}

DsnInput sample() {
  DsnInput input;
  input.reporting_mta = "mail.example.test";
  input.original_sender = "alice@example.test";
  input.arrival_date = Clock::time_point{1741078800s};  // Tue, 04 Mar 2025 09:00:00 +0000
  input.now = input.arrival_date + 5 * 24h;
  input.queue_id = "Q42";
  input.original_headers =
      "From: Alice <alice@example.test>\r\nTo: bob@remote.test\r\nSubject: lunch?\r\n";
  input.recipients.push_back(DsnRecipient{"bob@remote.test", DsnAction::failed, "5.1.1",
                                          "550 5.1.1 no such user", "mx.remote.test"});
  input.recipients.push_back(DsnRecipient{"carol@far.test", DsnAction::failed, "4.4.7",
                                          "4.4.7 message expired in the queue", ""});
  return input;
}

}  // namespace

TEST_CASE("dsn: the bounce has the RFC 3464 structure, three parts, CRLF only") {
  DsnInput input = sample();
  auto composed = compose_dsn(input);
  REQUIRE(composed.has_value());
  const std::string& text = *composed;
  check_crlf_only(text);

  Message message = split(text);
  CHECK(message.headers.at("from") == "\"Mail Delivery System\" <MAILER-DAEMON@mail.example.test>");
  CHECK(message.headers.at("to") == "<alice@example.test>");
  CHECK(message.headers.at("subject") == "Undelivered Mail Returned to Sender");
  CHECK(message.headers.at("date") == "Sun, 09 Mar 2025 09:00:00 +0000");
  CHECK(message.headers.at("message-id").starts_with("<"));
  CHECK(message.headers.at("message-id").ends_with("@mail.example.test>"));
  CHECK(message.headers.at("mime-version") == "1.0");
  CHECK(message.headers.at("auto-submitted") == "auto-replied");
  CHECK(message.headers.at("content-type")
            .starts_with("multipart/report; report-type=delivery-status;"));

  std::vector<Part> parts = parts_of(message);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].headers.at("content-type") == "text/plain; charset=utf-8");
  CHECK(parts[0].body.find("<bob@remote.test>: failed, 550 5.1.1 no such user") !=
        std::string::npos);
  CHECK(parts[1].headers.at("content-type") == "message/delivery-status");
  CHECK(parts[2].headers.at("content-type") == "text/rfc822-headers");
  CHECK(parts[2].body == input.original_headers);

  // message/delivery-status: per-message fields, then one group per recipient.
  const std::string& status = parts[1].body;
  const std::string want =
      "Reporting-MTA: dns; mail.example.test\r\n"
      "X-Postroom-Queue-ID: Q42\r\n"
      "Arrival-Date: Tue, 04 Mar 2025 09:00:00 +0000\r\n"
      "\r\n"
      "Final-Recipient: rfc822; bob@remote.test\r\n"
      "Action: failed\r\n"
      "Status: 5.1.1\r\n"
      "Remote-MTA: dns; mx.remote.test\r\n"
      "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
      "\r\n"
      "Final-Recipient: rfc822; carol@far.test\r\n"
      "Action: failed\r\n"
      "Status: 4.4.7\r\n"
      "Diagnostic-Code: X-Postroom; 4.4.7 message expired in the queue\r\n";
  CHECK(status == want);
}

TEST_CASE("dsn: long diagnostics are folded, hostile text cannot break the structure") {
  DsnInput input = sample();
  input.recipients[0].diagnostic = "550 5.7.1 " + std::string(300, 'w') + " and " +
                                   std::string(2000, 'z') + "\r\n--fake-boundary\r\nmore words";
  input.original_headers += "X-Long: " + std::string(900, 'h') + "\r\n";
  auto composed = compose_dsn(input);
  REQUIRE(composed.has_value());
  check_crlf_only(*composed);
  Message message = split(*composed);
  std::vector<Part> parts = parts_of(message);
  REQUIRE(parts.size() == 3);
  CHECK(parts[1].body.find("Diagnostic-Code: smtp; 550 5.7.1") != std::string::npos);
}

TEST_CASE("dsn: a boundary already in the quoted headers is not reused") {
  DsnInput input = sample();
  input.original_headers = "X-Trap: =_postroom-dsn-Q42-1741510800\r\n";
  auto composed = compose_dsn(input);
  REQUIRE(composed.has_value());
  std::vector<Part> parts = parts_of(split(*composed));
  REQUIRE(parts.size() == 3);
  CHECK(parts[2].body == input.original_headers);
}

TEST_CASE("dsn: delayed-only notices say so") {
  DsnInput input = sample();
  input.recipients.resize(1);
  input.recipients[0].action = DsnAction::delayed;
  input.recipients[0].status = "4.2.2";
  auto composed = compose_dsn(input);
  REQUIRE(composed.has_value());
  Message message = split(*composed);
  CHECK(message.headers.at("subject") == "Delayed Mail (still being retried)");
  CHECK(parts_of(message)[1].body.find("Action: delayed\r\n") != std::string::npos);
}

TEST_CASE("dsn: never bounce a bounce") {
  CHECK_FALSE(should_bounce(""));
  CHECK_FALSE(should_bounce("<>"));
  CHECK(should_bounce("alice@example.test"));
  DsnInput input = sample();
  input.original_sender = "";
  CHECK_FALSE(compose_dsn(input).has_value());
  input = sample();
  input.recipients.clear();
  CHECK_FALSE(compose_dsn(input).has_value());
}

TEST_CASE("dsn: RFC 5322 dates") {
  CHECK(format_rfc5322_date(Clock::time_point{0s}) == "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(format_rfc5322_date(Clock::time_point{951782400s + 3661s}) ==
        "Tue, 29 Feb 2000 01:01:01 +0000");
}
