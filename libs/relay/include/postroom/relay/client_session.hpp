// A sans-I/O SMTP client session (RFC 5321 client side): server bytes in, actions for the host out.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "postroom/relay/data_encoder.hpp"
#include "postroom/relay/extensions.hpp"
#include "postroom/relay/reply_parser.hpp"

namespace postroom::relay {

enum class TlsMode {
  none,           // never STARTTLS (and AUTH may go in plaintext)
  opportunistic,  // STARTTLS when offered and the host can do TLS, else plaintext
  required,       // STARTTLS or no delivery ("4.7.0 TLS required but not offered")
  implicit,       // the connection is already TLS (RFC 8314 port 465)
};

struct Credentials {
  std::string username;
  std::string password;
};

struct Envelope {
  std::string sender;                   // without "<>"; empty for the null sender
  std::vector<std::string> recipients;  // without "<>"; results come back in this order
  std::uint64_t size = 0;               // message octets, for SIZE= (RFC 1870 §6)
  bool needs_smtputf8 = false;          // UTF-8 in addresses or headers (RFC 6531 §3.4)
  bool body_8bit = false;               // 8-bit body: BODY=8BITMIME when offered (RFC 6152)
};

struct ClientParams {
  std::string hostname;  // our name for EHLO/HELO
  TlsMode tls = TlsMode::opportunistic;
  bool tls_available = false;  // the host can run a TLS handshake on this connection
  // AUTH is sent only over TLS, unless `tls` is none (the admin chose a
  // plaintext smarthost). Credentials that cannot be used fail the delivery
  // temporarily rather than sending mail unauthenticated to a server that
  // probably wants it: no TLS, no AUTH offered, or neither PLAIN nor LOGIN.
  std::optional<Credentials> credentials;
  Envelope envelope;
  // After a transaction that ends with a reply and leaves the session usable, stay open
  // (Ready) for another envelope instead of sending QUIT: RFC 5321 §3.3 allows any number
  // of mail transactions in one session.
  bool reuse = false;
  bool trace = false;  // log each state change ("relay: state ehlo -> mail_rcpt")
};

enum class Outcome { delivered, temporary, permanent };
std::string_view to_string(Outcome outcome);

struct RecipientResult {
  std::string address;
  Outcome kind = Outcome::temporary;
  // One line: the server's reply ("550 5.1.1 no such user") or, when `code`
  // is 0, our own words with an enhanced status ("5.6.7 server does not
  // support SMTPUTF8"). For logs, the queue's LAST-REPLY and DSN Diagnostic-Code.
  std::string reply;
  int code = 0;  // the server's reply code; 0 when the result is our own
  // RFC 3463 enhanced status ("5.1.1"), from the reply or derived from its class ("4.0.0").
  std::string status;
  std::string remote_host;  // left empty here; the host fills in the peer it talked to
};

// Write these bytes to the server. `sensitive`: an AUTH payload; a trace
// must show it as <redacted>.
struct Send {
  std::string bytes;
  bool sensitive = false;
};

// RFC 3207 §4: the server said 220 to STARTTLS. Send nothing more in
// plaintext; run the handshake, then call on_tls_started() (or on_tls_failed()).
struct StartTls {};

// The server said 354: stream the stored message through send_body_chunk()
// (in any chunking, as stored: bare LF allowed) and finish with end_body().
struct NeedBody {};

// Every recipient has its result, in envelope order. Emitted exactly once per envelope.
struct Done {
  std::vector<RecipientResult> results;
  // The transaction ended before the server answered any of its commands, by a lost
  // connection or a 421: the server took nothing of it. On a reused session that is
  // usually a server that closed the connection while it sat idle.
  bool unanswered = false;
};

// With ClientParams::reuse: the transaction is over and the session is idle. The host
// gives it the next envelope (next_envelope()) or ends it (quit()).
struct Ready {};

// Flush every Send queued before this, then close the connection. Always the last action.
struct Close {
  std::string reason;
};

using Action = std::variant<Send, StartTls, NeedBody, Done, Ready, Close>;

// One line describing the action for a debug log; AUTH payloads show as <redacted>.
std::string describe(const Action& action);

class ClientSession {
 public:
  enum class State {
    greeting,         // waiting for the 220 greeting (RFC 5321 §3.1)
    ehlo,             // EHLO sent
    helo,             // HELO sent after EHLO was refused (RFC 5321 §4.1.4)
    starttls,         // STARTTLS sent (RFC 3207 §4)
    tls_handshake,    // StartTls handed to the host
    auth,             // AUTH PLAIN with initial response, or the LOGIN password, sent (RFC 4954)
    auth_login_user,  // AUTH LOGIN sent, waiting for the username prompt
    auth_login_pass,  // username sent, waiting for the password prompt
    mail_rcpt,        // MAIL and RCPT replies outstanding (RFC 2920 pipelining)
    data,             // DATA sent
    body,             // 354 received; the host streams the body
    data_end,         // final "." sent, waiting for the reply that applies to all
    rset,             // RSET sent to end a transaction that got no DATA (RFC 5321 §4.1.1.5)
    idle,             // with reuse: between transactions, waiting for next_envelope() or quit()
    quit,             // QUIT sent; results already reported
    closed,           // Close queued; the session ignores further input
  };

