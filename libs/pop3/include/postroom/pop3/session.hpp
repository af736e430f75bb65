// A sans-I/O POP3 server session: command bytes in, actions for the host out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/pop3/actions.hpp"
#include "postroom/pop3/maildrop.hpp"

namespace postroom::pop3 {

// Protocol limits, each with the rule it comes from.
struct Limits {
  std::size_t max_command_line = 255;  // RFC 2449 §4: octets including the CRLF
  std::size_t max_argument = 40;       // RFC 1939 §3 (names, passwords, SASL excepted)
  int max_bad_commands = 20;           // in a row; then "-ERR too many bad commands", close
  int max_failed_logins = 3;           // per session; the last "-ERR [AUTH]" is followed by Close
};

// RFC 2449 §6.5 LOGIN-DELAY and §6.7 EXPIRE as CAPA announces them: exactly what the host
// enforces. Before login the server's defaults, followed by USER when some users' values
// differ (then CAPA after login gives the user's own, which login replaces these with).
struct Announced {
  std::optional<std::int64_t> expire_days;  // least days mail stays; nullopt: EXPIRE NEVER
  bool expire_per_user = false;
  std::int64_t login_delay = 0;  // least seconds between logins; 0 and not per user: no line
  bool login_delay_per_user = false;
};

struct SessionParams {
  std::string hostname;        // shown in the greeting
  std::string apop_timestamp;  // "<unique@hostname>" for the greeting (RFC 1939 §7); empty: no APOP
  bool tls_active = false;     // the connection is already TLS (pop3s, or after STLS)
  bool stls_available = false;  // TLS configured and not yet active: CAPA lists STLS (RFC 2595)
  // USER/PASS and AUTH PLAIN allowed on this connection now (the host applies
  // auth.plaintext_without_tls). When false they are not advertised and are
  // refused with "-ERR [AUTH] ...".
  bool plaintext_allowed = true;
  std::string implementation = "postroom";  // RFC 2449 §6.9 IMPLEMENTATION
  Announced announced;
  Limits limits;
};

// RFC 1939 §3 states, plus `closed` once Close has been queued.
enum class State { authorization, transaction, update, closed };
std::string_view to_string(State state);

namespace detail {
struct SessionCore;
}

class Session {
 public:
  // Queues the greeting "+OK <hostname> POP3 server ready <timestamp>".
  explicit Session(SessionParams params);
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Processes every complete command line in order (RFC 2449 §6.6 PIPELINING)
  // until one needs an answer from the host; the rest stays buffered and runs
  // when that answer arrives. Bytes fed while waiting for the STLS handshake
  // or after Close are discarded.
  void feed(std::string_view bytes);
  // The actions queued so far, oldest first; the queue is emptied.
  std::vector<Action> take_actions();
  // True when complete command lines wait because the replies queued before them reached
  // the session's budget (64 KiB): the host takes the actions, and once its socket has room
  // calls feed({}) to run them. So pipelined commands never queue unbounded replies.
  bool replies_held() const;
  // True while the host owes an answer (login, content, update, TLS). The host
  // should stop reading from the socket meanwhile: input fed now is buffered.
  bool waiting() const;
  bool closed() const;
  State state() const;
  // Input octets held for later commands (at most one partial line of
  // max_command_line octets, plus whatever was fed while waiting()).
  std::size_t buffered_input() const;

  // login_delay: the user logged in less than their LOGIN-DELAY ago (RFC 2449 §8.1.1).
  enum class LoginOutcome { ok, bad_credentials, in_use, temp_failure, login_delay };
  // The answer to Login or LoginApop. `ok` enters TRANSACTION with `maildrop`
  // as the snapshot that message numbers index (1-based), and `user_policy` (when given)
  // as what CAPA announces from then on.
  void on_login_result(LoginOutcome outcome, Maildrop maildrop = {},
                       std::optional<Announced> user_policy = std::nullopt);
  // The snapshot the session works on (the host's read-ahead follows its order).
  const Maildrop& maildrop() const;

  // The answer to Retrieve: raw stored bytes in any chunks, then the end.
  void on_content(std::string_view chunk);
  void on_content_end();
  // The message could not be read. Before any content: "-ERR [SYS/TEMP] ..." and
  // the session goes on. After some content: Close (the reply cannot be mended).
  void on_content_failed();
  // False once TOP has sent all it needs; the host may stop reading the
  // message but still calls on_content_end().
  bool content_wanted() const;

  // The answer to Update. ok: "+OK ... (n messages deleted)"; else "-ERR [SYS/TEMP] ...".
  // Close follows either way.
  void on_update_done(bool ok);

  // The STLS handshake succeeded: a fresh AUTHORIZATION state (RFC 2595 §4)
  // with tls_active set, STLS no longer offered, plaintext allowed. No greeting.
  void on_tls_started();
  void set_plaintext_allowed(bool allowed);

  // The ids of messages sent whole since the last call (RETR, or a TOP that reached the
  // end), oldest first: the host records when each was first retrieved, for the retention
  // that EXPIRE announces (RFC 2449 §6.7). Not an action, so replies still merge into one
  // write.
  std::vector<std::int64_t> take_retrieved();

  // For the host's one log line per session.
  const std::string& user() const;  // the last login name tried (or authenticated)
  bool authenticated() const;
  int retrieved() const;  // completed RETR commands
  int deleted() const;    // messages deleted by a committed UPDATE

 private:
  std::unique_ptr<detail::SessionCore> core_;
};

}  // namespace postroom::pop3
