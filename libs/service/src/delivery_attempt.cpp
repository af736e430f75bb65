// One relay delivery attempt on the loop: performs relay::Attempt's actions (DNS, TLS policy
// lookups, TCP, TLS with its certificate check) and streams the body from the store.
#include "delivery_attempt.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <variant>

#include "postroom/base/address.hpp"
#include "postroom/base/endpoint.hpp"
#include "postroom/base/file.hpp"
#include "postroom/base/log.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/relay/header_section.hpp"
#include "postroom/relay/mx.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"
#include "tls_policy_source.hpp"

namespace postroom::service {

namespace {

// Above this many octets waiting for the socket, the body stops being read from the
// store until the peer has taken them (back-pressure, style.md §9).
constexpr std::size_t kBodyHighWater = 256 * 1024;

// RFC 5321 §4.4: Return-Path is added at final delivery; a relay must not pass on the
// one our local delivery stored. Returns the length of that first line, or 0.
std::size_t return_path_length(std::string_view chunk) {
  constexpr std::string_view kName = "return-path:";
  if (chunk.size() < kName.size()) return 0;
  for (std::size_t i = 0; i < kName.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(chunk[i])) != kName[i]) return 0;
  auto end = chunk.find('\n');
  return end == std::string_view::npos ? 0 : end + 1;
}

// The password file holds the password; a trailing line end is not part of it.
std::optional<std::string> read_password(const std::filesystem::path& file) {
  // No iostreams: a directory put in the file's place makes libstdc++ throw from a read.
  // read_small_file reads into one buffer of the file's size: no copy left unwiped.
  auto content = read_small_file(file, 64 * 1024);
  if (!content) return std::nullopt;
  std::string password = std::move(*content);
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
    password.pop_back();
  return password;
}

std::optional<sockaddr_storage> socket_address(const std::string& ip, std::uint16_t port) {
  sockaddr_storage address{};
  if (uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&address)) == 0) return address;
  if (uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&address)) == 0) return address;
  return std::nullopt;
}

relay::LookupStatus lookup_status(net::DnsStatus status) {
  switch (status) {
    case net::DnsStatus::ok:
      return relay::LookupStatus::ok;
    case net::DnsStatus::no_data:
      return relay::LookupStatus::no_data;
    case net::DnsStatus::not_found:
      return relay::LookupStatus::not_found;
    case net::DnsStatus::temporary:
      break;
  }
  return relay::LookupStatus::temporary;
}

net::PeerCheck peer_check(const relay::TlsCheck& check) {
  net::PeerCheck out;
  switch (check.kind) {
    case relay::TlsCheck::Kind::none:
      out.kind = net::PeerCheck::Kind::none;
      break;
    case relay::TlsCheck::Kind::pkix:
      out.kind = net::PeerCheck::Kind::pkix;
      break;
    case relay::TlsCheck::Kind::dane:
      out.kind = net::PeerCheck::Kind::dane;
      break;
  }
  out.enforce = check.enforce;
  out.names = check.names;
  for (const auto& t : check.tlsa) out.tlsa.push_back({t.usage, t.selector, t.matching, t.data});
  return out;
}

std::size_t random_index(std::size_t n) {
  thread_local std::mt19937 generator{std::random_device{}()};
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(generator);
}

}  // namespace

DeliveryAttempt::DeliveryAttempt(Context& context, std::shared_ptr<net::Resolver> resolver,
                                 AttemptTarget target, AttemptJob job, AttemptTimeouts timeouts)
    : context_(context),
      resolver_(std::move(resolver)),
      target_(std::move(target)),
      job_(std::move(job)),
      timeouts_(timeouts),
      timer_(context.loop) {}

DeliveryAttempt::~DeliveryAttempt() {
  if (connection_) connection_->close("attempt ended");
  if (password_) wipe(*password_);
}

template <class F>
auto DeliveryAttempt::guarded(F f) {
  return [weak = weak_from_this(), f = std::move(f)](auto&&... args) {
    auto self = weak.lock();
    if (!self || self->done_) return;
    f(*self, std::forward<decltype(args)>(args)...);
  };
}

void DeliveryAttempt::start() {
  // Chunk 0 comes first: its Return-Path line changes the SIZE= we announce, and its
  // header section is what a bounce quotes. The password file is read here too, off the
  // loop, so a changed password applies without a reload.
  context_.store->read_chunk(
      job_.content_id, 0,
      guarded([](DeliveryAttempt& self, Result<std::optional<std::string>> first) {
        if (!first)
          return self.report(relay::results_for_all(self.job_.recipients, relay::Outcome::temporary,
                                                    "4.3.0 " + first.error().message));
        std::string chunk = *first ? std::move(**first) : std::string();
        self.read_password_then(std::move(chunk));
      }));
}

