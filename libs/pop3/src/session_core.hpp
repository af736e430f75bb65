// The state shared by the session loop and the per-state command handlers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/line_reader.hpp"
#include "postroom/pop3/session.hpp"
#include "postroom/pop3/transfer_encoder.hpp"

namespace postroom::pop3::detail {

// What the session is waiting for from the host, if anything.
enum class Pending { nothing, login, content, update, tls };

// A RETR or TOP in progress: the "+OK" line is held until the first content
// arrives, so a message that cannot be read still gets a clean "-ERR".
struct Retrieval {
  std::string status;  // the "+OK ..." text
  TransferEncoder encoder;
  bool status_sent = false;
  bool is_top = false;
  std::int64_t id = 0;  // the store's id of the message
};

struct SessionCore {
  explicit SessionCore(SessionParams session_params);

  // --- The command loop (session_core.cpp).
  void feed(std::string_view bytes);
  // Runs buffered command lines until one makes the session wait or close.
  void process();
  void handle_line(const Line& line);

  // --- Replies. Each line is capped at 512 octets with its CRLF (RFC 1939 §3).
  void send(std::string_view bytes);      // queued; merged into a preceding Send
  void send_owned(std::string bytes);     // the same, without a copy when it starts a Send
  void send_line(std::string_view line);  // appends CRLF
  // "+OK text": the command succeeded, so the bad-command run ends.
  void reply_ok(std::string_view text);
  // "-ERR text" for the client's mistake: counts toward max_bad_commands and,
  // when the budget is spent, answers "-ERR too many bad commands" and closes.
  void reply_bad(std::string_view text);
  // "-ERR text" for an outcome that is not a client syntax error (login
  // failure, server trouble): the bad-command count is left alone.
  void reply_failure(std::string_view text);
  // A multi-line reply (RFC 1939 §3): "+OK text", the lines, ".".
  // "+OK text" and one line per undeleted message: its number, a space, then `rest`.
  void reply_listing(std::string_view text,
                     const std::function<void(std::size_t, std::string&)>& rest);
  void reply_multiline(std::string_view text, const std::vector<std::string>& lines);

  // --- State changes, each in one place.
  // The only place `state` changes (RFC 1939 §3: AUTHORIZATION, TRANSACTION, UPDATE).
  void enter_state(State next);
  // Stops the command loop until the host answers the request just queued.
  void wait_for(Pending what);
  void close(std::string reason);
  void push(Action action);

  // --- Host answers (session_core.cpp).
  void login_result(Session::LoginOutcome outcome, Maildrop maildrop,
                    std::optional<Announced> user_policy);
  void content(std::string_view chunk);
  void content_end();
  void content_failed();
  void update_done(bool ok);
  void tls_started();
  // A login refused for its credentials: "-ERR [AUTH] Invalid login", and Close
  // once max_failed_logins is reached.
  void login_failed();

  // --- Transaction helpers.
  std::size_t live_count() const;
  std::uint64_t live_size() const;

  SessionParams params;
  LineReader reader;
  State state = State::authorization;
  Pending pending = Pending::nothing;
  std::vector<Action> actions;
  // Reply octets queued since the host last took the actions; at kReplyBudget the command
  // loop stops (replies_held) until the host takes them and feeds again.
  static constexpr std::size_t kReplyBudget = 64 * 1024;
  std::size_t queued_reply_bytes = 0;
  bool replies_held = false;
  int bad_commands = 0;
  int failed_logins = 0;

  // AUTHORIZATION.
  std::optional<std::string> user_given;  // from USER, until PASS or another login command
  bool awaiting_sasl_response = false;    // after "+ " for AUTH PLAIN (RFC 5034 §4)

  // TRANSACTION.
  Maildrop maildrop;
  std::vector<bool> marked;  // DELE marks, committed only in UPDATE (RFC 1939 §6)
  std::optional<Retrieval> retrieval;
  int marked_for_update = 0;
  std::vector<std::int64_t> retrieved_ids;  // sent whole, not yet taken by the host

  // Stats.
  std::string user;
  bool authenticated = false;
  int retrieved = 0;
  int deleted = 0;
};

}  // namespace postroom::pop3::detail
