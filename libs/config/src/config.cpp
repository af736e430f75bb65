// Loads postroom.yaml with yaml-cpp and checks every key, collecting all errors with file:line.
#include "postroom/config/config.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

#include "postroom/base/address.hpp"
#include "postroom/base/file.hpp"
#include "postroom/base/quote.hpp"

namespace postroom::config {
namespace {

namespace fs = std::filesystem;

// A config file is a few KiB; anything past this is not one, and yaml-cpp would spend memory
// many times its size on it.
constexpr std::size_t kMaxConfigBytes = 4 << 20;

// An error message as it may reach a log line: messages quote their values with quoted_value(), so
// this only catches what slipped through (a control character, an endless text).
std::string bounded_message(std::string message) {
  constexpr std::size_t kMaxMessage = 400;
  bool control = std::any_of(message.begin(), message.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  if (!control && message.size() <= kMaxMessage) return message;
  return printable(message, kMaxMessage);
}

// A mapping's entries by key, with their nodes for line numbers.
using Entries = std::map<std::string, std::pair<YAML::Node, YAML::Node>>;

class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  std::vector<ConfigError>& errors() { return errors_; }

  void error(const YAML::Node& at, std::string key, std::string message) {
    // yaml-cpp counts lines from 0 and marks a missing node -1 (build notes).
    int line = at.IsDefined() ? at.Mark().line + 1 : 0;
    // A key is echoed from the file too (an unknown one may be anything).
    errors_.push_back(ConfigError{file_, std::max(line, 1), printable(key, 80),
                                  bounded_message(std::move(message))});
  }

  // The entries of a mapping; unknown and duplicate keys are errors
  // (yaml-cpp 0.7 silently keeps the first duplicate, so we count ourselves).
  std::optional<Entries> mapping(const YAML::Node& node, const std::string& path,
                                 std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
      error(node, path.empty() ? "(top level)" : path, "must be a mapping of keys");
      return std::nullopt;
    }
    Entries entries;
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      std::string full = path.empty() ? key : path + "." + key;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(it->first, full, "unknown key");
        continue;
      }
      if (entries.contains(key)) {
        error(it->first, full, "duplicate key");
        continue;
      }
      entries.emplace(key, std::pair{it->first, it->second});
    }
    return entries;
  }

  // The scalar text of a value, or nullopt (with an error) when it is not a scalar.
  std::optional<std::string> scalar(const YAML::Node& value, const std::string& key) {
    if (!value.IsScalar() || value.Scalar().empty()) {
      error(value, key, "must be a single value");
      return std::nullopt;
    }
    return value.Scalar();
  }

  // Parses a scalar with `parse`, reporting its error at the value's line.
  template <class T, class Parse>
  void parse_into(const Entries& entries, const std::string& path, const std::string& key, T& out,
                  Parse parse) {
    auto it = entries.find(key);
    if (it == entries.end()) return;
    std::string full = path.empty() ? key : path + "." + key;
    auto text = scalar(it->second.second, full);
    if (!text) return;
    auto parsed = parse(*text);
    if (!parsed) {
      error(it->second.second, full, parsed.error().message);
      return;
    }
    out = *parsed;
  }

  // Calls `each` for every scalar in a sequence value.
  void for_each_item(const YAML::Node& value, const std::string& key,
                     const std::function<void(const YAML::Node&, const std::string&)>& each) {
    if (!value.IsSequence()) {
      error(value, key, "must be a list, like [a, b]");
      return;
    }
    for (const auto& item : value) {
      if (auto text = scalar(item, key)) each(item, *text);
    }
  }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

template <class Enum>
Result<Enum> parse_enum(std::string_view text,
                        std::initializer_list<std::pair<std::string_view, Enum>> choices) {
  std::string names;
  for (auto& [name, value] : choices) {
    if (text == name) return value;
    names += names.empty() ? std::string(name) : " | " + std::string(name);
  }
  return fail(quoted_value(text) + " is not one of " + names);
}

Result<std::size_t> parse_count(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), ::isdigit) || text.size() > 9)
    return fail(quoted_value(text) + " is not a whole number");
  return static_cast<std::size_t>(std::stoul(std::string(text)));
}

Result<Seconds> parse_positive_duration(std::string_view text) {
  auto d = parse_duration(text);
  if (d && d->count() == 0) return fail("must be longer than 0s");
  return d;
}

// trusted_networks relay without AUTH: a network wider than any office's (0.0.0.0/0 above
// all) makes an open relay by config, so it needs trusted_networks_allow_wide. 10.0.0.0/8 is
// the widest private IPv4 network; an IPv6 site gets a /48, so /16 leaves room for any
// office's ULA plan (fd00::/8 is refused: write your own /48 out of it).
constexpr int kWidestIpv4Prefix = 8;
constexpr int kWidestIpv6Prefix = 16;
constexpr const char* kWideNetwork =
    "is wider than /8 (IPv4) or /16 (IPv6): every address in it could relay mail without a "
    "login, an open relay; narrow it, or set trusted_networks_allow_wide: true if you mean it";

bool is_wide(const Cidr& net) {
  // ::ffff:0:0/96 is every IPv4 peer of a dual-stack listener.
  if (net.ipv4_mapped()) return net.prefix() - 96 < kWidestIpv4Prefix;
  return net.prefix() < (net.ipv6() ? kWidestIpv6Prefix : kWidestIpv4Prefix);
}

// Denied by permissions: the usual first-start failure is a key or secret only root can read
// (certbot makes them 0600) while postroomd runs as its own account. Names that account's
// group and the two commands that let it read the file.
std::string permission_hint(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  if (errno != EACCES) return {};
  const passwd* user = ::getpwuid(::geteuid());
  const group* grp = ::getgrgid(::getegid());
  std::string user_name = user ? user->pw_name : std::to_string(::geteuid());
  std::string group_name = grp ? grp->gr_name : std::to_string(::getegid());
  return " (it must be readable by " + user_name + ", the account reading the config: chgrp " +
         group_name + " " + p.string() + "; chmod 640 " + p.string() +
         "; and its directories must let that group in)";
}

