// The whole postroom configuration as one typed, immutable value (interface.md "Config file").
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "postroom/base/endpoint.hpp"
#include "postroom/base/error.hpp"
#include "postroom/base/units.hpp"

struct sockaddr;

namespace postroom::config {

struct Listeners {
  std::vector<Endpoint> smtp;         // port 25: inbound mail, relay for trusted/authenticated
  std::vector<Endpoint> submission;   // port 587: STARTTLS, AUTH required
  std::vector<Endpoint> submissions;  // port 465: implicit TLS, AUTH required
  std::vector<Endpoint> pop3;         // port 110: STLS available
  std::vector<Endpoint> pop3s;        // port 995: implicit TLS
  std::vector<Endpoint> http;         // port 80: client autoconfiguration, /healthz, /metrics
  std::vector<Endpoint> https;        // port 443: the same, MTA-STS and .mobileconfig too
};

struct Tls {
  std::filesystem::path cert;
  std::filesystem::path key;
};

// Certificates from an ACME CA (RFC 8555) for the box's names, kept in data_dir/acme and
// renewed two thirds into their lifetime; they replace tls.cert/tls.key once obtained.
struct Acme {
  enum class Challenge { http01, tls_alpn01 };
  std::string directory_url = "https://acme-v02.api.letsencrypt.org/directory";
  std::string contact;  // an email address for the CA's expiry notices; empty: none
  Challenge challenge = Challenge::http01;  // http01 needs listen.http, tls_alpn01 listen.https
  // Trusted for the CA's HTTPS besides the system CAs (a test CA such as Pebble's).
  std::optional<std::filesystem::path> ca_bundle;
  // The names to certify; empty: hostname, then autoconfig.D and mta-sts.D of each domain.
  std::vector<std::string> names;
};

enum class PlaintextPolicy { never, trusted_networks, always };

struct Auth {
  PlaintextPolicy plaintext_without_tls = PlaintextPolicy::trusted_networks;
  // Brute-force defence (docs/auth.md): each distinct failure of a user from an address
  // doubles the delay up to failure_delay_max; lockout_failures of them within
  // lockout_window lock that user out at that address; lockout_failures_per_address
  // distinct failures from one address, whatever the users, lock the address out.
  Seconds failure_delay_max{15};
  unsigned lockout_failures = 10;
  unsigned lockout_failures_per_address = 100;
  Seconds lockout_window{15 * 60};
  Seconds lockout_duration{15 * 60};
  // How long a password that passed argon2id is remembered (auth/verified_logins.hpp) so the
  // same password for the same account or device skips argon2id; 0 turns it off.
  Seconds verified_login_cache{15 * 60};
};

enum class RelayMode { smarthost, direct };
enum class SmarthostTls { starttls, implicit, none };

struct Smarthost {
  std::string host;
  std::uint16_t port = 587;
  SmarthostTls tls = SmarthostTls::starttls;
  std::optional<std::string> username;
  std::optional<std::filesystem::path> password_file;
  std::optional<std::filesystem::path> ca_file;  // default: the system CAs
};

// Verified TLS in direct mode: MTA-STS (RFC 8461) and DANE (RFC 7672).
struct TlsPolicy {
  bool mta_sts = true;  // fetch and apply the recipient domain's MTA-STS policy
  bool dane = false;    // use DNSSEC-validated TLSA records of the MX hosts (needs DNSSEC)
  // Trusted besides the system CAs, for MTA-STS policy fetches and MX certificates.
  std::optional<std::filesystem::path> ca_file;
  // "HOST:PORT:ADDRESS" (curl's --resolve): where an MTA-STS fetch for HOST connects.
  std::vector<std::string> mta_sts_resolve;
  // DNSSEC root trust anchor for the validating resolver (RFC 5011 key file).
  std::filesystem::path trust_anchor = "/usr/share/dns/root.key";
  // Recursive resolvers the validator asks (validation still happens here); empty:
  // libunbound resolves from the root itself, or uses relay.dns_servers when set.
  std::vector<Endpoint> dnssec_servers;
};

struct Relay {
  RelayMode mode = RelayMode::direct;
  TlsPolicy tls_policy;
  std::optional<Smarthost> smarthost;
  std::vector<Endpoint> dns_servers;  // empty: the system resolver
  std::vector<Seconds> retry_schedule{Seconds(5 * 60), Seconds(15 * 60),  Seconds(30 * 60),
                                      Seconds(3600),   Seconds(2 * 3600), Seconds(4 * 3600)};
  Seconds max_queue_age{5 * 86400};
  // Mail an alias forwards leaves with an SRS sender of our first domain when its sender is
  // in another domain, so the receiver's SPF check passes (the key is data_dir/srs.key).
  bool srs = true;
};

// DKIM signing of outbound mail; the keys live in data_dir/dkim (postroom dkim ...).
struct Dkim {
  // A generated key is published (its record goes into DNS) before it signs: it starts
  // signing after this long, or when an admin runs `postroom dkim activate`. nullopt
  // ("never"): only by hand.
  std::optional<Seconds> activate_after = Seconds(2 * 86400);
};

struct Limits {
  std::uint64_t max_message_size = 25ULL << 20;
  std::size_t max_recipients = 100;  // RFC 5321 §4.5.3.1.8 asks for at least 100
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_ip = 50;
  Seconds smtp_idle_timeout{5 * 60};   // RFC 5321 §4.5.3.2.7: at least 5 minutes
  Seconds pop3_idle_timeout{10 * 60};  // RFC 1939 §3: at least 10 minutes (seed S10, S11)
  // From the greeting, a POP3 or submission client must have logged in within this
  // (however busily it sends bytes): a slot cannot be held by trickling.
  Seconds login_timeout{2 * 60};
  // Connection slots only trusted_networks and logged-in sessions may use, so a flood
  // from outside never shuts the office out; unset: a fifth of max_connections.
  std::optional<std::size_t> reserved_connections;
  // Outbound mail per sender (each authenticated user, and trusted_networks as one): a
  // stolen password must not send thousands of messages before anyone notices. Counted
  // for messages with a recipient in another domain; 0 turns a limit off.
  std::size_t outbound_messages_per_hour = 100;
  std::size_t outbound_messages_per_day = 500;
  std::size_t outbound_new_recipients_per_day = 300;  // distinct recipients in 24 hours

