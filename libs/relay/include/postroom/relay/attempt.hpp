// One outbound delivery attempt as a sans-I/O state machine: which hosts to try in which
// order, with which TLS requirement, when to move on (RFC 5321 §5.1) and what the attempt's
// typed outcome is. The host does the DNS, the policy fetches, the TCP and the TLS.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "postroom/relay/attempt_failure.hpp"
#include "postroom/relay/client_session.hpp"
#include "postroom/relay/mta_sts.hpp"
#include "postroom/relay/mx.hpp"

namespace postroom::relay {

// What a lookup answered (the same four cases as the resolver's DnsStatus).
enum class LookupStatus { ok, no_data, not_found, temporary };

struct MxLookup {
  LookupStatus status = LookupStatus::temporary;
  std::vector<MxRecord> records;
  std::string error;
};

struct AddressLookup {
  LookupStatus status = LookupStatus::temporary;
  std::vector<std::string> addresses;  // numeric IPv4 / IPv6, in the order to try
  std::string error;
};

// A TLSA record (RFC 6698 §2.1): certificate usage, selector, matching type, data.
struct Tlsa {
  std::uint8_t usage = 3;
  std::uint8_t selector = 1;
  std::uint8_t matching = 1;
  std::string data;  // raw octets (not hex)
};

// The TLSA records of one MX host, RFC 7672 §2.2. `secure`: the answer (records or their
// absence) was DNSSEC-validated; only then do records count. `failed`: the lookup could not
// complete or the validator found the answer bogus, so the host cannot be used safely now.
struct TlsaLookup {
  bool secure = false;
  bool failed = false;
  std::vector<Tlsa> records;
  std::string error;
};

// What the MTA-STS policy of the domain is, as the host found it (DNS TXT, HTTPS, cache).
struct MtaStsLookup {
  std::optional<MtaStsPolicy> policy;  // nullopt: the domain has none (or none could be had)
  std::string note;                    // why, for the log: "fetched", "cached", "fetch failed..."
};

// How the host must check the peer's certificate after a TLS handshake.
struct TlsCheck {
  enum class Kind {
    none,  // encrypt, verify nothing (RFC 7435 opportunistic TLS)
    pkix,  // a chain to a trusted CA and a name in `names` (RFC 6125)
    dane,  // match `tlsa` (RFC 7672 §3: DANE-EE, or DANE-TA plus a name in `names`)
  };
  Kind kind = Kind::none;
  // A check that fails ends the handshake; otherwise the host reports the result in
  // on_tls_started() and the session goes on (MTA-STS testing mode, RFC 8461 §5).
  bool enforce = false;
  std::vector<std::string> names;
  std::vector<Tlsa> tlsa;
};

// Attempt actions. Besides these, the session's Send, NeedBody are passed through unchanged.
struct LookupMx {
  std::string domain;
};
struct LookupMtaSts {
  std::string domain;
};
struct LookupAddresses {
  std::string host;
};
struct LookupTlsa {
  std::string host;
  std::uint16_t port = 25;
};
// Open a TCP connection; answer with on_connected() or on_connect_failed().
struct Connect {
  std::string host;
  std::string address;
  std::uint16_t port = 25;
  bool implicit_tls = false;  // start TLS right after connecting, with `check`
  TlsCheck check;
};
// Start TLS on the open connection (after STARTTLS's 220), checking as `check` says.
struct BeginTls {
  std::string peer_name;  // SNI
  TlsCheck check;
};
// Close the current connection after flushing; answer with on_closed().
struct Disconnect {
  std::string reason;
};
// A line for the log: policy decisions, MTA-STS testing-mode failures.
struct Note {
  std::string text;
};
// Every recipient's result for this attempt, in envelope order. Emitted exactly once.
struct Report {
  std::vector<RecipientResult> results;
};
// The message's Report is out and the connection may carry another message to the same
// destination: answer with next_message() or quit(). Until then the attempt waits (the
// host bounds the wait with ReuseLimits::max_idle).
struct Idle {};
// Nothing is left to do and no connection is open. Emitted exactly once, last.
struct Finished {};

using AttemptAction =
    std::variant<LookupMx, LookupMtaSts, LookupAddresses, LookupTlsa, Connect, BeginTls, Send,
                 NeedBody, Disconnect, Note, Report, Idle, Finished>;

std::string describe(const AttemptAction& action);

// How long one connection keeps carrying messages. RFC 5321 §3.3 allows any number of
// transactions per session, and each reuse saves a TCP (and TLS, AUTH) setup per message,
// but an endless session would pin every message to one MX host after DNS has moved on and
// meets servers that count messages per connection (Exim refuses the 1,000th by default).
// The figures are Postfix's: its connection cache keeps an idle session 2 s
// (smtp_connection_cache_time_limit) and reuses one for at most 300 s
// (smtp_connection_reuse_time_limit); 100 messages is well under any server's count.
struct ReuseLimits {
  std::size_t max_messages = 1;  // 1: no reuse, QUIT after the first message
  std::chrono::seconds max_age{300};
  std::chrono::milliseconds max_idle{2'000};  // the host's wait for the next message
};

using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

struct AttemptParams {
  // direct: MX lookup for `destination` (a domain or an address literal "[192.0.2.1]");
  // else `destination` is the smarthost's name.
  bool direct = false;
  std::string destination;
  std::uint16_t port = 25;
  // The smarthost's TLS mode; direct mode decides per host from the policies.
  TlsMode smarthost_tls = TlsMode::required;
  bool tls_available = false;  // the host has a TLS client context
  bool use_mta_sts = false;    // direct: look up the domain's MTA-STS policy
  bool use_dane = false;       // direct: look up TLSA records of each MX host
  // The session's parameters; `tls` and `tls_available` are set per connection.
  ClientParams client;
  // Shuffles MX hosts of equal preference; null: keep the DNS order (tests).
  RandomIndex random_index;
  ReuseLimits reuse;
  // The time, for ReuseLimits::max_age; null: connections do not age (tests).
  SteadyNow now;
};

// Results for every recipient of `envelope` with one outcome and our own `text`
// ("4.4.1 ..."): for failures found before any server spoke.
std::vector<RecipientResult> results_for_all(const std::vector<std::string>& recipients,
                                             Outcome kind, const std::string& text,
                                             const std::string& remote_host = {});

class Attempt {
 public:
  enum class State {
    policy,      // waiting for the MTA-STS lookup
    mx,          // waiting for the MX lookup
    addresses,   // waiting for a host's addresses
    tlsa,        // waiting for a host's TLSA records
    connecting,  // Connect emitted
    session,     // a ClientSession runs on the connection
    idle,        // Idle emitted: waiting for next_message() or quit() (the connection may be gone)
    closing,     // Disconnect emitted (or the peer closed); waiting for on_closed()
    finished,
  };

