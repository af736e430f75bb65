// Parses SMTP server replies (RFC 5321 §4.2), single- and multi-line, from a bounded byte stream.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/base/line_reader.hpp"

namespace postroom::relay {

// RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; real servers send
// longer ones, so we accept 8 times that (counting the CRLF) and no more.
inline constexpr std::size_t kMaxReplyLine = 4096;
// A multi-line reply (an EHLO list, a long 550 explanation) has at most this
// many lines, so one reply costs at most kMaxReplyLines * kMaxReplyLine octets.
inline constexpr std::size_t kMaxReplyLines = 100;
// Reply::one_line() keeps at most this many octets (then marks the cut with "...").
inline constexpr std::size_t kMaxOneLine = 1000;

struct Reply {
  int code = 0;                    // 200..599 (RFC 5321 §4.2.1)
  std::vector<std::string> lines;  // the text after "250-" / "250 " on each line, in order

  // The first digit: 2 positive completion, 3 intermediate, 4 transient, 5 permanent.
  int kind() const { return code / 100; }
  // The enhanced status code ("5.1.1", RFC 3463) at the start of the first
  // line when it has the same class as `code` (RFC 2034 §4), else empty.
  std::string enhanced_status() const;
  // "550 5.1.1 no such user": the code and every line joined by spaces, an
  // enhanced code repeated at the start of continuation lines dropped, control
  // characters replaced by '?', at most kMaxOneLine octets. For logs, the
  // queue's LAST-REPLY and DSN Diagnostic-Code fields.
  std::string one_line() const;
};

// Reads replies from the server's byte stream. Lines may end in CRLF or, leniently, bare LF.
class ReplyParser {
 public:
  explicit ReplyParser(std::size_t max_line = kMaxReplyLine) : lines_(max_line) {}

  void append(std::string_view bytes);
  // The next complete reply; nullopt when more input is needed; an error for a
  // line that is malformed, too long, or continues a reply with another code,
  // or for too many lines. After an error the stream is unusable (the host
  // closes the connection).
  std::optional<Result<Reply>> next();
  // Octets received but not yet returned as part of a reply.
  std::size_t buffered_size() const { return lines_.buffered_size(); }

 private:
  LineReader lines_;
  Reply partial_;  // lines of a multi-line reply read so far (code 0: none)
};

}  // namespace postroom::relay