// A file the config names (relative to the config's directory) that must be readable now.
Result<fs::path> readable(const fs::path& base, std::string_view text) {
  fs::path p = base / fs::path(text);
  if (auto r = check_readable_file(p); !r)
    return fail("cannot read " + quoted_value(p.string(), 200) + ": " + r.error().message +
                permission_hint(p));
  return p;
}

void check_listen(Checker& c, const YAML::Node& where, const YAML::Node& node, Listeners& out) {
  auto entries = c.mapping(node, "listen",
                           {"smtp", "submission", "submissions", "pop3", "pop3s", "http", "https"});
  if (!entries) return;
  std::map<std::string, std::vector<Endpoint>*> targets = {
      {"smtp", &out.smtp},  {"submission", &out.submission}, {"submissions", &out.submissions},
      {"pop3", &out.pop3},  {"pop3s", &out.pop3s},           {"http", &out.http},
      {"https", &out.https}};
  for (auto& [key, nodes] : *entries) {
    std::string full = "listen." + key;
    c.for_each_item(nodes.second, full, [&](const YAML::Node& item, const std::string& text) {
      auto endpoint = parse_endpoint(text);
      if (!endpoint) return c.error(item, full, endpoint.error().message);
      targets[key]->push_back(*endpoint);
    });
  }
  if (out.smtp.empty() && out.submission.empty() && out.submissions.empty() && out.pop3.empty() &&
      out.pop3s.empty())
    c.error(where, "listen",
            "names no listener: add at least one of smtp, submission, "
            "submissions, pop3, pop3s");
}

void check_auth(Checker& c, const YAML::Node& node, Auth& out) {
  auto entries = c.mapping(node, "auth",
                           {"plaintext_without_tls", "failure_delay_max", "lockout_failures",
                            "lockout_failures_per_address", "lockout_window", "lockout_duration",
                            "verified_login_cache"});
  if (!entries) return;
  c.parse_into(*entries, "auth", "plaintext_without_tls", out.plaintext_without_tls,
               [](std::string_view t) {
                 return parse_enum<PlaintextPolicy>(
                     t, {{"never", PlaintextPolicy::never},
                         {"trusted_networks", PlaintextPolicy::trusted_networks},
                         {"always", PlaintextPolicy::always}});
               });
  c.parse_into(*entries, "auth", "failure_delay_max", out.failure_delay_max, parse_duration);
  std::size_t failures = out.lockout_failures;
  c.parse_into(*entries, "auth", "lockout_failures", failures, parse_count);
  out.lockout_failures = static_cast<unsigned>(failures);
  std::size_t per_address = out.lockout_failures_per_address;
  c.parse_into(*entries, "auth", "lockout_failures_per_address", per_address,
               [](std::string_view t) -> Result<std::size_t> {
                 auto n = parse_count(t);
                 if (n && (*n == 0 || *n > 1000000)) return fail("must be from 1 to 1000000");
                 return n;
               });
  out.lockout_failures_per_address = static_cast<unsigned>(per_address);
  c.parse_into(*entries, "auth", "lockout_window", out.lockout_window, parse_duration);
  c.parse_into(*entries, "auth", "lockout_duration", out.lockout_duration, parse_duration);
  c.parse_into(*entries, "auth", "verified_login_cache", out.verified_login_cache,
               [](std::string_view t) -> Result<Seconds> {
                 auto d = parse_duration(t);
                 // A day bounds how long a password changed elsewhere (LDAP-less offices
                 // change it here, which forgets at once) could be remembered.
                 if (d && *d > std::chrono::hours(24)) return fail("must be at most 24h");
                 return d;
               });
}

void check_dkim(Checker& c, const YAML::Node& node, Dkim& out) {
  auto entries = c.mapping(node, "dkim", {"activate_after"});
  if (!entries) return;
  c.parse_into(*entries, "dkim", "activate_after", out.activate_after,
               [](std::string_view t) -> Result<std::optional<Seconds>> {
                 if (t == "never") return std::optional<Seconds>();
                 auto d = parse_duration(t);
                 if (!d) return std::unexpected(d.error());
                 return std::optional<Seconds>(*d);
               });
}

void check_mail_auth(Checker& c, const YAML::Node& node, const fs::path& base, MailAuth& out) {
  const std::string path = "mail_auth";
  auto entries = c.mapping(
      node, path,
      {"spf", "dkim", "dmarc", "dns_timeout", "on_dns_error", "subject_tag", "public_suffix_list"});
  if (!entries) return;
  auto mode = [](std::string_view t) {
    return parse_enum<CheckMode>(
        t, {{"off", CheckMode::off}, {"tag", CheckMode::tag}, {"enforce", CheckMode::enforce}});
  };
  c.parse_into(*entries, path, "spf", out.spf, mode);
  c.parse_into(*entries, path, "dkim", out.dkim, mode);
  c.parse_into(*entries, path, "dmarc", out.dmarc, mode);
  c.parse_into(*entries, path, "dns_timeout", out.dns_timeout, parse_positive_duration);
  c.parse_into(*entries, path, "on_dns_error", out.on_dns_error, [](std::string_view t) {
    return parse_enum<DnsErrorAction>(
        t, {{"tag", DnsErrorAction::tag}, {"tempfail", DnsErrorAction::tempfail}});
  });
  c.parse_into(*entries, path, "subject_tag", out.subject_tag,
               [](std::string_view t) -> Result<std::string> {
                 for (char ch : t) {
                   auto u = static_cast<unsigned char>(ch);
                   if (u < 0x20 || u >= 0x7f)
                     return fail("must be printable US-ASCII (it goes into the Subject field)");
                 }
                 if (t.size() > 40) return fail("is longer than 40 characters");
                 return std::string(t);
               });
  c.parse_into(*entries, path, "public_suffix_list", out.public_suffix_list,
               [&](std::string_view t) { return readable(base, t); });
}

