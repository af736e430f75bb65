#include "postroom/system/daemon_status.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace postroom::system;

TEST_CASE("daemon status: every field survives render and parse, spaces and controls included") {
  DaemonStatus s;
  s.pid = 4242;
  s.version = "0.2.0";
  s.started_at = 1700000000;
  s.updated_at = 1700000100;
  s.connections = 7;
  s.listeners = {{"smtp", "127.0.0.1:2525", "starttls"}, {"pop3s", "[::1]:995", "implicit"}};
  s.recent.lockout({1700000050, "user", "192.0.2.7", "bob@example.test\r\nforged line"});
  s.recent.delivery_error(
      {1700000060, "q1", "\"a b\"@remote.test", "deferred", "", "421 4.3.0 try later\nX"});
  std::string text = render_status(s);
  // The login name and the reply cannot start a line of their own.
  CHECK(text.find("\nforged line") == std::string::npos);
  CHECK(text.find("\nX") == std::string::npos);
  auto back = parse_status(text);
  REQUIRE(back);
  CHECK(back->pid == 4242);
  CHECK(back->version == "0.2.0");
  CHECK(back->started_at == 1700000000);
  CHECK(back->updated_at == 1700000100);
  CHECK(back->connections == 7);
  REQUIRE(back->listeners.size() == 2);
  CHECK(back->listeners[1].endpoint == "[::1]:995");
  CHECK(back->listeners[1].tls == "implicit");
  REQUIRE(back->recent.lockouts.size() == 1);
  CHECK(back->recent.lockouts[0].user == "bob@example.test??forged line");
  CHECK(back->recent.lockouts[0].address == "192.0.2.7");
  REQUIRE(back->recent.delivery_errors.size() == 1);
  const auto& e = back->recent.delivery_errors[0];
  CHECK(e.recipient == "\"a b\"@remote.test");
  CHECK(e.remote_host.empty());
  CHECK(e.state == "deferred");
  CHECK(e.reply == "421 4.3.0 try later?X");
  CHECK_FALSE(back->acme.enabled);  // no acme line without an acme section
}

TEST_CASE("daemon status: the acme line survives render and parse") {
  DaemonStatus s;
  s.pid = 1;
  s.acme = {true,       "failing",  "mail.example.test,mta-sts.example.test",
            1700086400, 1700050000, 1700000300,
            3,          1700000200, "nowhere.test: http-01 failed: dns: no\nsuch host"};
  auto back = parse_status(render_status(s));
  REQUIRE(back);
  CHECK(back->acme.enabled);
  CHECK(back->acme.state == "failing");
  CHECK(back->acme.names == "mail.example.test,mta-sts.example.test");
  CHECK(back->acme.not_after == 1700086400);
  CHECK(back->acme.renew_at == 1700050000);
  CHECK(back->acme.next_attempt == 1700000300);
  CHECK(back->acme.failures == 3);
  CHECK(back->acme.last_failure == 1700000200);
  CHECK(back->acme.error == "nowhere.test: http-01 failed: dns: no?such host");
}

TEST_CASE("daemon status: a file that is not one, or names no pid, is refused") {
  CHECK_FALSE(parse_status(""));
  CHECK_FALSE(parse_status("hello\npid 1\n"));
  CHECK_FALSE(parse_status("postroomd-status 1\nstarted 5\n"));
  auto unknown_keys = parse_status("postroomd-status 1\npid 9\nfuture-key a b c\n");
  REQUIRE(unknown_keys);
  CHECK(unknown_keys->pid == 9);
}

TEST_CASE("daemon status: recent events keep the newest ten, newest first") {
  RecentEvents recent;
  for (int i = 0; i < 15; ++i) recent.lockout({i, "user", "192.0.2.1", "u"});
  REQUIRE(recent.lockouts.size() == kRecentKept);
  CHECK(recent.lockouts.front().at == 14);
  CHECK(recent.lockouts.back().at == 5);
}

TEST_CASE("daemon status: the file is replaced whole and private; this process is no postroomd") {
  auto dir = std::filesystem::temp_directory_path() /
             ("postroom-status-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "postroomd.status";
  REQUIRE(write_status_file(file, "first\n"));
  REQUIRE(write_status_file(file, "second\n"));
  std::ifstream in(file);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  CHECK(content == "second\n");
  auto perms = std::filesystem::status(file).permissions();
  CHECK((perms & std::filesystem::perms::group_all) == std::filesystem::perms::none);
  CHECK((perms & std::filesystem::perms::others_all) == std::filesystem::perms::none);
  CHECK_FALSE(std::filesystem::exists(dir / "postroomd.status.new"));
  CHECK_FALSE(write_status_file(dir / "missing" / "x", "y"));
  std::filesystem::remove_all(dir);
  CHECK_FALSE(is_postroomd(::getpid()));  // the test binary is alive but not postroomd
  CHECK_FALSE(is_postroomd(0));
}
