// DKIM canonicalization (RFC 6376 §3.4): "simple" and "relaxed" for header fields, and a
// streaming body canonicalizer that holds back trailing empty lines in a counter, never in
// a buffer, so a body of any size is hashed in bounded memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace postroom::mailauth {

enum class Canon { simple, relaxed };

// One header field ("Name" and everything after the colon, folding kept) canonicalized,
// ending in CRLF.
std::string canonical_header(std::string_view name, std::string_view value, Canon canon);

class BodyCanonicalizer {
 public:
  // `sink` receives the canonical body in pieces; at most `limit` octets of it (l=), or all
  // when limit is negative.
  BodyCanonicalizer(Canon canon, std::int64_t limit, std::function<void(std::string_view)> sink);
  void feed(std::string_view bytes);
  void finish();
  std::int64_t emitted() const { return emitted_; }

 private:
  void emit(std::string_view s);
  void flush();
  void content(std::string_view run);

  Canon canon_;
  std::int64_t limit_;
  std::function<void(std::string_view)> sink_;
  std::string out_;                 // this feed's output, handed to the sink in one piece
  std::uint64_t pending_crlf_ = 0;  // line ends not yet known to be followed by content
  bool pending_wsp_ = false;        // relaxed: a run of WSP seen on this line
  bool pending_cr_ = false;         // a CR that may start a CRLF
  bool line_content_ = false;       // the current line has content
  bool any_content_ = false;
  std::int64_t emitted_ = 0;
};

}  // namespace postroom::mailauth
