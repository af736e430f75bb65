// The inbound SPF/DKIM/DMARC filter: what results mean under each mode (decide_mail_auth),
// how the header section is edited, and the filter itself on a loop when DNS fails or never
// answers within the per-message budget.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "postroom/base/endpoint.hpp"
#include "postroom/mailauth/public_suffix.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/net/resolver.hpp"
#include "postroom/service/mail_auth_filter.hpp"
#include "postroom/service/mail_auth_verdict.hpp"

using namespace postroom;
using namespace postroom::service;
using namespace postroom::mailauth;

namespace {

MailAuthResults forged_results(DmarcPolicy policy) {
  MailAuthResults r;
  r.authserv_id = "mx.example.test";
  r.mail_from = "ceo@forger.net";
  r.helo = "forger.net";
  r.spf = SpfOutcome{SpfResult::pass, "forger.net", "", "matched +all"};
  r.dkim = std::vector<DkimOutcome>{};
  r.dmarc_checked = true;
  r.author_domain = std::string("bank.example");
  DmarcOutcome d;
  d.result = DmarcResult::fail;
  d.from_domain = "bank.example";
  d.published = policy;
  d.disposition = policy;
  r.dmarc = d;
  return r;
}

}  // namespace

TEST_CASE("mail auth verdict: a p=reject forgery is refused only in enforce mode") {
  config::MailAuth enforce;
  enforce.dmarc = config::CheckMode::enforce;
  auto refused = decide_mail_auth(forged_results(DmarcPolicy::reject), enforce);
  CHECK(refused.verdict.action == FilterVerdict::Action::reject);
  CHECK(refused.verdict.code == 550);
  CHECK(refused.verdict.enhanced == "5.7.1");
  CHECK(refused.verdict.log == "spf=pass dkim=none dmarc=fail action=reject");
  config::MailAuth tag;  // the default: tag
  auto tagged = decide_mail_auth(forged_results(DmarcPolicy::reject), tag);
  CHECK(tagged.verdict.action == FilterVerdict::Action::accept);
  CHECK(tagged.tag);
  auto quarantined = decide_mail_auth(forged_results(DmarcPolicy::quarantine), enforce);
  CHECK(quarantined.verdict.action == FilterVerdict::Action::accept);
  CHECK(quarantined.tag);
  auto none = decide_mail_auth(forged_results(DmarcPolicy::none), enforce);
  CHECK(!none.tag);
  CHECK(none.verdict.log == "spf=pass dkim=none dmarc=fail action=accept");
  CHECK(none.auth_results ==
        "mx.example.test;\r\n\tspf=pass (matched +all) smtp.mailfrom=ceo@forger.net;\r\n"
        "\tdkim=none;\r\n\tdmarc=fail (p=none dis=none) header.from=bank.example");
}

TEST_CASE("mail auth verdict: temperror tags, or answers 451 when the config says tempfail") {
  MailAuthResults r;
  r.authserv_id = "mx.example.test";
  r.mail_from = "a@slow.example";
  r.spf = SpfOutcome{SpfResult::temperror, "slow.example", "", "DNS error"};
  config::MailAuth settings;
  settings.dmarc = config::CheckMode::off;
  auto tagged = decide_mail_auth(r, settings);
  CHECK(tagged.verdict.action == FilterVerdict::Action::accept);
  CHECK(tagged.tag);
  settings.on_dns_error = config::DnsErrorAction::tempfail;
  auto deferred = decide_mail_auth(r, settings);
  CHECK(deferred.verdict.action == FilterVerdict::Action::tempfail);
  CHECK(deferred.verdict.code == 451);
}

TEST_CASE("mail auth: forged Authentication-Results for this host go, others stay; tagging") {
  HeaderSection headers = HeaderSection::parse(
      "Authentication-Results: MX.example.test; dkim=pass header.d=bank.example\r\n"
      "Authentication-Results: other.example; spf=pass\r\n"
      "X-Spam-Flag: NO\r\n"
      "Subject: invoice\r\n");
  MailAuthDecision decision;
  decision.tag = true;
  decision.auth_results = "mx.example.test; none";
  CHECK(apply_mail_auth(decision, "mx.example.test", "[SPAM]", headers) == 1);
  CHECK(headers.text() ==
        "Authentication-Results: mx.example.test; none\r\n"
        "X-Spam-Flag: YES\r\n"
        "Authentication-Results: other.example; spf=pass\r\n"
        "Subject: [SPAM] invoice\r\n");
  // A second pass does not tag the subject twice.
  apply_mail_auth(decision, "mx.example.test", "[SPAM]", headers);
  CHECK(headers.find("Subject")->value == " [SPAM] invoice");
  CHECK(headers.count("Authentication-Results") == 2);
}