void DeliveryAttempt::read_password_then(std::string first_chunk) {
  if (!target_.username || !target_.password_file) return prepared(std::move(first_chunk), {});
  auto password = std::make_shared<std::optional<std::string>>();
  auto file = *target_.password_file;
  auto chunk = std::make_shared<std::string>(std::move(first_chunk));
  net::queue_work(
      context_.loop, [password, file] { *password = read_password(file); },
      guarded([password, file, chunk](DeliveryAttempt& self) {
        if (!*password)
          return self.report(relay::results_for_all(self.job_.recipients, relay::Outcome::temporary,
                                                    "4.3.0 cannot read " + file.string()));
        self.prepared(std::move(*chunk), std::move(*password));
      }));
}

void DeliveryAttempt::load_first_chunk(std::string first_chunk) {
  return_path_size_ = return_path_length(first_chunk);
  first_chunk_ = first_chunk.substr(return_path_size_);
  relay::HeaderSectionReader headers;
  if (!headers.feed(first_chunk_)) headers.finish();
  headers_ = headers.headers();
  headers_truncated_ = headers.truncated();
}

relay::Envelope DeliveryAttempt::envelope() const {
  relay::Envelope envelope;
  envelope.sender = job_.sender;
  envelope.recipients = job_.recipients;
  envelope.size = job_.size > return_path_size_ ? job_.size - return_path_size_ : job_.size;
  envelope.needs_smtputf8 = job_.smtputf8;
  envelope.body_8bit = job_.body_8bit;
  return envelope;
}

void DeliveryAttempt::prepared(std::string first_chunk, std::optional<std::string> password) {
  load_first_chunk(std::move(first_chunk));
  password_ = std::move(password);
  auto temporary = [&](const std::string& text) {
    report(relay::results_for_all(job_.recipients, relay::Outcome::temporary, text));
  };
  if (!resolver_) return temporary("4.4.3 no DNS resolver available");
  if (target_.tls == relay::TlsMode::implicit && !target_.tls_context)
    return temporary("4.7.0 no TLS client context for the smarthost (see the log)");
  relay::AttemptParams params;
  params.direct = target_.direct;
  params.destination = target_.host;
  params.port = target_.port;
  params.smarthost_tls = target_.tls;
  params.tls_available = target_.tls_context != nullptr;
  params.use_mta_sts = target_.direct && target_.policies && target_.policies->mta_sts_enabled();
  params.use_dane = target_.direct && target_.policies && target_.policies->dane_enabled();
  params.random_index = random_index;
  params.reuse = target_.reuse;
  params.now = [] { return std::chrono::steady_clock::now(); };
  auto& client = params.client;
  client.hostname = context_.config->hostname;
  if (target_.username)
    client.credentials = relay::Credentials{*target_.username, password_.value_or("")};
  client.envelope = envelope();
  core_.emplace(std::move(params));
  core_->start();
  drive();
}

void DeliveryAttempt::drive() {
  if (driving_) return;
  driving_ = true;
  while (core_ && !done_) {
    auto actions = core_->take_actions();
    if (actions.empty()) break;
    for (auto& action : actions) {
      if (done_) break;
      perform(action);
    }
  }
  driving_ = false;
}

