// The DKIM signing filter driven as the SMTP pipeline drives it: who gets a filter, which
// domain signs, and that signatures made from a streamed body equal those of the whole.
#include "postroom/service/dkim_sign_filter.hpp"

#include <doctest/doctest.h>

#include <optional>

#include <unistd.h>
#include <uv.h>

using namespace postroom;
using namespace postroom::service;

namespace {

constexpr std::int64_t kNow = 1800000000;

dkim::StoredKey make_key(std::string domain, std::string selector, dkim::Algorithm algorithm,
                         dkim::State state, std::int64_t since = kNow - 100) {
  dkim::StoredKey key;
  key.info = {std::move(domain), std::move(selector), algorithm, {state, since}};
  key.pem = *dkim::generate_private_key(algorithm);
  key.record = dkim::public_key(key.pem)->record;
  return key;
}

std::shared_ptr<const DkimKeys> keys_of(std::vector<dkim::StoredKey> list,
                                        std::optional<std::int64_t> activate_after = {}) {
  auto keys = std::make_shared<DkimKeys>();
  keys->keys = std::move(list);
  keys->activate_after = activate_after;
  CHECK(parse_private_keys(*keys).empty());
  return keys;
}

// The office's usual keys: an active RSA and an active Ed25519 key for example.test.
std::shared_ptr<const DkimKeys> office_keys() {
  static auto keys = [] {
    std::vector<dkim::StoredKey> list;
    list.push_back(make_key("example.test", "ed1", dkim::Algorithm::ed25519, dkim::State::active));
    list.push_back(make_key("example.test", "rsa1", dkim::Algorithm::rsa, dkim::State::active));
    return keys_of(std::move(list));
  }();
  return keys;
}

std::shared_ptr<dkim::SignerSettings> settings() {
  static auto lib = *dkim::SignerSettings::create(kNow);
  return lib;
}

FilterEnvelope outbound(bool authenticated = true, bool trusted = false) {
  FilterEnvelope e;
  e.submission = true;
  e.authenticated = authenticated;
  e.auth_user = "alice@example.test";
  e.trusted = trusted;
  e.reverse_path = Address{"alice", "example.test"};
  e.recipients = {Address{"bob", "remote.test"}};
  e.remote_recipients = {"bob@remote.test"};
  e.transaction_id = "t1";
  return e;
}

const std::string kHeaders =
    "Received: from pc (pc [192.0.2.7]) by mail.example.test\r\n"
    "From: Alice <alice@Example.TEST>\r\n"
    "To: Bob <bob@remote.test>\r\n"
    "Subject: quarterly figures\r\n"
    "Date: Wed, 2 Dec 2026 06:00:00 +0000\r\n"
    "Message-ID: <q1@example.test>\r\n";

std::string body_text() {
  std::string body;
  for (int i = 0; i < 2000; ++i) body += "line " + std::to_string(i) + " with  some\tspaces \r\n";
  return body;
}

struct Run {
  HeaderSection headers;
  FilterVerdict verdict;
  int done_calls = 0;
};

// Drives `filter` as SmtpConnection does: headers, the body in `chunk`-octet pieces, finish.
Run drive(MessageFilter& filter, const std::string& headers, const std::string& body,
          std::size_t chunk) {
  Run run;
  run.headers = HeaderSection::parse(headers);
  filter.headers_complete(run.headers);
  for (std::size_t pos = 0; pos < body.size(); pos += chunk)
    filter.body(std::string_view(body).substr(pos, chunk));
  filter.finish(run.headers, [&run](FilterVerdict v) {
    run.verdict = std::move(v);
    ++run.done_calls;
  });
  return run;
}

}  // namespace

