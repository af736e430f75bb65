// The daemon status file (daemon_status.hpp): its text format, atomic writes, the liveness test.
#include "postroom/system/daemon_status.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "postroom/base/file.hpp"

namespace postroom::system {

namespace {

constexpr std::string_view kMagic = "postroomd-status 1";

std::string encode(std::string_view field) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : field) {
    if (c <= 0x20 || c == 0x7f || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out.empty() ? "-" : out;  // an empty field would shift the ones after it
}

std::string decode(std::string_view field) {
  if (field == "-") return {};
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    unsigned value = 0;
    if (field[i] == '%' && i + 2 < field.size() &&
        std::from_chars(field.data() + i + 1, field.data() + i + 3, value, 16).ptr ==
            field.data() + i + 3) {
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += field[i];
    }
  }
  return out;
}

// The last field of a line: kept as it is but for line breaks and other control characters.
std::string tail(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

// Splits off `count` space-separated fields; the rest of the line is the last element.
std::vector<std::string_view> split(std::string_view line, std::size_t count) {
  std::vector<std::string_view> out;
  while (out.size() < count) {
    auto space = line.find(' ');
    if (space == std::string_view::npos) break;
    out.push_back(line.substr(0, space));
    line.remove_prefix(space + 1);
  }
  out.push_back(line);
  return out;
}

bool to_int(std::string_view text, std::int64_t& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

template <class T>
void keep_newest(std::vector<T>& list, T event) {
  list.insert(list.begin(), std::move(event));
  if (list.size() > kRecentKept) list.resize(kRecentKept);
}

}  // namespace

void RecentEvents::lockout(LockoutEvent event) {
  keep_newest(lockouts, std::move(event));
}

void RecentEvents::delivery_error(DeliveryError event) {
  keep_newest(delivery_errors, std::move(event));
}

std::string render_status(const DaemonStatus& s) {
  std::ostringstream out;
  out << kMagic << "\n";
  out << "pid " << s.pid << "\n";
  out << "version " << encode(s.version) << "\n";
  out << "started " << s.started_at << "\n";
  out << "updated " << s.updated_at << "\n";
  out << "connections " << s.connections << "\n";
  for (const auto& l : s.listeners)
    out << "listener " << encode(l.name) << ' ' << encode(l.endpoint) << ' ' << encode(l.tls)
        << "\n";
  for (const auto& e : s.recent.lockouts)
    out << "lockout " << e.at << ' ' << encode(e.kind) << ' ' << encode(e.address) << ' '
        << tail(e.user) << "\n";
  for (const auto& e : s.recent.delivery_errors)
    out << "delivery-error " << e.at << ' ' << encode(e.queue_id) << ' ' << encode(e.recipient)
        << ' ' << encode(e.state) << ' ' << encode(e.remote_host) << ' ' << tail(e.reply) << "\n";
  if (s.acme.enabled) {
    const auto& a = s.acme;
    out << "acme " << encode(a.state) << ' ' << encode(a.names) << ' ' << a.not_after << ' '
        << a.renew_at << ' ' << a.next_attempt << ' ' << a.failures << ' ' << a.last_failure << ' '
        << tail(a.error) << "\n";
  }
  return out.str();
}

Result<DaemonStatus> parse_status(std::string_view text) {
  if (!text.starts_with(kMagic)) return fail("not a postroomd status file");
  DaemonStatus s;
  bool have_pid = false;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    auto space = line.find(' ');
    if (space == std::string_view::npos) continue;
    std::string_view key = line.substr(0, space), rest = line.substr(space + 1);
    std::int64_t number = 0;
    if (key == "pid" && to_int(rest, number)) {
      s.pid = number;
      have_pid = true;
    } else if (key == "version") {
      s.version = decode(rest);
    } else if (key == "started" && to_int(rest, number)) {
      s.started_at = number;
    } else if (key == "updated" && to_int(rest, number)) {
      s.updated_at = number;
    } else if (key == "connections" && to_int(rest, number)) {
      s.connections = number;
    } else if (key == "listener") {
      auto f = split(rest, 2);
      if (f.size() == 3) s.listeners.push_back({decode(f[0]), decode(f[1]), decode(f[2])});
    } else if (key == "lockout") {
      auto f = split(rest, 3);
      if (f.size() == 4 && to_int(f[0], number))
        s.recent.lockouts.push_back({number, decode(f[1]), decode(f[2]), std::string(f[3])});
    } else if (key == "acme") {
      auto f = split(rest, 7);
      std::int64_t n[5] = {};
      if (f.size() == 8 && to_int(f[2], n[0]) && to_int(f[3], n[1]) && to_int(f[4], n[2]) &&
          to_int(f[5], n[3]) && to_int(f[6], n[4])) {
        s.acme = {true, decode(f[0]),     decode(f[1]), n[0], n[1], n[2], static_cast<int>(n[3]),
                  n[4], std::string(f[7])};
      }
    } else if (key == "delivery-error") {
      auto f = split(rest, 5);
      if (f.size() == 6 && to_int(f[0], number))
        s.recent.delivery_errors.push_back(
            {number, decode(f[1]), decode(f[2]), decode(f[3]), decode(f[4]), std::string(f[5])});
    }
  }
  if (!have_pid) return fail("the status file names no pid");
  return s;
}

Result<void> write_status_file(const std::filesystem::path& file, const std::string& text) {
  // Not synced: the file describes the running process; after a power loss it is stale anyway.
  return replace_file(file, text, 0600, FileSync::none);
}

bool is_postroomd(std::int64_t pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  // Without /proc (not Linux) the signal test is all there is.
  std::error_code ec;
  if (!std::filesystem::exists("/proc/self/comm", ec)) return true;
  // /proc files claim a size of 0, so they are read as a stream, not as a small file.
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  return std::getline(comm, name) && name.starts_with("postroomd");
}

}  // namespace postroom::system