void DeliveryAttempt::perform(relay::AttemptAction& action) {
  if (auto* mx = std::get_if<relay::LookupMx>(&action)) {
    resolver_->query_mx(mx->domain, guarded([](DeliveryAttempt& self, net::MxResult result) {
                          relay::MxLookup lookup{lookup_status(result.status), {}, result.error};
                          for (auto& r : result.records)
                            lookup.records.push_back({r.preference, std::move(r.host)});
                          self.core_->on_mx(std::move(lookup));
                          self.drive();
                        }));
  } else if (auto* sts = std::get_if<relay::LookupMtaSts>(&action)) {
    target_.policies->mta_sts(sts->domain,
                              guarded([](DeliveryAttempt& self, relay::MtaStsLookup lookup) {
                                self.core_->on_mta_sts(std::move(lookup));
                                self.drive();
                              }));
  } else if (auto* a = std::get_if<relay::LookupAddresses>(&action)) {
    resolver_->query_addresses(
        a->host, guarded([](DeliveryAttempt& self, net::AddressResult result) {
          relay::AddressLookup lookup{lookup_status(result.status), {}, result.error};
          for (const auto& address : result.addresses)
            lookup.addresses.push_back(format_ip(reinterpret_cast<const sockaddr*>(&address)));
          self.core_->on_addresses(std::move(lookup));
          self.drive();
        }));
  } else if (auto* tlsa = std::get_if<relay::LookupTlsa>(&action)) {
    target_.policies->tlsa(tlsa->host, tlsa->port,
                           guarded([](DeliveryAttempt& self, relay::TlsaLookup lookup) {
                             self.core_->on_tlsa(std::move(lookup));
                             self.drive();
                           }));
  } else if (auto* connect = std::get_if<relay::Connect>(&action)) {
    this->connect(*connect);
  } else if (auto* tls = std::get_if<relay::BeginTls>(&action)) {
    if (connection_)
      connection_->start_tls_checked(target_.tls_context, tls->peer_name, peer_check(tls->check));
  } else if (auto* send = std::get_if<relay::Send>(&action)) {
    if (connection_) connection_->write(send->bytes);
  } else if (std::holds_alternative<relay::NeedBody>(action)) {
    send_first_body_chunk();
  } else if (auto* disconnect = std::get_if<relay::Disconnect>(&action)) {
    if (connection_) connection_->close_after_flush(disconnect->reason);
  } else if (auto* note = std::get_if<relay::Note>(&action)) {
    log_line("relay queue=", job_.queue_id, " ", note->text);
  } else if (auto* report = std::get_if<relay::Report>(&action)) {
    this->report(std::move(report->results));
  } else if (std::holds_alternative<relay::Idle>(action)) {
    become_idle();
  } else if (std::holds_alternative<relay::Finished>(action)) {
    finish();
  }
}

void DeliveryAttempt::become_idle() {
  idle_ = true;
  timer_.start(static_cast<std::uint64_t>(target_.reuse.max_idle.count()),
               guarded([](DeliveryAttempt& self) { self.release(); }));
  if (on_idle) on_idle();
}

void DeliveryAttempt::next(AttemptJob job, std::function<void(AttemptReport)> report_to) {
  if (!idle()) return;
  idle_ = false;
  timer_.stop();
  job_ = std::move(job);
  on_report = std::move(report_to);
  first_chunk_.clear();
  return_path_size_ = 0;
  headers_.clear();
  headers_truncated_ = false;
  next_seq_ = 1;
  waiting_drain_ = false;
  // No AUTH and no password this time: the session authenticated once, when it opened.
  context_.store->read_chunk(
      job_.content_id, 0,
      guarded([](DeliveryAttempt& self, Result<std::optional<std::string>> first) {
        if (!first) {
          self.report(relay::results_for_all(self.job_.recipients, relay::Outcome::temporary,
                                             "4.3.0 " + first.error().message));
          return self.become_idle();  // the connection is as good as before
        }
        self.load_first_chunk(*first ? std::move(**first) : std::string());
        self.core_->next_message(self.envelope());
        self.drive();
        self.arm_timer();
      }));
}

void DeliveryAttempt::release() {
  if (!idle()) return;
  idle_ = false;
  timer_.stop();
  core_->quit();
  drive();
  arm_timer();  // for the reply to QUIT
}

void DeliveryAttempt::connect(const relay::Connect& target) {
  auto address = socket_address(target.address, target.port);
  if (!address) {
    core_->on_connect_failed("failed: not an IP address");
    return drive();
  }
  auto timeout = static_cast<std::uint64_t>(timeouts_.connect.count());
  std::uint64_t generation = ++connect_generation_;
  timer_.start(timeout, guarded([generation](DeliveryAttempt& self) {
                 if (self.connect_generation_ != generation || !self.connection_) return;
                 ++self.connect_generation_;  // the cancelled connect's callback is now stale
                 self.connection_->close("connect timeout");
                 self.connection_.reset();
                 self.core_->on_connect_failed("timed out");
                 self.drive();
               }));
  std::weak_ptr<DeliveryAttempt> weak = weak_from_this();
  auto pending = net::Connection::connect(
      context_.loop, reinterpret_cast<const sockaddr*>(&*address),
      [weak, generation, target](Result<std::shared_ptr<net::Connection>> connection) {
        auto self = weak.lock();
        if (!self || self->done_ || self->connect_generation_ != generation) {
          if (connection) (*connection)->close("attempt ended");
          return;
        }
        ++self->connect_generation_;
        self->timer_.stop();
        if (!connection) {
          self->connection_.reset();
          self->core_->on_connect_failed("failed: " + connection.error().message);
          return self->drive();
        }
        self->connected(std::move(*connection), target);
      });
  // A connect that failed at once has already moved on (and may have started another).
  if (connect_generation_ == generation) connection_ = std::move(pending);
}

