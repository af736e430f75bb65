// postroom vacation: set, show and turn off a mailbox's away reply (RFC 3834).
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/base/file.hpp"
#include "postroom/store/vacation.hpp"

namespace postroom::cli {

namespace {

constexpr const char* kVacationUsage =
    "usage: postroom vacation ADDRESS [--subject S] --message-file F [--from DATE] "
    "[--until DATE] [--days N] | vacation ADDRESS --off | vacation ADDRESS | vacation list";
// A reply is a short note: more is a mistake (the wrong file).
constexpr std::size_t kMaxMessage = 64 * 1024;
constexpr std::size_t kMaxLine = 998;  // RFC 5322 §2.1.1
constexpr std::size_t kMaxSubject = 200;
constexpr long kMaxDays = 365;

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// The message file as the reply's body: UTF-8 text with CRLF line ends, no line too long.
Result<std::string> read_message(const std::string& file) {
  auto text = read_small_file(file, kMaxMessage);
  if (!text) return fail(file + ": " + text.error().message);
  if (!valid_utf8(*text) || text->find('\0') != std::string::npos)
    return fail(file + ": not UTF-8 text");
  std::string body;
  std::size_t line = 0;
  for (char c : *text) {
    if (c == '\r') continue;
    if (c == '\n') {
      body += "\r\n";
      line = 0;
      continue;
    }
    if (++line > kMaxLine) return fail(file + ": a line is longer than 998 octets");
    body += c;
  }
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return fail(file + ": it is empty");
  if (!body.ends_with("\r\n")) body += "\r\n";
  return body;
}

// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" (or with a space), local time. A date alone means the
// start of that day, or for --until its end: "--until 2026-12-24" includes the 24th.
Result<std::int64_t> parse_date(const std::string& text, bool end_of_day) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  char sep = 0, extra = 0;
  int n = std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d%c", &y, &mo, &d, &sep, &h, &mi, &extra);
  bool date_only = n == 3;
  auto bad = fail("'" + text + "' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)");
  if (!(date_only || (n == 6 && (sep == 'T' || sep == ' '))) || h > 23 || mi > 59 || y < 1970)
    return bad;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_isdst = -1;
  std::time_t t = std::mktime(&tm);
  // mktime turns 2026-02-31 into March 3rd: refuse that rather than guess.
  if (t == -1 || tm.tm_mday != d || tm.tm_mon != mo - 1) return bad;
  if (date_only && end_of_day) {
    tm.tm_mday += 1;
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_isdst = -1;
    t = std::mktime(&tm);
    if (t == -1) return bad;
  }
  return static_cast<std::int64_t>(t);
}

std::string show_time(std::optional<std::int64_t> t) {
  if (!t) return "-";
  std::time_t tt = static_cast<std::time_t>(*t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char out[64];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M%z", &tm);
  return out;
}

std::string state(const store::Vacation& v, std::int64_t now) {
  if (v.ends_at && now >= *v.ends_at) return "ended";
  if (v.starts_at && now < *v.starts_at) return "scheduled";
  return "active";
}

std::string subject_of(const store::Vacation& v) {
  return v.subject.empty() ? "Auto: (the original subject)" : v.subject;
}

int set(Context& ctx, AdminStore& backend, const std::string& address) {
  const Args& args = ctx.args;
  auto value = [&](const char* flag) -> std::optional<std::string> {
    auto it = args.values.find(flag);
    if (it == args.values.end()) return std::nullopt;
    return it->second;
  };
  store::Vacation v;
  v.address = address;
  if (auto s = value("--subject")) {
    if (s->find_first_of("\r\n") != std::string::npos || s->size() > kMaxSubject || !valid_utf8(*s))
      return failure("--subject must be one line of UTF-8, at most 200 octets");
    v.subject = *s;
  }
  auto body = read_message(*value("--message-file"));
  if (!body) return failure(body.error().message);
  v.body = std::move(*body);
  if (auto f = value("--from")) {
    auto t = parse_date(*f, false);
    if (!t) return failure(t.error().message);
    v.starts_at = *t;
  }
  if (auto u = value("--until")) {
    auto t = parse_date(*u, true);
    if (!t) return failure(t.error().message);
    v.ends_at = *t;
  }
  if (v.starts_at && v.ends_at && *v.ends_at <= *v.starts_at)
    return failure("--until must be after --from");
  if (auto days = value("--days")) {
    char* end = nullptr;
    long n = std::strtol(days->c_str(), &end, 10);
    if (days->empty() || *end != '\0' || n < 1 || n > kMaxDays)
      return failure("--days must be a whole number from 1 to 365");
    v.interval_days = n;
  }
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (auto r = backend.set_vacation(v, now); !r) return failure(r.error().message);
  std::cout << "vacation set for " << address << ": " << state(v, now) << " from "
            << show_time(v.starts_at) << " until " << show_time(v.ends_at) << ", one reply per "
            << "sender per " << v.interval_days << (v.interval_days == 1 ? " day" : " days")
            << "\n";
  if (v.ends_at && now >= *v.ends_at)
    std::cerr << "postroom: warning: --until is in the past: no reply will be sent\n";
  return kOk;
}

}  // namespace

int vacation_command(Context& ctx) {
  const Args& args = ctx.args;
  if (args.words.size() != 1) return usage_error(kVacationUsage);
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (args.words[0] == "list") {
    if (!args.flags.empty() || !args.values.empty()) return usage_error(kVacationUsage);
    auto admin = open_admin_store(ctx.config);
    if (!admin) return failure(admin.error().message);
    auto all = (*admin)->list_vacations();
    if (!all) return failure(all.error().message);
    for (const auto& v : *all)
      std::cout << v.address << '\t' << state(v, now) << '\t' << show_time(v.starts_at) << '\t'
                << show_time(v.ends_at) << '\t' << v.interval_days << '\t' << subject_of(v) << '\n';
    return kOk;
  }
  bool off = args.has("--off");
  bool setting = args.values.contains("--message-file");
  if (off && !args.values.empty()) return usage_error("--off takes no other flag");
  if (!off && !setting && !args.values.empty())
    return usage_error("setting a vacation needs --message-file");
  auto parsed = local_address(ctx.config, args.words[0]);
  if (!parsed) return failure(parsed.error().message);
  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  AdminStore& backend = **admin;
  const std::string address = parsed->str();
  auto exists = backend.has_account(address);
  if (!exists) return failure(exists.error().message);
  if (!*exists) return failure("no mailbox " + address);
  if (off) {
    auto had = backend.clear_vacation(address);
    if (!had) return failure(had.error().message);
    std::cout << (*had ? "vacation off for " : "no vacation was set for ") << address << "\n";
    return kOk;
  }
  if (setting) return set(ctx, backend, address);
  auto found = backend.find_vacation(address);
  if (!found) return failure(found.error().message);
  if (!*found) {
    std::cout << address << ": no vacation set\n";
    return kOk;
  }
  const auto& v = **found;
  std::cout << "address: " << v.address << "\nstate: " << state(v, now)
            << "\nfrom: " << show_time(v.starts_at) << "\nuntil: " << show_time(v.ends_at)
            << "\ndays: " << v.interval_days << "\nsubject: " << subject_of(v) << "\n\n";
  for (char c : v.body)
    if (c != '\r') std::cout << c;
  return kOk;
}

}  // namespace postroom::cli
