// The MTA side of a milter conversation against scripted milter answers.
#include <doctest/doctest.h>

#include "postroom/milter/conversation.hpp"

using namespace postroom::milter;

namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

struct Sent {
  char command;
  std::string data;
};

// Splits what the MTA wrote into packets.
std::vector<Sent> split(std::string_view bytes) {
  std::vector<Sent> out;
  while (bytes.size() >= 5) {
    auto u = [&](std::size_t i) {
      return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]));
    };
    std::uint32_t length = u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
    REQUIRE(bytes.size() >= 4 + length);
    out.push_back(Sent{bytes[4], std::string(bytes.substr(5, length - 1))});
    bytes.remove_prefix(4 + length);
  }
  REQUIRE(bytes.empty());
  return out;
}

std::string commands(const std::vector<Sent>& sent) {
  std::string out;
  for (const auto& s : sent) out.push_back(s.command);
  return out;
}

Reply negotiated(std::uint32_t actions, std::uint32_t steps, std::uint32_t version = 6) {
  Reply r;
  r.kind = Reply::Kind::negotiate;
  r.version = version;
  r.actions = actions;
  r.steps = steps;
  return r;
}

Reply simple(Reply::Kind kind) {
  Reply r;
  r.kind = kind;
  return r;
}

Reply header(Reply::Kind kind, std::string name, std::string value, std::uint32_t index = 0) {
  Reply r;
  r.kind = kind;
  r.name = std::move(name);
  r.value = std::move(value);
  r.index = index;
  return r;
}

Envelope envelope() {
  Envelope e;
  e.client_name = "[192.0.2.7]";
  e.client_ip = "192.0.2.7";
  e.client_port = 40000;
  e.helo = "client.test";
  e.sender = "a@remote.test";
  e.recipients = {"b@example.test", "c@example.test"};
  e.macros = {{"j", "mx.example.test"}, {"i", "T1"}, {"client_addr", "192.0.2.7"}};
  return e;
}

// Answers `continue` to every command that waits, collecting what was sent, until the
// conversation waits for the end of body or ends.
std::vector<Sent> run_until_eob(Conversation& c) {
  std::vector<Sent> all;
  for (int guard = 0; guard < 100; ++guard) {
    auto sent = split(c.output());
    all.insert(all.end(), sent.begin(), sent.end());
    if (!c.awaiting_reply() || c.done()) break;
    if (!all.empty() && all.back().command == 'E') break;
    REQUIRE(c.on_reply(simple(Reply::Kind::continue_)));
  }
  return all;
}

}  // namespace

TEST_CASE("milter conversation: full dialog with every step answered") {
  Conversation c(envelope());
  auto first = split(c.output());
  REQUIRE(first.size() == 1);
  CHECK(first[0].command == 'O');
  CHECK(first[0].data ==
        be32(6) + be32(Conversation::kOfferedActions) + be32(Conversation::kOfferedSteps));
  CHECK(c.awaiting_reply());
  CHECK(c.output().empty());  // nothing more until the answer
  c.headers({{"Subject", " hello"}, {"From", " a@remote.test"}});
  c.body("line one\r\n");
  c.end_of_message();
  REQUIRE(c.on_reply(negotiated(action::add_headers | action::change_headers, 0)));
  auto sent = run_until_eob(c);
  // Macros before connect and mail, connect, helo, mail, one macro+rcpt per recipient, data,
  // two headers, eoh, body, end of body.
  CHECK(commands(sent) == "DCHDMDRDRTLLNBE");
  CHECK(sent[1].data == std::string("[192.0.2.7]") + '\0' + "4" + "\x9c\x40" + "192.0.2.7" + '\0');
  CHECK(sent[4].data == std::string("<a@remote.test>") + '\0');
  CHECK(sent[6].data == std::string("<b@example.test>") + '\0');
  CHECK(sent[5].data.find("{rcpt_addr}") != std::string::npos);
  // The space after the colon is not sent unless the milter asks for it.
  CHECK(sent[10].data == std::string("Subject") + '\0' + "hello" + '\0');
  CHECK(sent[13].data == "line one\r\n");
  CHECK(c.awaiting_reply());
  REQUIRE(c.on_reply(header(Reply::Kind::add_header, "X-Spam", "yes\n\tfolded")));
  REQUIRE(c.on_reply(header(Reply::Kind::change_header, "Subject", "[SPAM] hello", 1)));
  REQUIRE(c.on_reply(simple(Reply::Kind::continue_)));
  REQUIRE(c.done());
  CHECK(c.outcome().action == Outcome::Action::accept);
  REQUIRE(c.outcome().edits.size() == 2);
  CHECK(c.outcome().edits[0].value == "yes\r\n\tfolded");
  CHECK(c.outcome().edits[1].index == 1);
}

