// The Sender Rewriting Scheme: forwarded mail leaves with an envelope sender of our own
// domain that the receiver's SPF check accepts, and bounces to it find the original sender.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/address.hpp"
#include "postroom/base/error.hpp"

namespace postroom::relay {

// SRS as libsrs2 and Postfix's postsrsd write it (the scheme of Shevek's "Sender Rewriting
// Scheme" paper, 2004):
//   SRS0=HHHHHH=TT=example.org=alice@ourdomain   for alice@example.org
//   SRS1=HHHHHH=hop.example==HHHH=TT=d=l@ourdomain for SRS0=HHHH=TT=d=l@hop.example
// TT is the day number modulo 1024 in two base32 characters, HHHHHH the start of the
// base64 HMAC-SHA1 of what follows it, keyed with a secret kept in the data directory. The
// comparison ignores case: addresses reach us lower-cased.
class Srs {
 public:
  // `key`: the secret; `domain`: where SRS addresses live (one of ours); `max_age_days`:
  // how long a bounce may take to come back (postsrsd's default is 21).
  Srs(std::string key, std::string domain, int max_age_days = 21);

  // The envelope sender for forwarding mail from `sender` at unix time `now`. The caller
  // decides whether to rewrite (only senders outside our domains need it).
  std::string forward(const Address& sender, std::int64_t now) const;

  enum class Verdict {
    not_srs,  // an ordinary local part: look it up as usual
    valid,    // `address` is where the bounce goes
    forged,   // malformed, or the hash does not match
    expired,  // the timestamp is older than max_age_days (or in the future)
  };
  struct Reversed {
    Verdict verdict = Verdict::not_srs;
    std::string address;
  };
  // Reverses a local part of `domain()` at unix time `now`.
  Reversed reverse(std::string_view local_part, std::int64_t now) const;

  const std::string& domain() const { return domain_; }

 private:
  std::string hash(std::string_view data) const;

  std::string key_;
  std::string domain_;
  int max_age_days_;
};

// The secret in `file`, created with 32 random bytes (mode 0600) when it does not exist.
// The error names what failed, never the key.
Result<std::string> load_or_create_srs_key(const std::filesystem::path& file);

}  // namespace postroom::relay
