// One relay delivery attempt on the loop: DNS, TCP (and TLS), the SMTP client, the body from the
// store.
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

sockaddr_storage with_port(sockaddr_storage address, std::uint16_t port) {
  if (address.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(&address)->sin_port = htons(port);
  else if (address.ss_family == AF_INET6)
    reinterpret_cast<sockaddr_in6*>(&address)->sin6_port = htons(port);
  return address;
}

std::size_t random_index(std::size_t n) {
  thread_local std::mt19937 generator{std::random_device{}()};
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(generator);
}

bool in_transaction(relay::ClientSession::State state) {
  using State = relay::ClientSession::State;
  return state == State::mail_rcpt || state == State::data || state == State::body ||
         state == State::data_end;
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

void DeliveryAttempt::start() {
  // Chunk 0 comes first: its Return-Path line changes the SIZE= we announce, and its
  // header section is what a bounce quotes. The password file is read here too, off the
  // loop, so a changed password applies without a reload.
  std::weak_ptr<DeliveryAttempt> weak = shared_from_this();
  context_.store->read_chunk(job_.content_id, 0, [weak](Result<std::optional<std::string>> first) {
    auto self = weak.lock();
    if (!self || self->aborted_) return;
    if (!first) return self->fail_all("4.3.0 " + first.error().message);
    std::string chunk = *first ? std::move(**first) : std::string();
    self->read_password_then(std::move(chunk));
  });
}

void DeliveryAttempt::read_password_then(std::string first_chunk) {
  if (!target_.username || !target_.password_file) return prepared(std::move(first_chunk), {});
  auto password = std::make_shared<std::optional<std::string>>();
  auto file = *target_.password_file;
  auto chunk = std::make_shared<std::string>(std::move(first_chunk));
  std::weak_ptr<DeliveryAttempt> weak = shared_from_this();
  net::queue_work(
      context_.loop, [password, file] { *password = read_password(file); },
      [weak, password, file, chunk] {
        auto self = weak.lock();
        if (!self || self->aborted_) return;
        if (!*password) return self->fail_all("4.3.0 cannot read " + file.string());
        self->prepared(std::move(*chunk), std::move(*password));
      });
}

void DeliveryAttempt::prepared(std::string first_chunk, std::optional<std::string> password) {
  return_path_size_ = return_path_length(first_chunk);
  first_chunk_ = first_chunk.substr(return_path_size_);
  relay::HeaderSectionReader headers;
  if (!headers.feed(first_chunk_)) headers.finish();
  headers_ = headers.headers();
  headers_truncated_ = headers.truncated();
  password_ = std::move(password);
  if (!resolver_) return fail_all("4.4.3 no DNS resolver available");
  if (target_.tls == relay::TlsMode::implicit && !target_.tls_context)
    return fail_all("4.7.0 no TLS client context for the smarthost (see the log)");
  if (target_.direct) {
    // user@[192.0.2.1]: the literal is the host (RFC 5321 §4.1.3), no MX lookup.
    if (target_.host.starts_with('[')) {
      auto ip = literal_ip(target_.host);
      if (!ip) return fail_all("5.1.2 no usable address in the address literal " + target_.host);
      hosts_ = {*ip};
      return try_next_host();
    }
    return resolve_mx();
  }
  hosts_ = {target_.host};
  try_next_host();
}

void DeliveryAttempt::resolve_mx() {
  std::weak_ptr<DeliveryAttempt> weak = shared_from_this();
  resolver_->query_mx(target_.host, [weak](net::MxResult result) {
    auto self = weak.lock();
    if (!self || self->aborted_) return;
    const std::string& domain = self->target_.host;
    using net::DnsStatus;
    if (result.status == DnsStatus::not_found)
      return self->fail_all("5.1.2 domain " + domain + " does not exist");
    if (result.status == DnsStatus::temporary)
      return self->fail_all("4.4.3 MX lookup for " + domain + " failed: " + result.error);
    std::vector<relay::MxRecord> records;
    for (auto& r : result.records) records.push_back({r.preference, std::move(r.host)});
    auto hosts = relay::order_mx_hosts(domain, std::move(records), random_index);
    if (!hosts) return self->fail_all(hosts.error().text);
    self->hosts_ = std::move(*hosts);
    self->try_next_host();
  });
}

void DeliveryAttempt::try_next_host() {
  if (next_host_ >= hosts_.size()) {
    return fail_all(failures_.empty() ? "4.4.1 no host to try" : failures_.reply());
  }
  std::string host = hosts_[next_host_++];
  std::weak_ptr<DeliveryAttempt> weak = shared_from_this();
  resolver_->query_addresses(host, [weak, host](net::AddressResult result) {
    auto self = weak.lock();
    if (!self || self->aborted_) return;
    if (result.status != net::DnsStatus::ok) {
      bool implicit_mx =
          self->target_.direct && self->hosts_.size() == 1 && host == self->target_.host;
      bool absent = result.status != net::DnsStatus::temporary;
      // RFC 5321 §5.1: no MX and no address for the domain itself: nowhere to deliver.
      if (implicit_mx && absent)
        return self->fail_all("5.1.2 domain " + host + " has no mail server (no MX, no address)");
      self->failures_.note(relay::FailureStage::resolve,
                           std::string(absent ? "4.4.4" : "4.4.3") + " cannot resolve " + host +
                               (result.error.empty() ? "" : ": " + result.error));
      return self->try_next_host();
    }
    self->addresses_ = std::move(result.addresses);
    self->next_address_ = 0;
    self->current_host_ = host;
    self->try_next_address();
  });
}

void DeliveryAttempt::try_next_address() {
  if (next_address_ >= addresses_.size()) return try_next_host();
  const std::string host = hosts_[next_host_ - 1];
  sockaddr_storage address = with_port(addresses_[next_address_++], target_.port);
  current_host_ = host + "[" + format_ip(reinterpret_cast<const sockaddr*>(&address)) +
                  "]:" + std::to_string(target_.port);
  tls_ready_ = false;
  reached_transaction_ = false;
  session_.reset();
  std::weak_ptr<DeliveryAttempt> weak = shared_from_this();
  auto timeout = static_cast<std::uint64_t>(timeouts_.connect.count());
  timer_.start(timeout, [weak] {
    auto self = weak.lock();
    if (!self || !self->connection_ || self->connecting_ == 0) return;
    self->connect_timed_out_ = true;
    // Closing cancels the connect; its callback then moves on to the next address.
    self->connection_->close("connect timeout");
  });
  std::uint64_t generation = ++generation_;
  connecting_ = generation;
  connect_timed_out_ = false;
  auto pending = net::Connection::connect(
      context_.loop, reinterpret_cast<const sockaddr*>(&address),
      [weak, generation](Result<std::shared_ptr<net::Connection>> connection) {
        auto self = weak.lock();
        if (!self || self->aborted_ || self->connecting_ != generation) {
          if (connection) (*connection)->close("attempt ended");
          return;
        }
        self->connecting_ = 0;
        self->timer_.stop();
        if (!connection) {
          self->failures_.note(
              relay::FailureStage::connect,
              "4.4.1 connection to " + self->current_host_ +
                  (self->connect_timed_out_ ? " timed out"
                                            : " failed: " + connection.error().message));
          self->connection_.reset();
          return self->try_next_address();
        }
        self->connected(std::move(*connection));
      });
  // A connect that failed at once has already moved on (and may have started another).
  if (connecting_ == generation) connection_ = std::move(pending);
}

void DeliveryAttempt::connected(std::shared_ptr<net::Connection> connection) {
  connection_ = std::move(connection);
  const auto& config = *context_.config;
  relay::ClientParams params;
  params.hostname = config.hostname;
  params.tls = target_.tls;
  params.tls_available = target_.tls_context != nullptr;
  if (target_.username)
    params.credentials = relay::Credentials{*target_.username, password_.value_or("")};
  params.envelope.sender = job_.sender;
  params.envelope.recipients = job_.recipients;
  params.envelope.size = job_.size > return_path_size_ ? job_.size - return_path_size_ : job_.size;
  params.envelope.needs_smtputf8 = job_.smtputf8;
  params.envelope.body_8bit = job_.body_8bit;
  session_.emplace(std::move(params));
  const std::string peer_name = hosts_[next_host_ - 1];
  if (target_.tls == relay::TlsMode::implicit && target_.tls_context)
    connection_->start_tls(target_.tls_context, net::TlsEngine::Role::client, peer_name);
  std::weak_ptr<DeliveryAttempt> weak = shared_from_this();
  connection_->start({
      .on_data =
          [weak](std::string_view bytes) {
            auto self = weak.lock();
            if (!self || !self->session_) return;
            self->arm_timer();
            self->session_->feed(bytes);
            self->pump();
          },
      .on_drain =
          [weak] {
            auto self = weak.lock();
            if (!self || !self->waiting_drain_) return;
            self->waiting_drain_ = false;
            self->read_next_chunk();
          },
      .on_tls_ready =
          [weak] {
            auto self = weak.lock();
            if (!self || !self->session_) return;
            self->tls_ready_ = true;
            if (self->session_->state() == relay::ClientSession::State::tls_handshake) {
              self->session_->on_tls_started();
              self->pump();
            }
          },
      .on_close =
          [weak](const std::string& reason) {
            if (auto self = weak.lock()) self->on_closed(reason);
          },
  });
  arm_timer();
  pump();
}

void DeliveryAttempt::arm_timer() {
  if (!session_) return;
  bool final_reply = session_->state() == relay::ClientSession::State::data_end;
  auto ms = (final_reply ? timeouts_.data_end : timeouts_.command).count();
  std::weak_ptr<DeliveryAttempt> weak = shared_from_this();
  timer_.start(static_cast<std::uint64_t>(ms), [weak] {
    auto self = weak.lock();
    if (!self || !self->session_) return;
    self->session_->on_timeout();
    self->pump();
  });
}

void DeliveryAttempt::pump() {
  if (!session_) return;
  if (in_transaction(session_->state())) reached_transaction_ = true;
  for (auto& action : session_->take_actions()) {
    if (auto* send = std::get_if<relay::Send>(&action)) {
      if (connection_) connection_->write(send->bytes);
    } else if (std::holds_alternative<relay::StartTls>(action)) {
      if (connection_)
        connection_->start_tls(target_.tls_context, net::TlsEngine::Role::client,
                               hosts_[next_host_ - 1]);
    } else if (std::holds_alternative<relay::NeedBody>(action)) {
      send_first_body_chunk();
    } else if (auto* done = std::get_if<relay::Done>(&action)) {
      for (auto& result : done->results) result.remote_host = current_host_;
      bool all_temporary =
          std::all_of(done->results.begin(), done->results.end(),
                      [](const auto& r) { return r.kind == relay::Outcome::temporary; });
      // RFC 5321 §5.1: a host that fails before the transaction starts (no connection,
      // a 4xx greeting, a failed handshake) is skipped for the next one.
      if (all_temporary && !reached_transaction_ && !done->results.empty()) {
        failures_.note(relay::FailureStage::session,
                       done->results.front().reply + " (" + current_host_ + ")");
      } else {
        final_ = true;
        report(std::move(done->results));
      }
    } else if (auto* close = std::get_if<relay::Close>(&action)) {
      if (connection_) connection_->close_after_flush(close->reason);
    }
  }
}

void DeliveryAttempt::on_closed(const std::string& reason) {
  timer_.stop();
  if (session_ && !session_->closed()) {
    using State = relay::ClientSession::State;
    bool handshake = session_->state() == State::tls_handshake ||
                     (target_.tls == relay::TlsMode::implicit && !tls_ready_);
    if (handshake) {
      session_->on_tls_failed(reason);
    } else {
      session_->on_disconnected();
    }
    pump();
  }
  connection_.reset();
  session_.reset();
  if (aborted_) return;
  if (final_) return finish();
  try_next_address();
}

void DeliveryAttempt::send_first_body_chunk() {
  std::string chunk = std::move(first_chunk_);
  first_chunk_.clear();
  first_chunk_.shrink_to_fit();
  body_chunk(std::move(chunk));
}

void DeliveryAttempt::read_next_chunk() {
  if (reading_chunk_ || !session_ || !session_->body_wanted()) return;
  reading_chunk_ = true;
  std::int64_t seq = next_seq_++;
  std::weak_ptr<DeliveryAttempt> weak = shared_from_this();
  context_.store->read_chunk(job_.content_id, seq,
                             [weak](Result<std::optional<std::string>> chunk) {
                               auto self = weak.lock();
                               if (!self || self->aborted_) return;
                               self->reading_chunk_ = false;
                               if (!self->session_ || !self->session_->body_wanted()) return;
                               if (!chunk) {
                                 // The peer must not take a truncated message: drop the connection
                                 // mid-DATA.
                                 log_line("relay queue=", self->job_.queue_id,
                                          " cannot read the message: ", chunk.error().message);
                                 if (self->connection_)
                                   self->connection_->close("cannot read the queued message");
                                 return;
                               }
                               self->body_chunk(std::move(*chunk));
                             });
}

void DeliveryAttempt::body_chunk(std::optional<std::string> chunk) {
  if (!session_ || !session_->body_wanted()) return;
  arm_timer();
  if (!chunk) {
    session_->end_body();
    pump();
    arm_timer();  // the final reply gets the longer §4.5.3.2.6 timeout
    return;
  }
  session_->send_body_chunk(*chunk);
  pump();
  if (!connection_ || connection_->closed()) return;
  if (connection_->pending_write_bytes() > kBodyHighWater) {
    waiting_drain_ = true;
  } else {
    read_next_chunk();
  }
}

void DeliveryAttempt::fail_all(const std::string& text) {
  relay::Outcome kind =
      !text.empty() && text[0] == '5' ? relay::Outcome::permanent : relay::Outcome::temporary;
  std::vector<relay::RecipientResult> results;
  for (const auto& recipient : job_.recipients) {
    relay::RecipientResult r;
    r.address = recipient;
    r.kind = kind;
    r.reply = text;
    r.status = text.substr(0, text.find(' '));
    r.remote_host = current_host_;
    results.push_back(std::move(r));
  }
  report(std::move(results));
  finish();
}

void DeliveryAttempt::report(std::vector<relay::RecipientResult> results) {
  if (reported_ || aborted_) return;
  reported_ = true;
  if (on_report) on_report({std::move(results), headers_, headers_truncated_});
}

void DeliveryAttempt::finish() {
  if (finished_ || aborted_) return;
  finished_ = true;
  timer_.stop();
  if (on_finished) on_finished();
}

void DeliveryAttempt::abort() {
  if (aborted_) return;
  aborted_ = true;
  connecting_ = 0;
  timer_.stop();
  if (connection_) connection_->close("relay stopping");
  connection_.reset();
  session_.reset();
}

}  // namespace postroom::service
