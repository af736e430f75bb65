// A scripted host for session tests: runs a client dialog whole or one byte at a time.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/pop3/session.hpp"

namespace postroom::pop3::testing {

struct FakeMessage {
  std::int64_t id = 0;
  std::string uidl;
  std::string content;                    // stored bytes, as the store would hand them over
  std::optional<std::size_t> fail_after;  // stream this many bytes, then on_content_failed()
};

// The host side: credentials, the maildrop and how the store answers.
struct FakeHost {
  SessionParams params;
  std::map<std::string, std::string> passwords;         // user -> password
  std::map<std::string, std::string> apop_digests;      // user -> expected digest
  std::optional<Session::LoginOutcome> forced_outcome;  // overrides the credential check
  std::vector<FakeMessage> maildrop;
  std::optional<Announced> user_policy;  // handed over with a successful login
  bool update_ok = true;
  std::size_t content_chunk = 0;  // 0: hand each message over in one chunk
};

// The default test host: alice@example.test / "secret", three messages.
FakeHost default_host();

// Everything the client saw and every request the host got.
struct Transcript {
  std::string greeting;
  std::string output;                   // all bytes sent after the greeting
  std::vector<std::string> events;      // describe() of every action except Send
  std::vector<Action> requests;         // the same actions, unredacted
  std::vector<std::int64_t> retrieved;  // Session::take_retrieved(), in order
  bool closed = false;
};

// Drives one Session like the net layer does: feed, execute actions, answer.
class Dialog {
 public:
  explicit Dialog(FakeHost host);
  // Feeds `input` (whole or one byte per feed) and runs the host until idle.
  void feed(std::string_view input, bool byte_by_byte = false);
  // Runs pending actions (after the test called an on_... method itself).
  void run_host();
  Session& session() { return session_; }
  Transcript& transcript() { return transcript_; }
  // Output since the last call, for step-by-step checks.
  std::string take_output();

 private:
  FakeHost host_;
  Session session_;
  Transcript transcript_;
  std::size_t taken_ = 0;
};

// One dialog run whole and one run byte by byte (with one-byte content
// chunks); CHECKs that both give the same transcript and returns it.
Transcript converse(const FakeHost& host, std::string_view input);
Transcript converse(std::string_view input);  // with default_host()

// The login lines and the reply the default host gives them.
inline constexpr std::string_view kLogin = "USER alice@example.test\r\nPASS secret\r\n";
std::string login_reply();

}  // namespace postroom::pop3::testing