void check_smarthost(Checker& c, const YAML::Node& where, const YAML::Node& node,
                     const fs::path& base, Smarthost& out) {
  auto entries = c.mapping(node, "relay.smarthost",
                           {"host", "port", "tls", "username", "password_file", "ca_file"});
  if (!entries) return;
  const std::string path = "relay.smarthost";
  if (!entries->contains("host")) c.error(where, path + ".host", "missing (required)");
  c.parse_into(*entries, path, "host", out.host, [](std::string_view t) -> Result<std::string> {
    if (!is_valid_domain(t)) return fail(quoted_value(t) + " is not a host name");
    return std::string(t);
  });
  c.parse_into(*entries, path, "port", out.port, [](std::string_view t) -> Result<std::uint16_t> {
    auto n = parse_count(t);
    if (!n || *n == 0 || *n > 65535) return fail(quoted_value(t) + " is not a port number");
    return static_cast<std::uint16_t>(*n);
  });
  c.parse_into(*entries, path, "tls", out.tls, [](std::string_view t) {
    return parse_enum<SmarthostTls>(t, {{"starttls", SmarthostTls::starttls},
                                        {"implicit", SmarthostTls::implicit},
                                        {"none", SmarthostTls::none}});
  });
  c.parse_into(*entries, path, "username", out.username,
               [](std::string_view t) -> Result<std::optional<std::string>> {
                 return std::optional<std::string>(t);
               });
  auto readable_file = [&](std::string_view t) -> Result<std::optional<fs::path>> {
    auto p = readable(base, t);
    if (!p) return std::unexpected(p.error());
    return std::optional<fs::path>(*p);
  };
  c.parse_into(*entries, path, "password_file", out.password_file, readable_file);
  c.parse_into(*entries, path, "ca_file", out.ca_file, readable_file);
  if (entries->contains("username") != entries->contains("password_file"))
    c.error(where, path, "username and password_file go together: set both or neither");
}

void check_tls_policy(Checker& c, const YAML::Node& node, const fs::path& base, TlsPolicy& out) {
  const std::string path = "relay.tls_policy";
  auto entries = c.mapping(
      node, path,
      {"mta_sts", "dane", "ca_file", "mta_sts_resolve", "trust_anchor", "dnssec_servers"});
  if (!entries) return;
  auto boolean = [](std::string_view t) {
    return parse_enum<bool>(t, {{"true", true}, {"false", false}});
  };
  c.parse_into(*entries, path, "mta_sts", out.mta_sts, boolean);
  c.parse_into(*entries, path, "dane", out.dane, boolean);
  c.parse_into(*entries, path, "ca_file", out.ca_file,
               [&](std::string_view t) -> Result<std::optional<fs::path>> {
                 auto p = readable(base, t);
                 if (!p) return std::unexpected(p.error());
                 return std::optional<fs::path>(*p);
               });
  c.parse_into(*entries, path, "trust_anchor", out.trust_anchor,
               [&](std::string_view t) -> Result<fs::path> { return readable(base, t); });
  if (auto it = entries->find("mta_sts_resolve"); it != entries->end()) {
    c.for_each_item(it->second.second, path + ".mta_sts_resolve",
                    [&](const YAML::Node& item, const std::string& text) {
                      // HOST:PORT:ADDRESS, as curl's --resolve takes it.
                      auto first = text.find(':');
                      auto second = first == std::string::npos ? first : text.find(':', first + 1);
                      if (second == std::string::npos || !is_valid_domain(text.substr(0, first)))
                        return c.error(item, path + ".mta_sts_resolve",
                                       quoted_value(text) + " is not HOST:PORT:ADDRESS");
                      out.mta_sts_resolve.push_back(text);
                    });
  }
  if (auto it = entries->find("dnssec_servers"); it != entries->end()) {
    c.for_each_item(it->second.second, path + ".dnssec_servers",
                    [&](const YAML::Node& item, const std::string& text) {
                      auto endpoint = parse_endpoint(text);
                      if (!endpoint)
                        return c.error(item, path + ".dnssec_servers", endpoint.error().message);
                      out.dnssec_servers.push_back(*endpoint);
                    });
  }
}

void check_relay(Checker& c, const YAML::Node& where, const YAML::Node& node, const fs::path& base,
                 Relay& out) {
  auto entries = c.mapping(
      node, "relay",
      {"mode", "smarthost", "dns_servers", "retry_schedule", "max_queue_age", "tls_policy", "srs"});
  if (!entries) return;
  if (auto it = entries->find("tls_policy"); it != entries->end())
    check_tls_policy(c, it->second.second, base, out.tls_policy);
  c.parse_into(*entries, "relay", "mode", out.mode, [](std::string_view t) {
    return parse_enum<RelayMode>(
        t, {{"smarthost", RelayMode::smarthost}, {"direct", RelayMode::direct}});
  });
  if (auto it = entries->find("smarthost"); it != entries->end()) {
    Smarthost smarthost;
    check_smarthost(c, it->second.first, it->second.second, base, smarthost);
    out.smarthost = smarthost;
  }
  if (out.mode == RelayMode::smarthost && !out.smarthost)
    c.error(where, "relay.smarthost", "missing: relay.mode smarthost needs a smarthost section");
  if (auto it = entries->find("dns_servers"); it != entries->end()) {
    c.for_each_item(
        it->second.second, "relay.dns_servers",
        [&](const YAML::Node& item, const std::string& text) {
          // A bare address means port 53.
          bool bare = text.find(':') == std::string::npos ||
                      (text.front() != '[' && text.find(':') != text.rfind(':'));
          std::string full =
              bare ? (text.find(':') != std::string::npos ? "[" + text + "]:53" : text + ":53")
                   : text;
          auto endpoint = parse_endpoint(full);
          if (!endpoint) return c.error(item, "relay.dns_servers", endpoint.error().message);
          out.dns_servers.push_back(*endpoint);
        });
  }
  if (auto it = entries->find("retry_schedule"); it != entries->end()) {
    std::vector<Seconds> schedule;
    c.for_each_item(it->second.second, "relay.retry_schedule",
                    [&](const YAML::Node& item, const std::string& text) {
                      auto d = parse_positive_duration(text);
                      if (!d) return c.error(item, "relay.retry_schedule", d.error().message);
                      schedule.push_back(*d);
                    });
    if (schedule.empty() && it->second.second.IsSequence())
      c.error(it->second.second, "relay.retry_schedule", "needs at least one interval");
    if (!schedule.empty()) out.retry_schedule = schedule;
  }
  c.parse_into(*entries, "relay", "max_queue_age", out.max_queue_age, parse_positive_duration);
  c.parse_into(*entries, "relay", "srs", out.srs, [](std::string_view t) {
    return parse_enum<bool>(t, {{"false", false}, {"true", true}});
  });
}

