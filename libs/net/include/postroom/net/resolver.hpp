// Asynchronous DNS on the loop: c-ares sockets watched by uv_poll_t, its timeouts by a uv_timer_t.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "postroom/base/endpoint.hpp"
#include "postroom/base/error.hpp"

namespace postroom::net {

// What a lookup found. `no_data`: the name exists but has no record of the type
// (RFC 2308 NODATA); `not_found`: the name does not exist (NXDOMAIN). Both are
// answers, not failures; `temporary` (timeout, SERVFAIL, refused) is a failure
// worth retrying later (RFC 5321 §5.1: a lookup that cannot complete defers).
enum class DnsStatus { ok, no_data, not_found, temporary };

struct MxAnswer {
  std::uint16_t preference = 0;
  std::string host;  // without the trailing dot; "" for the root (a null MX, RFC 7505)
};

struct MxResult {
  DnsStatus status = DnsStatus::temporary;
  std::vector<MxAnswer> records;
  std::string error;  // c-ares' words when status is not ok
};

struct AddressResult {
  DnsStatus status = DnsStatus::temporary;
  std::vector<sockaddr_storage> addresses;  // IPv4 and IPv6, port 0
  std::string error;
};

struct TxtResult {
  DnsStatus status = DnsStatus::temporary;
  // One entry per TXT record, its character-strings joined without separator (RFC 7208
  // §3.3, RFC 6376 §3.6.2.2).
  std::vector<std::string> records;
  std::string error;
};

struct NameResult {
  DnsStatus status = DnsStatus::temporary;
  std::vector<std::string> names;  // without the trailing dot
  std::string error;
};

// Owns one c-ares channel. Callbacks run on the loop thread, never from inside a
// Resolver call and never from inside c-ares (they are dispatched from a zero-delay
// timer), so a callback may start new queries or destroy the Resolver. Destroying the
// Resolver cancels every pending query without calling its callback. Handles are
// freed in their close callbacks, so destruction is safe at any point on the loop thread.
class Resolver {
 public:
  // `servers` empty: the system's resolv.conf. Otherwise only these servers, with their
  // ports (a test's dnsmasq listens on a high port).
  static Result<std::unique_ptr<Resolver>> create(uv_loop_t* loop,
                                                  const std::vector<Endpoint>& servers);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void query_mx(const std::string& domain, std::function<void(MxResult)> done);
  // A and AAAA records of `host`; a numeric address answers at once (still asynchronously).
  void query_addresses(const std::string& host, std::function<void(AddressResult)> done);
  // TXT records of `name` (SPF, DKIM keys, DMARC, MTA-STS, DNS blocklist texts).
  void query_txt(const std::string& name, std::function<void(TxtResult)> done);
  // Only the A (AF_INET) or only the AAAA (AF_INET6) records of `name`, from DNS alone (no
  // hosts file): SPF's a and mx mechanisms look up the client's address family (RFC 7208 §5).
  void query_address_records(const std::string& name, int family,
                             std::function<void(AddressResult)> done);
  // PTR records of a reverse name ("4.3.2.1.in-addr.arpa"): SPF's ptr mechanism and %{p}.
  void query_ptr(const std::string& name, std::function<void(NameResult)> done);

  // Queries started and not yet answered (for tests).
  std::size_t pending() const { return pending_; }

  // Turns an ares_query reply (status, answer bytes) into the completion to run.
  using Answer =
      std::function<std::function<void()>(int status, unsigned char* answer, int length)>;

 private:
  struct Poll;   // one watched c-ares socket (resolver.cpp)
  struct Query;  // one query's callback and the way back to this Resolver

  explicit Resolver(uv_loop_t* loop);
  static void on_socket_state(void* data, int socket, int readable, int writable);
  // Lets c-ares read/write `read_fd` / `write_fd` (either may be ARES_SOCKET_BAD) and
  // handle timeouts, then re-arms the timer.
  void process(int read_fd, int write_fd);
  void rearm_timer();
  void send_query(const std::string& name, int type, Answer answer);
  void complete(std::function<void()> callback);
  void dispatch();

  uv_loop_t* loop_;
  void* channel_ = nullptr;         // ares_channel, opaque so users need not include ares.h
  uv_timer_t* timer_ = nullptr;     // ares_timeout(); freed in its close callback
  uv_timer_t* dispatch_ = nullptr;  // zero-delay timer that runs finished callbacks
  std::unordered_map<int, Poll*> polls_;
  std::vector<std::function<void()>> finished_;
  std::size_t pending_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace postroom::net
