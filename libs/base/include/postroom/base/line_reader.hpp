// Splits a byte stream into protocol command lines with a hard cap on line length.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postroom {

struct Line {
  std::string text;       // without the line terminator
  bool too_long = false;  // the line exceeded the cap; `text` is empty, its bytes were discarded
  bool bare_lf = false;   // ended by LF alone rather than CRLF
};

// `max_line` counts the terminating CRLF, as the RFCs' limits do. Buffers at most `max_line` octets
// of an unterminated line: the rest of an over-long line is discarded as it arrives, never stored,
// and the line is then reported once with `too_long` set (design principle 5).
class LineReader {
 public:
  explicit LineReader(std::size_t max_line) : max_line_(max_line) {}

  // The bound above holds when next() is called after each append(); bytes appended
  // while the owner is not consuming lines (waiting for an async answer) are kept, so
  // the owner stops reading its socket meanwhile.
  void append(std::string_view bytes);
  // The next complete line, or nullopt when more input is needed.
  std::optional<Line> next();
  // Bytes received but not yet returned as lines.
  std::size_t buffered_size() const { return buffer_.size() - start_; }
  // Removes and returns everything buffered (for a switch to DATA or a TLS restart).
  std::string take_buffered();

 private:
  std::size_t max_line_;
  std::string buffer_;
  std::size_t start_ = 0;    // first unconsumed byte in buffer_
  bool discarding_ = false;  // inside an over-long line, dropping bytes up to its LF
};

}  // namespace postroom
