// Dialog tests for the TRANSACTION and UPDATE states: STAT, LIST, RETR, TOP, DELE, RSET, UIDL,
// QUIT.
#include <doctest/doctest.h>

#include <algorithm>

#include "dialog.hpp"

using namespace postroom::pop3;
using namespace postroom::pop3::testing;

namespace {

// The default maildrop's sizes on the wire: 23, 65 and 37 octets (RETR ends the last line of the
// third).
constexpr std::string_view kRetr2 =
    "+OK 65 octets\r\nSubject: two\r\nFrom: b@example.test\r\n\r\nLine 1\r\n..dot line\r\n"
    "Line 3\r\n.\r\n";

// Logs in, runs `commands`, and returns what came after the login replies.
Transcript after_login(const FakeHost& host, std::string_view commands) {
  Transcript t = converse(host, std::string(kLogin) + std::string(commands));
  REQUIRE(t.output.starts_with(login_reply()));
  t.output.erase(0, login_reply().size());
  return t;
}

Transcript after_login(std::string_view commands) {
  return after_login(default_host(), commands);
}

}  // namespace

TEST_CASE("pop3: STAT counts the messages and their octets") {
  CHECK(after_login("STAT\r\n").output == "+OK 3 125\r\n");
}

TEST_CASE("pop3: LIST lists every message with its size") {
  CHECK(after_login("LIST\r\n").output ==
        "+OK 3 messages (125 octets)\r\n1 23\r\n2 65\r\n3 37\r\n.\r\n");
}

TEST_CASE("pop3: LIST n answers one line") {
  CHECK(after_login("LIST 2\r\nLIST 03\r\n").output == "+OK 2 65\r\n+OK 3 37\r\n");
}

TEST_CASE("pop3: bad message numbers get an -ERR naming the problem") {
  Transcript t = after_login(
      "LIST 0\r\nLIST 4\r\nLIST abc\r\nLIST -1\r\nLIST 1 2\r\n"
      "LIST 99999999999999999999999999\r\nRETR\r\nDELE x\r\n"
      "LIST 12345678901234567890123456789012345678901\r\n");
  CHECK(t.output ==
        "-ERR no such message\r\n-ERR no such message\r\n-ERR invalid message number\r\n"
        "-ERR invalid message number\r\n-ERR too many arguments\r\n-ERR no such message\r\n"
        "-ERR missing argument\r\n-ERR invalid message number\r\n-ERR argument too long\r\n");
}

TEST_CASE("pop3: RETR of a CRLF message sends it unchanged") {
  CHECK(after_login("RETR 1\r\n").output == "+OK 23 octets\r\nSubject: one\r\n\r\nHello\r\n.\r\n");
}

TEST_CASE("pop3: RETR converts bare LF and dot-stuffs") {
  CHECK(after_login("RETR 2\r\n").output == kRetr2);
}

TEST_CASE("pop3: RETR ends a message without a final newline with CRLF before the dot") {
  CHECK(after_login("RETR 3\r\n").output ==
        "+OK 37 octets\r\nSubject: three\r\n\r\nno newline at end\r\n.\r\n");
}

TEST_CASE("pop3: RETR of an empty message is just the status and the dot") {
  FakeHost host = default_host();
  host.maildrop = {{7, "uid-7", "", std::nullopt}};
  Transcript t = converse(host, "USER alice@example.test\r\nPASS secret\r\nRETR 1\r\n");
  CHECK(t.output.ends_with("+OK 0 octets\r\n.\r\n"));
}

TEST_CASE("pop3: RETR asks the host for the store's id") {
  Transcript t = after_login("RETR 2\r\n");
  CHECK(t.events[1] == "retrieve id=102");
}

TEST_CASE("pop3: TOP n 0 sends the header and the blank line") {
  CHECK(after_login("TOP 2 0\r\n").output ==
        "+OK top of message follows\r\nSubject: two\r\nFrom: b@example.test\r\n\r\n.\r\n");
}

TEST_CASE("pop3: TOP n k sends k body lines, dot-stuffed") {
  CHECK(after_login("TOP 2 2\r\n").output ==
        "+OK top of message follows\r\nSubject: two\r\nFrom: b@example.test\r\n\r\nLine "
        "1\r\n..dot line\r\n.\r\n");
}

