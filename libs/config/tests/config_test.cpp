#include "postroom/config/config.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace postroom;
using namespace postroom::config;

namespace {

// Writes `yaml` into a fresh temporary directory and loads it.
struct TempConfig {
  fs::path dir;
  fs::path file;
  explicit TempConfig(const std::string& yaml) {
    char tmpl[] = "/tmp/postroom-config-XXXXXX";
    dir = mkdtemp(tmpl);
    file = dir / "postroom.yaml";
    std::ofstream(file) << yaml;
  }
  ~TempConfig() { fs::remove_all(dir); }
  auto load() const { return config::load(file); }
};

const char* kMinimal = R"(hostname: mail.example.test
domains: [Example.TEST]
data_dir: data
listen:
  smtp: ["127.0.0.1:2525"]
)";

bool has_error(const std::vector<ConfigError>& errors, const std::string& key, int line) {
  for (const auto& e : errors) {
    if (e.key == key && e.line == line) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("config: the minimal file gets every default") {
  TempConfig t(kMinimal);
  auto c = t.load();
  REQUIRE(c);
  CHECK(c->hostname == "mail.example.test");
  CHECK(c->domains == std::vector<std::string>{"example.test"});
  CHECK(c->data_dir == t.dir / "data");
  CHECK(c->listen.smtp.size() == 1);
  CHECK(c->listen.smtp[0].port == 2525);
  CHECK_FALSE(c->tls);
  CHECK(c->trusted_networks.empty());
  CHECK(c->auth.plaintext_without_tls == PlaintextPolicy::trusted_networks);
  CHECK(c->relay.mode == RelayMode::direct);
  CHECK(c->limits.max_message_size == 25ULL << 20);
  CHECK(c->limits.max_recipients == 100);
  CHECK(c->limits.pop3_idle_timeout == Seconds(600));
  CHECK(c->relay.retry_schedule.size() == 6);
  CHECK(c->is_local_domain("EXAMPLE.test"));
  CHECK_FALSE(c->is_local_domain("other.test"));
}

TEST_CASE("config: every key of the interface parses") {
  TempConfig t("");
  std::ofstream(t.dir / "cert.pem") << "x";
  std::ofstream(t.dir / "key.pem") << "x";
  std::ofstream(t.dir / "secret") << "pw";
  std::ofstream(t.file) << R"(hostname: mail.example.test
domains: [example.test, example.org]
data_dir: /var/lib/postroom
listen:
  smtp: ["0.0.0.0:25"]
  submission: ["0.0.0.0:587"]
  submissions: ["0.0.0.0:465"]
  pop3: ["0.0.0.0:110", "[::]:110"]
  pop3s: ["[::1]:995"]
tls:
  cert: cert.pem
  key: key.pem
trusted_networks: ["127.0.0.0/8", "::1/128", "192.168.1.0/24"]
auth:
  plaintext_without_tls: never
relay:
  mode: smarthost
  smarthost:
    host: smtp.provider.example
    port: 465
    tls: implicit
    username: office@example.test
    password_file: secret
  dns_servers: ["127.0.0.1:5353", "10.0.0.1"]
  retry_schedule: [1m, 2h]
  max_queue_age: 6s
limits:
  max_message_size: 50MiB
  max_recipients: 10
  max_connections: 20
  max_connections_per_ip: 5
  smtp_idle_timeout: 1m
  pop3_idle_timeout: 1h
)";
  auto c = t.load();
  if (!c) {
    for (auto& e : c.error()) MESSAGE(e.str());
  }
  REQUIRE(c);
  CHECK(c->data_dir == "/var/lib/postroom");
  CHECK(c->listen.pop3.size() == 2);
  CHECK(c->listen.pop3[1].ipv6);
  CHECK(c->tls->cert == t.dir / "cert.pem");
  CHECK(c->trusted_networks.size() == 3);
  CHECK(c->auth.plaintext_without_tls == PlaintextPolicy::never);
  CHECK(c->relay.mode == RelayMode::smarthost);
  CHECK(c->relay.smarthost->port == 465);
  CHECK(c->relay.smarthost->tls == SmarthostTls::implicit);
  CHECK(*c->relay.smarthost->username == "office@example.test");
  CHECK(c->relay.dns_servers[1].port == 53);
  CHECK(c->relay.retry_schedule == std::vector<Seconds>{Seconds(60), Seconds(7200)});
  CHECK(c->relay.max_queue_age == Seconds(6));
  CHECK(c->limits.max_message_size == 50ULL << 20);
  CHECK(c->limits.max_connections_per_ip == 5);
  CHECK(c->limits.smtp_idle_timeout == Seconds(60));
}

TEST_CASE("config: missing required keys are reported at the parent mapping's line") {
  TempConfig t("hostname: mail.example.test\n");
  auto c = t.load();
  REQUIRE_FALSE(c);
  CHECK(has_error(c.error(), "domains", 1));
  CHECK(has_error(c.error(), "data_dir", 1));
  CHECK(has_error(c.error(), "listen", 1));
}

TEST_CASE("config: unknown and duplicate keys are errors with their lines") {
  TempConfig t(std::string(kMinimal) +
               "limits:\n  max_recipients: 5\n  max_recipients: 6\n"
               "  max_reciepients: 7\nfrobnicate: yes\n");
  auto c = t.load();
  REQUIRE_FALSE(c);
  CHECK(has_error(c.error(), "limits.max_recipients", 8));
  CHECK(has_error(c.error(), "limits.max_reciepients", 9));
  CHECK(has_error(c.error(), "frobnicate", 10));
  CHECK(c.error().front().str().find("postroom.yaml:") != std::string::npos);
}

TEST_CASE("config: bad values name the key, the line and the problem") {
  TempConfig t(R"(hostname: "not a host"
domains: [example.test, "bad domain"]
data_dir: data
listen:
  smtp: ["localhost:25", "127.0.0.1:99999"]
  pop3s: ["127.0.0.1:995"]
trusted_networks: ["10.0.0.0/40"]
auth:
  plaintext_without_tls: sometimes
relay:
  mode: carrier-pigeon
  max_queue_age: 5 days
limits:
  max_message_size: 25MB
  pop3_idle_timeout: 5m
  smtp_idle_timeout: 1.5m
  max_connections: 0
)");
  auto c = t.load();
  REQUIRE_FALSE(c);
  auto& e = c.error();
  CHECK(has_error(e, "hostname", 1));
  CHECK(has_error(e, "domains", 2));
  CHECK(has_error(e, "listen.smtp", 5));
  CHECK(has_error(e, "listen", 4));  // pop3s without tls
  CHECK(has_error(e, "trusted_networks", 7));
  CHECK(has_error(e, "auth.plaintext_without_tls", 9));
  CHECK(has_error(e, "relay.mode", 11));
  CHECK(has_error(e, "relay.max_queue_age", 12));
  CHECK(has_error(e, "limits.max_message_size", 14));
  CHECK(has_error(e, "limits.pop3_idle_timeout", 15));
  CHECK(has_error(e, "limits.smtp_idle_timeout", 16));
  CHECK(has_error(e, "limits.max_connections", 17));
  int listen_smtp_errors = 0;
  for (auto& one : e) listen_smtp_errors += one.key == "listen.smtp";
  CHECK(listen_smtp_errors == 2);
}

TEST_CASE("config: syntax errors and unreadable files are one clear error") {
  TempConfig t("hostname: [unclosed\n");
  auto c = t.load();
  REQUIRE_FALSE(c);
  CHECK(c.error().size() == 1);
  auto missing = config::load("/nonexistent/postroom.yaml");
  REQUIRE_FALSE(missing);
  CHECK(missing.error()[0].message == "cannot read it: does not exist");
}

TEST_CASE("config: a path that is no file is an error value, never an exception") {
  TempConfig t(kMinimal);
  // A directory: std::ifstream opens it and libstdc++ throws from the first read.
  auto as_dir = config::load(t.dir);
  REQUIRE_FALSE(as_dir);
  REQUIRE(as_dir.error().size() == 1);
  CHECK(as_dir.error()[0].str() ==
        t.dir.string() + ":1: (file): cannot read it: is a directory, not a file");
  CHECK_FALSE(config::load("/dev/null"));  // a character device
  // A file larger than any config is refused before yaml-cpp sees it.
  std::ofstream(t.file, std::ios::trunc) << "hostname: " << std::string(5 << 20, 'a') << "\n";
  auto huge = t.load();
  REQUIRE_FALSE(huge);
  CHECK(huge.error()[0].message == "cannot read it: is larger than 4194304 bytes");
}

TEST_CASE("config: binary garbage and absurd nesting are errors, not crashes") {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919 + 13) % 256);
  TempConfig t(garbage);
  CHECK_FALSE(t.load());
  TempConfig deep(std::string(100000, '[') + std::string(100000, ']'));
  CHECK_FALSE(deep.load());
  TempConfig tagged("hostname: !!binary \"%%%\"\n? [a, b]\n: c\n");
  CHECK_FALSE(tagged.load());
}