void check_limits(Checker& c, const YAML::Node& node, Limits& out) {
  auto entries = c.mapping(node, "limits",
                           {"max_message_size", "max_recipients", "max_connections",
                            "max_connections_per_ip", "smtp_idle_timeout", "pop3_idle_timeout",
                            "login_timeout", "reserved_connections", "outbound_messages_per_hour",
                            "outbound_messages_per_day", "outbound_new_recipients_per_day"});
  if (!entries) return;
  auto positive_count = [](std::string_view t) -> Result<std::size_t> {
    auto n = parse_count(t);
    if (n && *n == 0) return fail("must be at least 1");
    return n;
  };
  c.parse_into(*entries, "limits", "max_message_size", out.max_message_size,
               [](std::string_view t) -> Result<std::uint64_t> {
                 auto n = parse_size(t);
                 if (n && *n < 1024) return fail("must be at least 1KiB");
                 return n;
               });
  c.parse_into(*entries, "limits", "max_recipients", out.max_recipients, positive_count);
  c.parse_into(*entries, "limits", "max_connections", out.max_connections, positive_count);
  c.parse_into(*entries, "limits", "max_connections_per_ip", out.max_connections_per_ip,
               positive_count);
  c.parse_into(*entries, "limits", "smtp_idle_timeout", out.smtp_idle_timeout,
               parse_positive_duration);
  c.parse_into(*entries, "limits", "pop3_idle_timeout", out.pop3_idle_timeout,
               [](std::string_view t) -> Result<Seconds> {
                 auto d = parse_duration(t);
                 // RFC 1939 §3: the autologout timer MUST be at least 10 minutes (seed S11).
                 if (d && *d < Seconds(600))
                   return fail("must be at least 10m (RFC 1939 §3: clients may be on slow lines)");
                 return d;
               });
  c.parse_into(*entries, "limits", "login_timeout", out.login_timeout,
               [](std::string_view t) -> Result<Seconds> {
                 auto d = parse_duration(t);
                 // A real client logs in within a second or two; slow lines and TLS need some.
                 if (d && *d < Seconds(10)) return fail("must be at least 10s");
                 return d;
               });
  c.parse_into(*entries, "limits", "reserved_connections", out.reserved_connections, parse_count);
  c.parse_into(*entries, "limits", "outbound_messages_per_hour", out.outbound_messages_per_hour,
               parse_count);
  c.parse_into(*entries, "limits", "outbound_messages_per_day", out.outbound_messages_per_day,
               parse_count);
  c.parse_into(*entries, "limits", "outbound_new_recipients_per_day",
               out.outbound_new_recipients_per_day, parse_count);
  if (out.reserved_connections && *out.reserved_connections >= out.max_connections)
    c.error(entries->at("reserved_connections").second, "limits.reserved_connections",
            "must be less than max_connections (" + std::to_string(out.max_connections) + ")");
}

// `user` and `run_as_root`: who postroomd runs as. Whether the account exists is checked
// when it matters (at start, and as a check-config warning), not here.
void check_run_as(Checker& c, const Entries& entries, Config& out) {
  c.parse_into(
      entries, "", "user", out.user, [](std::string_view t) -> Result<std::optional<std::string>> {
        // The portable user name set (POSIX 3.437), no leading '-', at most 32.
        bool portable =
            t.size() <= 32 && t.front() != '-' && std::all_of(t.begin(), t.end(), [](char ch) {
              return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' ||
                     ch == '-';
            });
        if (!portable) return fail(quoted_value(t) + " is not a user name");
        if (t == "root")
          return fail(
              "root is not an unprivileged user: to stay root, "
              "remove user and set run_as_root: true");
        return std::optional<std::string>(t);
      });
  c.parse_into(entries, "", "run_as_root", out.run_as_root, [](std::string_view t) -> Result<bool> {
    return parse_enum<bool>(t, {{"true", true}, {"false", false}});
  });
  if (out.user && out.run_as_root)
    c.error(entries.at("run_as_root").second, "run_as_root",
            "contradicts user: set one or the other");
}

// `milters`: a list of {name, address, timeout, default_action}.
void check_milters(Checker& c, const YAML::Node& node, std::vector<Milter>& out) {
  if (!node.IsSequence()) return c.error(node, "milters", "must be a list of milters");
  for (const auto& item : node) {
    auto entries = c.mapping(item, "milters", {"name", "address", "timeout", "default_action"});
    if (!entries) continue;
    Milter m;
    for (const char* required : {"name", "address"})
      if (!entries->contains(required))
        c.error(item, std::string("milters.") + required, "missing (required)");
    c.parse_into(
        *entries, "milters", "name", m.name, [&](std::string_view t) -> Result<std::string> {
          if (t.size() > 40 || !std::all_of(t.begin(), t.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
              }))
            return fail(quoted_value(t) + " is not a name (letters, digits, - and _, at most 40)");
          if (std::any_of(out.begin(), out.end(), [&](const Milter& o) { return o.name == t; }))
            return fail(quoted_value(t) + " names another milter already");
          return std::string(t);
        });
    Milter where;
    c.parse_into(*entries, "milters", "address", where, [](std::string_view t) -> Result<Milter> {
      Milter parsed;
      parsed.address = std::string(t);
      if (t.starts_with("unix:")) {
        fs::path p(t.substr(5));
        if (!p.is_absolute())
          return fail(quoted_value(t) + ": a unix socket needs an absolute path");
        parsed.unix_path = p;
        return parsed;
      }
      std::string_view rest = t.starts_with("inet:") ? t.substr(5) : t;
      auto endpoint = parse_endpoint(rest);
      if (!endpoint || endpoint->port == 0)
        return fail(quoted_value(t) +
                    " is not unix:/path or inet:ADDRESS:PORT (a numeric address and a port)");
      parsed.inet = *endpoint;
      return parsed;
    });
    m.address = where.address;
    m.inet = where.inet;
    m.unix_path = where.unix_path;
    c.parse_into(*entries, "milters", "timeout", m.timeout, parse_positive_duration);
    c.parse_into(*entries, "milters", "default_action", m.default_action, [](std::string_view t) {
      return parse_enum<Milter::DefaultAction>(t, {{"accept", Milter::DefaultAction::accept},
                                                   {"tempfail", Milter::DefaultAction::tempfail}});
    });
    out.push_back(std::move(m));
  }
}

