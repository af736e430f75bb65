// Dialog tests for input handling: pipelining, line limits, the bad-command budget, reply limits.
#include <doctest/doctest.h>

#include "dialog.hpp"

using namespace postroom::pop3;
using namespace postroom::pop3::testing;

namespace {

std::vector<std::string> reply_lines(std::string_view output) {
  std::vector<std::string> lines;
  while (!output.empty()) {
    std::size_t end = output.find("\r\n");
    REQUIRE(end != std::string_view::npos);
    lines.emplace_back(output.substr(0, end));
    output.remove_prefix(end + 2);
  }
  return lines;
}

}  // namespace

TEST_CASE("pop3: pipelined commands get their replies in order") {
  FakeHost host = default_host();
  host.passwords["a"] = "b";
  Transcript t = converse(host, "USER a\r\nPASS b\r\nSTAT\r\nLIST\r\nQUIT\r\n");
  CHECK(t.output ==
        "+OK send PASS\r\n+OK maildrop has 3 messages (125 octets)\r\n+OK 3 125\r\n"
        "+OK 3 messages (125 octets)\r\n1 23\r\n2 65\r\n3 37\r\n.\r\n"
        "+OK postroom signing off (0 messages deleted)\r\n");
  CHECK(t.events == std::vector<std::string>{"login user=a password=<redacted>", "update delete=[]",
                                             "close reason=client quit"});
}

TEST_CASE("pop3: pipelining pauses at a login and resumes after the answer") {
  Session session(default_host().params);
  session.take_actions();
  session.feed("USER a\r\nPASS b\r\nSTAT\r\nLIST\r\nQUIT\r\n");
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 2);
  CHECK(std::get<Send>(actions[0]).bytes == "+OK send PASS\r\n");
  CHECK(std::get<Login>(actions[1]).user == "a");
  CHECK(session.waiting());
  CHECK(session.buffered_input() == std::string_view("STAT\r\nLIST\r\nQUIT\r\n").size());
  session.on_login_result(Session::LoginOutcome::ok, {{5, 10, "u5"}});
  CHECK(session.waiting());  // Now in UPDATE, after STAT, LIST and QUIT ran.
  actions = session.take_actions();
  REQUIRE(actions.size() == 2);
  CHECK(std::get<Send>(actions[0]).bytes ==
        "+OK maildrop has 1 message (10 octets)\r\n+OK 1 10\r\n"
        "+OK 1 message (10 octets)\r\n1 10\r\n.\r\n");
  CHECK(std::get<Update>(actions[1]).deleted_ids.empty());
}

TEST_CASE("pop3: pipelining resumes after a RETR's content ends") {
  Session session(default_host().params);
  session.feed("USER a\r\nPASS b\r\n");
  session.on_login_result(Session::LoginOutcome::ok, {{5, 6, "u5"}, {6, 4, "u6"}});
  session.take_actions();
  session.feed("RETR 1\r\nDELE 1\r\nRETR 2\r\nNOOP\r\n");
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::get<Retrieve>(actions[0]).id == 5);
  session.on_content("a\nb\n");
  session.on_content_end();
  actions = session.take_actions();
  REQUIRE(actions.size() == 2);
  CHECK(std::get<Send>(actions[0]).bytes ==
        "+OK 6 octets\r\na\r\nb\r\n.\r\n+OK message 1 deleted\r\n");
  CHECK(std::get<Retrieve>(actions[1]).id == 6);
  session.on_content("x\r\n");
  session.on_content_end();
  actions = session.take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::get<Send>(actions[0]).bytes == "+OK 4 octets\r\nx\r\n.\r\n+OK\r\n");
  CHECK_FALSE(session.waiting());
}

TEST_CASE("pop3: keywords are case-insensitive") {
  Transcript t = converse("user alice@example.test\r\nPass secret\r\nsTaT\r\nnoop\r\n");
  CHECK(t.output == login_reply() + "+OK 3 125\r\n+OK\r\n");
}

TEST_CASE("pop3: a bare LF ends a command line too") {
  Transcript t = converse("USER alice@example.test\nPASS secret\nSTAT\n");
  CHECK(t.output == login_reply() + "+OK 3 125\r\n");
}