TEST_CASE("config: values and keys in errors are quoted, escaped and cut at 80 characters") {
  std::string huge(1 << 20, 'x');
  TempConfig t(std::string(kMinimal) + "limits:\n  max_message_size: " + huge +
               "\n  smtp_idle_timeout: \"5\\r\\nm\"\n" + std::string(1000, 'x') +
               ": 1\n\"evil\\r\\nforged log line\\0\": 1\n");
  auto c = t.load();
  REQUIRE_FALSE(c);
  REQUIRE(c.error().size() == 4);
  for (const auto& e : c.error()) {
    std::string line = e.str();
    CAPTURE(line);
    CHECK(line.size() < 400);
    CHECK(line.find_first_of(std::string("\r\n\0", 3)) == std::string::npos);
  }
  CHECK(c.error()[0].message.starts_with("'" + std::string(80, 'x') + "...': "));
  CHECK(c.error()[1].message.starts_with("'5\\r\\nm' needs a unit"));
  CHECK(c.error()[2].key == std::string(80, 'x') + "...");
  CHECK(c.error()[2].message == "unknown key");
  CHECK(c.error()[3].key == "evil\\r\\nforged log line\\0");
}

TEST_CASE("config: hostname is US-ASCII, a domain or an address literal") {
  auto with_hostname = [](const std::string& hostname) {
    std::string yaml = kMinimal;
    yaml.replace(yaml.find("mail.example.test"), 17, hostname);
    return TempConfig(yaml).load();
  };
  CHECK(with_hostname("MX1.example.test").value().hostname == "mx1.example.test");
  CHECK(with_hostname("\"[192.0.2.1]\"").value().hostname == "[192.0.2.1]");
  CHECK(with_hostname("\"[IPv6:2001:db8::1]\"").value().hostname == "[ipv6:2001:db8::1]");
  for (const char* bad : {"m\xc3\xa4il.example.test", "\"[300.1.1.1]\"", "mail_1.example.test"}) {
    CAPTURE(bad);
    auto c = with_hostname(bad);
    REQUIRE_FALSE(c);
    CHECK(has_error(c.error(), "hostname", 1));
  }
  auto utf8 = with_hostname("m\xc3\xa4il.example.test");
  CHECK(utf8.error()[0].message.starts_with("'m\\xc3\\xa4il.example.test' is not a host name"));
}

