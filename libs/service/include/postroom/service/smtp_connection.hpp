// Drives one smtp::Session over a net::Connection: recipients, auth, streamed durable delivery.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "postroom/net/connection.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/service/auth_service.hpp"
#include "postroom/service/message_filter.hpp"
#include "postroom/service/message_sink.hpp"
#include "postroom/service/served.hpp"
#include "postroom/smtp/session.hpp"

namespace postroom::service {

struct Context;
class FilterChain;

class SmtpConnection : public Served, public std::enable_shared_from_this<SmtpConnection> {
 public:
  enum class Kind { mx, submission };
  SmtpConnection(Context& context, std::shared_ptr<net::Connection> connection, Kind kind,
                 bool implicit_tls);
  ~SmtpConnection() override;
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
  // Runs the session's actions; true when commands held back for the reply budget may run.
  bool run_actions();
  // Arms or stops the line and message deadlines for the bytes just received.
  void track_deadlines(std::string_view bytes);
  void deadline_passed(std::string_view which);
  void check_recipient(const smtp::CheckRecipient& check);
  // The last step of a local recipient's check: greylisting, then the session's answer.
  void greylist_then_answer(const smtp::CheckRecipient& check, smtp::RecipientVerdict verdict);
  void authenticate(const std::string& user, const std::string& password);
  FilterEnvelope filter_envelope();
  void start_filters();
  // The message has arrived: the filters, then the commit or a refusal.
  void finish_message();
  void refuse(int code, const std::string& enhanced, const std::string& text, std::string_view why);
  void log_verdicts(std::string_view outcome);
  void commit();
  void update_reading();
  void touch();  // restarts the idle timer

  Context& context_;
  std::shared_ptr<net::Connection> connection_;
  Kind kind_;
  bool implicit_tls_;
  std::string id_;
  std::optional<smtp::Session> session_;
  net::Timer idle_;
  net::Timer login_deadline_;    // submission: greeting to a successful AUTH
  net::Timer line_deadline_;     // a command line, once begun, must be complete by then
  net::Timer message_deadline_;  // DATA or BDAT: the whole message must have arrived by then
  bool in_message_ = false;      // between MessageBegin and its end or abort
  bool line_open_ = false;       // a command line has begun and not ended
  MessageSink sink_;
  std::unique_ptr<FilterChain> filters_;    // of the message being received, if any
  std::string filter_log_;                  // their verdicts, for the message's log line
  std::optional<smtp::Envelope> envelope_;  // of the message being received
  Address checking_;                        // the recipient being looked up
  std::optional<DeviceLogin> device_;       // the AUTH was a device password's
};

}  // namespace postroom::service