TEST_CASE("milter conversation: skipped and unanswered steps are honoured") {
  Conversation c(envelope());
  (void)c.output();
  REQUIRE(c.on_reply(negotiated(0, step::no_connect | step::no_helo | step::no_reply_mail |
                                       step::no_rcpt | step::no_headers | step::no_reply_eoh |
                                       step::no_reply_data)));
  // MAIL, DATA and EOH are not answered: they all go out at once; the next wait is end of body.
  c.headers({{"Subject", " x"}});
  c.end_of_message();
  auto sent = split(c.output());
  CHECK(commands(sent) == "DMTNE");
  CHECK(c.awaiting_reply());
  REQUIRE(c.on_reply(simple(Reply::Kind::accept)));
  CHECK(c.done());
  CHECK(c.outcome().action == Outcome::Action::accept);
}

TEST_CASE("milter conversation: a reply code decides reject or tempfail by its class") {
  for (auto [code, action] :
       {std::pair{554, Outcome::Action::reject}, std::pair{451, Outcome::Action::tempfail}}) {
    Conversation c(envelope());
    (void)c.output();
    REQUIRE(c.on_reply(negotiated(0, step::no_connect)));
    (void)c.output();
    Reply r;
    r.kind = Reply::Kind::reply_code;
    r.code = code;
    r.text = "no";
    REQUIRE(c.on_reply(r));
    CHECK(c.done());
    CHECK(c.outcome().action == action);
    CHECK(c.outcome().code == code);
    CHECK(c.output().empty());
  }
}

TEST_CASE("milter conversation: reject, tempfail and discard at any step end it") {
  for (auto [kind, action] : {std::pair{Reply::Kind::reject, Outcome::Action::reject},
                              std::pair{Reply::Kind::tempfail, Outcome::Action::tempfail},
                              std::pair{Reply::Kind::discard, Outcome::Action::discard}}) {
    Conversation c(envelope());
    (void)c.output();
    REQUIRE(c.on_reply(negotiated(0, 0)));
    (void)c.output();
    REQUIRE(c.on_reply(simple(Reply::Kind::continue_)));  // connect
    (void)c.output();
    REQUIRE(c.on_reply(simple(kind)));  // helo
    CHECK(c.done());
    CHECK(c.outcome().action == action);
    CHECK(c.outcome().code == 0);
  }
}

TEST_CASE("milter conversation: header changes before the end, or not negotiated, are errors") {
  Conversation early(envelope());
  (void)early.output();
  REQUIRE(early.on_reply(negotiated(action::add_headers, 0)));
  (void)early.output();
  CHECK_FALSE(early.on_reply(header(Reply::Kind::add_header, "X-A", "1")));

  Conversation unasked(envelope());
  (void)unasked.output();
  REQUIRE(unasked.on_reply(negotiated(action::add_headers, step::no_connect | step::no_helo |
                                                               step::no_mail | step::no_rcpt |
                                                               step::no_data | step::no_eoh)));
  unasked.end_of_message();
  CHECK(commands(split(unasked.output())) == "E");
  CHECK_FALSE(unasked.on_reply(header(Reply::Kind::change_header, "Subject", "x", 1)));
}