TEST_CASE("config: trusted_networks wider than /8 or /16 need trusted_networks_allow_wide") {
  for (const char* wide : {"0.0.0.0/0", "::/0", "128.0.0.0/1", "8.0.0.0/7", "2000::/3", "fc00::/7",
                           "::ffff:0.0.0.0/96", "::ffff:0:0/100"}) {
    CAPTURE(wide);
    TempConfig t(std::string(kMinimal) + "trusted_networks: [\"10.0.0.0/8\", \"" + wide + "\"]\n");
    auto refused = t.load();
    REQUIRE_FALSE(refused);
    REQUIRE(refused.error().size() == 1);
    CHECK(has_error(refused.error(), "trusted_networks", 6));
    CHECK(refused.error()[0].message.find("trusted_networks_allow_wide: true") !=
          std::string::npos);
    TempConfig allowed(std::string(kMinimal) + "trusted_networks: [\"" + wide +
                       "\"]\ntrusted_networks_allow_wide: true\n");
    auto c = allowed.load();
    REQUIRE(c);
    CHECK(c->trusted_networks.size() == 1);
    CHECK(c->trusted_networks_allow_wide);
  }
  TempConfig office(std::string(kMinimal) +
                    "trusted_networks: [\"10.0.0.0/8\", \"172.16.0.0/12\", \"::1/128\", "
                    "\"fd12:3456:789a::/48\", \"::ffff:192.168.0.0/112\"]\n");
  auto c = office.load();
  REQUIRE(c);
  CHECK(c->trusted_networks.size() == 5);
  CHECK_FALSE(c->trusted_networks_allow_wide);
  TempConfig bad_flag(std::string(kMinimal) + "trusted_networks_allow_wide: yes\n");
  CHECK(has_error(bad_flag.load().error(), "trusted_networks_allow_wide", 6));
}

TEST_CASE("config: tls and password files must be regular files") {
  TempConfig t(std::string(kMinimal) + "tls:\n  cert: .\n  key: .\n");
  auto c = t.load();
  REQUIRE_FALSE(c);
  CHECK(has_error(c.error(), "tls.cert", 7));
  CHECK(c.error()[0].message.ends_with("is a directory, not a file"));
}

TEST_CASE("config: smarthost mode needs its section and a readable password file") {
  TempConfig t(std::string(kMinimal) + "relay:\n  mode: smarthost\n");
  auto c = t.load();
  REQUIRE_FALSE(c);
  CHECK(has_error(c.error(), "relay.smarthost", 6));
  TempConfig t2(std::string(kMinimal) +
                "relay:\n  mode: smarthost\n  smarthost:\n    host: smtp.example\n"
                "    username: u\n    password_file: nope.secret\n");
  auto c2 = t2.load();
  REQUIRE_FALSE(c2);
  CHECK(has_error(c2.error(), "relay.smarthost.password_file", 11));
}

TEST_CASE("config: pop3_idle_timeout of exactly 10m is accepted") {
  TempConfig t(std::string(kMinimal) + "limits:\n  pop3_idle_timeout: 10m\n");
  CHECK(t.load());
}

TEST_CASE("config: default_path prefers the flag, then the environment") {
  CHECK(default_path("/x.yaml") == "/x.yaml");
  setenv("POSTROOM_CONFIG", "/env.yaml", 1);
  CHECK(default_path(nullptr) == "/env.yaml");
  unsetenv("POSTROOM_CONFIG");
  CHECK(default_path(nullptr) == "/etc/postroom/postroom.yaml");
}

