// SPF record syntax (RFC 7208 §4.6.1, §5, §6) and macro expansion (§7).
#include "spf_record.hpp"

#include <algorithm>
#include <charconv>

#include "text.hpp"

namespace postroom::mailauth::spf {

namespace {

bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

// toplabel = (*alphanum ALPHA *alphanum) / (1*alphanum "-" *(alphanum / "-") alphanum)
bool valid_toplabel(std::string_view label) {
  if (label.empty()) return false;
  bool alpha = false;
  bool hyphen = false;
  for (char c : label) {
    if (is_alpha(c)) {
      alpha = true;
    } else if (c == '-') {
      hyphen = true;
    } else if (!is_digit(c)) {
      return false;
    }
  }
  if (!hyphen) return alpha;
  return is_alnum(label.front()) && is_alnum(label.back());
}

// A CIDR length without leading zeros, at most `max`.
std::optional<int> parse_cidr(std::string_view digits, int max) {
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int value = 0;
  for (char c : digits) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

// Splits "domain-spec/4//6" into its parts, taking the lengths from the end: the
// domain-spec itself may hold "/" and ":" (§7.1). False on a malformed length.
bool split_dual_cidr(std::string_view arg, std::string_view& spec, int& cidr4, int& cidr6) {
  auto trailing_length = [](std::string_view s, std::size_t& at) {
    std::size_t end = s.size();
    std::size_t i = end;
    while (i > 0 && is_digit(s[i - 1])) --i;
    if (i == end || i == 0 || s[i - 1] != '/') return false;
    at = i - 1;
    return true;
  };
  spec = arg;
  std::size_t at = 0;
  if (trailing_length(spec, at)) {
    std::string_view digits = spec.substr(at + 1);
    if (at > 0 && spec[at - 1] == '/') {
      auto v6 = parse_cidr(digits, 128);
      if (!v6) return false;
      cidr6 = *v6;
      spec = spec.substr(0, at - 1);
      if (trailing_length(spec, at)) {
        auto v4 = parse_cidr(spec.substr(at + 1), 32);
        if (!v4) return false;
        cidr4 = *v4;
        spec = spec.substr(0, at);
      }
    } else {
      auto v4 = parse_cidr(digits, 32);
      if (!v4) return false;
      cidr4 = *v4;
      spec = spec.substr(0, at);
    }
  }
  // Whatever "/" is left belongs to the domain-spec, which must then be given with ":".
  return true;
}

bool valid_modifier_name(std::string_view name) {
  if (name.empty() || !is_alpha(name[0])) return false;
  for (char c : name)
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

bool is_delimiter(char c) {
  return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

bool is_macro_letter(char c, bool explanation) {
  switch (lower_char(c)) {
    case 's':
    case 'l':
    case 'o':
    case 'd':
    case 'i':
    case 'p':
    case 'v':
    case 'h':
      return true;
    case 'c':
    case 'r':
    case 't':
      return explanation;
    default:
      return false;
  }
}

// RFC 3986 unreserved characters stay; everything else is %XX (§7.3, upper-case letters).
std::string url_escape(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      auto b = static_cast<unsigned char>(c);
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out;
}

struct MacroExpand {
  char letter = 0;
  int digits = 0;  // 0: all parts
  bool reverse = false;
  std::string delimiters;
};

// Parses "{" macro-letter transformers *delimiter "}" at `text` (just after the "%").
std::optional<MacroExpand> parse_macro(std::string_view text, std::size_t& length,
                                       bool explanation) {
  if (text.size() < 3 || text[0] != '{') return std::nullopt;
  std::size_t close = text.find('}');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view inner = text.substr(1, close - 1);
  length = close + 1;
  if (inner.empty() || !is_macro_letter(inner[0], explanation)) return std::nullopt;
  MacroExpand m;
  m.letter = inner[0];
  std::size_t i = 1;
  std::size_t digit_start = i;
  while (i < inner.size() && is_digit(inner[i])) ++i;
  if (i > digit_start) {
    int value = 0;
    auto [p, ec] = std::from_chars(inner.data() + digit_start, inner.data() + i, value);
    (void)p;
    // A count of zero is meaningless (§7.1: it is "digits" that select labels).
    if (ec != std::errc{} || value == 0 || value > 128) return std::nullopt;
    m.digits = value;
  }
  if (i < inner.size() && lower_char(inner[i]) == 'r') {
    m.reverse = true;
    ++i;
  }
  for (; i < inner.size(); ++i) {
    if (!is_delimiter(inner[i])) return std::nullopt;
    m.delimiters += inner[i];
  }
  return m;
}

std::string apply_transformers(const std::string& value, const MacroExpand& m) {
  std::string delimiters = m.delimiters.empty() ? "." : m.delimiters;
  std::vector<std::string> parts;
  std::string current;
  for (char c : value) {
    if (delimiters.find(c) != std::string::npos) {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  if (m.reverse) std::reverse(parts.begin(), parts.end());
  std::size_t first = 0;
  if (m.digits > 0 && static_cast<std::size_t>(m.digits) < parts.size())
    first = parts.size() - static_cast<std::size_t>(m.digits);
  std::string out;
  for (std::size_t i = first; i < parts.size(); ++i) {
    if (i > first) out += '.';
    out += parts[i];
  }
  return out;
}

const std::string& macro_value(char letter, const MacroValues& v) {
  switch (lower_char(letter)) {
    case 's':
      return v.sender;
    case 'l':
      return v.local;
    case 'o':
      return v.sender_domain;
    case 'd':
      return v.domain;
    case 'i':
      return v.ip_dotted;
    case 'p':
      return v.validated;
    case 'v':
      return v.ip_version;
    case 'h':
      return v.helo;
    case 'c':
      return v.ip_readable;
    case 'r':
      return v.receiver;
    default:
      return v.timestamp;
  }
}

}  // namespace

std::optional<std::string> expand_macros(std::string_view text, const MacroValues& values,
                                         bool explanation) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c != '%') {
      // macro-literal = %x21-24 / %x26-7E; explanations also carry spaces.
      auto b = static_cast<unsigned char>(c);
      if (!((b >= 0x21 && b <= 0x7e) || (explanation && b == ' '))) return std::nullopt;
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;
    char next = text[i + 1];
    if (next == '%') {
      out += '%';
      i += 2;
    } else if (next == '_') {
      out += ' ';
      i += 2;
    } else if (next == '-') {
      out += "%20";
      i += 2;
    } else {
      std::size_t length = 0;
      auto m = parse_macro(text.substr(i + 1), length, explanation);
      if (!m) return std::nullopt;
      std::string value = apply_transformers(macro_value(m->letter, values), *m);
      if (is_alpha(m->letter) && m->letter >= 'A' && m->letter <= 'Z') value = url_escape(value);
      out += value;
      i += 1 + length;
    }
  }
  return out;
}

bool valid_macro_string(std::string_view text, bool explanation) {
  MacroValues empty;
  return expand_macros(text, empty, explanation).has_value();
}

bool valid_domain_spec(std::string_view text) {
  if (text.empty() || !valid_macro_string(text, false)) return false;
  if (text.back() == '}') {
    // Ends in a macro-expand, unless that "}" is a literal after "%%" or the like.
    std::size_t open = text.rfind("%{");
    if (open != std::string_view::npos && text.find('}', open) == text.size() - 1) return true;
  }
  std::string_view body = text;
  if (body.back() == '.') body.remove_suffix(1);
  std::size_t dot = body.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string_view top = body.substr(dot + 1);
  // A macro inside the last label leaves the label to the expansion.
  if (top.find('%') != std::string_view::npos) return false;
  return valid_toplabel(top);
}

bool uses_p_macro(std::string_view text) {
  for (std::size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] == '%' && text[i + 1] == '%') {
      ++i;
      continue;
    }
    if (text[i] == '%' && text[i + 1] == '{' && lower_char(text[i + 2]) == 'p') return true;
  }
  return false;
}

std::optional<Record> parse_record(std::string_view text) {
  Record record;
  // "v=spf1" was checked by the caller; terms are separated by one or more spaces only.
  std::string_view rest = text.substr(6);
  for (std::string_view term : split(rest, ' ')) {
    if (term.empty()) continue;
    std::size_t name_end = 0;
    while (name_end < term.size() && (is_alnum(term[name_end]) || term[name_end] == '-' ||
                                      term[name_end] == '_' || term[name_end] == '.'))
      ++name_end;
    // A modifier: name "=" macro-string.
    if (name_end < term.size() && term[name_end] == '=' && name_end > 0) {
      std::string_view name = term.substr(0, name_end);
      std::string_view value = term.substr(name_end + 1);
      if (!valid_modifier_name(name)) return std::nullopt;
      if (iequals(name, "redirect")) {
        if (record.redirect || !valid_domain_spec(value)) return std::nullopt;
        record.redirect = std::string(value);
      } else if (iequals(name, "exp")) {
        if (record.exp || !valid_domain_spec(value)) return std::nullopt;
        record.exp = std::string(value);
      } else if (!valid_macro_string(value, false)) {
        return std::nullopt;
      }
      continue;
    }
    Mechanism m;
    m.text = std::string(term);
    std::string_view body = term;
    if (body[0] == '+' || body[0] == '-' || body[0] == '~' || body[0] == '?') {
      m.qualifier = body[0];
      body.remove_prefix(1);
    }
    std::size_t sep = body.find_first_of(":/");
    std::string_view name = body.substr(0, sep);
    std::string_view arg = sep == std::string_view::npos ? std::string_view{} : body.substr(sep);
    bool has_colon = !arg.empty() && arg[0] == ':';
    std::string_view after_colon = has_colon ? arg.substr(1) : std::string_view{};
    if (iequals(name, "all")) {
      if (!arg.empty()) return std::nullopt;
      m.kind = Mechanism::Kind::all;
    } else if (iequals(name, "include") || iequals(name, "exists")) {
      if (!has_colon || !valid_domain_spec(after_colon)) return std::nullopt;
      m.kind = iequals(name, "include") ? Mechanism::Kind::include : Mechanism::Kind::exists;
      m.domain_spec = std::string(after_colon);
    } else if (iequals(name, "a") || iequals(name, "mx")) {
      m.kind = iequals(name, "a") ? Mechanism::Kind::a : Mechanism::Kind::mx;
      std::string_view spec;
      if (!split_dual_cidr(has_colon ? after_colon : arg, spec, m.cidr4, m.cidr6))
        return std::nullopt;
      if (has_colon ? !valid_domain_spec(spec) : !spec.empty()) return std::nullopt;
      m.domain_spec = std::string(spec);
    } else if (iequals(name, "ptr")) {
      m.kind = Mechanism::Kind::ptr;
      if (!arg.empty()) {
        if (!has_colon || !valid_domain_spec(after_colon)) return std::nullopt;
        m.domain_spec = std::string(after_colon);
      }
    } else if (iequals(name, "ip4") || iequals(name, "ip6")) {
      bool v6 = iequals(name, "ip6");
      m.kind = v6 ? Mechanism::Kind::ip6 : Mechanism::Kind::ip4;
      if (!has_colon) return std::nullopt;
      std::size_t slash = after_colon.find('/');
      std::string_view address = after_colon.substr(0, slash);
      // ip4-network is a dotted quad (§5.6); inet_pton's IPv4 form is just that.
      if (!v6 && (address.find(':') != std::string_view::npos)) return std::nullopt;
      auto ip = IpAddress::parse(address);
      if (!ip) return std::nullopt;
      if (v6 && address.find(':') == std::string_view::npos) return std::nullopt;
      m.network = *ip;
      if (v6) m.network.v6 = true;  // ip6:::ffff:1.2.3.4 stays an IPv6 network
      if (v6 && !ip->v6) {
        // parse() mapped it to IPv4; keep the IPv6 bytes for a v6 network.
        m.network.bytes = {};
        m.network.bytes[10] = m.network.bytes[11] = 0xff;
        for (int i = 0; i < 4; ++i)
          m.network.bytes[static_cast<std::size_t>(12 + i)] =
              ip->bytes[static_cast<std::size_t>(i)];
      }
      if (slash != std::string_view::npos) {
        auto length = parse_cidr(after_colon.substr(slash + 1), v6 ? 128 : 32);
        if (!length) return std::nullopt;
        (v6 ? m.cidr6 : m.cidr4) = *length;
      }
    } else {
      return std::nullopt;
    }
    record.mechanisms.push_back(std::move(m));
  }
  return record;
}

}  // namespace postroom::mailauth::spf