TEST_CASE("pop3: TOP beyond the body sends the whole message") {
  CHECK(after_login("TOP 3 100\r\n").output ==
        "+OK top of message follows\r\nSubject: three\r\n\r\nno newline at end\r\n.\r\n");
}

TEST_CASE("pop3: TOP of a message without a blank line sends it whole") {
  FakeHost host = default_host();
  host.maildrop = {{7, "uid-7", "A: 1\nB: 2\n", std::nullopt}};
  Transcript t = converse(host, "USER alice@example.test\r\nPASS secret\r\nTOP 1 0\r\n");
  CHECK(t.output.ends_with("+OK top of message follows\r\nA: 1\r\nB: 2\r\n.\r\n"));
}

TEST_CASE("pop3: TOP checks its arguments") {
  CHECK(after_login("TOP 1\r\nTOP 1 x\r\nTOP 1 -1\r\nTOP 9 1\r\nTOP 1 1 1\r\n").output ==
        "-ERR missing argument\r\n-ERR invalid line count\r\n-ERR invalid line count\r\n"
        "-ERR no such message\r\n-ERR too many arguments\r\n");
}

TEST_CASE("pop3: content is no longer wanted once TOP has what it needs") {
  Dialog dialog(default_host());
  dialog.feed(kLogin);
  dialog.take_output();
  // Answer the Retrieve by hand to watch content_wanted().
  dialog.session().feed("TOP 1 0\r\n");
  auto actions = dialog.session().take_actions();
  REQUIRE(actions.size() == 1);
  CHECK(std::holds_alternative<Retrieve>(actions[0]));
  CHECK(std::get<Retrieve>(actions[0]).top_lines == 0);
  CHECK(dialog.session().content_wanted());
  dialog.session().on_content("Subject: one\r\n");
  CHECK(dialog.session().content_wanted());
  dialog.session().on_content("\r\nHello");
  CHECK_FALSE(dialog.session().content_wanted());
  dialog.session().on_content("ignored\r\n");
  dialog.session().on_content_end();
  dialog.run_host();
  CHECK(dialog.take_output() == "+OK top of message follows\r\nSubject: one\r\n\r\n.\r\n");
  CHECK_FALSE(dialog.session().waiting());
}

TEST_CASE("pop3: retrieved() counts RETR but not TOP") {
  Dialog dialog(default_host());
  dialog.feed(std::string(kLogin) + "RETR 1\r\nRETR 1\r\nTOP 2 1\r\n");
  CHECK(dialog.session().retrieved() == 2);
}

TEST_CASE("pop3: DELE marks a message and STAT and LIST leave it out") {
  CHECK(after_login("DELE 2\r\nSTAT\r\nLIST\r\n").output ==
        "+OK message 2 deleted\r\n+OK 2 60\r\n+OK 2 messages (60 octets)\r\n1 23\r\n3 "
        "37\r\n.\r\n");
}

TEST_CASE("pop3: deleted messages keep their numbers but are refused") {
  CHECK(after_login("DELE 2\r\nLIST 2\r\nRETR 2\r\nTOP 2 0\r\nUIDL 2\r\nDELE 2\r\nLIST 3\r\n"
                    "RETR 1\r\n")
            .output ==
        "+OK message 2 deleted\r\n-ERR message 2 already deleted\r\n-ERR message 2 already "
        "deleted\r\n-ERR message 2 already deleted\r\n-ERR message 2 already deleted\r\n"
        "-ERR message 2 already deleted\r\n+OK 3 37\r\n"
        "+OK 23 octets\r\nSubject: one\r\n\r\nHello\r\n.\r\n");
}

TEST_CASE("pop3: DELE then RSET restores the message") {
  CHECK(after_login("DELE 1\r\nDELE 3\r\nRSET\r\nSTAT\r\nLIST 1\r\n").output ==
        "+OK message 1 deleted\r\n+OK message 3 deleted\r\n+OK maildrop has 3 messages (125 "
        "octets)\r\n+OK 3 125\r\n+OK 1 23\r\n");
}

TEST_CASE("pop3: DELE then RSET then QUIT deletes nothing") {
  Transcript t = after_login("DELE 1\r\nRSET\r\nQUIT\r\n");
  CHECK(t.events[1] == "update delete=[]");
}

TEST_CASE("pop3: NOOP answers +OK") {
  CHECK(after_login("NOOP\r\n").output == "+OK\r\n");
}

