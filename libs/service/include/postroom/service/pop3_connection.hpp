// Drives one pop3::Session over a net::Connection with the store, auth and locks.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "postroom/net/connection.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/pop3/session.hpp"
#include "postroom/service/mailbox_locks.hpp"
#include "postroom/service/served.hpp"

namespace postroom::service {

struct Context;
class ReadAhead;

class Pop3Connection : public Served, public std::enable_shared_from_this<Pop3Connection> {
 public:
  Pop3Connection(Context& context, std::shared_ptr<net::Connection> connection, bool implicit_tls);
  ~Pop3Connection() override;
  void start() override;
  void shutdown() override;
  void abort() override { connection_->close("shutdown deadline"); }

  // Connection events, wired by session_events/restart_idle_timer (session_wiring.hpp).
  void on_data(std::string_view bytes);
  void on_tls_started();  // after STARTTLS/STLS
  void on_idle();
  void on_closed(const std::string& reason);

 private:
  void pump();
  // Writes the session's actions; true when commands held back for the reply budget may
  // run now.
  bool run_actions();
  void login(const std::string& user, const std::string& secret, bool apop);
  // Takes the maildrop lock (in_use, temp_failure or on to load_maildrop).
  void lock_maildrop(std::int64_t account_id, std::string address);
  void unlock_maildrop();
  void load_maildrop(std::int64_t account_id);
  void retrieve(std::int64_t message);
  void read_next_chunk();
  void update(std::vector<std::int64_t> ids);
  void touch();              // restarts the idle timer
  void collect_retrieved();  // the session's whole downloads, stamped now

  Context& context_;
  std::shared_ptr<net::Connection> connection_;
  bool implicit_tls_;
  std::string id_;
  std::string timestamp_;
  std::optional<pop3::Session> session_;
  net::Timer idle_;
  net::Timer login_deadline_;  // greeting to TRANSACTION, whatever the traffic
  std::optional<std::int64_t> locked_account_;
  MailboxLocks::Ticket lock_ticket_ = 0;  // 0: the lock was lost, nothing to unlock
  std::string login_address_;             // the normalized login name, for its retention policy
  // First whole downloads (delivery, unix time), recorded when the session ends.
  std::vector<std::pair<std::int64_t, std::int64_t>> retrieved_;
  std::unique_ptr<ReadAhead> read_ahead_;
  // The message being streamed by RETR/TOP.
  struct Transfer {
    std::int64_t message = 0;  // delivery id
    std::int64_t next_seq = 0;
    bool reading = false;  // a chunk read is in flight
  };
  std::optional<Transfer> transfer_;
  bool busy_ = false;  // an auth, read or update answer is owed to the session
  bool stopping_ = false;
};

}  // namespace postroom::service