// `dnsbl`: zones with weights and codes, threshold, action, timeout.
void check_dnsbl(Checker& c, const YAML::Node& node, Dnsbl& out) {
  auto entries = c.mapping(node, "dnsbl", {"zones", "threshold", "action", "timeout"});
  if (!entries) return;
  auto positive = [](std::string_view t) -> Result<unsigned> {
    auto n = parse_count(t);
    if (!n) return std::unexpected(n.error());
    if (*n == 0 || *n > 1000) return fail("must be from 1 to 1000");
    return static_cast<unsigned>(*n);
  };
  c.parse_into(*entries, "dnsbl", "threshold", out.threshold, positive);
  c.parse_into(*entries, "dnsbl", "action", out.action, [](std::string_view t) {
    return parse_enum<Dnsbl::Action>(
        t, {{"reject", Dnsbl::Action::reject}, {"tag", Dnsbl::Action::tag}});
  });
  c.parse_into(*entries, "dnsbl", "timeout", out.timeout, parse_positive_duration);
  auto it = entries->find("zones");
  if (it == entries->end()) return;
  const YAML::Node& zones = it->second.second;
  if (!zones.IsSequence()) return c.error(zones, "dnsbl.zones", "must be a list of zones");
  for (const auto& item : zones) {
    auto z = c.mapping(item, "dnsbl.zones", {"zone", "weight", "codes"});
    if (!z) continue;
    DnsblZone zone;
    if (!z->contains("zone")) c.error(item, "dnsbl.zones.zone", "missing (required)");
    c.parse_into(*z, "dnsbl.zones", "zone", zone.zone,
                 [](std::string_view t) -> Result<std::string> {
                   if (!is_ascii_domain(t))
                     return fail(quoted_value(t) + " is not a DNS zone name");
                   return to_lower_ascii(t);
                 });
    c.parse_into(*z, "dnsbl.zones", "weight", zone.weight, positive);
    if (auto codes = z->find("codes"); codes != z->end()) {
      c.for_each_item(codes->second.second, "dnsbl.zones.codes",
                      [&](const YAML::Node& code, const std::string& text) {
                        auto e = parse_endpoint(text + ":0");
                        if (!e || e->ipv6 || !text.starts_with("127."))
                          return c.error(code, "dnsbl.zones.codes",
                                         quoted_value(text) + " is not an answer in 127.0.0.0/8");
                        zone.codes.push_back(text);
                      });
    }
    out.zones.push_back(std::move(zone));
  }
}

void check_greylisting(Checker& c, const YAML::Node& node, Greylisting& out) {
  auto entries = c.mapping(node, "greylisting", {"enabled", "window", "forget"});
  if (!entries) return;
  c.parse_into(*entries, "greylisting", "enabled", out.enabled, [](std::string_view t) {
    return parse_enum<bool>(t, {{"false", false}, {"true", true}});
  });
  c.parse_into(*entries, "greylisting", "window", out.window, parse_positive_duration);
  c.parse_into(*entries, "greylisting", "forget", out.forget, parse_positive_duration);
  if (out.forget <= out.window)
    c.error(node, "greylisting.forget", "must be longer than greylisting.window");
}

void check_retention(Checker& c, const YAML::Node& node, Retention& out) {
  auto entries =
      c.mapping(node, "retention", {"retrieved", "max_age", "login_delay", "check_every"});
  if (!entries) return;
  auto duration_or_never = [](std::string_view t) -> Result<std::optional<Seconds>> {
    if (t == "never") return std::nullopt;
    auto d = parse_positive_duration(t);
    if (!d) return fail(d.error().message + " (or never)");
    return *d;
  };
  c.parse_into(*entries, "retention", "retrieved", out.retrieved, duration_or_never);
  c.parse_into(*entries, "retention", "max_age", out.max_age, duration_or_never);
  c.parse_into(*entries, "retention", "login_delay", out.login_delay, parse_duration);
  c.parse_into(*entries, "retention", "check_every", out.check_every, parse_positive_duration);
}

void check_quota(Checker& c, const YAML::Node& node, Quota& out) {
  auto entries =
      c.mapping(node, "quota",
                {"user_bytes", "user_messages", "domain_bytes", "domain_messages", "warnings"});
  if (!entries) return;
  auto bytes = [](std::string_view t) -> Result<std::optional<std::uint64_t>> {
    if (t == "none") return std::nullopt;
    auto n = parse_size(t);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return fail("must be at least 1B (none: no limit)");
    return *n;
  };
  auto messages = [](std::string_view t) -> Result<std::optional<std::uint64_t>> {
    if (t == "none") return std::nullopt;
    auto n = parse_count(t);
    if (!n) return fail(quoted_value(t) + " is not a whole number or none");
    if (*n == 0) return fail("must be at least 1 (none: no limit)");
    return *n;
  };
  c.parse_into(*entries, "quota", "user_bytes", out.user_bytes, bytes);
  c.parse_into(*entries, "quota", "user_messages", out.user_messages, messages);
  c.parse_into(*entries, "quota", "domain_bytes", out.domain_bytes, bytes);
  c.parse_into(*entries, "quota", "domain_messages", out.domain_messages, messages);
  c.parse_into(*entries, "quota", "warnings", out.warnings, [](std::string_view t) {
    return parse_enum<bool>(t, {{"false", false}, {"true", true}});
  });
}

