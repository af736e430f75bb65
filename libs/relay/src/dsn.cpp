// Builds RFC 3464 delivery status notifications inside an RFC 6522 multipart/report.
#include "postroom/relay/dsn.hpp"

#include <algorithm>
#include <cstdio>

namespace postroom::relay {

namespace {

constexpr std::size_t kFoldWidth = 76;   // RFC 5322 §2.1.1: SHOULD stay under 78
constexpr std::size_t kHardWidth = 990;  // RFC 5322 §2.1.1: MUST stay under 998

// Control characters in reply texts or addresses would break the structure.
std::string clean(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  return out;
}

// Appends `text` as lines of at most kFoldWidth octets where a space allows,
// never more than kHardWidth, each continuation starting with `indent`.
// With indent " " this is RFC 5322 §2.2.3 folding.
void append_wrapped(std::string& out, std::string_view text, std::string_view indent) {
  std::size_t width = kFoldWidth;
  while (text.size() > width) {
    std::size_t cut = text.substr(0, width + 1).rfind(' ');
    if (cut == std::string_view::npos || cut == 0) {
      cut = text.find(' ', 1);
      if (cut == std::string_view::npos || cut > kHardWidth)
        cut = std::min(text.size(), kHardWidth);
    }
    std::string_view rest = text.substr(cut);
    std::size_t skip = rest.find_first_not_of(' ');
    if (skip == std::string_view::npos) {  // Only spaces remain: drop them rather than fold.
      text = text.substr(0, cut);
      break;
    }
    out.append(text.substr(0, cut));
    out += "\r\n";
    out += indent;
    text = rest.substr(skip);
    width = kFoldWidth - indent.size();
  }
  out.append(text);
  out += "\r\n";
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  append_wrapped(out, std::string(name) + ": " + clean(value), " ");
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool is_smtp_reply(std::string_view text) {
  return text.size() >= 3 && text[0] >= '2' && text[0] <= '5' && text[1] >= '0' && text[1] <= '9' &&
         text[2] >= '0' && text[2] <= '9' && (text.size() == 3 || text[3] == ' ');
}

// RFC 3464 §2.3.2: "rfc822;" for ASCII addresses, "utf-8;" (RFC 6533 §3) otherwise.
std::string address_field(std::string_view address) {
  return std::string(is_ascii(address) ? "rfc822; " : "utf-8; ") + std::string(address);
}

std::string token(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) break;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) out += c;
  }
  return out;
}

std::string human_part(const DsnInput& input, bool any_failed) {
  std::string out;
  out += "This is the mail system at host " + clean(input.reporting_mta) + ".\r\n\r\n";
  if (any_failed) {
    append_wrapped(out,
                   "Your message could not be delivered to one or more recipients. The "
                   "delivery report and the headers of your message are attached.",
                   "");
  } else {
    append_wrapped(out,
                   "Your message has not been delivered yet to the recipients below. The mail "
                   "system will keep trying; you do not need to send it again.",
                   "");
  }
  if (input.headers_truncated) {
    append_wrapped(out, "(The attached headers were cut short: they were too long to quote.)", "");
  }
  for (const DsnRecipient& recipient : input.recipients) {
    std::string line = "<" + clean(recipient.address) + ">: ";
    line += recipient.action == DsnAction::failed ? "failed" : "delayed";
    if (!recipient.diagnostic.empty()) line += ", " + clean(recipient.diagnostic);
    if (!recipient.remote_mta.empty()) line += " (remote host " + clean(recipient.remote_mta) + ")";
    out += "\r\n";
    append_wrapped(out, line, "    ");
  }
  return out;
}