TEST_CASE("config: the production sample etc/postroom.yaml loads as installed") {
  // The package installs it as /etc/postroom/postroom.yaml: every admin command must work
  // with it before anyone edits it, so it names no certificate or secret file that is not
  // there, and no resolver that a fresh box does not run.
  auto c = config::load(POSTROOM_SAMPLE_CONFIG);
  if (!c)
    for (const auto& e : c.error()) MESSAGE(e.str());
  REQUIRE(c);
  CHECK_FALSE(c->tls);
  CHECK(c->relay.dns_servers.empty());
}

TEST_CASE("config: user and run_as_root default to unset and false") {
  TempConfig t(kMinimal);
  auto c = t.load();
  REQUIRE(c);
  CHECK_FALSE(c->user);
  CHECK_FALSE(c->run_as_root);
}

TEST_CASE("config: user names an account, run_as_root is a boolean") {
  TempConfig t(std::string(kMinimal) + "user: mail-user_1.x\n");
  auto c = t.load();
  REQUIRE(c);
  CHECK(c->user == "mail-user_1.x");
  TempConfig t2(std::string(kMinimal) + "run_as_root: true\n");
  auto c2 = t2.load();
  REQUIRE(c2);
  CHECK(c2->run_as_root);
}

TEST_CASE("config: a bad user, root, a non-boolean run_as_root and both keys are errors") {
  TempConfig bad_name(std::string(kMinimal) + "user: \"-x y\"\n");
  auto c = bad_name.load();
  REQUIRE_FALSE(c);
  CHECK(has_error(c.error(), "user", 6));
  TempConfig root(std::string(kMinimal) + "user: root\n");
  auto c2 = root.load();
  REQUIRE_FALSE(c2);
  CHECK(has_error(c2.error(), "user", 6));
  TempConfig yes(std::string(kMinimal) + "run_as_root: yes\n");
  auto c3 = yes.load();
  REQUIRE_FALSE(c3);
  CHECK(has_error(c3.error(), "run_as_root", 6));
  TempConfig both(std::string(kMinimal) + "user: postroom\nrun_as_root: true\n");
  auto c4 = both.load();
  REQUIRE_FALSE(c4);
  CHECK(has_error(c4.error(), "run_as_root", 7));
}

TEST_CASE("config: login deadline, reserved slots and the per-address lockout cap") {
  TempConfig defaults(kMinimal);
  auto d = defaults.load();
  REQUIRE(d);
  CHECK(d->limits.login_timeout == Seconds(120));
  CHECK(d->limits.reserved() == 200);  // a fifth of max_connections
  CHECK(d->auth.lockout_failures_per_address == 100);
  TempConfig set(std::string(kMinimal) +
                 "auth:\n  lockout_failures_per_address: 30\n"
                 "limits:\n  max_connections: 50\n  reserved_connections: 0\n"
                 "  login_timeout: 30s\n");
  auto s = set.load();
  REQUIRE(s);
  CHECK(s->auth.lockout_failures_per_address == 30);
  CHECK(s->limits.reserved() == 0);
  CHECK(s->limits.login_timeout == Seconds(30));
  TempConfig bad(std::string(kMinimal) +
                 "auth:\n  lockout_failures_per_address: 0\n"
                 "limits:\n  max_connections: 50\n  reserved_connections: 50\n"
                 "  login_timeout: 5s\n");
  auto b = bad.load();
  REQUIRE_FALSE(b);
  CHECK(has_error(b.error(), "auth.lockout_failures_per_address", 7));
  CHECK(has_error(b.error(), "limits.reserved_connections", 10));
  CHECK(has_error(b.error(), "limits.login_timeout", 11));
}

TEST_CASE(
    "config: auth.verified_login_cache defaults to 15m, 0s turns it off, over a day is refused") {
  TempConfig defaults(kMinimal);
  auto d = defaults.load();
  REQUIRE(d);
  CHECK(d->auth.verified_login_cache == Seconds(15 * 60));
  TempConfig off(std::string(kMinimal) + "auth:\n  verified_login_cache: 0s\n");
  auto o = off.load();
  REQUIRE(o);
  CHECK(o->auth.verified_login_cache == Seconds(0));
  TempConfig bad(std::string(kMinimal) + "auth:\n  verified_login_cache: 2d\n");
  auto b = bad.load();
  REQUIRE_FALSE(b);
  CHECK(has_error(b.error(), "auth.verified_login_cache", 7));
}