  // Nothing is sent before the server's greeting. An envelope without
  // recipients yields an empty Done and Close at once.
  explicit ClientSession(ClientParams params);

  // Server bytes, in any chunking. Replies are handled in order; input after
  // Close, and the rest of the stream after a malformed reply, is ignored.
  void feed(std::string_view bytes);
  // The actions queued so far, oldest first; the queue is emptied.
  std::vector<Action> take_actions();

  // The TLS handshake after StartTls succeeded: extensions are forgotten and
  // EHLO is sent again (RFC 3207 §4.2).
  void on_tls_started();
  // The handshake failed: every pending recipient fails temporarily; Close.
  void on_tls_failed(std::string_view reason);

  // In State::body only (else ignored): raw stored bytes; encoded and queued as Send.
  void send_body_chunk(std::string_view bytes);
  void end_body();
  // False once the server has spoken or failed mid-body: the host may stop
  // reading the message (it need not call end_body()).
  bool body_wanted() const { return state_ == State::body; }

  // The host's timer for the current command ran out (RFC 5321 §4.5.3.2):
  // every pending recipient fails temporarily; Close.
  void on_timeout();

  // In State::idle only (else ignored). The next transaction on this session, or QUIT.
  void next_envelope(Envelope envelope);
  void quit();
  // The server closed the connection: as on_timeout(), with its own reason.
  void on_disconnected();

  State state() const { return state_; }
  bool closed() const { return state_ == State::closed; }
  bool tls_active() const { return tls_active_; }
  const Extensions& extensions() const { return extensions_; }

 private:
  enum class Pending { mail, rcpt };
  struct PendingReply {
    Pending what;
    std::size_t recipient = 0;
  };

  void enter(State next);
  void handle(const Reply& reply);
  void on_greeting(const Reply& reply);
  void on_hello(const Reply& reply, bool was_ehlo);
  void on_starttls(const Reply& reply);
  void on_auth(const Reply& reply);
  void on_mail_rcpt(const Reply& reply);
  void on_data(const Reply& reply);
  void on_data_end(const Reply& reply);
  void on_rset(const Reply& reply);

  void send(std::string bytes, bool sensitive = false);
  void send_ehlo();
  // After a successful EHLO/HELO (or AUTH): STARTTLS, AUTH or the envelope, whichever is due.
  void proceed();
  void start_transaction();
  // Without pipelining: sends RCPT for the next recipient; false when none is left.
  bool send_next_rcpt();

  // Each sets the result of every recipient not finalized yet. A reply to
  // MAIL, DATA or the final dot reaches exactly the recipients still open.
  void finalize_pending(Outcome kind, const std::string& reply, int code,
                        const std::string& status);
  void finalize_from_reply(const Reply& reply);
  // `text` is our own: an enhanced status, a space, the explanation.
  void finalize_local(Outcome kind, std::string_view text);
  // Ends the session politely: QUIT, then Done; Close follows QUIT's reply.
  void finish();
  // The transaction ended with every recipient's result. `open`: the server still holds
  // it (MAIL was accepted but no message followed), so RSET must clear it before reuse.
  // Without reuse: finish().
  void end_transaction(bool open);
  // Marks recipients that cannot be sent as permanent failures; false when none is left.
  bool load_envelope();
  // Ends the session at once: every open recipient fails temporarily with
  // `text` ("4.4.2 ..."), then Done and Close.
  void abort(std::string_view text);
  // Done (unless already emitted), Close, State::closed.
  void close_now(std::string reason);
  void emit_done();

  ClientParams params_;
  State state_ = State::greeting;
  ReplyParser parser_;
  DataEncoder encoder_;
  Extensions extensions_;
  bool tls_active_ = false;
  bool starttls_tried_ = false;
  bool authenticated_ = false;
  bool mail_failed_ = false;
  bool done_emitted_ = false;
  bool transaction_replied_ = false;  // the server answered a command of this transaction
  bool unanswered_ = false;           // see Done::unanswered
  std::size_t next_rcpt_ = 0;         // without pipelining: the next recipient to send RCPT for
  std::deque<PendingReply> pending_;
  std::vector<std::optional<RecipientResult>> results_;  // nullopt: not finalized yet
  std::vector<bool> accepted_;                           // RCPT got a 2xx
  std::vector<Action> actions_;
};

std::string_view to_string(ClientSession::State state);

}  // namespace postroom::relay
