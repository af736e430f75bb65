// The session's private state, shared by the files that implement it (session, commands, receive).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/dot_reader.hpp"
#include "line_end_checker.hpp"
#include "message_stream.hpp"
#include "postroom/base/line_reader.hpp"
#include "postroom/smtp/session.hpp"
#include "reply.hpp"

namespace postroom::smtp {

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
inline constexpr std::size_t kMaxCommandLine = 512;
// RFC 4954 §4: a SASL response line after a 334 challenge may be 12288 octets. (The AUTH
// command itself keeps the 512 limit; a client with a longer initial response must wait for
// the challenge, as RFC 4954 §4 requires.)
inline constexpr std::size_t kMaxSaslLine = 12288;
// Bad commands (syntax, unknown, out of sequence, failed AUTH) before "421 4.7.0".
inline constexpr unsigned kMaxErrors = 20;
// Replies queued in one go before pipelined commands wait for the host to take them.
inline constexpr std::size_t kReplyBudget = 64 * 1024;

enum class State {
  initial,         // greeted (or TLS just started); no EHLO/HELO yet
  ready,           // after EHLO/HELO; a transaction may be open
  auth_response,   // sent a 334 challenge; the next line is a SASL response
  wait_auth,       // Authenticate emitted; waiting for on_auth_result
  wait_recipient,  // CheckRecipient emitted; waiting for on_recipient_checked
  data,            // reading DATA message text up to CRLF.CRLF
  bdat,            // reading the octets of one BDAT chunk
  wait_store,      // MessageEnd emitted; waiting for on_message_stored
  tls_pending,     // StartTls emitted; waiting for on_tls_started
  closed,          // Close emitted; nothing more happens
};
const char* state_name(State state);

// One message in transfer: created at DATA or the first BDAT, gone with its transaction.
struct Message {
  MessageStream stream;
  DotReader dot;             // DATA only
  LineEndChecker line_ends;  // BDAT only; DATA's DotReader does the same check
};

// The mail transaction (RFC 5321 §3.3): created at MAIL, dropped at RSET, EHLO or its end.
struct Transaction {
  Envelope envelope;
  bool bdat = false;  // BDAT chunks started: DATA is now out of sequence (RFC 3030 §3)
  std::optional<Message> message;
  bool message_ended = false;                // MessageEnd emitted: the host owns the outcome now
  std::optional<Address> pending_recipient;  // between CheckRecipient and its verdict
};

struct AuthExchange {
  enum class Mechanism { plain, login };
  Mechanism mechanism = Mechanism::plain;
  bool have_user = false;
  std::string user;  // LOGIN: the decoded user name, once received; then the user being checked
};

struct Session::Impl {
  explicit Impl(SessionParams p);

  SessionParams params;
  State state = State::initial;
  LineReader reader{kMaxCommandLine};
  std::vector<Action> actions;
  std::vector<TransactionRecord> log;
  // Reply octets queued since the host last took the actions; at kReplyBudget the command
  // loop stops (replies_held) until the host takes them and feeds again.
  std::size_t queued_reply_bytes = 0;
  bool replies_held = false;

  std::string helo;
  bool esmtp = false;
  std::string auth_user;  // empty: not authenticated
  std::vector<std::string> allowed_senders;
  std::optional<Transaction> transaction;
  std::optional<AuthExchange> auth;
  unsigned errors = 0;
  unsigned transactions = 0;

  // BDAT chunk in progress.
  std::uint64_t bdat_size = 0;
  std::uint64_t bdat_remaining = 0;
  bool bdat_last = false;
  std::optional<Reply> bdat_refusal;  // the chunk is consumed and discarded, then this is sent

  // on_idle_timeout/on_shutdown during a commit: sent after the commit's reply.
  std::optional<Reply> deferred_close;
  std::string deferred_close_reason;

  // session.cpp
  void enter(State next);
  void send(const Reply& reply);
  void send_error(const Reply& reply);  // counts toward the error budget
  void push(Action action);
  void close(const std::optional<Reply>& last, std::string reason);
  void end_transaction(std::string outcome, std::string store_error = {});
  void use_reader(std::size_t max_line);
  bool waiting() const;
  bool in_body() const { return state == State::data || state == State::bdat; }
  void pump();
  std::string transaction_id() const;

  // commands.cpp
  void handle_line(const Line& line);
  void handle_auth_response(std::string_view text);
  void leave_auth();
  void finish_auth(std::string user, std::string password);

  // receive.cpp
  void begin_message();
  std::size_t consume_body(std::string_view bytes);
  void start_bdat_chunk(std::uint64_t size, bool last, std::optional<Reply> refusal);
  void finish_data();
  void finish_bdat_chunk();
  void check_line_ends(Message& m);
  void emit_ready(std::vector<std::string>& chunks);
};

}  // namespace postroom::smtp