TEST_CASE("config: relay.tls_policy keys parse, with their defaults and errors at their line") {
  TempConfig defaults(kMinimal);
  auto d = defaults.load();
  REQUIRE(d);
  CHECK(d->relay.tls_policy.mta_sts);
  CHECK_FALSE(d->relay.tls_policy.dane);
  CHECK_FALSE(d->relay.tls_policy.ca_file.has_value());
  CHECK(d->relay.tls_policy.trust_anchor == "/usr/share/dns/root.key");

  TempConfig t("");
  std::ofstream(t.dir / "ca.pem") << "x";
  std::ofstream(t.dir / "root.key") << "x";
  std::ofstream(t.file) << std::string(kMinimal) + R"(relay:
  mode: direct
  tls_policy:
    mta_sts: false
    dane: true
    ca_file: ca.pem
    mta_sts_resolve: ["mta-sts.example.org:443:127.0.0.5"]
    trust_anchor: root.key
    dnssec_servers: ["127.0.0.1:5353"]
)";
  auto c = t.load();
  REQUIRE(c);
  const auto& p = c->relay.tls_policy;
  CHECK_FALSE(p.mta_sts);
  CHECK(p.dane);
  CHECK(*p.ca_file == t.dir / "ca.pem");
  CHECK(p.mta_sts_resolve == std::vector<std::string>{"mta-sts.example.org:443:127.0.0.5"});
  CHECK(p.trust_anchor == t.dir / "root.key");
  CHECK(p.dnssec_servers.at(0).port == 5353);

  TempConfig bad(std::string(kMinimal) + R"(relay:
  tls_policy:
    dane: maybe
    mta_sts_resolve: ["nonsense"]
    ca_file: missing.pem
    colour: blue
)");
  auto b = bad.load();
  REQUIRE_FALSE(b);
  CHECK(has_error(b.error(), "relay.tls_policy.dane", 8));
  CHECK(has_error(b.error(), "relay.tls_policy.mta_sts_resolve", 9));
  CHECK(has_error(b.error(), "relay.tls_policy.ca_file", 10));
  CHECK(b.error().size() == 4);
}

TEST_CASE("config: dkim.activate_after is a duration or never, 2d by default") {
  {
    TempConfig t(kMinimal);
    auto c = t.load();
    REQUIRE(c);
    CHECK(c->dkim.activate_after == Seconds(2 * 86400));
    CHECK(c->dkim_dir() == t.dir / "data" / "dkim");
  }
  {
    TempConfig t(std::string(kMinimal) + "dkim:\n  activate_after: never\n");
    auto c = t.load();
    REQUIRE(c);
    CHECK_FALSE(c->dkim.activate_after);
  }
  {
    TempConfig t(std::string(kMinimal) + "dkim:\n  activate_after: 0s\n");
    auto c = t.load();
    REQUIRE(c);
    CHECK(c->dkim.activate_after == Seconds(0));
  }
  {
    TempConfig t(std::string(kMinimal) + "dkim:\n  activate_after: soon\n  selector: x\n");
    auto c = t.load();
    REQUIRE_FALSE(c);
    CHECK(has_error(c.error(), "dkim.activate_after", 7));
    CHECK(has_error(c.error(), "dkim.selector", 8));
  }
}

TEST_CASE("config: outbound limits, srs and public_addresses") {
  TempConfig defaults(kMinimal);
  auto d = defaults.load();
  REQUIRE(d);
  CHECK(d->limits.outbound_messages_per_hour == 100);
  CHECK(d->limits.outbound_messages_per_day == 500);
  CHECK(d->limits.outbound_new_recipients_per_day == 300);
  CHECK(d->relay.srs);
  CHECK(d->public_addresses.empty());
  TempConfig set(std::string(kMinimal) +
                 "public_addresses: [\"192.0.2.1\", \"2001:db8::1\"]\n"
                 "relay:\n  srs: false\n"
                 "limits:\n  outbound_messages_per_hour: 0\n  outbound_messages_per_day: 20\n"
                 "  outbound_new_recipients_per_day: 7\n");
  auto s = set.load();
  REQUIRE(s);
  CHECK(s->public_addresses == std::vector<std::string>{"192.0.2.1", "2001:db8::1"});
  CHECK_FALSE(s->relay.srs);
  CHECK(s->limits.outbound_messages_per_hour == 0);
  CHECK(s->limits.outbound_messages_per_day == 20);
  CHECK(s->limits.outbound_new_recipients_per_day == 7);
  TempConfig bad(std::string(kMinimal) +
                 "public_addresses: [\"mail.example.test\", \"192.0.2.0/24\"]\n"
                 "relay:\n  srs: maybe\n"
                 "limits:\n  outbound_messages_per_hour: -1\n");
  auto b = bad.load();
  REQUIRE_FALSE(b);
  CHECK(has_error(b.error(), "public_addresses", 6));
  CHECK(has_error(b.error(), "relay.srs", 8));
  CHECK(has_error(b.error(), "limits.outbound_messages_per_hour", 10));
}