void check_postgresql(Checker& c, const YAML::Node& where, const YAML::Node& node,
                      const fs::path& base, PostgresqlStore& out) {
  const std::string path = "store.postgresql";
  auto entries = c.mapping(node, path,
                           {"dsn", "host", "port", "dbname", "user", "password_file", "sslmode",
                            "pool_size", "queue_lease"});
  if (!entries) return;
  // The dsn may hold a password: no message here repeats it.
  c.parse_into(*entries, path, "dsn", out.dsn,
               [](std::string_view t) -> Result<std::optional<std::string>> {
                 return std::optional<std::string>(t);
               });
  c.parse_into(*entries, path, "host", out.host, [](std::string_view t) -> Result<std::string> {
    if (t.front() != '/' && !is_valid_domain(t) && !Cidr::parse(t))
      return fail(quoted_value(t) + " is not a host name, an address or a socket directory");
    return std::string(t);
  });
  c.parse_into(*entries, path, "port", out.port, [](std::string_view t) -> Result<std::uint16_t> {
    auto n = parse_count(t);
    if (!n || *n == 0 || *n > 65535) return fail(quoted_value(t) + " is not a port number");
    return static_cast<std::uint16_t>(*n);
  });
  c.parse_into(*entries, path, "dbname", out.dbname,
               [](std::string_view t) -> Result<std::string> { return std::string(t); });
  c.parse_into(*entries, path, "user", out.user,
               [](std::string_view t) -> Result<std::string> { return std::string(t); });
  c.parse_into(*entries, path, "password_file", out.password_file,
               [&](std::string_view t) -> Result<std::optional<fs::path>> {
                 auto p = readable(base, t);
                 if (!p) return std::unexpected(p.error());
                 return std::optional<fs::path>(*p);
               });
  c.parse_into(*entries, path, "sslmode", out.sslmode,
               [](std::string_view t) -> Result<std::optional<std::string>> {
                 auto mode = parse_enum<std::string_view>(t, {{"disable", "disable"},
                                                              {"allow", "allow"},
                                                              {"prefer", "prefer"},
                                                              {"require", "require"},
                                                              {"verify-ca", "verify-ca"},
                                                              {"verify-full", "verify-full"}});
                 if (!mode) return std::unexpected(mode.error());
                 return std::optional<std::string>(*mode);
               });
  c.parse_into(*entries, path, "pool_size", out.pool_size,
               [](std::string_view t) -> Result<std::size_t> {
                 auto n = parse_count(t);
                 if (!n || *n == 0 || *n > 100) return fail("must be from 1 to 100");
                 return n;
               });
  c.parse_into(*entries, path, "queue_lease", out.queue_lease,
               [](std::string_view t) -> Result<Seconds> {
                 auto d = parse_positive_duration(t);
                 if (d && *d < Seconds(2)) return fail("must be at least 2s");
                 return d;
               });
  if (entries->contains("dsn")) {
    for (const char* key : {"host", "port", "dbname", "user", "sslmode"}) {
      if (entries->contains(key))
        c.error(entries->at(key).first, path + "." + key,
                "dsn and " + std::string(key) +
                    " both given: write the connection in dsn alone, or in host, port, dbname, "
                    "user and sslmode without dsn (password_file goes with either)");
    }
  } else if (!entries->contains("host")) {
    c.error(where, path, "needs dsn, or host (with port, dbname, user, sslmode as needed)");
  }
}

void check_store(Checker& c, const YAML::Node& where, const YAML::Node& node, const fs::path& base,
                 Store& out) {
  auto entries = c.mapping(node, "store", {"backend", "postgresql"});
  if (!entries) return;
  c.parse_into(*entries, "store", "backend", out.backend, [](std::string_view t) {
    return parse_enum<StoreBackend>(
        t, {{"sqlite", StoreBackend::sqlite}, {"postgresql", StoreBackend::postgresql}});
  });
  // Read whatever the backend: `postroom migrate-store` copies into it before the switch.
  if (auto it = entries->find("postgresql"); it != entries->end()) {
    PostgresqlStore pg;
    check_postgresql(c, it->second.first, it->second.second, base, pg);
    out.postgresql = std::move(pg);
  }
  if (out.backend == StoreBackend::postgresql && !out.postgresql)
    c.error(where, "store.postgresql",
            "missing: store.backend postgresql needs a postgresql section with dsn or host");
}

void check_http(Checker& c, const YAML::Node& node, Http& out) {
  auto entries = c.mapping(node, "http", {"metrics_allow", "request_timeout", "mta_sts"});
  if (!entries) return;
  if (auto it = entries->find("metrics_allow"); it != entries->end()) {
    c.for_each_item(it->second.second, "http.metrics_allow",
                    [&](const YAML::Node& item, const std::string& text) {
                      auto net = Cidr::parse(text);
                      if (!net) return c.error(item, "http.metrics_allow", net.error().message);
                      out.metrics_allow.push_back(*net);
                    });
  }
  c.parse_into(*entries, "http", "request_timeout", out.request_timeout, parse_positive_duration);
  if (auto it = entries->find("mta_sts"); it != entries->end()) {
    auto sts = c.mapping(it->second.second, "http.mta_sts", {"mode", "max_age"});
    if (!sts) return;
    c.parse_into(*sts, "http.mta_sts", "mode", out.mta_sts_mode,
                 [](std::string_view t) -> Result<std::string> {
                   if (t != "testing" && t != "enforce" && t != "none")
                     return fail(quoted_value(t) + " is not one of testing, enforce, none");
                   return std::string(t);
                 });
    c.parse_into(*sts, "http.mta_sts", "max_age", out.mta_sts_max_age, parse_positive_duration);
    // RFC 8461 §3.2: max_age is at most 31557600 seconds (a year).
    if (out.mta_sts_max_age.count() > 31557600)
      c.error(it->second.second, "http.mta_sts.max_age", "must be at most a year (RFC 8461)");
  }
}