TEST_CASE("dkim filter: only outbound mail from the office gets a signer") {
  auto keys = office_keys();
  CHECK(make_dkim_sign_filter(outbound(true, false), settings(), keys, kNow));
  CHECK(make_dkim_sign_filter(outbound(false, true), settings(), keys, kNow));
  // Mail from the internet to a mailbox here, or relayed by nobody we know: no signer.
  CHECK_FALSE(make_dkim_sign_filter(outbound(false, false), settings(), keys, kNow));
  auto local = outbound();
  local.remote_recipients.clear();
  local.has_local_recipients = true;
  CHECK_FALSE(make_dkim_sign_filter(local, settings(), keys, kNow));
  CHECK_FALSE(make_dkim_sign_filter(outbound(), settings(), keys_of({}), kNow));
}

TEST_CASE("dkim filter: a key that is only published signs nothing until it is due") {
  std::vector<dkim::StoredKey> list;
  list.push_back(make_key("example.test", "new", dkim::Algorithm::ed25519, dkim::State::published,
                          kNow - 100));
  auto keys = keys_of(std::move(list), 3600);
  CHECK_FALSE(make_dkim_sign_filter(outbound(), settings(), keys, kNow));
  CHECK(make_dkim_sign_filter(outbound(), settings(), keys, kNow - 100 + 3600));
}

TEST_CASE("dkim filter: streamed in any chunk size, the signatures equal those of the whole") {
  const std::string body = body_text();
  auto whole_signer = dkim::Signer::start(
      settings(),
      {{"example.test", "rsa1", dkim::Algorithm::rsa, office_keys()->keys[1].pem},
       {"example.test", "ed1", dkim::Algorithm::ed25519, office_keys()->keys[0].pem}},
      HeaderSection::parse(kHeaders), "w");
  REQUIRE(whole_signer);
  REQUIRE((*whole_signer)->body(body));
  auto want = (*whole_signer)->finish();
  REQUIRE(want);
  REQUIRE(want->size() == 2);

  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{8192}, body.size()}) {
    CAPTURE(chunk);
    auto filter = make_dkim_sign_filter(outbound(), settings(), office_keys(), kNow);
    REQUIRE(filter);
    auto run = drive(*filter, kHeaders, body, chunk);
    CHECK(run.done_calls == 1);
    CHECK(run.verdict.action == FilterVerdict::Action::accept);
    CHECK(run.verdict.log == "dkim-sign=ok d=example.test s=rsa1,ed1");
    // Two fields on top, RSA first; the rest of the section untouched below them.
    const auto& fields = run.headers.fields();
    REQUIRE(fields.size() == 8);
    CHECK(fields[0].name == "DKIM-Signature");
    CHECK(fields[1].name == "DKIM-Signature");
    CHECK(fields[0].value == " " + (*want)[0]);
    CHECK(fields[1].value == " " + (*want)[1]);
    CHECK(fields[0].value.find("a=rsa-sha256") != std::string::npos);
    CHECK(fields[1].value.find("a=ed25519-sha256") != std::string::npos);
    CHECK(run.headers.text().substr(fields[0].text().size() + fields[1].text().size()) == kHeaders);
  }
}

TEST_CASE(
    "dkim filter: signed on the signing thread, the same signatures; an abandoned one never calls "
    "back") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    auto pool = std::make_shared<net::BlockingPool>(&loop, 1, 4);
    const std::string body = body_text();
    auto on_loop = make_dkim_sign_filter(outbound(), settings(), office_keys(), kNow);
    auto want = drive(*on_loop, kHeaders, body, 4096);
    REQUIRE(want.done_calls == 1);

    auto threaded = make_dkim_sign_filter(outbound(), settings(), office_keys(), kNow, pool);
    auto run = drive(*threaded, kHeaders, body, 4096);
    CHECK(run.done_calls == 0);  // the signatures are being made on the other thread
    while (run.done_calls == 0) uv_run(&loop, UV_RUN_ONCE);
    CHECK(run.done_calls == 1);
    CHECK(run.verdict.log == want.verdict.log);
    CHECK(run.headers.text() == want.headers.text());

    auto abandoned = make_dkim_sign_filter(outbound(), settings(), office_keys(), kNow, pool);
    auto gone = drive(*abandoned, kHeaders, body, 4096);
    abandoned.reset();  // the client went away while its message was being signed
    for (int i = 0; i < 50; ++i) uv_run(&loop, UV_RUN_NOWAIT), usleep(2000);
    CHECK(gone.done_calls == 0);
  }
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
  }
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("dkim filter: a changed body gives a different signature") {
  auto a = make_dkim_sign_filter(outbound(), settings(), office_keys(), kNow);
  auto b = make_dkim_sign_filter(outbound(), settings(), office_keys(), kNow);
  auto ra = drive(*a, kHeaders, "Pay 100 EUR\r\n", 4);
  auto rb = drive(*b, kHeaders, "Pay 900 EUR\r\n", 4);
  CHECK(ra.headers.fields()[0].value != rb.headers.fields()[0].value);
}