TEST_CASE("config: mail_auth defaults to tag-only checks, and every key parses") {
  {
    TempConfig t(kMinimal);
    auto c = t.load();
    REQUIRE(c);
    CHECK(c->mail_auth.spf == CheckMode::tag);
    CHECK(c->mail_auth.dkim == CheckMode::tag);
    CHECK(c->mail_auth.dmarc == CheckMode::tag);
    CHECK(c->mail_auth.on_dns_error == DnsErrorAction::tag);
    CHECK(c->mail_auth.dns_timeout == Seconds(10));
    CHECK(c->mail_auth.subject_tag == "[SPAM]");
  }
  TempConfig t(std::string(kMinimal) + R"(mail_auth:
  spf: off
  dkim: enforce
  dmarc: enforce
  dns_timeout: 3s
  on_dns_error: tempfail
  subject_tag: "***SPAM***"
  public_suffix_list: /usr/share/publicsuffix/public_suffix_list.dat
)");
  auto c = t.load();
  REQUIRE(c);
  CHECK(c->mail_auth.spf == CheckMode::off);
  CHECK(c->mail_auth.dkim == CheckMode::enforce);
  CHECK(c->mail_auth.dmarc == CheckMode::enforce);
  CHECK(c->mail_auth.dns_timeout == Seconds(3));
  CHECK(c->mail_auth.on_dns_error == DnsErrorAction::tempfail);
  CHECK(c->mail_auth.subject_tag == "***SPAM***");
}

TEST_CASE("config: bad mail_auth values are errors at their lines") {
  TempConfig t(std::string(kMinimal) + R"(mail_auth:
  spf: reject
  dns_timeout: 0s
  public_suffix_list: /nonexistent/psl.dat
  colour: red
)");
  auto c = t.load();
  REQUIRE_FALSE(c);
  CHECK(has_error(c.error(), "mail_auth.spf", 7));
  CHECK(has_error(c.error(), "mail_auth.dns_timeout", 8));
  CHECK(has_error(c.error(), "mail_auth.public_suffix_list", 9));
  CHECK(has_error(c.error(), "mail_auth.colour", 10));
}

TEST_CASE("config: milters, dnsbl and greylisting parse with their defaults") {
  TempConfig t(std::string(kMinimal) + R"(milters:
  - name: rspamd
    address: inet:127.0.0.1:11332
  - name: clamav
    address: unix:/run/clamav/milter.sock
    timeout: 2m
    default_action: accept
dnsbl:
  action: reject
  threshold: 2
  zones:
    - zone: zen.spamhaus.org
      weight: 2
      codes: [127.0.0.2, 127.0.0.4]
    - zone: bl.example
greylisting:
  enabled: true
  window: 2s
)");
  auto c = t.load();
  REQUIRE(c);
  REQUIRE(c->milters.size() == 2);
  CHECK(c->milters[0].inet->port == 11332);
  CHECK(c->milters[0].timeout == Seconds(30));
  CHECK(c->milters[0].default_action == Milter::DefaultAction::tempfail);
  CHECK(c->milters[1].unix_path == "/run/clamav/milter.sock");
  CHECK(c->milters[1].default_action == Milter::DefaultAction::accept);
  CHECK(c->dnsbl.action == Dnsbl::Action::reject);
  CHECK(c->dnsbl.threshold == 2);
  REQUIRE(c->dnsbl.zones.size() == 2);
  CHECK(c->dnsbl.zones[0].codes == std::vector<std::string>{"127.0.0.2", "127.0.0.4"});
  CHECK(c->dnsbl.zones[1].weight == 1);
  CHECK(c->greylisting.enabled);
  CHECK(c->greylisting.window == Seconds(2));
  TempConfig defaults(kMinimal);
  auto d = defaults.load();
  REQUIRE(d);
  CHECK(d->milters.empty());
  CHECK(d->dnsbl.action == Dnsbl::Action::tag);
  CHECK_FALSE(d->greylisting.enabled);
}

TEST_CASE("config: bad milter, dnsbl and greylisting values are errors with their lines") {
  TempConfig t(std::string(kMinimal) + R"(milters:
  - name: a
    address: tcp:somewhere
  - name: a
    address: unix:relative/path
    colour: blue
dnsbl:
  zones:
    - zone: "not a zone"
      codes: [10.0.0.2]
greylisting:
  window: 1d
  forget: 1h
)");
  auto c = t.load();
  REQUIRE_FALSE(c);
  CHECK(has_error(c.error(), "milters.address", 8));
  CHECK(has_error(c.error(), "milters.name", 9));
  CHECK(has_error(c.error(), "milters.address", 10));
  CHECK(has_error(c.error(), "milters.colour", 11));
  CHECK(has_error(c.error(), "dnsbl.zones.zone", 14));
  CHECK(has_error(c.error(), "dnsbl.zones.codes", 15));
  CHECK(has_error(c.error(), "greylisting.forget", 17));
}

