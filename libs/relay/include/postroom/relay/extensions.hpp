// The service extensions a server lists in its EHLO reply (RFC 5321 §4.1.1.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/relay/reply_parser.hpp"

namespace postroom::relay {

struct Extensions {
  bool pipelining = false;    // RFC 2920
  bool starttls = false;      // RFC 3207
  bool eightbitmime = false;  // RFC 6152
  bool smtputf8 = false;      // RFC 6531
  // RFC 1870 §4: the server's fixed message size limit; 0 means no fixed limit.
  // nullopt when SIZE is not listed.
  std::optional<std::uint64_t> size;
  std::vector<std::string> auth_mechanisms;  // RFC 4954 §3, upper-cased

  bool offers_auth(std::string_view mechanism) const;

  // Reads the keywords from the second line on (the first is the greeting
  // text). Keywords are case-insensitive; "AUTH=LOGIN PLAIN", the pre-RFC
  // form some servers still send, counts as AUTH. Unknown keywords are ignored.
  static Extensions parse(const Reply& ehlo_reply);
};

}  // namespace postroom::relay