namespace {

// Runs one message through the filter on a private loop; returns the verdict and headers.
std::pair<FilterVerdict, std::string> run_filter(std::shared_ptr<config::Config> config,
                                                 std::shared_ptr<net::Resolver>* resolver_out,
                                                 uv_loop_t* loop, std::uint16_t dns_port) {
  service::Context context;
  context.loop = loop;
  context.config = config;
  if (dns_port) {
    auto endpoint = parse_endpoint("127.0.0.1:" + std::to_string(dns_port));
    REQUIRE(endpoint);
    auto created = net::Resolver::create(loop, {*endpoint});
    REQUIRE(created);
    context.resolver = std::shared_ptr<net::Resolver>(std::move(*created));
  }
  FilterFactory factory = mail_auth_filter_factory(context);
  FilterEnvelope envelope;
  envelope.peer_ip = "192.0.2.1";
  envelope.helo = "mail.forger.test";
  envelope.reverse_path = Address{"ceo", "bank.test"};
  envelope.hostname = "mx.example.test";
  FilterEnvelope trusted = envelope;
  trusted.trusted = true;
  CHECK(factory(trusted) == nullptr);  // the office's own networks are not checked
  auto filter = factory(envelope);
  REQUIRE(filter);
  HeaderSection headers = HeaderSection::parse("From: ceo@bank.test\r\nSubject: pay\r\n");
  filter->headers_complete(headers);
  filter->body("hello\r\n");
  std::optional<FilterVerdict> verdict;
  filter->finish(headers, [&](FilterVerdict v) {
    verdict = std::move(v);
    filter.reset();
    context.resolver.reset();
  });
  uv_run(loop, UV_RUN_DEFAULT);
  if (resolver_out) *resolver_out = nullptr;
  REQUIRE(verdict);
  return {*verdict, headers.text()};
}

}  // namespace

TEST_CASE("mail auth filter: without a resolver every check is temperror and the message tagged") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto config = std::make_shared<config::Config>();
  config->hostname = "mx.example.test";
  auto [verdict, text] = run_filter(config, nullptr, &loop, 0);
  CHECK(verdict.action == FilterVerdict::Action::accept);
  CHECK(verdict.log == "spf=temperror dkim=none dmarc=temperror action=tag");
  CHECK(text.starts_with("Authentication-Results: mx.example.test;\r\n\tspf=temperror"));
  CHECK(text.find("X-Spam-Flag: YES\r\n") != std::string::npos);
  CHECK(text.find("Subject: [SPAM] pay\r\n") != std::string::npos);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("mail auth filter: a DNS server that never answers runs out the per-message budget") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // A UDP socket that reads queries and answers none.
  uv_udp_t silent;
  uv_udp_init(&loop, &silent);
  sockaddr_in address{};
  uv_ip4_addr("127.0.0.1", 0, &address);
  uv_udp_bind(&silent, reinterpret_cast<sockaddr*>(&address), 0);
  sockaddr_in bound{};
  int length = sizeof bound;
  uv_udp_getsockname(&silent, reinterpret_cast<sockaddr*>(&bound), &length);
  auto config = std::make_shared<config::Config>();
  config->hostname = "mx.example.test";
  config->mail_auth.dns_timeout = Seconds(1);
  config->mail_auth.dmarc = config::CheckMode::enforce;
  config->mail_auth.on_dns_error = config::DnsErrorAction::tempfail;
  // The silent socket must close once the filter is done, or the loop never ends.
  auto closer = std::make_unique<net::Timer>(&loop);
  closer->start(1500, [&] {
    uv_close(reinterpret_cast<uv_handle_t*>(&silent), nullptr);
    closer.reset();
  });
  auto [verdict, text] = run_filter(config, nullptr, &loop, ntohs(bound.sin_port));
  CHECK(verdict.action == FilterVerdict::Action::tempfail);
  CHECK(verdict.code == 451);
  CHECK(verdict.log.starts_with("spf=temperror"));
  CHECK(uv_loop_close(&loop) == 0);
}

namespace {

// dnsmasq (Debian's dnsmasq-base) on a loopback port with the records given, for as long as
// this object lives.
class Dnsmasq {
 public:
  Dnsmasq(std::uint16_t port, std::vector<std::string> records) {
    char dir[] = "/tmp/postroom-dnsmasq-XXXXXX";
    dir_ = mkdtemp(dir);
    log_ = dir_ + "/dnsmasq.log";
    std::vector<std::string> args = {"/usr/sbin/dnsmasq",
                                     "--keep-in-foreground",
                                     "--conf-file=/dev/null",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--port=" + std::to_string(port),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces",
                                     "--pid-file=",
                                     "--user=" + std::string(getpwuid(getuid())->pw_name),
                                     "--log-queries",
                                     "--log-facility=" + log_};
    for (auto& r : records) args.push_back(r);
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      std::ifstream in(log_);
      std::stringstream s;
      s << in.rdbuf();
      if (s.str().find("started") != std::string::npos) return;
      usleep(50'000);
    }
    FAIL("dnsmasq did not start");
  }
  ~Dnsmasq() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