TEST_CASE("config: the http section and listeners parse; bad values are errors at their lines") {
  TempConfig t(std::string(kMinimal) + R"(http:
  metrics_allow: ["10.1.2.0/24"]
  request_timeout: 3s
  mta_sts: {mode: enforce, max_age: 1d}
)");
  auto c = t.load();
  REQUIRE(c);
  REQUIRE(c->http.metrics_allow.size() == 1);
  CHECK(c->http.request_timeout == Seconds(3));
  CHECK(c->http.mta_sts_mode == "enforce");
  CHECK(c->http.mta_sts_max_age == Seconds(86400));
  CHECK(c->listen.http.empty());  // off unless set
  TempConfig bad(std::string(kMinimal) + R"(http:
  metrics_allow: [nonsense]
  mta_sts: {mode: strict, max_age: 400d}
  colour: red
)");
  auto b = bad.load();
  REQUIRE_FALSE(b);
  CHECK(has_error(b.error(), "http.metrics_allow", 7));
  CHECK(has_error(b.error(), "http.mta_sts.mode", 8));
  CHECK(has_error(b.error(), "http.mta_sts.max_age", 8));
  CHECK(has_error(b.error(), "http.colour", 9));
}

TEST_CASE("config: retention takes durations or never, and is off by default") {
  TempConfig t(std::string(kMinimal) + R"(retention:
  retrieved: 30d
  max_age: never
  login_delay: 15m
  check_every: 2s
)");
  auto c = t.load();
  REQUIRE(c);
  CHECK(c->retention.retrieved == Seconds(30 * 86400));
  CHECK_FALSE(c->retention.max_age);
  CHECK(c->retention.login_delay == Seconds(900));
  CHECK(c->retention.check_every == Seconds(2));
  TempConfig defaults(kMinimal);
  auto d = defaults.load();
  REQUIRE(d);
  CHECK_FALSE(d->retention.retrieved);
  CHECK_FALSE(d->retention.max_age);
  CHECK(d->retention.login_delay == Seconds(0));
  CHECK(d->retention.check_every == Seconds(3600));

  TempConfig bad(std::string(kMinimal) + R"(retention:
  retrieved: 0s
  max_age: forever
  check_every: 0s
  keep: yes
)");
  auto e = bad.load();
  REQUIRE_FALSE(e);
  const int base = 6;  // the line of `retention:`, after kMinimal's five
  CHECK(has_error(e.error(), "retention.retrieved", base + 1));
  CHECK(has_error(e.error(), "retention.max_age", base + 2));
  CHECK(has_error(e.error(), "retention.check_every", base + 3));
  CHECK(has_error(e.error(), "retention.keep", base + 4));
}

TEST_CASE("config: quota defaults are none; sizes, counts and none parse; bad values are errors") {
  TempConfig t(std::string(kMinimal) + R"(quota:
  user_bytes: 50MiB
  user_messages: 10000
  domain_bytes: none
  domain_messages: 200000
  warnings: false
)");
  auto c = t.load();
  REQUIRE(c);
  CHECK(c->quota.user_bytes == std::optional<std::uint64_t>(50ULL << 20));
  CHECK(c->quota.user_messages == std::optional<std::uint64_t>(10000));
  CHECK_FALSE(c->quota.domain_bytes);
  CHECK(c->quota.domain_messages == std::optional<std::uint64_t>(200000));
  CHECK_FALSE(c->quota.warnings);
  TempConfig defaults(kMinimal);
  auto d = defaults.load();
  REQUIRE(d);
  CHECK_FALSE(d->quota.user_bytes);
  CHECK_FALSE(d->quota.user_messages);
  CHECK(d->quota.warnings);

  TempConfig bad(std::string(kMinimal) + R"(quota:
  user_bytes: 50M
  user_messages: 0
  domain_bytes: 0B
  colour: blue
)");
  auto e = bad.load();
  REQUIRE_FALSE(e);
  CHECK(has_error(e.error(), "quota.user_bytes", 7));
  CHECK(has_error(e.error(), "quota.user_messages", 8));
  CHECK(has_error(e.error(), "quota.domain_bytes", 9));
  CHECK(has_error(e.error(), "quota.colour", 10));
}

