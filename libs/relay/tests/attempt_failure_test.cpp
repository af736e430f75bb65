// The failure a delivery attempt reports over several addresses and hosts.
#include "postroom/relay/attempt_failure.hpp"

#include <doctest/doctest.h>

using namespace postroom::relay;

namespace {

constexpr const char* kTls = "4.7.0 TLS handshake failed: certificate verify failed";
constexpr const char* kRefused = "4.4.1 connection to localhost[::1]:25 failed: connection refused";
constexpr const char* kTimeout = "4.4.1 connection to mx2.test[192.0.2.2]:25 timed out";
constexpr const char* kDns = "4.4.3 cannot resolve mx3.test: timeout";

}  // namespace

TEST_CASE("attempt failure: nothing noted, nothing to report") {
  AttemptFailures f;
  CHECK(f.empty());
  CHECK(f.reply().empty());
}

TEST_CASE("attempt failure: a TLS failure outranks a refusal in either order") {
  AttemptFailures tls_first;
  CHECK(tls_first.note(FailureStage::session, kTls));
  CHECK_FALSE(tls_first.note(FailureStage::connect, kRefused));
  CHECK(tls_first.reply() == kTls);

  AttemptFailures refused_first;
  CHECK(refused_first.note(FailureStage::connect, kRefused));
  CHECK(refused_first.note(FailureStage::session, kTls));
  CHECK(refused_first.reply() == kTls);
}

TEST_CASE("attempt failure: a connection failure outranks a name that did not resolve") {
  AttemptFailures f;
  f.note(FailureStage::connect, kTimeout);
  f.note(FailureStage::resolve, kDns);
  CHECK(f.reply() == kTimeout);
  f.note(FailureStage::resolve, kDns);
  CHECK(f.reply() == kTimeout);
}

TEST_CASE("attempt failure: within one stage the latest failure is reported") {
  AttemptFailures f;
  f.note(FailureStage::connect, kRefused);
  CHECK(f.note(FailureStage::connect, kTimeout));
  CHECK(f.reply() == kTimeout);
  f.note(FailureStage::session, "421 4.3.2 busy (mx1)");
  f.note(FailureStage::session, "450 4.7.1 greylisted (mx2)");
  CHECK(f.reply() == "450 4.7.1 greylisted (mx2)");
}
