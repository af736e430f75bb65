// The daemon's live status file: what postroomd knows and the database does not (its pid,
// start time, bound listeners, open connections, recent lockouts and delivery errors), written
// to data_dir for `postroom status` and the sendmail command.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::system {

// The file's name in data_dir.
constexpr std::string_view kStatusFileName = "postroomd.status";
// How often the daemon rewrites it. A file older than a few intervals whose process still
// exists belongs to a daemon that is not responding (its loop is stuck).
constexpr std::int64_t kStatusIntervalSeconds = 5;
// Lockouts and delivery errors kept, newest first.
constexpr std::size_t kRecentKept = 10;

struct ListenerStatus {
  std::string name;      // smtp | submission | submissions | pop3 | pop3s | http | https
  std::string endpoint;  // "127.0.0.1:2525", the real port when the config said :0
  std::string tls;       // none | starttls | implicit
};

struct LockoutEvent {
  std::int64_t at = 0;  // unix seconds
  std::string kind;     // user (one user at one address) | address (every user there)
  std::string address;  // the client's IP address
  std::string user;     // the login name tried
};

struct DeliveryError {
  std::int64_t at = 0;
  std::string queue_id;
  std::string recipient;
  std::string state;  // deferred | bounced
  std::string remote_host;
  std::string reply;
};

// The recent events the daemon reports, newest first, at most kRecentKept of each.
struct RecentEvents {
  std::vector<LockoutEvent> lockouts;
  std::vector<DeliveryError> delivery_errors;
  void lockout(LockoutEvent event);
  void delivery_error(DeliveryError event);
};

// Where the ACME certificate stands (the daemon's acme section).
struct AcmeStatus {
  bool enabled = false;
  std::string state;           // obtaining | valid | failing
  std::string names;           // comma-separated
  std::int64_t not_after = 0;  // the ACME certificate in use; 0: none yet
  std::int64_t renew_at = 0;   // when its renewal is due
  std::int64_t next_attempt = 0;
  int failures = 0;  // consecutive failed attempts
  std::int64_t last_failure = 0;
  std::string error;  // the last failure's reason
};

struct DaemonStatus {
  std::int64_t pid = 0;
  std::string version;
  std::int64_t started_at = 0;
  std::int64_t updated_at = 0;
  std::vector<ListenerStatus> listeners;
  std::int64_t connections = 0;
  RecentEvents recent;
  AcmeStatus acme;
};

// The file's text: one "KEY VALUE..." line per fact, readable with cat. Every field but the
// last of a line is percent-encoded where it holds a space, a '%' or a control character;
// the last field (a reply, a login name) runs to the end of the line with control
// characters replaced by '?'.
std::string render_status(const DaemonStatus& status);
// Parses render_status()'s text; unknown keys are skipped (a newer daemon may add some).
Result<DaemonStatus> parse_status(std::string_view text);

// Writes `text` to `file` through a temporary file renamed over it, mode 0600, so a reader
// sees the old or the new status, never half of one.
Result<void> write_status_file(const std::filesystem::path& file, const std::string& text);

// True when process `pid` exists and is a postroomd (Linux: /proc/PID/comm), so a pid
// reused by another program after a crash is not taken for the daemon.
bool is_postroomd(std::int64_t pid);

}  // namespace postroom::system