TEST_CASE("dkim filter: the From domain signs; else the envelope sender's; else nothing") {
  std::vector<dkim::StoredKey> list;
  list.push_back(make_key("example.test", "a", dkim::Algorithm::ed25519, dkim::State::active));
  list.push_back(make_key("branch.test", "b", dkim::Algorithm::ed25519, dkim::State::active));
  auto keys = keys_of(std::move(list));
  struct Case {
    std::string from;
    std::string log;
  } cases[] = {
      {"From: \"Branch, office\" <Sales@Branch.Test>\r\n", "dkim-sign=ok d=branch.test s=b"},
      {"From: sales@branch.test (the sales team)\r\n", "dkim-sign=ok d=branch.test s=b"},
      // A From domain without a key: the envelope sender (alice@example.test) signs.
      {"From: someone@elsewhere.test\r\n", "dkim-sign=ok d=example.test s=a"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.from);
    auto filter = make_dkim_sign_filter(outbound(), settings(), keys, kNow);
    REQUIRE(filter);
    auto run = drive(*filter, c.from + "Subject: x\r\n", "x\r\n", 2);
    CHECK(run.verdict.log == c.log);
    CHECK(run.headers.count("DKIM-Signature") == 1);
  }
  auto envelope = outbound();
  envelope.reverse_path = Address{"x", "nokey.test"};
  auto filter = make_dkim_sign_filter(envelope, settings(), keys, kNow);
  REQUIRE(filter);
  auto run = drive(*filter, "From: a@elsewhere.test\r\n", "x\r\n", 2);
  CHECK(run.verdict.action == FilterVerdict::Action::accept);
  CHECK(run.verdict.log == "dkim-sign=none (no signing key for elsewhere.test)");
  CHECK(run.headers.count("DKIM-Signature") == 0);
}

TEST_CASE("dkim filter: a message that cannot be signed is accepted unsigned, and says why") {
  auto filter = make_dkim_sign_filter(outbound(), settings(), office_keys(), kNow);
  REQUIRE(filter);
  // No From field: the envelope's domain has keys, but RFC 6376 §5.4 requires From signed.
  auto run = drive(*filter, "Subject: no from\r\n", "x\r\n", 1);
  CHECK(run.done_calls == 1);
  CHECK(run.verdict.action == FilterVerdict::Action::accept);
  CHECK(run.verdict.log.starts_with("dkim-sign=error ("));
  CHECK(run.headers.count("DKIM-Signature") == 0);
  CHECK(run.verdict.log.find("PRIVATE") == std::string::npos);
}

TEST_CASE("dkim filter: a message that ends inside its header section is not signed") {
  auto filter = make_dkim_sign_filter(outbound(), settings(), office_keys(), kNow);
  REQUIRE(filter);
  HeaderSection headers;
  FilterVerdict verdict;
  filter->finish(headers, [&](FilterVerdict v) { verdict = std::move(v); });
  CHECK(verdict.action == FilterVerdict::Action::accept);
  CHECK(verdict.log == "dkim-sign=none (no header section)");
  CHECK(headers.fields().empty());
}
