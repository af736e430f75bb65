// Test harness: a fake host that answers the session's requests, and a dialog runner that feeds
// client bytes whole and one byte at a time so both can be compared.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "postroom/smtp/session.hpp"

namespace postroom::smtp::test {

inline constexpr const char* kEhlo =
    "250-mail.example.test\n250-PIPELINING\n250-SIZE 26214400\n250-8BITMIME\n"
    "250-ENHANCEDSTATUSCODES\n250-SMTPUTF8\n250-CHUNKING\n250 AUTH PLAIN LOGIN\n";
inline constexpr const char* kGreeting = "220 mail.example.test ESMTP postroom\n";
// 1700000000 = Tue, 14 Nov 2023 22:13:20 +0000.
inline constexpr std::time_t kNow = 1700000000;

// hostname mail.example.test, peer 192.0.2.7, session id S1, mx listener, clock fixed at kNow.
SessionParams test_params();

// Local domain example.test: "unknown*" -> unknown_user, "tempfail" -> temp_failure, others
// local; "postmaster" without domain -> local; other domains -> remote.
RecipientVerdict default_verdict(const Address& address);

struct FakeHost {
  std::function<RecipientVerdict(const Address&)> verdict = default_verdict;
  // alice@example.test / secret is the one valid login.
  std::function<bool(const std::string&, const std::string&)> check_password =
      [](const std::string& u, const std::string& p) {
        return u == "alice@example.test" && p == "secret";
      };
  std::vector<std::string> allowed_senders = {"alice@example.test", "sales@example.test"};
  std::function<Result<std::string>()> store;  // empty: ok, ids Q1, Q2, ...
  bool auto_answer = true;                     // answer requests as soon as they appear

  // What the session did. Replies appear with CRLF turned into "\n"; other actions as
  // "[Name detail]\n". MessageData is collected in `current`, not in the transcript.
  std::string transcript;
  std::string current;                // the message in transfer
  std::vector<std::string> messages;  // the messages stored
  std::vector<Envelope> envelopes;
  std::vector<Authenticate> auths;
  std::vector<TransactionRecord> records;
  std::size_t largest_chunk = 0;
  std::size_t data_actions = 0;
  bool closed = false;
  int stored_count = 0;

  // Takes and carries out every pending action (answering when auto_answer).
  void drain(Session& session);
};

struct Step {
  std::string client;                       // bytes the client sends
  std::function<void(Session&)> host = {};  // then the host does this (e.g. on_tls_started)
};

// Runs the steps on a fresh session; each step's bytes whole or one byte at a time.
FakeHost run(const std::vector<Step>& steps, bool bytewise, SessionParams params = test_params(),
             FakeHost host = {});
// Runs the dialog both ways, CHECKs that both produce the same transcript and messages, and
// returns the whole-fed run.
FakeHost run_both(const std::vector<Step>& steps, SessionParams params = test_params(),
                  FakeHost host = {});
FakeHost run_both(const std::string& client, SessionParams params = test_params(),
                  FakeHost host = {});

// "EHLO client.test\r\n" and friends, to keep dialogs short.
std::string ehlo();
std::string mail_rcpt(const std::string& from = "sender@remote.test",
                      const std::string& to = "bob@example.test");

}  // namespace postroom::smtp::test
