// Builds the trace header fields with a fixed, grep-friendly layout.
#include "trace.hpp"

#include <array>
#include <cstdio>

namespace postroom::smtp {

std::string rfc5322_date(std::time_t when) {
  std::tm tm{};
  gmtime_r(&when, &tm);
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                kDays[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buffer;
}

std::string with_protocol(bool esmtp, bool tls, bool authenticated, bool smtputf8) {
  std::string out = smtputf8 ? "UTF8SMTP" : (esmtp ? "ESMTP" : "SMTP");
  if (tls) out += "S";
  if (authenticated) out += "A";
  return out;
}

std::string return_path_field(const std::optional<Address>& reverse_path) {
  return "Return-Path: <" + (reverse_path ? reverse_path->str() : std::string()) + ">\r\n";
}

std::string received_field(const ReceivedInfo& info) {
  std::string literal = info.peer_ip.find(':') != std::string::npos ? "[IPv6:" + info.peer_ip + "]"
                                                                    : "[" + info.peer_ip + "]";
  std::string out = "Received: from " + info.helo + " (" + literal + ")\r\n\tby " + info.hostname +
                    " with " + info.protocol + " id " + info.id;
  if (info.for_recipient) out += "\r\n\tfor <" + *info.for_recipient + ">";
  out += "; " + rfc5322_date(info.when) + "\r\n";
  return out;
}

}  // namespace postroom::smtp