void DeliveryAttempt::connected(std::shared_ptr<net::Connection> connection,
                                const relay::Connect& target) {
  connection_ = std::move(connection);
  if (target.implicit_tls && target_.tls_context)
    connection_->start_tls_checked(target_.tls_context, target.host, peer_check(target.check));
  connection_->start({
      .on_data = guarded([](DeliveryAttempt& self, std::string_view bytes) {
        self.arm_timer();
        self.core_->on_data(bytes);
        self.drive();
      }),
      .on_drain = guarded([](DeliveryAttempt& self) {
        if (!self.waiting_drain_) return;
        self.waiting_drain_ = false;
        self.read_next_chunk();
      }),
      .on_tls_ready = guarded([](DeliveryAttempt& self) {
        self.core_->on_tls_started(self.connection_ ? self.connection_->tls_verify_error() : "");
        self.drive();
      }),
      .on_close = guarded([](DeliveryAttempt& self, const std::string& reason) {
        self.timer_.stop();
        self.connection_.reset();
        self.waiting_drain_ = false;
        self.core_->on_closed(reason);
        self.drive();
      }),
  });
  core_->on_connected();
  arm_timer();
  drive();
}

void DeliveryAttempt::arm_timer() {
  // While idle the idle timer runs instead: no command is waiting for a reply.
  if (!core_ || !connection_ || idle_ || core_->state() == relay::Attempt::State::idle) return;
  auto ms = (core_->awaiting_data_end() ? timeouts_.data_end : timeouts_.command).count();
  timer_.start(static_cast<std::uint64_t>(ms), guarded([](DeliveryAttempt& self) {
                 self.core_->on_timeout();
                 self.drive();
               }));
}

void DeliveryAttempt::send_first_body_chunk() {
  std::string chunk = std::move(first_chunk_);
  first_chunk_.clear();
  first_chunk_.shrink_to_fit();
  body_chunk(std::move(chunk));
}

void DeliveryAttempt::read_next_chunk() {
  if (reading_chunk_ || !core_ || !core_->body_wanted()) return;
  reading_chunk_ = true;
  std::int64_t seq = next_seq_++;
  context_.store->read_chunk(
      job_.content_id, seq,
      guarded([](DeliveryAttempt& self, Result<std::optional<std::string>> chunk) {
        self.reading_chunk_ = false;
        if (!self.core_->body_wanted()) return;
        if (!chunk) {
          // The peer must not take a truncated message: drop the connection mid-DATA.
          log_line("relay queue=", self.job_.queue_id,
                   " cannot read the message: ", chunk.error().message);
          if (self.connection_) self.connection_->close("cannot read the queued message");
          return;
        }
        self.body_chunk(std::move(*chunk));
      }));
}

void DeliveryAttempt::body_chunk(std::optional<std::string> chunk) {
  if (!core_ || !core_->body_wanted()) return;
  arm_timer();
  if (!chunk) {
    core_->end_body();
    drive();
    arm_timer();  // the final reply gets the longer §4.5.3.2.6 timeout
    return;
  }
  core_->send_body_chunk(*chunk);
  drive();
  if (!connection_ || connection_->closed()) return;
  if (connection_->pending_write_bytes() > kBodyHighWater) {
    waiting_drain_ = true;
  } else {
    read_next_chunk();
  }
}

void DeliveryAttempt::report(std::vector<relay::RecipientResult> results) {
  if (done_) return;
  if (on_report) on_report({std::move(results), headers_, headers_truncated_});
  on_report = nullptr;
  ++jobs_reported_;
  // Without a core the attempt never got to a connection: it is over now.
  if (!core_) finish();
}

void DeliveryAttempt::finish() {
  if (done_) return;
  done_ = true;
  timer_.stop();
  // One line per connection that carried mail, so the log shows how far reuse went.
  if (core_ && !core_->current_host().empty() && jobs_reported_ > 0)
    log_line("relay host=", core_->current_host(), " connection done after ", jobs_reported_,
             " message(s)");
  if (on_finished) on_finished();
}

void DeliveryAttempt::abort() {
  if (done_) return;
  done_ = true;
  ++connect_generation_;
  timer_.stop();
  if (core_) core_->abort();
  if (connection_) connection_->close("relay stopping");
  connection_.reset();
}

}  // namespace postroom::service
