// Shared services for connections: thread-pool reads, group-commit writes, counters.
#include "postroom/service/context.hpp"

#include <memory>

#include "postroom/net/handles.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/writer.hpp"

namespace postroom::service {

bool ConnectionCounter::admit(const std::string& ip, std::size_t max_total,
                              std::size_t max_per_ip) {
  auto& count = per_ip_[ip];
  if (total_ >= max_total || count >= max_per_ip) {
    if (count == 0) per_ip_.erase(ip);
    return false;
  }
  ++count;
  ++total_;
  return true;
}

void ConnectionCounter::release(const std::string& ip) {
  auto it = per_ip_.find(ip);
  if (it == per_ip_.end()) return;
  --total_;
  if (--it->second == 0) per_ip_.erase(it);
}

void Context::read(std::function<Result<void>(store::Database&)> read,
                   std::function<void(Result<void>)> done) {
  auto result = std::make_shared<Result<void>>();
  net::queue_work(
      loop, [this, read = std::move(read), result] { *result = reads->with(read); },
      [done = std::move(done), result] { done(std::move(*result)); });
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
