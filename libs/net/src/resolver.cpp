// c-ares on the libuv loop: MX and A/AAAA lookups that never block the loop thread.
#include "postroom/net/resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <cstring>
#include <mutex>

namespace postroom::net {

namespace {

ares_channel as_channel(void* channel) {
  return static_cast<ares_channel>(channel);
}

// c-ares retries each server; a lookup that cannot finish in about 6 s defers the
// delivery rather than holding a relay slot (RFC 5321 §5.1 treats it as temporary).
constexpr int kTimeoutMs = 2000;
constexpr int kTries = 3;

DnsStatus status_of(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsStatus::ok;
    case ARES_ENODATA:
      return DnsStatus::no_data;
    case ARES_ENOTFOUND:
      return DnsStatus::not_found;
    default:
      return DnsStatus::temporary;
  }
}

std::string strip_root(std::string host) {
  if (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

}  // namespace

struct Resolver::Poll {
  uv_poll_t handle;  // first member: the close callback casts the handle back to Poll
  int fd = -1;
};

struct Resolver::Query {
  Resolver* resolver = nullptr;
  std::weak_ptr<bool> alive;  // expired once the Resolver is being destroyed
  Answer answer;              // ares_query: parses the reply into the caller's result
  std::function<void(AddressResult)> address_done;  // ares_getaddrinfo
};

Resolver::Resolver(uv_loop_t* loop) : loop_(loop) {}

Result<std::unique_ptr<Resolver>> Resolver::create(uv_loop_t* loop,
                                                   const std::vector<Endpoint>& servers) {
  static std::once_flag library_once;
  static int library_status = ARES_SUCCESS;
  std::call_once(library_once, [] { library_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (library_status != ARES_SUCCESS)
    return fail(std::string("c-ares: ") + ares_strerror(library_status));

  std::unique_ptr<Resolver> resolver(new Resolver(loop));
  ares_options options{};
  options.sock_state_cb = &Resolver::on_socket_state;
  options.sock_state_cb_data = resolver.get();
  options.timeout = kTimeoutMs;
  options.tries = kTries;
  // No search domains: the relay only looks up fully qualified names.
  options.domains = nullptr;
  options.ndomains = 0;
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS;
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &options, mask);
  if (rc != ARES_SUCCESS) return fail(std::string("c-ares: ") + ares_strerror(rc));
  resolver->channel_ = channel;

  if (!servers.empty()) {
    std::string csv;
    for (const Endpoint& server : servers) {
      Endpoint e = server;
      if (e.port == 0) e.port = 53;
      csv += (csv.empty() ? "" : ",") + e.str();
    }
    rc = ares_set_servers_ports_csv(channel, csv.c_str());
    if (rc != ARES_SUCCESS)
      return fail("c-ares: bad dns_servers " + csv + ": " + ares_strerror(rc));
  }

  resolver->timer_ = new uv_timer_t{};
  uv_timer_init(loop, resolver->timer_);
  resolver->timer_->data = resolver.get();
  resolver->dispatch_ = new uv_timer_t{};
  uv_timer_init(loop, resolver->dispatch_);
  resolver->dispatch_->data = resolver.get();
  return resolver;
}

Resolver::~Resolver() {
  alive_.reset();  // callbacks c-ares runs from here on find the Resolver gone
  finished_.clear();
  // ares_destroy ends every query (their callbacks see the expired token and only free
  // their state) and reports each socket closed through on_socket_state.
  if (channel_) ares_destroy(as_channel(channel_));
  channel_ = nullptr;
  for (auto& [fd, poll] : polls_) {
    poll->handle.data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle),
             [](uv_handle_t* h) { delete reinterpret_cast<Poll*>(h); });
  }
  polls_.clear();
  for (uv_timer_t* timer : {timer_, dispatch_}) {
    if (!timer) continue;
    timer->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(timer),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
  timer_ = dispatch_ = nullptr;
}

void Resolver::on_socket_state(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<Resolver*>(data);
  auto it = self->polls_.find(fd);
  if (!readable && !writable) {
    // c-ares is about to close the socket: stop watching it first.
    if (it == self->polls_.end()) return;
    Poll* poll = it->second;
    self->polls_.erase(it);
    poll->handle.data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle),
             [](uv_handle_t* h) { delete reinterpret_cast<Poll*>(h); });
    return;
  }
  Poll* poll = nullptr;
  if (it != self->polls_.end()) {
    poll = it->second;
  } else {
    poll = new Poll{};
    poll->fd = fd;
    if (uv_poll_init_socket(self->loop_, &poll->handle, fd) != 0) {
      delete poll;  // never initialized: libuv holds no reference
      return;       // c-ares times the query out
    }
    poll->handle.data = self;
    self->polls_.emplace(fd, poll);
  }
  int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  uv_poll_start(&poll->handle, events, [](uv_poll_t* h, int status, int ready) {
    auto* resolver = static_cast<Resolver*>(h->data);
    if (!resolver) return;
    int socket = reinterpret_cast<Poll*>(h)->fd;
    if (status < 0) {
      // A socket error: let c-ares find it by reading and writing, and close the socket.
      resolver->process(socket, socket);
      return;
    }
    resolver->process((ready & UV_READABLE) ? socket : ARES_SOCKET_BAD,
                      (ready & UV_WRITABLE) ? socket : ARES_SOCKET_BAD);
  });
}