TEST_CASE("pop3: an unknown command gets -ERR and the session goes on") {
  Transcript t = converse("FOO\r\nHELLO\r\n\r\nCAPA\r\n");
  auto lines = reply_lines(t.output);
  REQUIRE(lines.size() >= 4);
  CHECK(lines[0] == "-ERR unknown command");
  CHECK(lines[1] == "-ERR unknown command");
  CHECK(lines[2] == "-ERR unknown command");
  CHECK(lines[3] == "+OK capability list follows");
}

TEST_CASE("pop3: arguments other than names and passwords are limited to 40 characters") {
  std::string forty(40, '1');
  std::string forty_one(41, '1');
  Transcript t = converse(std::string(kLogin) + "LIST " + forty + "\r\nLIST " + forty_one +
                          "\r\nAUTH " + forty_one + "\r\n");
  CHECK(t.output == login_reply() +
                        "-ERR no such message\r\n-ERR argument too long\r\n"
                        "-ERR command not valid in this state\r\n");
}

TEST_CASE("pop3: a 255-octet command line is accepted, a 256-octet one is not") {
  std::string name_ok(255 - std::string_view("USER \r\n").size(), 'a');
  std::string name_long = name_ok + "a";
  Transcript t = converse("USER " + name_ok + "\r\nUSER " + name_long + "\r\nQUIT\r\n");
  CHECK(t.output == "+OK send PASS\r\n-ERR line too long\r\n+OK postroom signing off\r\n");
}

TEST_CASE("pop3: an over-long line is discarded without growing memory") {
  Session session(default_host().params);
  session.take_actions();
  std::string junk(1000, 'x');
  for (int i = 0; i < 1000; ++i) {
    session.feed(junk);
    CHECK(session.buffered_input() <= 255);
  }
  CHECK(session.take_actions().empty());  // No reply before the line ends.
  session.feed("\r\nNOOP\r\n");
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::get<Send>(actions[0]).bytes ==
        "-ERR line too long\r\n-ERR command not valid in this state\r\n");
  CHECK_FALSE(session.closed());
}

TEST_CASE("pop3: an over-long SASL response ends the exchange") {
  Transcript t = converse("AUTH PLAIN\r\n" + std::string(300, 'A') + "\r\nCAPA\r\n");
  CHECK(t.output.starts_with("+ \r\n-ERR line too long\r\n+OK capability list follows\r\n"));
}

TEST_CASE("pop3: 20 bad commands in a row close the session") {
  std::string input;
  for (int i = 0; i < 19; ++i) input += "FOO\r\n";
  input += "BAR\r\nNOOP\r\n";
  Transcript t = converse(input);
  auto lines = reply_lines(t.output);
  REQUIRE(lines.size() == 20);
  CHECK(lines[18] == "-ERR unknown command");
  CHECK(lines[19] == "-ERR too many bad commands");
  CHECK(t.closed);
  CHECK(t.events.back() == "close reason=too many bad commands");
}

TEST_CASE("pop3: unknown, malformed, wrong-state and over-long commands all count as bad") {
  std::string input;
  for (int i = 0; i < 5; ++i) {
    input += "FOO\r\n";                       // unknown
    input += "STAT\r\n";                      // wrong state
    input += "APOP a\r\n";                    // malformed
    input += std::string(300, 'x') + "\r\n";  // too long
  }
  input += "CAPA\r\n";
  Transcript t = converse(input);
  CHECK(t.closed);
  CHECK(t.output.ends_with("-ERR too many bad commands\r\n"));
  CHECK(t.output.find("+OK capability") == std::string::npos);
}

TEST_CASE("pop3: a good command resets the bad-command count") {
  std::string nineteen;
  for (int i = 0; i < 19; ++i) nineteen += "FOO\r\n";
  Transcript t = converse(nineteen + "CAPA\r\n" + nineteen + "QUIT\r\n");
  CHECK_FALSE(t.output.find("too many") != std::string::npos);
  CHECK(t.output.ends_with("+OK postroom signing off\r\n"));
}

TEST_CASE("pop3: after Close, further input is ignored") {
  Dialog dialog(default_host());
  dialog.feed("QUIT\r\n");
  dialog.take_output();
  dialog.feed("CAPA\r\nUSER a\r\n");
  CHECK(dialog.take_output().empty());
  CHECK(dialog.session().closed());
  CHECK_FALSE(dialog.session().waiting());
}

TEST_CASE("pop3: commands pipelined after QUIT are never answered") {
  Transcript t = converse(std::string(kLogin) + "QUIT\r\nSTAT\r\nNOOP\r\n");
  CHECK(t.output.ends_with("+OK postroom signing off (0 messages deleted)\r\n"));
}

