// What every served connection shares: config, TLS, store access, auth, locks, limits.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/config/config.hpp"
#include "postroom/http/metrics.hpp"
#include "postroom/net/connection.hpp"
#include "postroom/net/tls.hpp"
#include "postroom/service/mailbox_locks.hpp"
#include "postroom/service/message_filter.hpp"
#include "postroom/system/daemon_status.hpp"

namespace postroom::store {
class MailStore;
}  // namespace postroom::store

namespace postroom::net {
class Resolver;
}  // namespace postroom::net

namespace postroom::relay {
class Srs;
}  // namespace postroom::relay

namespace postroom::service {

class AuthService;
class AccessLists;
class RetentionService;
struct HttpSite;

// Connections counted per source address across all listeners (interface.md), and the
// public share: connections neither from trusted_networks nor logged in may hold at most
// max_connections - reserved slots, so a flood from outside never takes the last slots
// the office needs.
class ConnectionCounter {
 public:
  enum class Verdict { admitted, too_many, too_many_from_ip, public_share_full };
  // Counts connection `id` from `ip`; `office` when the peer is in trusted_networks.
  Verdict admit(std::uint64_t id, const std::string& ip, bool office, const config::Limits& limits);
  // The session logged in: its slot leaves the public share.
  void logged_in(std::uint64_t id);
  void release(std::uint64_t id);
  std::size_t total() const { return slots_.size(); }
  std::size_t in_public_share() const { return public_; }

 private:
  struct Slot {
    std::string ip;
    bool in_public_share = false;
  };
  std::unordered_map<std::uint64_t, Slot> slots_;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::size_t public_ = 0;
};

struct Context {
  uv_loop_t* loop = nullptr;
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<net::TlsContext> tls;  // null when the config has no tls section
  store::MailStore* store = nullptr;
  AuthService* auth = nullptr;
  MailboxLocks locks;
  ConnectionCounter connections;
  std::function<void()> wake_relay;  // new mail was queued: the relay should look now
  // DNS for the checks made while mail arrives (relay.dns_servers, or resolv.conf); may be
  // null when it could not be started.
  std::shared_ptr<net::Resolver> resolver;
  // Every message received by SMTP passes these, in order (message_filter.hpp); each
  // factory decides whether it has anything to do for the message.
  std::vector<FilterFactory> filters;
  // Sender rewriting for forwarded mail (srs_routing.hpp); null when relay.srs is off.
  std::shared_ptr<const relay::Srs> srs;
  // The allow and block lists (`postroom allow|block`), refreshed every 2 s; null until the
  // store is open.
  std::shared_ptr<AccessLists> access;
  // Retention and LOGIN-DELAY (retention_service.hpp); null until the store is open.
  std::shared_ptr<RetentionService> retention;
  std::uint64_t next_session = 1;
  // Counters for /metrics, incremented where each event happens.
  http::Metrics metrics;
  // The last lockouts and delivery errors, for `postroom status` (status_reporter.hpp).
  system::RecentEvents recent;
  // What the HTTP listeners answer with (http_connection.hpp); null until the store is open.
  std::shared_ptr<const HttpSite> http;

  // ACME challenge answers being served (acme_service.hpp): http-01 token -> key
  // authorization, and tls-alpn-01 certificates; null without an acme section.
  std::shared_ptr<std::map<std::string, std::string, std::less<>>> acme_http;
  std::shared_ptr<net::AcmeAlpnCertificates> acme_alpn;
  // The ACME certificate's state for `postroom status`.
  system::AcmeStatus acme_status;

  std::string new_session_id();
  // auth.plaintext_without_tls applied to one connection: may a password cross it now?
  bool plaintext_allowed(const net::Connection& connection) const;
};

}  // namespace postroom::service