TEST_CASE("pop3: UIDL lists the unique ids, UIDL n one of them") {
  CHECK(after_login("UIDL\r\nUIDL 3\r\n").output ==
        "+OK unique-id listing follows\r\n1 uid-101\r\n2 uid-102\r\n3 uid-103\r\n.\r\n"
        "+OK 3 uid-103\r\n");
}

TEST_CASE("pop3: UIDL leaves out deleted messages") {
  CHECK(after_login("DELE 1\r\nUIDL\r\n").output ==
        "+OK message 1 deleted\r\n+OK unique-id listing follows\r\n2 uid-102\r\n3 "
        "uid-103\r\n.\r\n");
}

TEST_CASE("pop3: an empty maildrop") {
  FakeHost host = default_host();
  host.maildrop.clear();
  Transcript t = converse(host, std::string(kLogin) + "STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\n");
  CHECK(t.output ==
        "+OK send PASS\r\n+OK maildrop has 0 messages (0 octets)\r\n+OK 0 0\r\n"
        "+OK 0 messages (0 octets)\r\n.\r\n+OK unique-id listing follows\r\n.\r\n"
        "-ERR no such message\r\n");
}

TEST_CASE("pop3: QUIT commits the deletions, then signs off and closes") {
  Dialog dialog(default_host());
  dialog.feed(std::string(kLogin) + "DELE 1\r\nDELE 3\r\nQUIT\r\n");
  const Transcript& t = dialog.transcript();
  CHECK(t.events == std::vector<std::string>{"login user=alice@example.test password=<redacted>",
                                             "update delete=[101,103]",
                                             "close reason=client quit"});
  CHECK(dialog.take_output().ends_with(
      "+OK message 3 deleted\r\n+OK postroom signing off (2 messages deleted)\r\n"));
  CHECK(dialog.session().deleted() == 2);
  CHECK(dialog.session().closed());
}

TEST_CASE("pop3: the QUIT reply waits for the commit") {
  Dialog dialog(default_host());
  dialog.feed(kLogin);
  dialog.take_output();
  dialog.session().feed("DELE 2\r\nQUIT\r\n");
  auto actions = dialog.session().take_actions();
  REQUIRE(actions.size() == 2);
  CHECK(std::get<Send>(actions[0]).bytes == "+OK message 2 deleted\r\n");
  CHECK(std::get<Update>(actions[1]).deleted_ids == std::vector<std::int64_t>{102});
  CHECK(dialog.session().waiting());
  CHECK(dialog.session().state() == State::update);
  dialog.session().feed("NOOP\r\n");  // Nothing runs in UPDATE.
  CHECK(dialog.session().take_actions().empty());
  dialog.session().on_update_done(true);
  actions = dialog.session().take_actions();
  REQUIRE(actions.size() == 2);
  CHECK(std::get<Send>(actions[0]).bytes == "+OK postroom signing off (1 message deleted)\r\n");
  CHECK(std::get<Close>(actions[1]).reason == "client quit");
}

TEST_CASE("pop3: QUIT without deletions still runs UPDATE with an empty list") {
  Transcript t = after_login("QUIT\r\n");
  CHECK(t.events[1] == "update delete=[]");
  CHECK(t.output == "+OK postroom signing off (0 messages deleted)\r\n");
}

TEST_CASE("pop3: a failed UPDATE answers [SYS/TEMP] and closes") {
  FakeHost host = default_host();
  host.update_ok = false;
  Dialog dialog(host);
  dialog.feed(std::string(kLogin) + "DELE 1\r\nQUIT\r\n");
  CHECK(dialog.take_output().ends_with(
      "-ERR [SYS/TEMP] Deletions could not be committed, no message was deleted\r\n"));
  CHECK(dialog.transcript().events.back() == "close reason=update failed");
  CHECK(dialog.session().deleted() == 0);
}

TEST_CASE("pop3: DELE then dropped connection deletes nothing") {
  Dialog dialog(default_host());
  dialog.feed(std::string(kLogin) + "DELE 1\r\nDELE 2\r\n");
  // The host drops the session here: no Update was ever requested.
  for (const Action& action : dialog.transcript().requests) {
    CHECK_FALSE(std::holds_alternative<Update>(action));
  }
  CHECK(dialog.session().deleted() == 0);
}