TEST_CASE("config: acme derives its names, replaces tls for TLS listeners, and checks its keys") {
  TempConfig t(std::string(R"(hostname: mail.example.test
domains: [example.test, other.test]
data_dir: data
listen:
  pop3s: ["127.0.0.1:995"]
  http: ["127.0.0.1:80"]
acme:
  contact: admin@example.test
)"));
  auto c = t.load();
  REQUIRE(c);
  REQUIRE(c->acme);
  CHECK(c->acme->directory_url == "https://acme-v02.api.letsencrypt.org/directory");
  CHECK(c->acme->challenge == Acme::Challenge::http01);
  CHECK(c->acme_names() == std::vector<std::string>{"mail.example.test", "autoconfig.example.test",
                                                    "mta-sts.example.test", "autoconfig.other.test",
                                                    "mta-sts.other.test"});
  CHECK(c->acme_dir() == t.dir / "data" / "acme");

  TempConfig bad(std::string(kMinimal) + R"(acme:
  directory_url: http://plain.example/dir
  challenge: tls-alpn-01
  names: [bad_name]
  colour: blue
)");
  auto errors = bad.load();
  REQUIRE_FALSE(errors);
  CHECK(has_error(errors.error(), "acme.directory_url", 7));
  CHECK(has_error(errors.error(), "acme.names", 9));
  CHECK(has_error(errors.error(), "acme.colour", 10));
  CHECK(has_error(errors.error(), "acme.challenge", 6));  // no https listener
}

TEST_CASE("config: the store is SQLite unless store.backend says postgresql") {
  TempConfig t(kMinimal);
  auto c = t.load();
  REQUIRE(c);
  CHECK(c->store.backend == StoreBackend::sqlite);
  CHECK_FALSE(c->store.postgresql);
}

TEST_CASE("config: store.postgresql with separate keys, the password from its file") {
  TempConfig t(std::string(kMinimal) + R"(store:
  backend: postgresql
  postgresql:
    host: db.example.test
    port: 5433
    dbname: mail
    user: mailer
    password_file: pg.secret
    sslmode: verify-full
    pool_size: 8
)");
  std::ofstream(t.dir / "pg.secret") << "s3cret 'x\n";
  auto c = t.load();
  REQUIRE(c);
  CHECK(c->store.backend == StoreBackend::postgresql);
  REQUIRE(c->store.postgresql);
  const auto& pg = *c->store.postgresql;
  CHECK(pg.host == "db.example.test");
  CHECK(pg.port == 5433);
  CHECK(pg.pool_size == 8);
  CHECK(pg.password_file == t.dir / "pg.secret");
  auto params = pg.connection_params();
  REQUIRE(params);
  using Params = std::vector<std::pair<std::string, std::string>>;
  CHECK(*params == Params{{"host", "db.example.test"},
                          {"port", "5433"},
                          {"dbname", "mail"},
                          {"user", "mailer"},
                          {"sslmode", "verify-full"},
                          {"password", "s3cret 'x"},
                          {"fallback_application_name", "postroom"}});
  // Read when connecting, not when loading: a rotated password needs no reload.
  std::ofstream(t.dir / "pg.secret") << "rotated\n";
  CHECK(pg.connection_params()->at(5).second == "rotated");
  fs::remove(t.dir / "pg.secret");
  auto gone = pg.connection_params();
  REQUIRE_FALSE(gone);
  CHECK(gone.error().message.find("password_file") != std::string::npos);
  CHECK(gone.error().message.find("rotated") == std::string::npos);
}

TEST_CASE("config: store.postgresql.dsn, with defaults, and kept while the backend is sqlite") {
  TempConfig t(std::string(kMinimal) + R"(store:
  postgresql:
    dsn: postgresql://mailer@db.example.test/mail
)");
  auto c = t.load();
  REQUIRE(c);
  CHECK(c->store.backend == StoreBackend::sqlite);
  REQUIRE(c->store.postgresql);
  CHECK(c->store.postgresql->pool_size == 4);
  auto params = c->store.postgresql->connection_params();
  REQUIRE(params);
  REQUIRE(params->size() == 2);
  CHECK(params->front() ==
        std::pair<std::string, std::string>{"dbname", "postgresql://mailer@db.example.test/mail"});
}

TEST_CASE("config: bad store values are errors at their lines, and never echo the dsn") {
  TempConfig unknown(std::string(kMinimal) + "store:\n  backend: mysql\n");
  auto u = unknown.load();
  REQUIRE_FALSE(u);
  CHECK(has_error(u.error(), "store.backend", 7));

  TempConfig without(std::string(kMinimal) + "store:\n  backend: postgresql\n");
  auto w = without.load();
  REQUIRE_FALSE(w);
  CHECK(has_error(w.error(), "store.postgresql", 6));

  TempConfig both(std::string(kMinimal) + R"(store:
  backend: postgresql
  postgresql:
    dsn: host=db password=hunter2
    host: db
    pool_size: 0
    password_file: missing.secret
    sslmode: maybe
    colour: blue
)");
  auto b = both.load();
  REQUIRE_FALSE(b);
  CHECK(has_error(b.error(), "store.postgresql.host", 10));
  CHECK(has_error(b.error(), "store.postgresql.pool_size", 11));
  CHECK(has_error(b.error(), "store.postgresql.password_file", 12));
  CHECK(has_error(b.error(), "store.postgresql.sslmode", 13));
  CHECK(has_error(b.error(), "store.postgresql.colour", 14));
  for (const auto& e : b.error()) CHECK(e.str().find("hunter2") == std::string::npos);

  TempConfig empty(std::string(kMinimal) + "store:\n  postgresql:\n    port: 5432\n");
  auto m = empty.load();
  REQUIRE_FALSE(m);
  CHECK(has_error(m.error(), "store.postgresql", 7));
}
