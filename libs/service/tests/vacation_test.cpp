// The away-reply rules of RFC 3834 as a pure decision, and the reply they produce.
#include "postroom/service/vacation.hpp"

#include <doctest/doctest.h>

#include "postroom/base/sasl.hpp"

using namespace postroom;
using namespace postroom::service;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kDay = 86400;

const std::vector<std::string> kOwn = {"alice@example.test", "a.smith@example.test"};

HeaderSection headers(std::string extra = "") {
  return HeaderSection::parse(
      "From: Carol <carol@remote.test>\r\n"
      "To: Alice <alice@example.test>, bob@example.test\r\n"
      "Subject: Lunch?\r\n"
      "Message-ID: <m1@remote.test>\r\n" +
      extra);
}

VacationEnvelope from(const char* sender) {
  return {*parse_address(sender)};
}

store::Vacation settings() {
  store::Vacation v;
  v.account = 1;
  v.address = "alice@example.test";
  v.subject = "Away until Monday";
  v.body = "I am away.\r\n";
  v.interval_days = 7;
  return v;
}

VacationReason decide(const HeaderSection& h, const VacationEnvelope& e,
                      const store::Vacation& v = settings(),
                      std::optional<std::int64_t> last = std::nullopt) {
  return should_reply(h, e, v, kOwn, last, kNow).reason;
}

}  // namespace

TEST_CASE("vacation: a personal message to the user gets a reply, from the address it used") {
  auto d = should_reply(headers(), from("carol@remote.test"), settings(), kOwn, std::nullopt, kNow);
  CHECK(d.reply());
  CHECK(d.addressed_as == "alice@example.test");
  // Addressed by an alias in Cc: the reply comes from that alias.
  auto cc =
      HeaderSection::parse("To: team@remote.test\r\nCc: \"Smith, A.\" <A.Smith@Example.test>\r\n");
  auto by_alias = should_reply(cc, from("carol@remote.test"), settings(), kOwn, std::nullopt, kNow);
  CHECK(by_alias.reply());
  CHECK(by_alias.addressed_as == "a.smith@example.test");
}

TEST_CASE("vacation: never to the null sender, system senders or the user's own addresses") {
  CHECK(decide(headers(), VacationEnvelope{}) == VacationReason::null_sender);
  for (const char* sender :
       {"MAILER-DAEMON@remote.test", "owner-staff@lists.test", "staff-request@lists.test",
        "listserv@lists.test", "noreply@shop.test", "news-bounces@lists.test"})
    CHECK_MESSAGE(decide(headers(), from(sender)) == VacationReason::system_sender, sender);
  CHECK(decide(headers(), from("alice@example.test")) == VacationReason::own_address);
  CHECK(decide(headers(), from("A.Smith@example.test")) == VacationReason::own_address);
}

TEST_CASE("vacation: never to lists, bulk mail or other automatic mail") {
  auto e = from("carol@remote.test");
  CHECK(decide(headers("List-Id: <staff.lists.test>\r\n"), e) == VacationReason::list_mail);
  CHECK(decide(headers("list-unsubscribe: <mailto:u@lists.test>\r\n"), e) ==
        VacationReason::list_mail);
  for (const char* p : {"bulk", "List", " junk ", "bulk (newsletter)"})
    CHECK_MESSAGE(
        decide(headers(std::string("Precedence: ") + p + "\r\n"), e) == VacationReason::bulk, p);
  CHECK(decide(headers("Precedence: first-class\r\n"), e) == VacationReason::reply);
  for (const char* a : {"auto-replied", "auto-generated", "Auto-Notified; owner-email=x@y"})
    CHECK_MESSAGE(decide(headers(std::string("Auto-Submitted: ") + a + "\r\n"), e) ==
                      VacationReason::auto_submitted,
                  a);
  CHECK(decide(headers("Auto-Submitted: No (sent by a person)\r\n"), e) == VacationReason::reply);
  CHECK(decide(headers("X-Auto-Response-Suppress: OOF, AutoReply\r\n"), e) ==
        VacationReason::auto_submitted);
  // Flagged as spam by the inbound checks: a reply would go to a forged sender.
  CHECK(decide(headers("X-Spam-Flag: YES\r\n"), e) == VacationReason::spam);
  CHECK(decide(headers("X-Spam-Flag: NO\r\n"), e) == VacationReason::reply);
  // The settings-independent rules are the same ones.
  CHECK(excluded_message(headers("List-Post: <mailto:l@x>\r\n"), e) == VacationReason::list_mail);
  CHECK_FALSE(excluded_message(headers(), e).has_value());
}

TEST_CASE("vacation: only when the user is in To or Cc") {
  auto e = from("carol@remote.test");
  // Bcc, a list the user is on, a catch-all: the user's address is in neither field.
  auto bcc = HeaderSection::parse("To: everyone@remote.test\r\nCc: x@remote.test\r\n");
  CHECK(decide(bcc, e) == VacationReason::not_addressed);
  // A display name or comment that looks like the address does not count.
  auto fake = HeaderSection::parse(
      "To: \"alice@example.test\" <other@remote.test> (alice@example.test)\r\n");
  CHECK(decide(fake, e) == VacationReason::not_addressed);
  // Folded over lines, in a group, in a second To field.
  auto folded = HeaderSection::parse(
      "To: x@remote.test,\r\n\tfriends: y@remote.test, alice@example.test;\r\n");
  CHECK(decide(folded, e) == VacationReason::reply);
  auto second = HeaderSection::parse("To: x@remote.test\r\nTo: <alice@example.test>\r\n");
  CHECK(decide(second, e) == VacationReason::reply);
}