  std::size_t reserved() const { return reserved_connections.value_or(max_connections / 5); }
};

// Inbound mail authentication (SPF, DKIM, DMARC) for mail from untrusted, unauthenticated
// clients. off: not checked; tag: checked, recorded in Authentication-Results, and a failure
// marks the message (X-Spam-Flag: YES and subject_tag); enforce: as tag, but a failure is
// refused with 550 5.7.1 (for DMARC only where the domain publishes p=reject).
enum class CheckMode { off, tag, enforce };
enum class DnsErrorAction { tag, tempfail };

struct MailAuth {
  CheckMode spf = CheckMode::tag;
  CheckMode dkim = CheckMode::tag;
  CheckMode dmarc = CheckMode::tag;
  Seconds dns_timeout{10};  // the DNS budget of one message, all lookups together
  // A lookup that fails or runs out of budget gives temperror: tag the message, or answer
  // 451 so the sender retries.
  DnsErrorAction on_dns_error = DnsErrorAction::tag;
  std::string subject_tag = "[SPAM]";
  std::filesystem::path public_suffix_list = "/usr/share/publicsuffix/public_suffix_list.dat";
};

// One milter (Sendmail/Postfix milter protocol) every SMTP message passes, in config order.
struct Milter {
  std::string name;                 // for the log and the verdict line
  std::string address;              // as written: "unix:/run/x.sock" or "inet:127.0.0.1:11332"
  std::optional<Endpoint> inet;     // set for inet: addresses (numeric host)
  std::filesystem::path unix_path;  // set for unix: addresses
  Seconds timeout{30};  // connecting, and each answer awaited (Postfix's command timeout)
  // The milter is down, times out or breaks the protocol: accept the message unfiltered, or
  // answer 451 so the sender retries (Postfix's milter_default_action).
  enum class DefaultAction { accept, tempfail } default_action = DefaultAction::tempfail;
};

// One DNS blocklist zone. A client is looked up as its reversed address under the zone; an
// answer counts when it is in 127.0.0.0/8 and, if `codes` is set, one of them. Answers in
// 127.255.255.0/24 never count: Spamhaus's "query refused / error" codes (a public resolver,
// too many queries), not a listing.
struct DnsblZone {
  std::string zone;
  unsigned weight = 1;
  std::vector<std::string> codes;  // numeric IPv4 answers that count; empty: any listing code
};

// DNS blocklists, checked when a client connects to port 25 (never for trusted_networks).
struct Dnsbl {
  std::vector<DnsblZone> zones;  // empty: off
  unsigned threshold = 1;        // the sum of the listing zones' weights that counts as listed
  // reject: "554 5.7.1" with the list's text instead of the greeting; tag: the messages get an
  // X-DNSBL header field and go on.
  enum class Action { reject, tag } action = Action::tag;
  Seconds timeout{5};  // zones that have not answered by then count as not listing
};

// Greylisting (off by default): a new (client /24 or /64, sender, recipient) triplet gets
// 451 4.7.1 at RCPT; a retry after `window` passes, and its sender domain is then allow-listed
// from that network. Never for trusted_networks, logged-in users or allow-listed senders.
struct Greylisting {
  bool enabled = false;
  Seconds window{5 * 60};     // the least wait before a retry is accepted
  Seconds forget{7 * 86400};  // a triplet not retried by then starts over
};

// Mail that leaves the server on a schedule, announced to POP3 clients (RFC 2449 §6.5 and
// §6.7); `postroom retention set` overrides it per domain or address. Unset: never.
struct Retention {
  std::optional<Seconds> retrieved;  // delete mail this long after its first download
  std::optional<Seconds> max_age;    // delete any mail this long after delivery
  Seconds login_delay{0};            // least time between two logins of a user; 0: none
  Seconds check_every{3600};         // how often the daemon looks for expired mail
};

// Default quotas for mailboxes and domains the admin gave no limit of their own (`postroom
// user quota`, `postroom domain quota`); nullopt: no limit. A domain's limit holds for all
// its mailboxes together. Off by default: a quota can surprise an office (interface.md).
struct Quota {
  std::optional<std::uint64_t> user_bytes;
  std::optional<std::uint64_t> user_messages;
  std::optional<std::uint64_t> domain_bytes;
  std::optional<std::uint64_t> domain_messages;
  bool warnings = true;  // a message into the mailbox at 80% and at 95%, once a day per level
};

// The HTTP(S) listeners' answers (listen.http, listen.https).
struct Http {
  // Who may read /metrics besides trusted_networks.
  std::vector<Cidr> metrics_allow;
  // A request must be complete this long after its first byte (or after the previous
  // response, on a kept-alive connection), else the connection closes.
  Seconds request_timeout{10};
  // The MTA-STS policy served at mta-sts.DOMAIN (RFC 8461 §3.2); mx is `hostname`.
  std::string mta_sts_mode = "testing";  // testing | enforce | none
  Seconds mta_sts_max_age{7 * 86400};
};

enum class StoreBackend { sqlite, postgresql };

// store.postgresql: where the PostgreSQL store is. Either `dsn` (a libpq connection string
// or postgresql:// URI) or the separate keys; `password_file` goes with either, so the
// password stays out of the config (and out of every log line and `check-config`).
struct PostgresqlStore {
  std::optional<std::string> dsn;
  std::string host;  // a name, an address, or a unix socket directory (starting with /)
  std::uint16_t port = 5432;
  std::string dbname = "postroom";
  std::string user = "postroom";
  std::optional<std::filesystem::path> password_file;
  std::optional<std::string> sslmode;  // libpq's: disable ... verify-full; unset: libpq's default
  std::size_t pool_size = 4;           // connections each postroomd keeps
  // How long a postroomd owns the queued recipients it took for delivery: another postroomd
  // takes them over only after this (its owner died mid-delivery). Longer than any attempt.
  Seconds queue_lease{15 * 60};