TEST_CASE("milter conversation: an answer before being asked is an error") {
  Conversation c(envelope());
  CHECK_FALSE(c.on_reply(negotiated(0, 0)));  // output() not taken: nothing was sent yet
  Conversation d(envelope());
  (void)d.output();
  CHECK_FALSE(d.on_reply(simple(Reply::Kind::continue_)));  // not a negotiation answer
}

TEST_CASE("milter conversation: the body goes in chunks of at most 65535 and SKIP drops the rest") {
  Conversation c(envelope());
  (void)c.output();
  REQUIRE(
      c.on_reply(negotiated(0, step::no_connect | step::no_helo | step::no_mail | step::no_rcpt |
                                   step::no_data | step::no_headers | step::no_eoh | step::skip)));
  std::string big(150000, 'x');
  // Fed in odd pieces: chunks are filled up, not one per piece.
  for (std::size_t i = 0; i < big.size(); i += 1000) c.body(std::string_view(big).substr(i, 1000));
  c.headers({});
  c.end_of_message();
  CHECK(c.queued_bytes() > big.size());
  auto first = split(c.output());
  REQUIRE(first.size() == 1);
  CHECK(first[0].command == 'B');
  CHECK(first[0].data.size() == kBodyChunk);
  REQUIRE(c.on_reply(simple(Reply::Kind::skip)));
  auto rest = split(c.output());
  CHECK(commands(rest) == "E");  // the other chunks were dropped
  CHECK(c.queued_bytes() == 0);
  REQUIRE(c.on_reply(simple(Reply::Kind::continue_)));
  CHECK(c.done());
}

TEST_CASE("milter conversation: SKIP without negotiating it is an error") {
  Conversation c(envelope());
  (void)c.output();
  REQUIRE(
      c.on_reply(negotiated(0, step::no_connect | step::no_helo | step::no_mail | step::no_rcpt |
                                   step::no_data | step::no_headers | step::no_eoh)));
  c.body("abc");
  (void)c.output();
  CHECK_FALSE(c.on_reply(simple(Reply::Kind::skip)));
}

TEST_CASE("milter conversation: macro lists a v6 milter asks for replace the defaults") {
  Conversation c(envelope());
  (void)c.output();
  Reply n = negotiated(0, step::no_helo | step::no_mail | step::no_rcpt | step::no_data);
  n.macro_lists = {{Stage::connect, {"i"}}};
  REQUIRE(c.on_reply(n));
  auto sent = split(c.output());
  REQUIRE(commands(sent) == "DC");
  CHECK(sent[0].data == std::string("C") + "i" + '\0' + "T1" + '\0');
}

TEST_CASE("milter conversation: quarantine is kept with its reason; progress keeps waiting") {
  Conversation c(envelope());
  (void)c.output();
  REQUIRE(
      c.on_reply(negotiated(action::quarantine, step::no_connect | step::no_helo | step::no_mail |
                                                    step::no_rcpt | step::no_data | step::no_eoh)));
  c.end_of_message();
  (void)c.output();
  REQUIRE(c.on_reply(simple(Reply::Kind::progress)));
  CHECK(c.awaiting_reply());
  Reply q;
  q.kind = Reply::Kind::quarantine;
  q.text = "virus";
  REQUIRE(c.on_reply(q));
  REQUIRE(c.on_reply(simple(Reply::Kind::continue_)));
  CHECK(c.done());
  REQUIRE(c.outcome().quarantine);
  CHECK(*c.outcome().quarantine == "virus");
}

TEST_CASE("milter conversation: header values from the milter become valid folded fields") {
  Conversation c(envelope());
  CHECK(c.stored_value("a\nb") == "a\r\n\tb");
  CHECK(c.stored_value("a\r\n b") == "a\r\n b");
  CHECK(c.stored_value(std::string_view("a\0b", 3)) == "a");
}