TEST_CASE("vacation: only between from and until, and once per sender per interval") {
  auto e = from("carol@remote.test");
  auto v = settings();
  v.starts_at = kNow + 1;
  CHECK(decide(headers(), e, v) == VacationReason::inactive);
  v.starts_at = kNow;
  v.ends_at = kNow + kDay;
  CHECK(decide(headers(), e, v) == VacationReason::reply);
  v.ends_at = kNow;  // until is exclusive
  CHECK(decide(headers(), e, v) == VacationReason::inactive);
  v.ends_at.reset();
  CHECK(decide(headers(), e, v, kNow - 7 * kDay + 1) == VacationReason::replied_recently);
  CHECK(decide(headers(), e, v, kNow - 7 * kDay) == VacationReason::reply);
  v.interval_days = 1;
  CHECK(decide(headers(), e, v, kNow - kDay) == VacationReason::reply);
}

TEST_CASE("vacation: addresses in an address list") {
  CHECK(addresses_in(" \"Doe, J\" <J.Doe@X.test>, (c@d) k@l.test,\r\n g: m@n.test;") ==
        std::vector<std::string>{"j.doe@x.test", "k@l.test", "m@n.test"});
  CHECK(addresses_in("undisclosed-recipients:;").empty());
}

TEST_CASE("vacation: the reply threads, is marked auto-replied and carries the setting") {
  auto original = headers("References: <r0@x>\r\n <r1@x>\r\n");
  auto text = compose_vacation_reply(original, settings(), "alice@example.test",
                                     "carol@remote.test", "mail.example.test", kNow, "tok");
  auto reply = HeaderSection::parse(text.substr(0, text.find("\r\n\r\n") + 2));
  CHECK(reply.find("From")->value == " <alice@example.test>");
  CHECK(reply.find("To")->value == " <carol@remote.test>");
  CHECK(reply.find("Subject")->value == " Away until Monday");
  CHECK(reply.find("Auto-Submitted")->value == " auto-replied");
  CHECK(reply.find("In-Reply-To")->value == " <m1@remote.test>");
  CHECK(reply.find("References")->value == " <r0@x>\r\n <r1@x>\r\n <m1@remote.test>");
  CHECK(reply.find("Message-ID")->value == " <tok@mail.example.test>");
  CHECK(reply.find("Date")->value == " Fri, 15 Jan 2027 08:00:00 +0000");
  CHECK(reply.find("Content-Transfer-Encoding")->value == " 7bit");
  CHECK(text.ends_with("\r\n\r\nI am away.\r\n"));
}

TEST_CASE("vacation: the default subject, a UTF-8 subject and a message without Message-ID") {
  auto v = settings();
  v.subject = "";
  auto text = compose_vacation_reply(headers(), v, "alice@example.test", "carol@remote.test",
                                     "mail.example.test", kNow, "t");
  CHECK(text.find("\r\nSubject: Auto: Lunch?\r\n") != std::string::npos);
  // A folded original subject keeps its folds (CRLF even when it came with bare LF).
  auto long_subject = HeaderSection::parse("Subject: part one\n part two\n");
  text = compose_vacation_reply(long_subject, v, "alice@example.test", "carol@remote.test",
                                "mail.example.test", kNow, "t");
  CHECK(text.find("\r\nSubject: Auto: part one\r\n part two\r\n") != std::string::npos);
  v.subject = "Abwesend bis Montag: Grüße";
  v.body = "Grüße\r\n";
  auto bare = HeaderSection::parse("To: alice@example.test\r\n");
  text = compose_vacation_reply(bare, v, "alice@example.test", "carol@remote.test",
                                "mail.example.test", kNow, "t");
  auto reply = HeaderSection::parse(text.substr(0, text.find("\r\n\r\n") + 2));
  std::string subject = reply.find("Subject")->value;
  CHECK(subject.starts_with(" =?UTF-8?B?"));
  // Decoding the encoded-words gives the setting back.
  std::string decoded;
  for (std::size_t pos = 0; (pos = subject.find("=?UTF-8?B?", pos)) != std::string::npos;) {
    auto end = subject.find("?=", pos + 10);
    decoded += *sasl::base64_decode(subject.substr(pos + 10, end - pos - 10));
    pos = end;
  }
  CHECK(decoded == v.subject);
  CHECK(reply.find("Subject: Auto:") == nullptr);
  CHECK(reply.find("In-Reply-To") == nullptr);
  CHECK(reply.find("References") == nullptr);
  CHECK(reply.find("Content-Transfer-Encoding")->value == " 8bit");
  CHECK(reply.find("Auto-Submitted")->value == " auto-replied");
}

TEST_CASE("vacation: the candidate keeps only what the rules and the reply read") {
  auto h = headers("Received: from x\r\nList-Id: <l.test>\r\nX-Spam: 0\r\n");
  CHECK_FALSE(away_candidate(from("carol@remote.test"), {1}, h).has_value());  // list mail
  auto c = away_candidate(from("carol@remote.test"), {1}, headers("Received: from x\r\n"));
  REQUIRE(c);
  CHECK(c->headers.find("Received") == nullptr);
  CHECK(c->headers.find("From") == nullptr);
  CHECK(c->headers.find("Message-ID") != nullptr);
  CHECK(c->headers.find("To") != nullptr);
  CHECK_FALSE(away_candidate(from("carol@remote.test"), {}, headers()).has_value());
  CHECK_FALSE(away_candidate(VacationEnvelope{}, {1}, headers()).has_value());
}
