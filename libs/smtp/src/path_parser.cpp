// MAIL/RCPT argument parsing: source routes are dropped, mailboxes are never re-interpreted.
#include "path_parser.hpp"

#include <cctype>
#include <charconv>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace postroom::smtp {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return to_lower_ascii(a) == to_lower_ascii(b);
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view trim_leading_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

bool is_route_domain(std::string_view d) {
  if (d.size() >= 3 && d.front() == '[' && d.back() == ']') return true;  // address literal
  return is_valid_domain(d);
}

// Drops an A-d-l source route "@a,@b:" (RFC 5321 §4.1.2); relays must ignore it (RFC 5321 §3.3,
// appendix C). Returns the mailbox after the colon, or nullopt when the route is malformed.
std::optional<std::string_view> strip_source_route(std::string_view path) {
  if (path.empty() || path.front() != '@') return path;
  std::size_t i = 0;
  while (true) {
    if (i >= path.size() || path[i] != '@') return std::nullopt;
    std::size_t start = ++i;
    if (i < path.size() && path[i] == '[') {
      std::size_t close = path.find(']', i);
      if (close == std::string_view::npos) return std::nullopt;
      i = close + 1;
    } else {
      while (i < path.size() && path[i] != ',' && path[i] != ':') ++i;
    }
    if (!is_route_domain(path.substr(start, i - start))) return std::nullopt;
    if (i >= path.size()) return std::nullopt;
    if (path[i] == ':') return path.substr(i + 1);
    if (path[i] != ',') return std::nullopt;
    ++i;
  }
}

struct RawPath {
  std::string_view inner;   // between the angle brackets
  std::string_view params;  // after the closing bracket
};

// Finds "<...>" honouring quoted strings, so <"a>b"@c> is one path.
std::optional<RawPath> split_path(std::string_view text) {
  text = trim_leading_spaces(text);
  if (text.empty() || text.front() != '<') return std::nullopt;
  bool quoted = false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '>' && !quoted) {
      return RawPath{text.substr(1, i - 1), text.substr(i + 1)};
    }
  }
  return std::nullopt;
}

struct Param {
  std::string keyword;  // upper-cased
  std::optional<std::string_view> value;
};

// esmtp-param = esmtp-keyword ["=" esmtp-value], separated by spaces (RFC 5321 §4.1.2).
std::optional<std::vector<Param>> split_params(std::string_view text) {
  std::vector<Param> out;
  if (!text.empty() && text.front() != ' ') return std::nullopt;
  while (true) {
    text = trim_leading_spaces(text);
    if (text.empty()) return out;
    std::size_t end = text.find(' ');
    std::string_view word = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end);
    Param p;
    std::size_t eq = word.find('=');
    std::string_view key = word.substr(0, eq);
    if (key.empty()) return std::nullopt;
    for (char c : key) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) return std::nullopt;
    }
    p.keyword = to_lower_ascii(key);
    for (char& c : p.keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (eq != std::string_view::npos) p.value = word.substr(eq + 1);
    out.push_back(std::move(p));
  }
}

Reply syntax(std::string_view text) {
  return make_reply(501, "5.5.4", text);
}

}  // namespace

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

bool is_ascii(const Address& address) {
  return is_ascii(address.local) && is_ascii(address.domain);
}

std::expected<MailCommand, Reply> parse_mail(std::string_view args) {
  args = trim_leading_spaces(args);
  if (!starts_with_ci(args, "FROM:")) return std::unexpected(syntax("Syntax: MAIL FROM:<address>"));
  auto raw = split_path(args.substr(5));
  if (!raw) return std::unexpected(syntax("Syntax: MAIL FROM:<address>"));
  MailCommand mail;
  if (!raw->inner.empty()) {
    auto mailbox = strip_source_route(raw->inner);
    auto address = mailbox ? parse_address(*mailbox) : fail("bad route");
    if (!address) return std::unexpected(make_reply(501, "5.1.7", "Bad sender address syntax"));
    mail.reverse_path = std::move(*address);
  }
  auto params = split_params(raw->params);
  if (!params) return std::unexpected(syntax("Syntax: MAIL FROM:<address> [parameters]"));
  bool seen_size = false, seen_body = false, seen_utf8 = false, seen_auth = false;
  auto duplicate = [](bool& seen) { return std::exchange(seen, true); };
  for (const Param& p : *params) {
    if (p.keyword == "SIZE") {
      if (duplicate(seen_size)) return std::unexpected(syntax("Duplicate SIZE parameter"));
      std::string_view v = p.value.value_or("");
      if (v.empty() || v.size() > 20) return std::unexpected(syntax("Bad SIZE parameter"));
      std::uint64_t n = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ptr != v.data() + v.size() && ec != std::errc::result_out_of_range) {
        return std::unexpected(syntax("Bad SIZE parameter"));
      }
      if (ec == std::errc::result_out_of_range) n = std::numeric_limits<std::uint64_t>::max();
      mail.size = n;
    } else if (p.keyword == "BODY") {
      if (duplicate(seen_body)) return std::unexpected(syntax("Duplicate BODY parameter"));
      std::string v = to_lower_ascii(p.value.value_or(""));
      if (v == "7bit") {
        mail.body = BodyType::seven_bit;
      } else if (v == "8bitmime") {
        mail.body = BodyType::eight_bit_mime;
      } else {
        return std::unexpected(make_reply(555, "5.5.4", "Unsupported BODY type"));
      }
    } else if (p.keyword == "SMTPUTF8") {
      if (duplicate(seen_utf8)) return std::unexpected(syntax("Duplicate SMTPUTF8 parameter"));
      if (p.value) return std::unexpected(syntax("SMTPUTF8 takes no value"));
      mail.smtputf8 = true;
    } else if (p.keyword == "AUTH") {
      // RFC 4954 §5: we do not act on a claimed original submitter; accepted and ignored.
      if (duplicate(seen_auth)) return std::unexpected(syntax("Duplicate AUTH parameter"));
      if (!p.value) return std::unexpected(syntax("Bad AUTH parameter"));
    } else {
      return std::unexpected(make_reply(555, "5.5.4", "Unsupported MAIL parameter"));
    }
  }
  return mail;
}

std::expected<RcptCommand, Reply> parse_rcpt(std::string_view args) {
  args = trim_leading_spaces(args);
  if (!starts_with_ci(args, "TO:")) return std::unexpected(syntax("Syntax: RCPT TO:<address>"));
  auto raw = split_path(args.substr(3));
  if (!raw) return std::unexpected(syntax("Syntax: RCPT TO:<address>"));
  RcptCommand rcpt;
  if (iequals(raw->inner, "postmaster")) {
    rcpt.forward_path = Address{"postmaster", ""};
  } else {
    auto mailbox = strip_source_route(raw->inner);
    auto address = mailbox ? parse_address(*mailbox) : fail("bad route");
    if (!address) return std::unexpected(make_reply(501, "5.1.3", "Bad recipient address syntax"));
    rcpt.forward_path = std::move(*address);
  }
  auto params = split_params(raw->params);
  if (!params) return std::unexpected(syntax("Syntax: RCPT TO:<address>"));
  if (!params->empty())
    return std::unexpected(make_reply(555, "5.5.4", "Unsupported RCPT parameter"));
  return rcpt;
}

}  // namespace postroom::smtp