void Resolver::process(int read_fd, int write_fd) {
  if (!channel_) return;
  ares_process_fd(as_channel(channel_), read_fd, write_fd);
  rearm_timer();
}

void Resolver::rearm_timer() {
  if (!channel_ || !timer_) return;
  timeval tv{};
  if (!ares_timeout(as_channel(channel_), nullptr, &tv)) {
    uv_timer_stop(timer_);  // nothing pending: the timer must not keep the loop alive
    return;
  }
  auto ms =
      static_cast<std::uint64_t>(tv.tv_sec) * 1000 + static_cast<std::uint64_t>(tv.tv_usec) / 1000;
  uv_timer_start(
      timer_,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<Resolver*>(t->data))
          self->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      },
      ms + 1, 0);
}

void Resolver::complete(std::function<void()> callback) {
  finished_.push_back(std::move(callback));
  uv_timer_start(
      dispatch_,
      [](uv_timer_t* t) {
        if (auto* self = static_cast<Resolver*>(t->data)) self->dispatch();
      },
      0, 0);
}

void Resolver::dispatch() {
  auto ready = std::move(finished_);
  finished_.clear();
  std::weak_ptr<bool> alive = alive_;
  for (auto& callback : ready) {
    callback();
    if (alive.expired()) return;  // a callback destroyed the Resolver
  }
}

namespace {

// One answer handler per record type: the status and error handling every type shares,
// around `parse`, which fills `result` from a successful reply and returns c-ares' status.
template <typename R, typename Parse>
Resolver::Answer parse_into(std::function<void(R)> done, Parse parse) {
  return [done = std::move(done), parse](int status, unsigned char* answer,
                                         int length) -> std::function<void()> {
    R result;
    result.status = status_of(status);
    if (status == ARES_SUCCESS) {
      int parsed = parse(answer, length, result);
      result.status = status_of(parsed);
      if (parsed != ARES_SUCCESS) result.error = ares_strerror(parsed);
    } else {
      result.error = ares_strerror(status);
    }
    return [done, result = std::move(result)]() mutable { done(std::move(result)); };
  };
}

}  // namespace

void Resolver::send_query(const std::string& name, int type, Answer answer) {
  auto* query = new Query{this, alive_, std::move(answer), nullptr};
  ++pending_;
  ares_query(
      as_channel(channel_), name.c_str(), ns_c_in, type,
      [](void* arg, int status, int, unsigned char* answer, int length) {
        std::unique_ptr<Query> q(static_cast<Query*>(arg));
        if (q->alive.expired()) return;
        auto finished = q->answer(status, answer, length);
        Resolver* self = q->resolver;
        --self->pending_;
        self->complete(std::move(finished));
      },
      query);
  rearm_timer();
}

void Resolver::query_mx(const std::string& domain, std::function<void(MxResult)> done) {
  send_query(domain, ns_t_mx,
             parse_into(std::move(done), [](unsigned char* answer, int length, MxResult& result) {
               ares_mx_reply* replies = nullptr;
               int parsed = ares_parse_mx_reply(answer, length, &replies);
               for (auto* r = replies; parsed == ARES_SUCCESS && r; r = r->next)
                 result.records.push_back({r->priority, strip_root(r->host ? r->host : "")});
               ares_free_data(replies);
               return parsed;
             }));
}

void Resolver::query_txt(const std::string& name, std::function<void(TxtResult)> done) {
  send_query(name, ns_t_txt,
             parse_into(std::move(done), [](unsigned char* answer, int length, TxtResult& result) {
               ares_txt_ext* replies = nullptr;
               int parsed = ares_parse_txt_reply_ext(answer, length, &replies);
               for (auto* r = replies; parsed == ARES_SUCCESS && r; r = r->next) {
                 if (r->record_start || result.records.empty()) result.records.emplace_back();
                 result.records.back().append(reinterpret_cast<const char*>(r->txt), r->length);
               }
               ares_free_data(replies);
               return parsed;
             }));
}

