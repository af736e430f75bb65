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
#include "postroom/relay/attempt.hpp"
#include "postroom/relay/client_session.hpp"

namespace postroom::service {

struct Context;
class TlsPolicySource;

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
  // Direct mode: MTA-STS and DANE (null: opportunistic TLS only).
  std::shared_ptr<TlsPolicySource> policies;
  // How many jobs one connection may carry (default: one, then QUIT).
  relay::ReuseLimits reuse;
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
// ends it. `on_report` runs once per job, when every recipient has its final result
// (after the peer's reply, before QUIT completes). With target.reuse, the connection may
// then carry more jobs to the same destination: `on_idle` runs, and the owner hands the
// next job over with next() (its own report callback) or lets it go with release(); an
// attempt nobody calls releases itself after reuse.max_idle. `on_finished` runs once,
// when no connection is left. None of them runs after abort().
//
// The decisions (which host, which TLS, when to move on, permanent or temporary) are
// relay::Attempt's; this class only performs its actions and feeds it what happened.
class DeliveryAttempt : public std::enable_shared_from_this<DeliveryAttempt> {
 public:
  DeliveryAttempt(Context& context, std::shared_ptr<net::Resolver> resolver, AttemptTarget target,
                  AttemptJob job, AttemptTimeouts timeouts = {});
  ~DeliveryAttempt();

  std::function<void(AttemptReport)> on_report;
  std::function<void()> on_idle;
  std::function<void()> on_finished;

  void start();
  // Whether next() would take a job now.
  bool idle() const { return idle_ && !done_; }
  // In idle(): the next job, on the same connection when it is still open, else on a new
  // one to the same address. `report_to` is its on_report.
  void next(AttemptJob job, std::function<void(AttemptReport)> report_to);
  // In idle(): no more jobs: QUIT, then on_finished.
  void release();
  // The daemon is stopping: close the connection at once and report nothing, so the
  // recipients stay due (a delivery cut short may be repeated, never lost).
  void abort();

 private:
  void read_password_then(std::string first_chunk);
  void prepared(std::string first_chunk, std::optional<std::string> password);
  // The job's chunk 0: the Return-Path line to skip, the header section for a bounce.
  void load_first_chunk(std::string first_chunk);
  relay::Envelope envelope() const;
  void become_idle();
  // Performs the core's actions until it has none left (re-entrant calls just return).
  void drive();
  void perform(relay::AttemptAction& action);
  void connect(const relay::Connect& connect);
  void connected(std::shared_ptr<net::Connection> connection, const relay::Connect& connect);
  void arm_timer();
  void send_first_body_chunk();
  void read_next_chunk();
  void body_chunk(std::optional<std::string> chunk);
  void report(std::vector<relay::RecipientResult> results);
  void finish();
  // Weakly bound continuation: runs `f(self)` only while the attempt lives and runs.
  template <class F>
  auto guarded(F f);

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

  std::optional<relay::Attempt> core_;
  bool driving_ = false;
  std::shared_ptr<net::Connection> connection_;
  std::uint64_t connect_generation_ = 0;  // so a stale connect callback is ignored
  std::int64_t next_seq_ = 1;             // the next stored chunk to send
  bool reading_chunk_ = false;
  bool waiting_drain_ = false;
  std::size_t jobs_reported_ = 0;  // jobs this attempt has reported, for the log
  bool idle_ = false;              // the core said Idle and no job has been handed over since
  bool done_ = false;              // finished or aborted: nothing more is reported
};

}  // namespace postroom::service
