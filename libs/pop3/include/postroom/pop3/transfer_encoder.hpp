// Streaming RETR/TOP output: line ends normalized to CRLF and leading dots stuffed (RFC 1939 §3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postroom::pop3 {

// Turns stored message bytes (CRLF or bare LF line ends, any chunk boundaries)
// into the body of a POP3 multi-line reply. It keeps a few flags of state and
// never buffers message bytes, so its memory does not depend on message size.
class TransferEncoder {
 public:
  // Without `top_lines` the whole message passes (RETR). With it, the header
  // lines, the blank line and then that many body lines pass (RFC 1939 §7 TOP);
  // a message without a blank line passes whole.
  explicit TransferEncoder(std::optional<std::uint64_t> top_lines = std::nullopt);

  // Appends the encoded form of `chunk` to `out`.
  void encode(std::string_view chunk, std::string& out);
  // Appends the CRLF a message needs when it did not end in a line end. The
  // caller then appends the terminating ".\r\n".
  void finish(std::string& out);
  // False once TOP has passed everything it will pass; later input is ignored.
  bool wants_more() const { return phase_ != Phase::done; }

 private:
  enum class Phase : std::uint8_t { header, body, done };
  void end_line();

  std::optional<std::uint64_t> body_lines_left_;  // nullopt: no limit
  Phase phase_ = Phase::header;
  bool at_line_start_ = true;  // nothing of the current line emitted yet
  bool after_cr_ = false;      // the last byte was CR (already emitted)
  bool line_blank_ = true;     // the current line holds nothing but a CR so far
};

// Counts the octets a message occupies on the wire before dot-stuffing: every
// bare LF counts as CRLF (RFC 1939 §11 "size"), and so does the line end added
// after an unterminated last line. This is the size the host must put in
// MessageInfo, so STAT, LIST and the RETR "+OK n octets" agree with the bytes
// actually sent.
class WireSizeCounter {
 public:
  void add(std::string_view chunk);
  std::uint64_t size() const;

 private:
  std::uint64_t size_ = 0;
  bool after_cr_ = false;
  bool at_line_start_ = true;  // nothing yet, or the last octet was LF
};

// WireSizeCounter over a whole message.
std::uint64_t wire_size(std::string_view message);

}  // namespace postroom::pop3