void Resolver::query_address_records(const std::string& name, int family,
                                     std::function<void(AddressResult)> done) {
  auto parse = [family](unsigned char* answer, int length, AddressResult& result) {
    hostent* host = nullptr;
    int parsed = family == AF_INET6 ? ares_parse_aaaa_reply(answer, length, &host, nullptr, nullptr)
                                    : ares_parse_a_reply(answer, length, &host, nullptr, nullptr);
    if (parsed == ARES_SUCCESS && host) {
      for (char** a = host->h_addr_list; a && *a; ++a) {
        sockaddr_storage address{};
        if (family == AF_INET6) {
          auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
          in6->sin6_family = AF_INET6;
          std::memcpy(&in6->sin6_addr, *a, sizeof in6->sin6_addr);
        } else {
          auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
          in4->sin_family = AF_INET;
          std::memcpy(&in4->sin_addr, *a, sizeof in4->sin_addr);
        }
        result.addresses.push_back(address);
      }
    }
    if (host) ares_free_hostent(host);
    // An answer of only CNAMEs parses with no address: the name has no such record.
    if (parsed == ARES_SUCCESS && result.addresses.empty()) return int{ARES_ENODATA};
    return parsed;
  };
  send_query(name, family == AF_INET6 ? ns_t_aaaa : ns_t_a, parse_into(std::move(done), parse));
}

void Resolver::query_ptr(const std::string& name, std::function<void(NameResult)> done) {
  send_query(name, ns_t_ptr,
             parse_into(std::move(done), [](unsigned char* answer, int length, NameResult& result) {
               hostent* host = nullptr;
               int parsed = ares_parse_ptr_reply(answer, length, nullptr, 0, AF_INET, &host);
               if (parsed == ARES_SUCCESS && host) {
                 // c-ares lists every PTR record in h_aliases, in answer order, and repeats
                 // the last one in h_name.
                 for (char** alias = host->h_aliases; alias && *alias; ++alias)
                   result.names.push_back(strip_root(*alias));
                 if (result.names.empty() && host->h_name)
                   result.names.push_back(strip_root(host->h_name));
               }
               if (host) ares_free_hostent(host);
               return parsed;
             }));
}

void Resolver::query_addresses(const std::string& host, std::function<void(AddressResult)> done) {
  // c-ares 1.18 sends a numeric host to the DNS servers as a name (A and AAAA queries) before
  // it gives up and parses it: with a DNS server that does not answer, a smarthost configured
  // by address waited out every timeout. A literal needs no DNS.
  AddressResult literal;
  sockaddr_storage address{};
  auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
  }
  if (address.ss_family != AF_UNSPEC) {
    literal.status = DnsStatus::ok;
    literal.addresses.push_back(address);
    return complete([done = std::move(done), literal = std::move(literal)]() mutable {
      done(std::move(literal));
    });
  }
  auto* query = new Query{this, alive_, nullptr, std::move(done)};
  ++pending_;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // No address sorting: it probes routes with connect(2) on the loop thread.
  hints.ai_flags = ARES_AI_NOSORT;
  ares_getaddrinfo(
      as_channel(channel_), host.c_str(), nullptr, &hints,
      [](void* arg, int status, int, ares_addrinfo* info) {
        std::unique_ptr<Query> q(static_cast<Query*>(arg));
        AddressResult result;
        result.status = status_of(status);
        if (status == ARES_SUCCESS && info) {
          for (auto* node = info->nodes; node; node = node->ai_next) {
            if (node->ai_family != AF_INET && node->ai_family != AF_INET6) continue;
            sockaddr_storage address{};
            std::memcpy(&address, node->ai_addr,
                        std::min<std::size_t>(node->ai_addrlen, sizeof address));
            result.addresses.push_back(address);
          }
          if (result.addresses.empty()) result.status = DnsStatus::no_data;
        } else if (status != ARES_SUCCESS) {
          result.error = ares_strerror(status);
        }
        if (info) ares_freeaddrinfo(info);
        if (q->alive.expired()) return;
        Resolver* self = q->resolver;
        --self->pending_;
        self->complete([done = std::move(q->address_done), result = std::move(result)]() mutable {
          done(std::move(result));
        });
      },
      query);
  rearm_timer();
}

}  // namespace postroom::net
