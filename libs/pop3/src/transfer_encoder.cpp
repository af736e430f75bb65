// Streaming RETR/TOP output: CRLF line ends and dot-stuffing over arbitrary chunk boundaries.
#include "postroom/pop3/transfer_encoder.hpp"

#include <cstring>

namespace postroom::pop3 {

TransferEncoder::TransferEncoder(std::optional<std::uint64_t> top_lines)
    : body_lines_left_(top_lines) {}

void TransferEncoder::encode(std::string_view chunk, std::string& out) {
  // A line at a time: memchr finds the LF and whole runs of content are copied at once
  // (a byte-wise scan for CR or LF cost a quarter of the daemon's CPU in the RETR bench).
  const char* p = chunk.data();
  const char* const end = p + chunk.size();
  while (p < end && phase_ != Phase::done) {
    // RFC 1939 §3: a line that starts with "." gets one more.
    if (at_line_start_ && *p == '.') out.push_back('.');
    const auto* lf =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* content_end = lf ? lf : end;
    if (p < content_end) {
      // A CR before this run was not a line end after all: it is content.
      if (after_cr_) line_blank_ = false;
      // Everything but a CR right before the LF (or pending at the chunk's end) is content.
      const char* last = content_end - 1;
      if (p < last || *last != '\r') line_blank_ = false;
      after_cr_ = *last == '\r';
      at_line_start_ = false;
      out.append(p, content_end);
    }
    if (!lf) return;
    // A bare LF becomes CRLF; after a CR (already sent) only the LF is missing.
    out.append(after_cr_ ? "\n" : "\r\n");
    after_cr_ = false;
    end_line();
    p = lf + 1;
  }
}

void TransferEncoder::end_line() {
  if (phase_ == Phase::header) {
    // RFC 1939 §7 TOP: the header ends at the first blank line, which is sent too.
    if (line_blank_) {
      phase_ = Phase::body;
      if (body_lines_left_ && *body_lines_left_ == 0) phase_ = Phase::done;
    }
  } else if (phase_ == Phase::body && body_lines_left_) {
    if (--*body_lines_left_ == 0) phase_ = Phase::done;
  }
  at_line_start_ = true;
  line_blank_ = true;
}

void TransferEncoder::finish(std::string& out) {
  if (phase_ == Phase::done || at_line_start_) return;
  out.append(after_cr_ ? "\n" : "\r\n");
  after_cr_ = false;
  at_line_start_ = true;
  line_blank_ = true;
  phase_ = Phase::done;
}

void WireSizeCounter::add(std::string_view chunk) {
  for (char c : chunk) {
    size_ += (c == '\n' && !after_cr_) ? 2 : 1;
    after_cr_ = c == '\r';
    at_line_start_ = c == '\n';
  }
}

std::uint64_t WireSizeCounter::size() const {
  // TransferEncoder::finish() ends an unterminated last line (RFC 1939 §3: the
  // reply ends in CRLF.CRLF), so those octets are part of what RETR sends.
  if (at_line_start_) return size_;
  return size_ + (after_cr_ ? 1 : 2);
}

std::uint64_t wire_size(std::string_view message) {
  WireSizeCounter counter;
  counter.add(message);
  return counter.size();
}

}  // namespace postroom::pop3
