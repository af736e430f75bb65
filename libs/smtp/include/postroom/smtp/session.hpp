// The SMTP server session (RFC 5321 and its extensions) as a sans-I/O state machine: bytes in,
// actions out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "postroom/base/address.hpp"
#include "postroom/base/error.hpp"

namespace postroom::smtp {

// mx: port 25, mail from the internet and relay for trusted peers.
// submission: ports 587/465, AUTH required before MAIL (RFC 6409 §4.3).
enum class Listener { mx, submission };

struct SessionParams {
  std::string hostname;  // greeting, 221/421 replies, Received "by"
  Listener listener = Listener::mx;
  std::string peer_ip;  // numeric, without brackets ("192.0.2.1", "2001:db8::1"), for Received
  bool peer_trusted = false;  // in trusted_networks: may relay without AUTH on the mx listener
  bool tls_active = false;    // implicit TLS (465) or after STARTTLS
  bool starttls_available = false;
  // AUTH PLAIN/LOGIN advertised and allowed now; otherwise not advertised and an attempt gets
  // "538 5.7.11". on_tls_started() sets it: plaintext mechanisms are always fine inside TLS.
  bool plaintext_auth_allowed = true;
  // SIZE (RFC 1870): client octets, trace headers excluded.
  std::uint64_t max_message_size = 25u << 20;
  std::size_t max_recipients = 100;    // RFC 5321 §4.5.3.1.8 asks for at least 100
  std::function<std::time_t()> clock;  // Received date; empty: std::time
  std::string session_id;              // Received "id <session_id>.<n>"
  bool trace_states = false;           // log every state change "old -> new"
};

// What the host says about one RCPT TO address.
struct RecipientVerdict {
  // refused: a policy of the host (greylisting) answers with code, enhanced and text.
  enum class Kind { local, remote, unknown_user, temp_failure, refused };
  Kind kind = Kind::unknown_user;
  int code = 0;
  std::string enhanced;
  std::string text;
  // Local targets after alias expansion; opaque to the session.
  std::vector<std::int64_t> mailboxes;
  std::vector<std::string> forward_to;  // remote targets after alias expansion
  // Accepted now, but greylisted at the end of DATA unless SPF or DKIM proves the
  // allow-listed sender; opaque to the session.
  bool greylist_unless_aligned = false;
  // A mailbox in `mailboxes` is under a quota: the host looks for warnings to send once the
  // message is stored; opaque to the session.
  bool quota_limited = false;
  // False when the store knows that none of `mailboxes` has an away reply set: the host then
  // skips the lookup for one after the delivery; opaque to the session.
  bool may_be_away = true;
};

struct Recipient {
  Address address;  // as the client wrote it (lower-cased; source route dropped)
  RecipientVerdict verdict;
};

enum class BodyType { seven_bit, eight_bit_mime };  // BODY= (RFC 6152 §2)

struct Envelope {
  std::optional<Address> reverse_path;  // nullopt: the null reverse-path "<>" (bounces)
  std::vector<Recipient> recipients;    // the accepted ones, in RCPT order
  BodyType body = BodyType::seven_bit;
  bool chunking = false;                       // the data comes by BDAT (RFC 3030), not DATA
  bool smtputf8 = false;                       // the SMTPUTF8 MAIL parameter (RFC 6531 §3.4)
  std::optional<std::uint64_t> declared_size;  // the SIZE MAIL parameter (RFC 1870)
  std::string helo;
  std::string auth_user;       // empty: not authenticated
  std::string transaction_id;  // "<session_id>.<n>", as in the Received header
  // The message data starts with "Return-Path: ...\r\n" of this many octets: a relay that
  // forwards the message (not a final delivery, RFC 5321 §4.4) skips them.
  std::size_t return_path_length = 0;
};

// Actions, in the order the host must carry them out.
struct Send {  // write these bytes (one or more complete replies)
  std::string bytes;
};
// TLS handshake now, then on_tls_started(); plaintext bytes read since are discarded.
struct StartTls {};
struct Close {  // flush what was sent, then close; reason is loggable (never holds secrets)
  std::string reason;
};
struct Authenticate {  // check these credentials, answer on_auth_result(); never log password
  std::string user;
  std::string password;
};
// Answer on_recipient_checked(). "<postmaster>" without a domain arrives as {"postmaster", ""}.
struct CheckRecipient {
  Address address;
  std::optional<Address> reverse_path;  // the transaction's sender (policy checks)
  bool authenticated = false;
  std::optional<std::uint64_t> declared_size;  // MAIL's SIZE= (RFC 1870 §6.2: quotas)
};
struct MessageBegin {  // a message for this envelope starts; MessageData follows
  Envelope envelope;
};
// The next bytes of the message exactly as stored (trace headers first), at most 64 KiB.
struct MessageData {
  std::string bytes;
};
struct MessageEnd {};    // commit durably, then on_message_stored() (or on_message_refused())
struct MessageAbort {};  // discard everything received since MessageBegin
using Action = std::variant<Send, StartTls, Close, Authenticate, CheckRecipient, MessageBegin,
                            MessageData, MessageEnd, MessageAbort>;

// One line for the host's transaction log, produced whenever a mail transaction ends.
struct TransactionRecord {
  std::string id;                       // "<session_id>.<n>"
  std::string reverse_path;             // "<>" or "<alice@example.test>"
  std::vector<std::string> recipients;  // accepted ones
  std::uint64_t size = 0;               // client octets received (trace headers excluded)
  std::string outcome;      // the final reply without CRLF ("250 2.0.0 Ok: queued as 7"), or
                            // "aborted: <why>" (rset, ehlo, quit, timeout, shutdown, ...)
  std::string store_error;  // on_message_stored's error text; empty otherwise
};

class Session {
 public:
  explicit Session(SessionParams params);  // queues the greeting "220 <hostname> ESMTP postroom"
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Processes as many commands as possible, pausing where the host must answer (PIPELINING,
  // RFC 2920). Bytes given while waiting() are kept (unbounded: the host stops reading then)
  // and processed after the answer.
  void feed(std::string_view bytes);
  // Everything to do, in order. Consecutive replies are merged into one Send.
  std::vector<Action> take_actions();
  // True when complete command lines wait because the replies queued before them reached
  // the session's budget (64 KiB): the host takes the actions and, once its socket has
  // room, calls feed({}) to run them. So pipelined commands never queue unbounded replies.
  bool replies_held() const;
  // An answer is pending (recipient, auth, commit, TLS handshake): stop reading the socket.
  bool waiting() const;
  bool closed() const;  // Close was emitted; further input is ignored

  void on_recipient_checked(RecipientVerdict verdict);
  // allowed_senders: the user's own address and aliases, for the RFC 6409 §6.1 sender check.
  void on_auth_result(bool ok, std::vector<std::string> allowed_senders);
  // ok: "250 2.0.0 Ok: queued as <id>"; error: "451 4.3.0 ..." (the host stored nothing).
  void on_message_stored(Result<std::string> stored_id);
  // The host refuses the message it was asked to commit (a filter's verdict, a header section
  // too large): "<code> <enhanced> <text>", a 4xx or 5xx; nothing was stored.
  void on_message_refused(int code, std::string_view enhanced, std::string_view text);
  void on_tls_started();  // back to the initial state (RFC 3207 §4.2), tls_active set
  // Both roll back an open message (MessageAbort) and close. While a commit is pending they wait
  // for on_message_stored, send its reply, then the 421 and Close.
  void on_idle_timeout();  // "421 4.4.2 <hostname> Error: timeout exceeded" + Close
  void on_shutdown();      // "421 4.3.2 <hostname> Service shutting down" + Close
  std::vector<TransactionRecord> take_transaction_log();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace postroom::smtp