TEST_CASE("pop3: reply lines stay within 512 octets even with long host data") {
  FakeHost host = default_host();
  host.params.hostname = std::string(600, 'h');
  host.maildrop[0].uidl = std::string(600, 'u');
  Transcript t = converse(host, std::string(kLogin) + "UIDL\r\nUIDL 1\r\n");
  CHECK(t.greeting.size() == 512);
  for (const std::string& line : reply_lines(t.output)) {
    CAPTURE(line);
    CHECK(line.size() + 2 <= 512);
  }
}

TEST_CASE("pop3: host strings cannot inject reply lines") {
  FakeHost host = default_host();
  host.params.hostname = "evil\r\n+OK fake";
  Transcript t = converse(host, "");
  CHECK(t.greeting ==
        "+OK evil  +OK fake POP3 server ready <1896.697170952@mail.example.test>\r\n");
}

TEST_CASE("pop3: describe() is safe to log") {
  CHECK(describe(Login{"alice", "secret"}) == "login user=alice password=<redacted>");
  CHECK(describe(LoginApop{"alice", "abc"}) == "login-apop user=alice digest=<redacted>");
  CHECK(describe(Send{"PASS secret\r\n"}) == "send 13 octets");
  CHECK(describe(Retrieve{7, 3}) == "retrieve id=7 top=3");
  CHECK(describe(Update{{1, 2}}) == "update delete=[1,2]");
  CHECK(describe(StartTls{}) == "start-tls");
  CHECK(describe(Close{"client quit"}) == "close reason=client quit");
}

TEST_CASE("pop3: consecutive replies are merged into one Send") {
  Session session(default_host().params);
  session.feed("CAPA\r\nFOO\r\nCAPA\r\n");
  auto actions = session.take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::holds_alternative<Send>(actions[0]));
}

TEST_CASE("pop3: a maildrop of 100,000 messages takes under 40 bytes a message") {
  Maildrop drop;
  drop.reserve(100'000, 100'000 * 25);
  for (int i = 0; i < 100'000; ++i)
    drop.add(i + 1, 1000 + i, "abcdefghijklmnopqrstu" + std::to_string(1000 + i % 9000));
  CHECK(drop.size() == 100'000);
  CHECK(drop.footprint() <= 40u * 100'000);
  CHECK(drop.uidl(5) == "abcdefghijklmnopqrstu1005");
  CHECK(drop.octets(99'999) == 1000 + 99'999);
  CHECK(drop.id(0) == 1);
}

TEST_CASE("pop3: a maildrop keeps UIDLs of different lengths and sizes past 4 GiB") {
  Maildrop drop{{1, 10, "short"}, {2, 5'000'000'000, "a-much-longer-uidl"}, {3, 0, "x"}};
  CHECK(drop.uidl(0) == "short");
  CHECK(drop.uidl(1) == "a-much-longer-uidl");
  CHECK(drop.uidl(2) == "x");
  CHECK(drop.octets(1) == 5'000'000'000);
  CHECK(drop.octets(2) == 0);
}

TEST_CASE("pop3: pipelined commands wait at the reply budget until the host takes the replies") {
  Session session(default_host().params);
  session.take_actions();
  session.feed("USER a\r\nPASS b\r\n");
  session.take_actions();
  session.on_login_result(Session::LoginOutcome::ok, {{5, 10, "u5"}});
  session.take_actions();
  // 20,000 NOOPs answer 100,000 octets: more than one budget of 64 KiB.
  std::string noops;
  for (int i = 0; i < 20000; ++i) noops += "NOOP\r\n";
  session.feed(noops);
  auto replied = [](const std::vector<Action>& actions) {
    std::size_t n = 0;
    for (const auto& a : actions)
      if (auto* send = std::get_if<Send>(&a)) n += send->bytes.size();
    return n;
  };
  std::size_t first = replied(session.take_actions());
  CHECK(first >= 64 * 1024);
  CHECK(first < 64 * 1024 + 512);
  CHECK(session.replies_held());
  CHECK_FALSE(session.waiting());
  CHECK(session.buffered_input() > 0);
  session.feed({});  // the host's socket has room again
  std::size_t rest = replied(session.take_actions());
  CHECK_FALSE(session.replies_held());
  CHECK(first + rest == 20000 * std::string_view("+OK\r\n").size());
  CHECK(session.buffered_input() == 0);
}
