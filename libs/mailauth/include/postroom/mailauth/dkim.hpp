// DKIM verification (RFC 6376, RSA; RFC 8463, Ed25519), sans-I/O: the signatures are read
// from the header section, the body streams through one canonicalizer and hash per
// signature, and the keys come from a DnsView (the caller's own DNS answers) at the end.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/header_section.hpp"
#include "postroom/mailauth/dns.hpp"

namespace postroom::mailauth {

// RFC 8601 §2.7.1 result words.
enum class DkimResult { none, pass, fail, policy, neutral, temperror, permerror };

const char* dkim_result_name(DkimResult result);

struct DkimOutcome {
  DkimResult result = DkimResult::none;
  std::string domain;     // d=
  std::string selector;   // s=
  std::string identity;   // i= (default "@" + d=)
  std::string algorithm;  // a=
  std::string b_prefix;   // the first octets of b=, to tell signatures apart (RFC 6008)
  std::string reason;     // why, for anything but pass
  bool testing = false;   // the key says t=y
};

class DkimVerifier {
 public:
  // At most this many signatures are checked; more cost the receiver without purpose.
  static constexpr std::size_t kMaxSignatures = 5;

  // Reads every DKIM-Signature field of `headers` (the message as received). `now` (Unix
  // time) judges x= expiry.
  DkimVerifier(const HeaderSection& headers, std::int64_t now);
  ~DkimVerifier();
  DkimVerifier(const DkimVerifier&) = delete;
  DkimVerifier& operator=(const DkimVerifier&) = delete;

  // The body after the empty line, in pieces, as stored (CRLF line ends).
  void body(std::string_view bytes);
  // Ends the body; call once, before verify().
  void end_body();

  bool has_signatures() const;
  // The TXT names of the keys verify() will ask for ("sel._domainkey.example.org"), so a
  // caller can fetch them while the body arrives.
  std::vector<std::string> key_names() const;

  // One outcome per signature, in header order; nullopt while a key's TXT answer is not in
  // `dns` yet (look up what the cache names, then call again).
  std::optional<std::vector<DkimOutcome>> verify(DnsView& dns);

  struct Signature;  // one signature's parsed tags and body hash (dkim.cpp)

 private:
  std::vector<std::unique_ptr<Signature>> signatures_;
  HeaderSection headers_;
  bool body_ended_ = false;
};

}  // namespace postroom::mailauth
