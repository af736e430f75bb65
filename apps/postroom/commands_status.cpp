// postroom status [--json]: the daemon, its listeners and connections (from the status file it
// keeps in data_dir), mailboxes, store, queue (from the database) and the certificate's days
// left (from the certificate file), on one screen or as JSON with stable keys.
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/base/endpoint.hpp"
#include "postroom/base/file.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/health.hpp"
#include "postroom/store/quotas.hpp"
#include "postroom/system/daemon_status.hpp"

namespace postroom::cli {

namespace {

using nlohmann::json;

// A status file older than this, written by a process that still exists: its loop is stuck.
constexpr std::int64_t kStaleAfterSeconds = 3 * system::kStatusIntervalSeconds + 5;
// Delivery failures shown.
constexpr int kFailuresShown = 5;

std::string format_duration(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  char text[64];
  if (seconds < 60)
    std::snprintf(text, sizeof text, "%llds", static_cast<long long>(seconds));
  else if (seconds < 3600)
    std::snprintf(text, sizeof text, "%lldm %02llds", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  else if (seconds < 86400)
    std::snprintf(text, sizeof text, "%lldh %02lldm", static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds / 60 % 60));
  else
    std::snprintf(text, sizeof text, "%lldd %02lldh", static_cast<long long>(seconds / 86400),
                  static_cast<long long>(seconds / 3600 % 24));
  return text;
}

std::string format_size(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

// What the status file says about the daemon.
struct Daemon {
  std::string state;  // running | not_responding | not_running | unknown
  std::string why;    // for the text screen
  std::optional<system::DaemonStatus> status;
};

Daemon daemon_state(const config::Config& config, std::int64_t now) {
  auto file = config.data_dir / system::kStatusFileName;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (ec)
      return {"unknown", "cannot look for " + file.string() + ": " + ec.message(), std::nullopt};
    return {"not_running", "postroomd is not running (no " + file.string() + ")", std::nullopt};
  }
  auto text = read_small_file(file, 1 << 20);
  if (!text)
    return {"unknown",
            "cannot read " + file.string() + ": " + text.error().message +
                " (run postroom status as root or as postroomd's user)",
            std::nullopt};
  auto status = system::parse_status(*text);
  if (!status) return {"unknown", file.string() + ": " + status.error().message, std::nullopt};
  if (!system::is_postroomd(status->pid))
    return {"not_running",
            "postroomd is not running: process " + std::to_string(status->pid) +
                " is gone without a clean stop (last status " + format_time(status->updated_at) +
                ")",
            std::move(*status)};
  if (now - status->updated_at > kStaleAfterSeconds)
    return {"not_responding",
            "postroomd (pid " + std::to_string(status->pid) + ") is NOT RESPONDING: status last " +
                "written " + format_duration(now - status->updated_at) + " ago",
            std::move(*status)};
  return {"running",
          "running, pid " + std::to_string(status->pid) + ", up " +
              format_duration(now - status->started_at) + " (since " +
              format_time(status->started_at) + ")",
          std::move(*status)};
}

std::string protocol_of(const std::string& listener) {
  if (listener.starts_with("pop3")) return "pop3";
  if (listener.starts_with("http")) return "http";
  return "smtp";
}

// The configured listeners, for when no daemon reports the bound ones (port 0 stays 0).
std::vector<system::ListenerStatus> configured_listeners(const config::Config& config) {
  std::vector<system::ListenerStatus> out;
  const auto& l = config.listen;
  const std::pair<const char*, const std::vector<Endpoint>*> groups[] = {
      {"smtp", &l.smtp},  {"submission", &l.submission}, {"submissions", &l.submissions},
      {"pop3", &l.pop3},  {"pop3s", &l.pop3s},           {"http", &l.http},
      {"https", &l.https}};
  for (auto [name, endpoints] : groups) {
    std::string n = name;
    bool implicit = n == "submissions" || n == "pop3s" || n == "https";
    bool upgrade = config.tls && (n == "smtp" || n == "submission" || n == "pop3");
    for (const auto& e : *endpoints)
      out.push_back({n, e.str(), implicit ? "implicit" : upgrade ? "starttls" : "none"});
  }
  return out;
}

struct Certificate {
  std::string file;
  std::optional<std::int64_t> not_after;
  std::string subject;
  std::string error;
};

// The first certificate of the PEM file (the server's own in a full chain) and its end date.
Certificate read_certificate(const std::filesystem::path& file) {
  Certificate out{file.string(), std::nullopt, {}, {}};
  auto pem = read_small_file(file, 1 << 20);
  if (!pem) {
    out.error = pem.error().message;
    return out;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
  if (!cert) {
    out.error = "no PEM certificate in it";
    return out;
  }
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    out.error = "unreadable notAfter date";
    return out;
  }
  out.not_after = static_cast<std::int64_t>(timegm(&tm));
  char name[256] = {};
  X509_NAME_oneline(X509_get_subject_name(cert.get()), name, sizeof name);
  out.subject = name;
  return out;
}

// Whole days left, rounded down (negative once expired).
std::int64_t days_left(std::int64_t not_after, std::int64_t now) {
  std::int64_t left = not_after - now;
  return left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
}

// How full a mailbox is against its own limit, in whole percent of whichever of octets and
// messages is fuller.
int percent_full(const store::AccountSummary& a, const store::QuotaLimit& limit) {
  auto percent = [](std::int64_t used, const std::optional<std::int64_t>& max) {
    return max && *max > 0 ? static_cast<int>(used * 100 / *max) : 0;
  };
  return std::max(percent(a.bytes, limit.bytes), percent(a.messages, limit.messages));
}

// Mailboxes at or past the first warning level are listed by name.
constexpr int kNearlyFullPercent = 80;

json or_null(const std::optional<std::int64_t>& value) {
  return value ? json(*value) : json(nullptr);
}

}  // namespace

int status_command(Context& ctx) {
  if (!ctx.args.words.empty()) return usage_error("usage: postroom status [--json]");
  const auto& config = ctx.config;
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  auto daemon = daemon_state(config, now);
  bool live = daemon.state == "running" || daemon.state == "not_responding";

  auto admin = open_admin_store(config);
  if (!admin) return failure(admin.error().message);
  AdminStore& backend = **admin;
  auto accounts = backend.list_accounts();
  if (!accounts) return failure(accounts.error().message);
  auto queue = backend.queue_overview(kFailuresShown);
  if (!queue) return failure(queue.error().message);
  std::int64_t messages = 0, message_bytes = 0;
  for (const auto& a : *accounts) {
    messages += a.messages;
    message_bytes += a.bytes;
  }
  auto store_size = backend.store_size();
  if (!store_size) return failure(store_size.error().message);
  bool on_sqlite = store_size->backend == StoreSize::Backend::sqlite;
  auto limits = backend.mailbox_limits(quota_defaults(config));
  if (!limits) return failure(limits.error().message);
  std::size_t limited = 0;
  std::vector<std::pair<const store::AccountSummary*, int>> nearly_full;
  for (const auto& a : *accounts) {
    auto limit = limits->find(a.address);
    if (limit == limits->end() || !limit->second.any()) continue;
    ++limited;
    if (int p = percent_full(a, limit->second); p >= kNearlyFullPercent)
      nearly_full.emplace_back(&a, p);
  }
  auto listeners = live ? daemon.status->listeners : configured_listeners(config);
  std::optional<Certificate> cert;
  // With acme, the certificate in use is the one in data_dir/acme once there is one.
  auto acme_chain = config.acme_dir() / "cert.pem";
  std::error_code acme_ec;
  if (config.acme && std::filesystem::exists(acme_chain, acme_ec))
    cert = read_certificate(acme_chain);
  else if (config.tls)
    cert = read_certificate(config.tls->cert);
  std::optional<system::AcmeStatus> acme;
  if (config.acme && live && daemon.status->acme.enabled) acme = daemon.status->acme;

  // Delivery failures: the daemon's own (bounces included) and the queue's history, newest
  // first, each once.
  std::vector<system::DeliveryError> failures;
  if (daemon.status) failures = daemon.status->recent.delivery_errors;
  for (const auto& f : queue->recent_failures) {
    bool seen = std::any_of(failures.begin(), failures.end(), [&](const auto& g) {
      return g.at == f.at && g.queue_id == f.queue_id && g.recipient == f.recipient;
    });
    if (!seen) failures.push_back({f.at, f.queue_id, f.recipient, f.state, f.remote_host, f.reply});
  }
  std::stable_sort(failures.begin(), failures.end(),
                   [](const auto& a, const auto& b) { return a.at > b.at; });
  if (failures.size() > static_cast<std::size_t>(kFailuresShown)) failures.resize(kFailuresShown);

  if (ctx.args.has("--json")) {
    json out;
    out["version"] = POSTROOM_VERSION;
    json d;
    d["state"] = daemon.state;
    d["message"] = daemon.why;
    d["pid"] = daemon.status ? json(daemon.status->pid) : json(nullptr);
    d["version"] = daemon.status ? json(daemon.status->version) : json(nullptr);
    d["started_at"] = live ? json(daemon.status->started_at) : json(nullptr);
    d["uptime_seconds"] = live ? json(now - daemon.status->started_at) : json(nullptr);
    d["status_updated_at"] = daemon.status ? json(daemon.status->updated_at) : json(nullptr);
    out["daemon"] = d;
    out["listeners"] = json::array();
    for (const auto& l : listeners) {
      auto endpoint = parse_endpoint(l.endpoint);
      out["listeners"].push_back({{"name", l.name},
                                  {"protocol", protocol_of(l.name)},
                                  {"address", endpoint ? json(endpoint->host) : json(l.endpoint)},
                                  {"port", endpoint ? json(endpoint->port) : json(nullptr)},
                                  {"tls", l.tls},
                                  {"up", live}});
    }
    out["connections"] = {{"open", live ? json(daemon.status->connections) : json(nullptr)},
                          {"max", config.limits.max_connections}};
    out["mailboxes"] = {
        {"count", accounts->size()}, {"messages", messages}, {"bytes", message_bytes}};
    out["quota"] = {{"limited_mailboxes", limited}, {"nearly_full", json::array()}};
    for (const auto& [a, p] : nearly_full)
      out["quota"]["nearly_full"].push_back({{"address", a->address},
                                             {"percent", p},
                                             {"messages", a->messages},
                                             {"bytes", a->bytes}});
    out["store"] = {{"backend", on_sqlite ? "sqlite" : "postgresql"},
                    {"file", on_sqlite ? json(store_size->name) : json(nullptr)},
                    {"database", on_sqlite ? json(nullptr) : json(store_size->name)},
                    {"bytes", store_size->bytes}};
    json q = {{"recipients", queue->waiting_recipients},
              {"messages", queue->waiting_messages},
              {"deferred", queue->deferred_recipients},
              {"oldest_deferred", nullptr}};
    if (const auto& o = queue->oldest_deferred)
      q["oldest_deferred"] = {{"queue_id", o->queue_id},    {"recipient", o->recipient},
                              {"queued_at", o->queued_at},  {"age_seconds", now - o->queued_at},
                              {"attempts", o->attempts},    {"next_attempt", o->next_attempt},
                              {"last_reply", o->last_reply}};
    out["queue"] = q;
    if (cert) {
      out["certificate"] = {
          {"file", cert->file},
          {"subject", cert->subject.empty() ? json(nullptr) : json(cert->subject)},
          {"not_after", or_null(cert->not_after)},
          {"days_left", cert->not_after ? json(days_left(*cert->not_after, now)) : json(nullptr)},
          {"error", cert->error.empty() ? json(nullptr) : json(cert->error)}};
    } else {
      out["certificate"] = nullptr;
    }
    if (!config.acme) {
      out["acme"] = nullptr;
    } else if (!acme) {
      out["acme"] = {{"state", "unknown"}, {"names", config.acme_names()}};
    } else {
      out["acme"] = {
          {"state", acme->state},
          {"names", config.acme_names()},
          {"not_after", acme->not_after ? json(acme->not_after) : json(nullptr)},
          {"days_left", acme->not_after ? json(days_left(acme->not_after, now)) : json(nullptr)},
          {"renew_at", acme->renew_at ? json(acme->renew_at) : json(nullptr)},
          {"next_attempt", acme->next_attempt},
          {"failures", acme->failures},
          {"last_failure", acme->last_failure ? json(acme->last_failure) : json(nullptr)},
          {"error", acme->error.empty() ? json(nullptr) : json(acme->error)}};
    }
    if (live) {
      out["lockouts"] = json::array();
      for (const auto& e : daemon.status->recent.lockouts)
        out["lockouts"].push_back(
            {{"at", e.at}, {"kind", e.kind}, {"address", e.address}, {"user", e.user}});
    } else {
      out["lockouts"] = nullptr;  // only a running daemon knows them
    }
    out["delivery_errors"] = json::array();
    for (const auto& f : failures)
      out["delivery_errors"].push_back({{"at", f.at},
                                        {"queue_id", f.queue_id},
                                        {"recipient", f.recipient},
                                        {"state", f.state},
                                        {"remote_host", f.remote_host},
                                        {"reply", f.reply}});
    // Replies and login names come from the network: invalid UTF-8 is replaced, not fatal.
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return daemon.state == "running" ? kOk : kFailed;
  }

  std::cout << "postroom " << POSTROOM_VERSION << "\n";
  std::cout << "daemon:       " << (daemon.state == "not_running" ? "NOT RUNNING: " : "")
            << daemon.why << "\n";
  std::cout << "listeners:" << (live ? "" : "    (configured; nothing is listening)") << "\n";
  for (const auto& l : listeners) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-12s %-24s %-5s %s", l.name.c_str(), l.endpoint.c_str(),
                  protocol_of(l.name).c_str(), l.tls == "none" ? "no TLS" : l.tls.c_str());
    std::cout << line << "\n";
  }
  if (live)
    std::cout << "connections:  " << daemon.status->connections << " open (limit "
              << config.limits.max_connections << ")\n";
  std::cout << "mailboxes:    " << accounts->size() << " (" << messages << " messages, "
            << format_size(static_cast<std::uint64_t>(message_bytes)) << ")\n";
  std::cout << "quotas:       " << limited << " mailbox(es) limited, " << nearly_full.size()
            << " at " << kNearlyFullPercent << "% or more\n";
  for (const auto& [a, p] : nearly_full)
    std::cout << "  " << a->address << " " << p << "% full (" << a->messages << " messages, "
              << format_size(static_cast<std::uint64_t>(a->bytes)) << ")\n";
  std::cout << "store:        " << (on_sqlite ? "" : "PostgreSQL database ") << store_size->name
            << ", " << format_size(store_size->bytes) << "\n";
  std::cout << "queue:        " << queue->waiting_recipients << " recipient(s) in "
            << queue->waiting_messages << " message(s), " << queue->deferred_recipients
            << " deferred\n";
  if (const auto& o = queue->oldest_deferred) {
    std::cout << "  oldest deferred: " << o->queue_id << " to " << o->recipient << ", queued "
              << format_time(o->queued_at) << " (" << format_duration(now - o->queued_at)
              << " ago), " << o->attempts << " attempt(s), next " << format_time(o->next_attempt)
              << "\n  last reply: " << o->last_reply << "\n";
  }
  if (!cert) {
    std::cout << "certificate:  none (no tls section)\n";
  } else if (!cert->not_after) {
    std::cout << "certificate:  " << cert->file << ": " << cert->error << "\n";
  } else {
    auto days = days_left(*cert->not_after, now);
    std::cout << "certificate:  " << cert->file << ": "
              << (days < 0 ? "EXPIRED " + std::to_string(-days) + " day(s) ago"
                           : std::to_string(days) + " day(s) left")
              << " (until " << format_time(*cert->not_after) << ")"
              << (days >= 0 && days < 14 ? "  RENEW SOON" : "") << "\n";
  }
  if (config.acme) {
    if (!acme) {
      std::cout << "acme:         unknown (postroomd is not running)\n";
    } else if (acme->state == "failing") {
      std::cout << "acme:         FAILING: " << acme->failures << " attempt(s) failed, last "
                << format_time(acme->last_failure) << ": " << acme->error << "\n";
      std::cout << "  next attempt " << format_time(acme->next_attempt) << "; "
                << (acme->not_after ? std::to_string(days_left(acme->not_after, now)) +
                                          " day(s) left on the ACME certificate"
                                    : std::string("no ACME certificate yet"))
                << "\n";
    } else if (acme->state == "valid") {
      std::cout << "acme:         certificate valid " << days_left(acme->not_after, now)
                << " more day(s), renewal due " << format_time(acme->renew_at) << "\n";
    } else {
      std::cout << "acme:         obtaining the first certificate\n";
    }
  }
  if (!live) {
    std::cout << "lockouts:     unknown (postroomd is not running)\n";
  } else if (daemon.status->recent.lockouts.empty()) {
    std::cout << "lockouts:     none since start\n";
  } else {
    std::cout << "lockouts:     (newest first)\n";
    for (const auto& e : daemon.status->recent.lockouts)
      std::cout << "  " << format_time(e.at) << " " << e.kind << " " << e.address << " user "
                << e.user << "\n";
  }
  if (failures.empty()) {
    std::cout << "delivery errors: none\n";
  } else {
    std::cout << "delivery errors: (newest first)\n";
    for (const auto& f : failures)
      std::cout << "  " << format_time(f.at) << " " << f.queue_id << " " << f.recipient << " "
                << f.state << " " << (f.remote_host.empty() ? "-" : f.remote_host) << " " << f.reply
                << "\n";
  }
  return daemon.state == "running" ? kOk : kFailed;
}

}  // namespace postroom::cli
