// Shared services for connections: thread-pool reads, group-commit writes, counters.
#include "postroom/service/context.hpp"

#include <algorithm>
#include <memory>

#include "postroom/net/handles.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::service {

ConnectionCounter::Verdict ConnectionCounter::admit(std::uint64_t id, const std::string& ip,
                                                    bool office, const config::Limits& limits) {
  if (slots_.size() >= limits.max_connections) return Verdict::too_many;
  auto count = per_ip_.find(ip);
  if (count != per_ip_.end() && count->second >= limits.max_connections_per_ip)
    return Verdict::too_many_from_ip;
  std::size_t reserved = std::min(limits.reserved(), limits.max_connections - 1);
  if (!office && public_ >= limits.max_connections - reserved) return Verdict::public_share_full;
  ++per_ip_[ip];
  slots_.emplace(id, Slot{ip, !office});
  public_ += !office;
  return Verdict::admitted;
}

void ConnectionCounter::logged_in(std::uint64_t id) {
  auto it = slots_.find(id);
  if (it == slots_.end() || !it->second.in_public_share) return;
  it->second.in_public_share = false;
  --public_;
}

void ConnectionCounter::release(std::uint64_t id) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  public_ -= it->second.in_public_share;
  auto count = per_ip_.find(it->second.ip);
  if (--count->second == 0) per_ip_.erase(count);
  slots_.erase(it);
}

bool Context::plaintext_allowed(const net::Connection& connection) const {
  using config::PlaintextPolicy;
  if (connection.tls_active()) return true;
  switch (config->auth.plaintext_without_tls) {
    case PlaintextPolicy::always:
      return true;
    case PlaintextPolicy::never:
      return false;
    case PlaintextPolicy::trusted_networks:
      return config->is_trusted(connection.peer());
  }
  return false;
}

std::string Context::new_session_id() {
  // Unique within the process and unlikely to repeat across restarts.
  static const std::string boot = store::random_token(3);
  return boot + std::to_string(next_session++);
}

}  // namespace postroom::service