void check_acme(Checker& c, const YAML::Node& where, const YAML::Node& node, const fs::path& base,
                Acme& out) {
  const std::string path = "acme";
  auto entries =
      c.mapping(node, path, {"directory_url", "contact", "challenge", "ca_bundle", "names"});
  if (!entries) return;
  c.parse_into(*entries, path, "directory_url", out.directory_url,
               [](std::string_view t) -> Result<std::string> {
                 if (!t.starts_with("https://") || t.size() <= 8)
                   return fail(quoted_value(t) + " is not an https:// URL");
                 return std::string(t);
               });
  c.parse_into(*entries, path, "contact", out.contact,
               [](std::string_view t) -> Result<std::string> {
                 if (!parse_address(t)) return fail(quoted_value(t) + " is not an email address");
                 return std::string(t);
               });
  c.parse_into(*entries, path, "challenge", out.challenge, [](std::string_view t) {
    return parse_enum<Acme::Challenge>(
        t, {{"http-01", Acme::Challenge::http01}, {"tls-alpn-01", Acme::Challenge::tls_alpn01}});
  });
  c.parse_into(*entries, path, "ca_bundle", out.ca_bundle,
               [&](std::string_view t) -> Result<std::optional<fs::path>> {
                 auto p = readable(base, t);
                 if (!p) return std::unexpected(p.error());
                 return std::optional<fs::path>(*p);
               });
  if (auto it = entries->find("names"); it != entries->end()) {
    c.for_each_item(
        it->second.second, path + ".names", [&](const YAML::Node& item, const std::string& text) {
          if (!is_ascii_domain(text) || text.find('.') == std::string::npos)
            return c.error(item, path + ".names", quoted_value(text) + " is not a DNS name");
          out.names.push_back(to_lower_ascii(text));
        });
  }
  (void)where;
}

}  // namespace

std::vector<std::string> Config::acme_names() const {
  if (!acme) return {};
  if (!acme->names.empty()) return acme->names;
  std::vector<std::string> out;
  auto add = [&](std::string name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  };
  if (!hostname.starts_with("[")) add(hostname);
  for (const auto& d : domains) {
    add("autoconfig." + d);
    add("mta-sts." + d);
  }
  return out;
}

std::string ConfigError::str() const {
  return file + ":" + std::to_string(line) + ": " + key + ": " + message;
}

bool Config::is_local_domain(std::string_view domain) const {
  std::string lower = to_lower_ascii(domain);
  return std::find(domains.begin(), domains.end(), lower) != domains.end();
}

bool Config::is_trusted(const sockaddr* peer) const {
  return std::any_of(trusted_networks.begin(), trusted_networks.end(),
                     [&](const Cidr& net) { return net.contains(peer); });
}

fs::path default_path(const char* from_flag) {
  if (from_flag && *from_flag) return from_flag;
  if (const char* env = std::getenv("POSTROOM_CONFIG"); env && *env) return env;
  return "/etc/postroom/postroom.yaml";
}

