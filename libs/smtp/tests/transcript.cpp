// The fake host and dialog runner shared by the session tests.
#include "transcript.hpp"

#include <doctest/doctest.h>

#include <type_traits>

namespace postroom::smtp::test {

SessionParams test_params() {
  SessionParams p;
  p.hostname = "mail.example.test";
  p.peer_ip = "192.0.2.7";
  p.session_id = "S1";
  p.clock = [] { return kNow; };
  return p;
}

RecipientVerdict default_verdict(const Address& address) {
  RecipientVerdict v;
  if (address.domain.empty() && address.local == "postmaster") {
    v.kind = RecipientVerdict::Kind::local;
    v.mailboxes = {99};
  } else if (address.domain == "example.test") {
    if (address.local.starts_with("unknown") ||
        address.local.find_first_of("%!@") != std::string::npos) {
      v.kind = RecipientVerdict::Kind::unknown_user;
    } else if (address.local == "tempfail") {
      v.kind = RecipientVerdict::Kind::temp_failure;
    } else {
      v.kind = RecipientVerdict::Kind::local;
      v.mailboxes = {1};
    }
  } else {
    v.kind = RecipientVerdict::Kind::remote;
    v.forward_to = {address.str()};
  }
  return v;
}

void FakeHost::drain(Session& session) {
  while (true) {
    auto actions = session.take_actions();
    if (actions.empty()) return;
    for (Action& action : actions) {
      std::visit(
          [&](auto& a) {
            using T = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<T, Send>) {
              REQUIRE(a.bytes.size() >= 2);
              CHECK(a.bytes.ends_with("\r\n"));
              for (std::size_t i = 0; i < a.bytes.size(); ++i) {
                if (a.bytes[i] == '\r') {
                  CHECK(a.bytes[i + 1] == '\n');
                  ++i;
                  transcript.push_back('\n');
                } else {
                  CHECK(a.bytes[i] != '\n');
                  transcript.push_back(a.bytes[i]);
                }
              }
            } else if constexpr (std::is_same_v<T, StartTls>) {
              transcript += "[StartTls]\n";
            } else if constexpr (std::is_same_v<T, Close>) {
              transcript += "[Close " + a.reason + "]\n";
              closed = true;
            } else if constexpr (std::is_same_v<T, Authenticate>) {
              transcript += "[Authenticate " + a.user + "]\n";
              auths.push_back(a);
              if (auto_answer) {
                bool ok = check_password(a.user, a.password);
                session.on_auth_result(ok, ok ? allowed_senders : std::vector<std::string>{});
              }
            } else if constexpr (std::is_same_v<T, CheckRecipient>) {
              transcript += "[Check " + a.address.str() + "]\n";
              if (auto_answer) session.on_recipient_checked(verdict(a.address));
            } else if constexpr (std::is_same_v<T, MessageBegin>) {
              transcript += "[Begin]\n";
              envelopes.push_back(a.envelope);
              current.clear();
            } else if constexpr (std::is_same_v<T, MessageData>) {
              CHECK(!a.bytes.empty());
              current += a.bytes;
              largest_chunk = std::max(largest_chunk, a.bytes.size());
              ++data_actions;
            } else if constexpr (std::is_same_v<T, MessageEnd>) {
              transcript += "[End]\n";
              if (auto_answer) {
                Result<std::string> r =
                    store ? store() : Result<std::string>("Q" + std::to_string(stored_count + 1));
                if (r) {
                  ++stored_count;
                  messages.push_back(current);
                }
                current.clear();
                session.on_message_stored(std::move(r));
              }
            } else if constexpr (std::is_same_v<T, MessageAbort>) {
              transcript += "[Abort]\n";
              current.clear();
            }
          },
          action);
    }
  }
}

FakeHost run(const std::vector<Step>& steps, bool bytewise, SessionParams params, FakeHost host) {
  Session session(std::move(params));
  host.drain(session);
  for (const Step& step : steps) {
    if (bytewise) {
      for (char c : step.client) {
        session.feed(std::string_view(&c, 1));
        host.drain(session);
      }
    } else {
      session.feed(step.client);
      host.drain(session);
    }
    if (step.host) {
      step.host(session);
      host.drain(session);
    }
  }
  auto records = session.take_transaction_log();
  host.records.insert(host.records.end(), records.begin(), records.end());
  return host;
}

FakeHost run_both(const std::vector<Step>& steps, SessionParams params, FakeHost host) {
  FakeHost whole = run(steps, false, params, host);
  FakeHost bytes = run(steps, true, params, host);
  CHECK(whole.transcript == bytes.transcript);
  CHECK(whole.messages == bytes.messages);
  CHECK(whole.current == bytes.current);
  return whole;
}

FakeHost run_both(const std::string& client, SessionParams params, FakeHost host) {
  return run_both(std::vector<Step>{{client}}, std::move(params), std::move(host));
}

std::string ehlo() {
  return "EHLO client.test\r\n";
}

std::string mail_rcpt(const std::string& from, const std::string& to) {
  return "MAIL FROM:<" + from + ">\r\nRCPT TO:<" + to + ">\r\n";
}

}  // namespace postroom::smtp::test