 private:
  pid_t pid_ = -1;
  std::string dir_, log_;
};

std::uint16_t free_udp_port() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t length = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
  close(fd);
  return ntohs(a.sin_port);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// dnsmasq's command line takes each comma-separated part as one character-string, quotes
// and all: long texts are split at 255 octets and not quoted (no record here has a comma).
std::string txt_record(const std::string& name, const std::string& text) {
  std::string out = "--txt-record=" + name;
  for (std::size_t i = 0; i < text.size(); i += 255) out += "," + text.substr(i, 255);
  return out;
}

struct Run {
  FilterVerdict verdict;
  std::string headers;
};

// One message through the filter with DNS from `dns_port`, as a client at 127.0.0.9 would
// send it: the envelope, the header section, the body in 5-octet pieces, finish().
Run check_message(std::shared_ptr<config::Config> config, std::uint16_t dns_port,
                  const std::string& mail_from, const std::string& message) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  service::Context context;
  context.loop = &loop;
  context.config = config;
  auto endpoint = parse_endpoint("127.0.0.1:" + std::to_string(dns_port));
  REQUIRE(endpoint);
  auto created = net::Resolver::create(&loop, {*endpoint});
  REQUIRE(created);
  context.resolver = std::shared_ptr<net::Resolver>(std::move(*created));
  FilterEnvelope envelope;
  envelope.peer_ip = "127.0.0.9";
  envelope.helo = "client.example.org";
  auto at = mail_from.find('@');
  envelope.reverse_path = Address{mail_from.substr(0, at), mail_from.substr(at + 1)};
  auto filter = mail_auth_filter_factory(context)(envelope);
  REQUIRE(filter);
  std::size_t end = message.find("\r\n\r\n");
  HeaderSection headers = HeaderSection::parse(std::string_view(message).substr(0, end + 2));
  filter->headers_complete(headers);
  std::string_view body = std::string_view(message).substr(end + 4);
  for (std::size_t i = 0; i < body.size(); i += 5) filter->body(body.substr(i, 5));
  std::optional<FilterVerdict> verdict;
  filter->finish(headers, [&](FilterVerdict v) {
    verdict = std::move(v);
    filter.reset();
    context.resolver.reset();
  });
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  REQUIRE(verdict);
  return {*verdict, headers.text()};
}

}  // namespace

TEST_CASE("mail auth filter with dnsmasq: dkimpy-signed pass, tampered, p=reject forgery") {
  std::string data = std::string(POSTROOM_MAILAUTH_DATA) + "/dkim/";
  std::string key;
  std::ifstream keys(data + "keys.txt");
  for (std::string line; std::getline(keys, line);)
    if (line.starts_with("rsa._domainkey.example.org\t")) key = line.substr(line.find('\t') + 1);
  REQUIRE(!key.empty());
  std::uint16_t port = free_udp_port();
  Dnsmasq dns(port, {"--local=/org/", "--local=/example/",
                     txt_record("example.org", "v=spf1 ip4:127.0.0.0/8 -all"),
                     txt_record("_dmarc.example.org", "v=DMARC1; p=reject"),
                     txt_record("rsa._domainkey.example.org", key),
                     txt_record("forger.example", "v=spf1 +all")});
  auto config = std::make_shared<config::Config>();
  config->hostname = "mx.example.test";
  config->mail_auth.dmarc = config::CheckMode::enforce;
  config->mail_auth.public_suffix_list = mailauth::PublicSuffixList::kDebianPath;

  std::string good = "Authentication-Results: MX.example.test; dkim=pass header.d=bank.test\r\n" +
                     read_text(data + "rsa_relaxed_simple.eml");
  Run pass = check_message(config, port, "alice@example.org", good);
  CHECK(pass.verdict.action == FilterVerdict::Action::accept);
  CHECK(pass.verdict.log == "spf=pass dkim=pass dmarc=pass action=accept removed_forged_ar=1");
  CHECK(
      pass.headers.starts_with("Authentication-Results: mx.example.test;\r\n"
                               "\tspf=pass (matched ip4:127.0.0.0/8 at example.org) "
                               "smtp.mailfrom=alice@example.org;\r\n"));
  CHECK(pass.headers.find("header.d=bank.test") == std::string::npos);
  CHECK(pass.headers.find("X-Spam-Flag") == std::string::npos);

  Run tampered =
      check_message(config, port, "alice@example.org", read_text(data + "rsa_body_tampered.eml"));
  // A broken signature alone is no signature (RFC 6376 §6.3): no tag.
  CHECK(tampered.verdict.log == "spf=pass dkim=fail dmarc=pass action=accept");
  CHECK(tampered.headers.find("X-Spam-Flag") == std::string::npos);

  // SPF passes for the forger's own domain, but nothing aligns with From: example.org.
  Run forged =
      check_message(config, port, "mallory@forger.example", read_text(data + "rsa_wrong_key.eml"));
  CHECK(forged.verdict.action == FilterVerdict::Action::reject);
  CHECK(forged.verdict.code == 550);
  CHECK(forged.verdict.enhanced == "5.7.1");
  CHECK(forged.verdict.log == "spf=pass dkim=permerror dmarc=fail action=reject");
}