  explicit Attempt(AttemptParams params);

  // Emits the first lookup (or Connect for a smarthost address).
  void start();
  std::vector<AttemptAction> take_actions();

  void on_mta_sts(MtaStsLookup lookup);
  void on_mx(MxLookup lookup);
  void on_addresses(AddressLookup lookup);
  void on_tlsa(TlsaLookup lookup);
  void on_connected();
  // `text`: "refused", "timed out"...
  void on_connect_failed(std::string_view text);
  void on_data(std::string_view bytes);
  // The handshake finished. `verify_error`: empty when the check passed, else why not
  // (only reported when the check did not enforce, or for Kind::none).
  void on_tls_started(std::string_view verify_error = {});
  void on_tls_failed(std::string_view reason);
  // The current command's time ran out (RFC 5321 §4.5.3.2).
  void on_timeout();
  // The connection is gone (closed by us after Disconnect, or by the peer, or reset).
  void on_closed(std::string_view reason);

  // In State::idle only. The next message to the same destination: on the open connection,
  // or on a new one to the same address when the idle connection was lost. Its own Report
  // follows, then Idle or Finished.
  void next_message(Envelope envelope);
  // In State::idle only: QUIT (if the connection is still open), then Finished.
  void quit();

  // The body, while body_wanted() (see ClientSession).
  void send_body_chunk(std::string_view bytes);
  void end_body();
  bool body_wanted() const { return session_ && session_->body_wanted(); }
  // The final reply after the body gets the longer timeout (RFC 5321 §4.5.3.2.6).
  bool awaiting_data_end() const {
    return session_ && session_->state() == ClientSession::State::data_end;
  }

  // The daemon stops: nothing more is reported or emitted.
  void abort() { state_ = State::finished; }

  State state() const { return state_; }
  // "name[ip]:port" of the current or last connection, for logs and the queue's history.
  const std::string& current_host() const { return current_host_; }

 private:
  struct HostPolicy {
    TlsMode mode = TlsMode::opportunistic;
    TlsCheck check;
    std::string label;  // "MTA-STS enforce", "DANE", for texts
  };

  void emit(AttemptAction action) { actions_.push_back(std::move(action)); }
  void lookup_mx();
  void next_host();
  void next_address();
  void connect_current();
  // Connects again to the address the last connection went to.
  void reconnect();
  // Another message may go on this connection (ReuseLimits).
  bool may_reuse() const;
  void pump();
  void pump_actions(std::vector<Action>& actions);
  void fail_all(Outcome kind, const std::string& text);
  void report(std::vector<RecipientResult> results);
  void finish();
  // The TLS rules for `host` before its TLSA records are known.
  HostPolicy policy_for(const std::string& host) const;

  AttemptParams params_;
  State state_ = State::policy;
  std::optional<MtaStsPolicy> sts_;
  std::vector<std::string> hosts_;
  std::size_t next_host_ = 0;
  std::string host_;  // the host being tried
  HostPolicy host_policy_;
  std::vector<std::string> addresses_;
  std::size_t next_address_ = 0;
  std::string current_host_;
  std::optional<ClientSession> session_;
  bool reached_transaction_ = false;
  bool tls_ready_ = false;  // the handshake of this connection finished
  bool final_ = false;      // this connection's results are the attempt's
  bool reported_ = false;
  std::size_t messages_on_connection_ = 0;  // finished transactions on the current connection
  std::chrono::steady_clock::time_point connected_at_{};
  // A reused connection was lost before the server answered this message's MAIL: the
  // message goes again on a fresh connection, once, without counting as a failure.
  bool retrying_ = false;
  bool retried_ = false;
  AttemptFailures failures_;
  std::vector<AttemptAction> actions_;
};

std::string_view to_string(Attempt::State state);

}  // namespace postroom::relay
