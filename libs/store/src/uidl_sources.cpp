// Reading other servers' UIDL records: dovecot-uidlist, courierpop3dsizelist, X-UIDL.
#include "postroom/store/uidl_sources.hpp"

#include <cctype>
#include <charconv>
#include <vector>

namespace postroom::store {

namespace {

std::optional<std::uint32_t> parse_u32(std::string_view text) {
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::vector<std::string_view> split_spaces(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    auto start = text.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    auto end = text.find(' ');
    out.push_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
  }
  return out;
}

// Calls `each(number, line)` for every line (without "\r\n" or "\n"), numbered from 1.
template <class F>
Result<void> for_each_line(std::string_view text, F&& each) {
  int number = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (auto r = each(++number, line); !r) return r;
  }
  return {};
}

Error line_error(std::string_view file, int line, std::string_view what) {
  return Error{std::string(file) + " line " + std::to_string(line) + ": " + std::string(what)};
}

}  // namespace

std::string_view maildir_base_name(std::string_view filename) {
  return filename.substr(0, filename.find(':'));
}

Result<DovecotUidlist> parse_dovecot_uidlist(std::string_view text) {
  constexpr std::string_view kFile = "dovecot-uidlist";
  DovecotUidlist out;
  int version = 0;
  auto r = for_each_line(text, [&](int number, std::string_view line) -> Result<void> {
    if (number == 1) {
      // v1: "1 UIDVALIDITY NEXTUID"; v3: "3 V<uidvalidity> N<nextuid> G<guid> ...".
      auto fields = split_spaces(line);
      if (fields.empty()) return std::unexpected(line_error(kFile, 1, "empty header"));
      if (fields[0] == "1" && fields.size() >= 3) {
        version = 1;
        auto v = parse_u32(fields[1]);
        if (!v) return std::unexpected(line_error(kFile, 1, "bad UIDVALIDITY"));
        out.uidvalidity = *v;
        return {};
      }
      if (fields[0] == "3") {
        version = 3;
        for (auto field : fields) {
          if (field.starts_with('V')) {
            auto v = parse_u32(field.substr(1));
            if (!v) return std::unexpected(line_error(kFile, 1, "bad UIDVALIDITY"));
            out.uidvalidity = *v;
          }
        }
        if (out.uidvalidity == 0)
          return std::unexpected(line_error(kFile, 1, "no UIDVALIDITY (V field)"));
        return {};
      }
      return std::unexpected(line_error(kFile, 1, "unknown version (1 and 3 are read)"));
    }
    if (line.empty()) return {};
    // v3: "UID [FIELD...] :FILENAME", fields being a key letter and a value;
    // v1: "UID FILENAME".
    std::string_view head, filename;
    if (auto colon = line.find(" :"); version == 3 && colon != std::string_view::npos) {
      head = line.substr(0, colon);
      filename = line.substr(colon + 2);
    } else {
      auto space = line.find(' ');
      if (space == std::string_view::npos)
        return std::unexpected(line_error(kFile, number, "no file name"));
      head = line.substr(0, space);
      filename = line.substr(space + 1);
    }
    auto fields = split_spaces(head);
    if (fields.empty() || filename.empty())
      return std::unexpected(line_error(kFile, number, "no UID or no file name"));
    auto uid = parse_u32(fields[0]);
    if (!uid || *uid == 0) return std::unexpected(line_error(kFile, number, "bad UID"));
    DovecotUidlist::Entry entry{*uid, {}, {}};
    for (std::size_t i = 1; i < fields.size(); ++i) {
      if (fields[i].starts_with('P')) entry.pop3_uidl = std::string(fields[i].substr(1));
      if (fields[i].starts_with('G')) entry.guid = std::string(fields[i].substr(1));
    }
    out.by_base_name.insert_or_assign(std::string(maildir_base_name(filename)), std::move(entry));
    return {};
  });
  if (!r) return std::unexpected(r.error());
  if (version == 0) return fail("dovecot-uidlist is empty");
  return out;
}