  // libpq keywords and values for PQconnectdbParams / PQconnectStartParams with
  // expand_dbname = 1 (dbname may carry the whole dsn), the password read from password_file
  // now (a rotated password needs no reload). Never log them.
  Result<std::vector<std::pair<std::string, std::string>>> connection_params() const;
};

// Where the mail lives: the SQLite file in data_dir (the default), or PostgreSQL.
struct Store {
  StoreBackend backend = StoreBackend::sqlite;
  std::optional<PostgresqlStore> postgresql;  // set when backend is postgresql
};

struct Config {
  std::filesystem::path file;  // the file this was read from
  std::string hostname;
  std::vector<std::string> domains;  // lower-case
  std::filesystem::path data_dir;    // absolute
  Listeners listen;
  std::optional<Tls> tls;
  std::optional<Acme> acme;
  std::vector<Cidr> trusted_networks;
  // Lets trusted_networks hold networks wider than /8 (IPv4) or /16 (IPv6), 0.0.0.0/0
  // included: off, such a network is a config error, since it would make an open relay.
  bool trusted_networks_allow_wide = false;
  Auth auth;
  Relay relay;
  Dkim dkim;
  Limits limits;
  // The box's public addresses (numeric IPv4/IPv6), as the internet sees them: the SPF,
  // PTR and blocklist checks of dns-records and check-dns. Empty: the addresses of hostname.
  std::vector<std::string> public_addresses;
  MailAuth mail_auth;
  // The account postroomd runs as once its ports are bound (when started as root), and that
  // owns data_dir. Unset: "postroom" if that account exists.
  std::optional<std::string> user;
  // Started as root with no account to switch to, postroomd refuses to run unless this is true.
  bool run_as_root = false;
  std::vector<Milter> milters;
  Dnsbl dnsbl;
  Greylisting greylisting;
  Http http;
  Retention retention;
  Quota quota;
  Store store;

  bool is_local_domain(std::string_view domain) const;
  bool is_trusted(const sockaddr* peer) const;
  std::filesystem::path database_path() const { return data_dir / "postroom.db"; }
  std::filesystem::path dkim_dir() const { return data_dir / "dkim"; }
  std::filesystem::path acme_dir() const { return data_dir / "acme"; }
  // acme.names, or the names derived from hostname and domains; empty without acme.
  std::vector<std::string> acme_names() const;
};

// One problem found in the file, printed as `FILE:LINE: KEY: what is wrong`.
struct ConfigError {
  std::string file;
  int line = 0;  // 1-based
  std::string key;
  std::string message;

  std::string str() const;
};

// Reads and checks the whole file; returns every error found, not just the first.
std::expected<Config, std::vector<ConfigError>> load(const std::filesystem::path& file);

// The path from --config, else $POSTROOM_CONFIG, else /etc/postroom/postroom.yaml.
std::filesystem::path default_path(const char* from_flag);

}  // namespace postroom::config
