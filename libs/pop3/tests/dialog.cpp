// A scripted host for session tests: runs a client dialog whole or one byte at a time.
#include "dialog.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <type_traits>

#include "postroom/pop3/transfer_encoder.hpp"

namespace postroom::pop3::testing {

FakeHost default_host() {
  FakeHost host;
  host.params.hostname = "mail.example.test";
  host.params.apop_timestamp = "<1896.697170952@mail.example.test>";
  host.passwords["alice@example.test"] = "secret";
  host.maildrop = {
      {101, "uid-101", "Subject: one\r\n\r\nHello\r\n", std::nullopt},
      {102, "uid-102", "Subject: two\nFrom: b@example.test\n\nLine 1\n.dot line\nLine 3\n",
       std::nullopt},
      {103, "uid-103", "Subject: three\r\n\r\nno newline at end", std::nullopt},
  };
  return host;
}

std::string login_reply() {
  FakeHost host = default_host();
  std::uint64_t total = 0;
  for (const FakeMessage& m : host.maildrop) total += wire_size(m.content);
  return "+OK send PASS\r\n+OK maildrop has 3 messages (" + std::to_string(total) + " octets)\r\n";
}

Dialog::Dialog(FakeHost host) : host_(std::move(host)), session_(host_.params) {
  run_host();
  transcript_.greeting = std::move(transcript_.output);
  transcript_.output.clear();
}

void Dialog::feed(std::string_view input, bool byte_by_byte) {
  if (!byte_by_byte) {
    session_.feed(input);
    run_host();
    return;
  }
  for (char c : input) {
    session_.feed(std::string_view(&c, 1));
    run_host();
  }
}

std::string Dialog::take_output() {
  std::string out = transcript_.output.substr(taken_);
  taken_ = transcript_.output.size();
  return out;
}

void Dialog::run_host() {
  while (true) {
    std::vector<Action> actions = session_.take_actions();
    for (auto id : session_.take_retrieved()) transcript_.retrieved.push_back(id);
    if (actions.empty()) return;
    for (Action& action : actions) {
      if (!std::holds_alternative<Send>(action)) {
        transcript_.events.push_back(describe(action));
        transcript_.requests.push_back(action);
      }
      std::visit(
          [&](auto& a) {
            using T = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<T, Send>) {
              transcript_.output += a.bytes;
            } else if constexpr (std::is_same_v<T, Login> || std::is_same_v<T, LoginApop>) {
              const auto& expected =
                  std::is_same_v<T, Login> ? host_.passwords : host_.apop_digests;
              std::string secret;
              if constexpr (std::is_same_v<T, Login>) {
                secret = a.password;
              } else {
                secret = a.digest;
              }
              auto it = expected.find(a.user);
              auto outcome = (it != expected.end() && it->second == secret)
                                 ? Session::LoginOutcome::ok
                                 : Session::LoginOutcome::bad_credentials;
              if (host_.forced_outcome) outcome = *host_.forced_outcome;
              std::vector<MessageInfo> infos;
              for (const FakeMessage& m : host_.maildrop) {
                infos.push_back({m.id, wire_size(m.content), m.uidl});
              }
              session_.on_login_result(outcome, Maildrop(infos), host_.user_policy);
            } else if constexpr (std::is_same_v<T, Retrieve>) {
              auto it = std::find_if(host_.maildrop.begin(), host_.maildrop.end(),
                                     [&](const FakeMessage& m) { return m.id == a.id; });
              REQUIRE(it != host_.maildrop.end());
              std::string_view content = it->content;
              if (it->fail_after) content = content.substr(0, *it->fail_after);
              std::size_t chunk = host_.content_chunk == 0 ? content.size() : host_.content_chunk;
              for (std::size_t pos = 0; pos < content.size() && session_.content_wanted();
                   pos += chunk) {
                session_.on_content(content.substr(pos, chunk));
              }
              if (it->fail_after) {
                session_.on_content_failed();
              } else {
                session_.on_content_end();
              }
            } else if constexpr (std::is_same_v<T, Update>) {
              session_.on_update_done(host_.update_ok);
            } else if constexpr (std::is_same_v<T, Close>) {
              transcript_.closed = true;
            }
            // StartTls: the test decides when the handshake completes.
          },
          action);
    }
  }
}

Transcript converse(const FakeHost& host, std::string_view input) {
  Dialog whole(host);
  whole.feed(input);
  FakeHost bytewise_host = host;
  bytewise_host.content_chunk = 1;
  Dialog bytewise(bytewise_host);
  bytewise.feed(input, true);
  const Transcript& a = whole.transcript();
  const Transcript& b = bytewise.transcript();
  CHECK(a.output == b.output);
  CHECK(a.events == b.events);
  CHECK(a.closed == b.closed);
  return a;
}

Transcript converse(std::string_view input) {
  return converse(default_host(), input);
}

}  // namespace postroom::pop3::testing