std::string status_part(const DsnInput& input) {
  std::string out;
  // RFC 3464 §2.2: the per-message fields.
  append_field(out, "Reporting-MTA", "dns; " + input.reporting_mta);
  if (!input.queue_id.empty()) append_field(out, "X-Postroom-Queue-ID", input.queue_id);
  append_field(out, "Arrival-Date", format_rfc5322_date(input.arrival_date));
  // RFC 3464 §2.3: one group per recipient, each after a blank line.
  for (const DsnRecipient& recipient : input.recipients) {
    out += "\r\n";
    append_field(out, "Final-Recipient", address_field(recipient.address));
    append_field(out, "Action", recipient.action == DsnAction::failed ? "failed" : "delayed");
    std::string status = recipient.status;
    if (status.empty()) status = recipient.action == DsnAction::failed ? "5.0.0" : "4.0.0";
    append_field(out, "Status", status);
    if (!recipient.remote_mta.empty())
      append_field(out, "Remote-MTA", "dns; " + recipient.remote_mta);
    if (!recipient.diagnostic.empty()) {
      append_field(
          out, "Diagnostic-Code",
          (is_smtp_reply(recipient.diagnostic) ? "smtp; " : "X-Postroom; ") + recipient.diagnostic);
    }
  }
  return out;
}

}  // namespace

bool should_bounce(std::string_view original_sender) {
  return !original_sender.empty() && original_sender != "<>";
}

std::string format_rfc5322_date(Clock::time_point when) {
  using namespace std::chrono;
  const sys_seconds seconds = floor<std::chrono::seconds>(when);
  const sys_days day = floor<days>(seconds);
  const year_month_day date{day};
  const hh_mm_ss time{seconds - day};
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02u %s %04d %02d:%02d:%02d +0000",
                kDays[weekday{day}.c_encoding()], static_cast<unsigned>(date.day()),
                kMonths[static_cast<unsigned>(date.month()) - 1], static_cast<int>(date.year()),
                static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()));
  return buffer;
}

Result<std::string> compose_dsn(const DsnInput& input) {
  if (!should_bounce(input.original_sender)) {
    return fail("no bounce for a message from the null sender");
  }
  if (input.recipients.empty()) return fail("a bounce needs at least one recipient");
  const bool any_failed =
      std::any_of(input.recipients.begin(), input.recipients.end(),
                  [](const DsnRecipient& r) { return r.action == DsnAction::failed; });

  const std::string human = human_part(input, any_failed);
  const std::string status = status_part(input);
  const std::string& headers = input.original_headers;

  const long long unix_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(input.now.time_since_epoch()).count();
  const std::string id = token(input.queue_id, 32);
  // RFC 2046 §5.1.1: the boundary must not occur in any part; at most 70 characters.
  std::string boundary = "=_postroom-dsn-" + id + "-" + std::to_string(unix_seconds);
  while (human.find(boundary) != std::string::npos || status.find(boundary) != std::string::npos ||
         headers.find(boundary) != std::string::npos) {
    boundary += "x";
  }

  std::string out;
  const std::string host = clean(input.reporting_mta);
  append_field(out, "From", "\"Mail Delivery System\" <MAILER-DAEMON@" + host + ">");
  append_field(out, "To", "<" + input.original_sender + ">");
  append_field(
      out, "Subject",
      any_failed ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)");
  append_field(out, "Date", format_rfc5322_date(input.now));
  append_field(
      out, "Message-ID",
      "<" + std::to_string(unix_seconds) + "." + (id.empty() ? "dsn" : id) + ".dsn@" + host + ">");
  append_field(out, "MIME-Version", "1.0");
  append_field(out, "Auto-Submitted", "auto-replied");  // RFC 3834 §5: no auto-reply to this
  append_field(out, "Content-Type",
               "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
  const bool eight_bit = !is_ascii(human) || !is_ascii(status) || !is_ascii(headers);
  append_field(out, "Content-Transfer-Encoding", eight_bit ? "8bit" : "7bit");
  out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  out += "--" + boundary + "\r\n";
  out += "Content-Description: Notification\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  out += human;
  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Description: Delivery report\r\n";
  out += "Content-Type: message/delivery-status\r\n\r\n";
  out += status;
  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Description: Undelivered Message Headers\r\n";
  out += "Content-Type: text/rfc822-headers\r\n";
  if (!is_ascii(headers)) out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "\r\n";
  out += headers;
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

}  // namespace postroom::relay