namespace {

using Loaded = std::expected<Config, std::vector<ConfigError>>;

Loaded one_error(const std::string& file, int line, std::string key, std::string message) {
  return std::unexpected(
      std::vector{ConfigError{file, std::max(line, 1), std::move(key), bounded_message(message)}});
}

// Checks the parsed document; may meet yaml-cpp calls that throw, so load() guards it.
Loaded check(const std::string& name, const fs::path& file, const YAML::Node& root) {
  Checker c(name);
  Config config;
  std::error_code ec;
  config.file = fs::absolute(file, ec);
  if (ec) return one_error(name, 1, "(file)", "cannot make the path absolute: " + ec.message());
  fs::path base = config.file.parent_path();
  auto entries = c.mapping(root, "",
                           {"hostname",
                            "domains",
                            "data_dir",
                            "listen",
                            "tls",
                            "trusted_networks",
                            "trusted_networks_allow_wide",
                            "auth",
                            "relay",
                            "dkim",
                            "limits",
                            "user",
                            "run_as_root",
                            "public_addresses",
                            "mail_auth",
                            "milters",
                            "dnsbl",
                            "greylisting",
                            "http",
                            "retention",
                            "quota",
                            "store",
                            "acme"});
  if (!entries) return std::unexpected(std::move(c.errors()));

  for (const char* required : {"hostname", "domains", "data_dir", "listen"}) {
    if (!entries->contains(required)) c.error(root, required, "missing (required)");
  }
  // The hostname goes out in greetings, Received lines, APOP timestamps and the relay's EHLO,
  // to peers that may not speak SMTPUTF8: an RFC 5321 Domain or address literal, ASCII only.
  c.parse_into(*entries, "", "hostname", config.hostname,
               [](std::string_view t) -> Result<std::string> {
                 if (!is_ascii_domain(t) && !literal_ip(t))
                   return fail(quoted_value(t) +
                               " is not a host name (US-ASCII letters, digits, hyphens and dots, "
                               "like mail.example.test, or an address literal like [192.0.2.1])");
                 return to_lower_ascii(t);
               });
  if (auto it = entries->find("domains"); it != entries->end()) {
    c.for_each_item(
        it->second.second, "domains", [&](const YAML::Node& item, const std::string& text) {
          if (!is_valid_domain(text))
            return c.error(item, "domains", quoted_value(text) + " is not a domain name");
          config.domains.push_back(to_lower_ascii(text));
        });
    if (config.domains.empty() && it->second.second.IsSequence())
      c.error(it->second.second, "domains", "needs at least one domain");
  }
  c.parse_into(*entries, "", "data_dir", config.data_dir,
               [&](std::string_view t) -> Result<fs::path> {
                 // Relative paths are relative to the config file (interface.md).
                 return (base / fs::path(t)).lexically_normal();
               });
  if (auto it = entries->find("listen"); it != entries->end())
    check_listen(c, it->second.first, it->second.second, config.listen);
  if (auto it = entries->find("tls"); it != entries->end()) {
    if (auto tls = c.mapping(it->second.second, "tls", {"cert", "key"})) {
      Tls out;
      for (const char* key : {"cert", "key"}) {
        if (!tls->contains(key)) c.error(it->second.first, std::string("tls.") + key, "missing");
      }
      auto readable_here = [&](std::string_view t) { return readable(base, t); };
      c.parse_into(*tls, "tls", "cert", out.cert, readable_here);
      c.parse_into(*tls, "tls", "key", out.key, readable_here);
      config.tls = out;
    }
  }
  if (auto it = entries->find("acme"); it != entries->end()) {
    Acme acme;
    check_acme(c, it->second.first, it->second.second, base, acme);
    const auto& l = config.listen;
    if (acme.challenge == Acme::Challenge::http01 && l.http.empty())
      c.error(it->second.first, "acme.challenge",
              "http-01 needs an http listener (listen.http, port 80 from the internet)");
    if (acme.challenge == Acme::Challenge::tls_alpn01 && l.https.empty())
      c.error(it->second.first, "acme.challenge",
              "tls-alpn-01 needs an https listener (listen.https, port 443 from the internet)");
    config.acme = std::move(acme);
  }
  if (!config.tls && !config.acme) {
    const auto& l = config.listen;
    if (!l.submissions.empty() || !l.pop3s.empty() || !l.https.empty())
      c.error(entries->contains("listen") ? entries->at("listen").first : root, "listen",
              "submissions, pop3s and https need TLS: add a tls section with cert and key, or "
              "an acme section");
  }
  c.parse_into(*entries, "", "trusted_networks_allow_wide", config.trusted_networks_allow_wide,
               [](std::string_view t) {
                 return parse_enum<bool>(t, {{"false", false}, {"true", true}});
               });
  if (auto it = entries->find("trusted_networks"); it != entries->end()) {
    c.for_each_item(it->second.second, "trusted_networks",
                    [&](const YAML::Node& item, const std::string& text) {
                      auto net = Cidr::parse(text);
                      if (!net) return c.error(item, "trusted_networks", net.error().message);
                      if (is_wide(*net) && !config.trusted_networks_allow_wide)
                        return c.error(item, "trusted_networks",
                                       quoted_value(text) + " " + kWideNetwork);
                      config.trusted_networks.push_back(*net);
                    });
  }
  if (auto it = entries->find("public_addresses"); it != entries->end()) {
    c.for_each_item(it->second.second, "public_addresses",
                    [&](const YAML::Node& item, const std::string& text) {
                      auto net = Cidr::parse(text);
                      if (!net || text.find('/') != std::string::npos)
                        return c.error(item, "public_addresses",
                                       quoted_value(text) + " is not a numeric IP address");
                      config.public_addresses.push_back(text);
                    });
  }
  if (auto it = entries->find("auth"); it != entries->end())
    check_auth(c, it->second.second, config.auth);
  if (auto it = entries->find("relay"); it != entries->end())
    check_relay(c, it->second.first, it->second.second, base, config.relay);
  if (auto it = entries->find("dkim"); it != entries->end())
    check_dkim(c, it->second.second, config.dkim);
  if (auto it = entries->find("limits"); it != entries->end())
    check_limits(c, it->second.second, config.limits);
  if (auto it = entries->find("mail_auth"); it != entries->end())
    check_mail_auth(c, it->second.second, base, config.mail_auth);

  check_run_as(c, *entries, config);
  if (auto it = entries->find("milters"); it != entries->end())
    check_milters(c, it->second.second, config.milters);
  if (auto it = entries->find("dnsbl"); it != entries->end())
    check_dnsbl(c, it->second.second, config.dnsbl);
  if (auto it = entries->find("greylisting"); it != entries->end())
    check_greylisting(c, it->second.second, config.greylisting);
  if (auto it = entries->find("http"); it != entries->end())
    check_http(c, it->second.second, config.http);
  if (auto it = entries->find("retention"); it != entries->end())
    check_retention(c, it->second.second, config.retention);
  if (auto it = entries->find("quota"); it != entries->end())
    check_quota(c, it->second.second, config.quota);
  if (auto it = entries->find("store"); it != entries->end())
    check_store(c, it->second.first, it->second.second, base, config.store);

  if (!c.errors().empty()) {
    auto errors = std::move(c.errors());
    std::stable_sort(errors.begin(), errors.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
    return std::unexpected(std::move(errors));
  }
  return config;
}

}  // namespace

// Everything that can go wrong with the file is an error value: the daemon calls this on
// SIGHUP, inside a libuv callback, where an exception would end the process.
std::expected<Config, std::vector<ConfigError>> load(const fs::path& file) {
  std::string name = printable(file.string(), 200);
  auto text = read_small_file(file, kMaxConfigBytes);
  if (!text) return one_error(name, 1, "(file)", "cannot read it: " + text.error().message);
  try {
    YAML::Node root;
    try {
      root = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      // A ParserException has a mark; others (deep nesting, bad encoding) may not.
      return one_error(name, e.mark.line + 1, "(syntax)", e.msg);
    }
    return check(name, file, root);
  } catch (const std::exception& e) {
    // yaml-cpp's node accessors throw on documents it parsed but cannot represent, and a
    // huge document can exhaust memory: report it as a problem with the file.
    return one_error(name, 1, "(file)", std::string("cannot be checked: ") + e.what());
  }
}

Result<std::vector<std::pair<std::string, std::string>>> PostgresqlStore::connection_params()
    const {
  std::vector<std::pair<std::string, std::string>> params;
  if (dsn) {
    // First, so that what follows (the password) overrides what the dsn says.
    params.emplace_back("dbname", *dsn);
  } else {
    params.emplace_back("host", host);
    params.emplace_back("port", std::to_string(port));
    params.emplace_back("dbname", dbname);
    params.emplace_back("user", user);
    if (sslmode) params.emplace_back("sslmode", *sslmode);
  }
  if (password_file) {
    auto text = read_small_file(*password_file, 4096);
    if (!text)
      return fail("cannot read store.postgresql.password_file " +
                  quoted_value(password_file->string(), 200) + ": " + text.error().message);
    std::string password = *text;
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
      password.pop_back();
    if (password.empty() || password.find('\n') != std::string::npos)
      return fail("store.postgresql.password_file " + quoted_value(password_file->string(), 200) +
                  " must hold the password on one line");
    params.emplace_back("password", std::move(password));
  }
  params.emplace_back("fallback_application_name", "postroom");
  return params;
}

}  // namespace postroom::config