TEST_CASE("pop3: AUTHORIZATION commands are refused in TRANSACTION") {
  CHECK(after_login("USER a\r\nPASS b\r\nAPOP a 9d2c3fd01b3afb0c584ebe2b59fb06cb\r\nAUTH "
                    "PLAIN\r\nSTLS\r\n")
            .output ==
        "-ERR command not valid in this state\r\n"
        "-ERR command not valid in this state\r\n"
        "-ERR command not valid in this state\r\n"
        "-ERR command not valid in this state\r\n"
        "-ERR command not valid in this state\r\n");
}

TEST_CASE("pop3: CAPA still works after login") {
  Transcript before = converse("CAPA\r\n");
  CHECK(after_login("CAPA\r\n").output == before.output);
}

TEST_CASE("pop3: a message that cannot be read before any content gets [SYS/TEMP]") {
  FakeHost host = default_host();
  host.maildrop[0].fail_after = 0;
  Transcript t = after_login(host, "RETR 1\r\nSTAT\r\n");
  CHECK(t.output == "-ERR [SYS/TEMP] Message could not be read\r\n+OK 3 125\r\n");
  CHECK_FALSE(t.closed);
}

TEST_CASE("pop3: a read failure in mid-message closes the session") {
  FakeHost host = default_host();
  host.maildrop[1].fail_after = 20;
  Transcript t = after_login(host, "RETR 2\r\nSTAT\r\n");
  CHECK(t.output == "+OK 65 octets\r\nSubject: two\r\nFrom: b");
  CHECK(t.closed);
  CHECK(t.events.back() == "close reason=message could not be read");
}

TEST_CASE("pop3: answers the host gives out of turn are ignored") {
  Dialog dialog(default_host());
  dialog.session().on_content("stray");
  dialog.session().on_content_end();
  dialog.session().on_update_done(true);
  dialog.session().on_login_result(Session::LoginOutcome::ok, {});
  dialog.session().on_tls_started();
  dialog.run_host();
  CHECK(dialog.take_output().empty());
  CHECK(dialog.session().state() == State::authorization);
  CHECK_FALSE(dialog.session().content_wanted());
}

TEST_CASE("pop3: a listing of a big maildrop is one buffer, sized exactly, status line first") {
  // A session on 10,000 messages: the whole UIDL listing leaves as one Send that was
  // sized before it was filled (a buffer that doubled while filling would have up to
  // twice the capacity, and a copy on the way would show as a second allocation).
  Session session(default_host().params);
  session.feed(kLogin);
  std::vector<Action> actions = session.take_actions();
  REQUIRE(std::any_of(actions.begin(), actions.end(),
                      [](const Action& a) { return std::holds_alternative<Login>(a); }));
  Maildrop maildrop;
  constexpr std::size_t kMessages = 10'000;
  for (std::size_t i = 0; i < kMessages; ++i)
    maildrop.add(static_cast<std::int64_t>(i + 1), 100, "uidl-" + std::to_string(i + 1));
  session.on_login_result(Session::LoginOutcome::ok, std::move(maildrop));
  session.take_actions();
  session.feed("DELE 2\r\nUIDL\r\n");
  actions = session.take_actions();
  REQUIRE(actions.size() == 1);
  const auto* send = std::get_if<Send>(&actions[0]);
  REQUIRE(send != nullptr);
  // DELE's reply, then the listing in the same Send (merged).
  CHECK(send->bytes.starts_with("+OK"));
  std::size_t listing = send->bytes.find("\r\n+OK") + 2;
  REQUIRE(listing != std::string::npos + 2);
  std::string_view body = std::string_view(send->bytes).substr(listing);
  CHECK(body.starts_with("+OK"));
  CHECK(body.find("\r\n1 uidl-1\r\n3 uidl-3\r\n") != std::string_view::npos);  // 2 is deleted
  CHECK(body.find("\r\n2 uidl-2\r\n") == std::string_view::npos);
  CHECK(body.ends_with("\r\n10000 uidl-10000\r\n.\r\n"));
  CHECK(std::count(body.begin(), body.end(), '\n') == static_cast<long>(kMessages - 1 + 2));

  // Alone (nothing queued before it), the listing is handed over as built: its capacity
  // is its size.
  session.feed("UIDL\r\n");
  actions = session.take_actions();
  REQUIRE(actions.size() == 1);
  send = std::get_if<Send>(&actions[0]);
  REQUIRE(send != nullptr);
  CHECK(send->bytes.ends_with("\r\n10000 uidl-10000\r\n.\r\n"));
  CHECK(send->bytes.capacity() == send->bytes.size());
}