Result<std::string> expand_uidl_format(std::string_view format, const UidlVariables& values) {
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) return fail("pop3_uidl_format ends in '%'");
    if (format[i] == '%') {
      out.push_back('%');
      continue;
    }
    bool zero_pad = false;
    std::size_t width = 0;
    if (format[i] == '0') zero_pad = true, ++i;
    while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i])))
      width = width * 10 + static_cast<std::size_t>(format[i++] - '0');
    bool hex = false;
    enum class Case { keep, lower, upper } letter_case = Case::keep;
    for (; i < format.size(); ++i) {
      char c = format[i];
      if (c == 'X') {
        hex = true;
      } else if (c == 'L') {
        letter_case = Case::lower;
      } else if (c == 'U') {
        letter_case = Case::upper;
      } else {
        break;
      }
    }
    if (i >= format.size()) return fail("pop3_uidl_format: a variable is missing after '%'");
    std::string name;
    if (format[i] == '{') {
      auto close = format.find('}', i);
      if (close == std::string_view::npos) return fail("pop3_uidl_format: unclosed '%{'");
      name = std::string(format.substr(i + 1, close - i - 1));
      i = close;
    } else {
      name = std::string(1, format[i]);
    }
    std::string value;
    std::optional<std::uint64_t> number;
    if (name == "u" || name == "uid") {
      number = values.uid;
    } else if (name == "v" || name == "uidvalidity") {
      number = values.uidvalidity;
    } else if (name == "f" || name == "filename") {
      value = std::string(values.filename);
    } else if (name == "g" || name == "guid") {
      value = std::string(values.guid);
    } else {
      return fail("pop3_uidl_format: variable %" + name +
                  " is not supported here (%u %v %f %g are)");
    }
    if (number) value = std::to_string(*number);
    if (hex) {
      // Dovecot's X turns a decimal value into lower-case hex ("%llx"); non-numbers become 0.
      std::uint64_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size()) n = 0;
      char buffer[32];
      auto [hex_end, hex_ec] = std::to_chars(buffer, buffer + sizeof buffer, n, 16);
      value.assign(buffer, hex_end);
    }
    for (auto& c : value) {
      if (letter_case == Case::lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (letter_case == Case::upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (width > 0) {
      if (zero_pad && value.size() < width) value.insert(0, width - value.size(), '0');
      if (!zero_pad && value.size() > width) value.resize(width);
    }
    out += value;
  }
  return out;
}

Result<CourierSizelist> parse_courier_sizelist(std::string_view text) {
  constexpr std::string_view kFile = "courierpop3dsizelist";
  CourierSizelist out;
  auto r = for_each_line(text, [&](int number, std::string_view line) -> Result<void> {
    if (number == 1) {
      // "/VERSION NEXTUID UIDVALIDITY"; versions before 2 carry no UIDs.
      if (!line.starts_with("/2 ") && !line.starts_with("/3 "))
        return std::unexpected(line_error(kFile, 1, "unknown version (2 and 3 are read)"));
      return {};
    }
    if (line.empty()) return {};
    // "FILENAME SIZE UID:UIDVALIDITY[:UTF8]": the name may hold spaces, the last two
    // fields never do.
    auto last = line.rfind(' ');
    if (last == std::string_view::npos || last == 0)
      return std::unexpected(line_error(kFile, number, "expected FILENAME SIZE UID:UIDV"));
    auto middle = line.rfind(' ', last - 1);
    if (middle == std::string_view::npos || middle == 0)
      return std::unexpected(line_error(kFile, number, "expected FILENAME SIZE UID:UIDV"));
    std::string_view name = line.substr(0, middle);
    std::string_view ids = line.substr(last + 1);
    auto colon = ids.find(':');
    auto uid = parse_u32(ids.substr(0, colon));
    std::optional<std::uint32_t> uidv = 0u;
    if (colon != std::string_view::npos) {
      std::string_view rest = ids.substr(colon + 1);
      uidv = parse_u32(rest.substr(0, rest.find(':')));
    }
    if (!uid || !uidv) return std::unexpected(line_error(kFile, number, "bad UID:UIDVALIDITY"));
    // Courier's pop3dserver.c: "UID%lu-%lu", or "UID%lu" when the UIDVALIDITY is 0.
    std::string uidl = "UID" + std::to_string(*uid);
    if (*uidv != 0) uidl += "-" + std::to_string(*uidv);
    if (auto slash = name.rfind('/'); slash != std::string_view::npos)
      name.remove_prefix(slash + 1);
    out.insert_or_assign(std::string(maildir_base_name(name)), std::move(uidl));
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

std::optional<std::string> find_x_uidl(std::string_view message) {
  while (!message.empty()) {
    auto end = message.find('\n');
    std::string_view line = message.substr(0, end);
    message.remove_prefix(end == std::string_view::npos ? message.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the end of the header section
    constexpr std::string_view kName = "x-uidl";
    if (line.size() <= kName.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < kName.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(line[i])) != kName[i]) match = false;
    if (!match) continue;
    std::string_view rest = line.substr(kName.size());
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    if (rest.empty() || rest.front() != ':') continue;
    rest.remove_prefix(1);
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
    if (rest.empty()) continue;
    return std::string(rest);
  }
  return std::nullopt;
}

}  // namespace postroom::store
