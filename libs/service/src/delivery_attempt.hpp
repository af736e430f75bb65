// One delivery attempt of one queued message to one destination: resolve, connect, run
// the SMTP client session, stream the stored body, report each recipient's result.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "postroom/net/connection.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/net/resolver.hpp"
#include "postroom/relay/attempt_failure.hpp"
#include "postroom/relay/client_session.hpp"

namespace postroom::service {

struct Context;

// RFC 5321 §4.5.3.2 timeouts. Constants rather than config keys: a relay that waits
// less than this for a slow but working server loses mail to needless retries.
struct AttemptTimeouts {
  std::chrono::milliseconds connect{30'000};
  std::chrono::milliseconds command{5 * 60'000};    // greeting, EHLO, MAIL, RCPT, DATA, body blocks
  std::chrono::milliseconds data_end{10 * 60'000};  // §4.5.3.2.6: after the final "."
};

// Where the message goes and how to talk to it.
struct AttemptTarget {
  bool direct = false;  // MX lookup for `host` (a domain); else `host` is the smarthost
  std::string host;     // the smarthost's name, or the recipients' domain
  std::uint16_t port = 25;
  relay::TlsMode tls = relay::TlsMode::opportunistic;
  std::shared_ptr<net::TlsContext> tls_context;  // null: TLS impossible here
  std::optional<std::string> username;           // AUTH with the password file's content
  std::optional<std::filesystem::path> password_file;
};

// The queued message and the recipients this attempt carries.
struct AttemptJob {
  std::string queue_id;
  std::int64_t content_id = 0;
  std::string sender;  // '' for the null reverse-path
  bool smtputf8 = false;
  bool body_8bit = false;
  std::uint64_t size = 0;  // octets as stored, Return-Path line included
  std::vector<std::string> recipients;
};

struct AttemptReport {
  std::vector<relay::RecipientResult> results;  // one per job recipient, same order
  std::string headers;  // the original header section (for a bounce), CRLF lines
  bool headers_truncated = false;
};

// Owned by the relay service through shared_ptr; every callback from libuv, the
// resolver or the thread pool holds only a weak reference, so dropping the attempt
// ends it. `on_report` runs once, when every recipient has its final result for this
// attempt (after the peer's reply, before QUIT completes); `on_finished` runs once
// afterwards, when no connection is left. Neither runs after abort().
class DeliveryAttempt : public std::enable_shared_from_this<DeliveryAttempt> {
 public:
  DeliveryAttempt(Context& context, std::shared_ptr<net::Resolver> resolver, AttemptTarget target,
                  AttemptJob job, AttemptTimeouts timeouts = {});
  ~DeliveryAttempt();

  std::function<void(AttemptReport)> on_report;
  std::function<void()> on_finished;

  void start();
  // The daemon is stopping: close the connection at once and report nothing, so the
  // recipients stay due (a delivery cut short may be repeated, never lost).
  void abort();

 private:
  struct Host {
    std::string name;
    std::vector<sockaddr_storage> addresses;
  };

  void read_password_then(std::string first_chunk);
  void prepared(std::string first_chunk, std::optional<std::string> password);
  void resolve_mx();
  void try_next_host();
  void try_next_address();
  void connected(std::shared_ptr<net::Connection> connection);
  void pump();
  void arm_timer();
  void on_closed(const std::string& reason);
  void send_first_body_chunk();
  void read_next_chunk();
  void body_chunk(std::optional<std::string> chunk);
  // Every recipient gets `text` ("4.4.1 ...", its first digit choosing the outcome).
  void fail_all(const std::string& text);
  void report(std::vector<relay::RecipientResult> results);
  void finish();

  Context& context_;
  std::shared_ptr<net::Resolver> resolver_;
  AttemptTarget target_;
  AttemptJob job_;
  AttemptTimeouts timeouts_;
  net::Timer timer_;

  std::string first_chunk_;  // chunk 0 without the Return-Path line, until sent
  std::size_t return_path_size_ = 0;
  std::optional<std::string> password_;
  std::string headers_;
  bool headers_truncated_ = false;

  std::vector<std::string> hosts_;  // in MX order
  std::size_t next_host_ = 0;
  std::vector<sockaddr_storage> addresses_;  // of the current host
  std::size_t next_address_ = 0;
  std::string current_host_;         // "name[ip]:port", for logs and the queue's history
  relay::AttemptFailures failures_;  // why no address so far took the message

  std::shared_ptr<net::Connection> connection_;
  std::uint64_t generation_ = 0;  // counts connects, so a stale connect callback is ignored
  std::uint64_t connecting_ = 0;  // the generation of the connect in progress, 0 if none
  bool connect_timed_out_ = false;
  std::optional<relay::ClientSession> session_;
  bool tls_ready_ = false;
  bool reached_transaction_ = false;  // the session got as far as MAIL FROM
  bool final_ = false;                // this host's results are the attempt's results
  std::int64_t next_seq_ = 1;         // the next stored chunk to send
  bool reading_chunk_ = false;
  bool waiting_drain_ = false;

  bool reported_ = false;
  bool finished_ = false;
  bool aborted_ = false;
};

}  // namespace postroom::service
