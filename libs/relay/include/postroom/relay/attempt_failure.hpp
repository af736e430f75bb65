// Which failure a delivery attempt reports when no address of any host took the message.
#pragma once

#include <optional>
#include <string>

namespace postroom::relay {

// How far an attempt got with one host or address before it failed, least significant first.
enum class FailureStage {
  resolve,  // the host name did not resolve
  connect,  // no TCP connection: refused, unreachable, timed out
  session,  // a server answered: a 4xx greeting or reply, a failed TLS handshake, a drop
  policy,   // a TLS policy (MTA-STS enforce, DANE) ruled the host out: it must not be used
};

// The failures of one attempt over all the addresses of all its hosts. A host name often has
// an unreachable address beside the one that answers (localhost as ::1 and 127.0.0.1, an MX
// with an IPv6 address but no IPv6 route); the report must name the answer (a certificate that
// does not verify, a 4xx greeting), not the refusal met after it. So a failure from a later
// stage outranks one from an earlier stage, whatever their order; within a stage the latest
// wins.
class AttemptFailures {
 public:
  // Records `reply` ("4.4.1 connection to ... failed") when it ranks at least as high as the
  // one kept so far; returns whether it did.
  bool note(FailureStage stage, std::string reply);
  bool empty() const { return !stage_; }
  // The reply to report; empty when nothing failed yet.
  const std::string& reply() const { return reply_; }

 private:
  std::optional<FailureStage> stage_;
  std::string reply_;
};

}  // namespace postroom::relay
