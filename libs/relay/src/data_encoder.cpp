// Line-end normalization and dot-stuffing for the DATA phase (RFC 5321 §4.5.2).
#include "postroom/relay/data_encoder.hpp"

namespace postroom::relay {

void DataEncoder::encode(std::string_view chunk, std::string& out) {
  out.reserve(out.size() + chunk.size() + chunk.size() / 32 + 2);
  for (char c : chunk) {
    if (pending_cr_) {
      pending_cr_ = false;
      out += "\r\n";
      at_line_start_ = true;
      if (c == '\n') continue;  // CRLF: the pair is already written.
      // A bare CR was written as CRLF; `c` starts the next line.
    }
    if (c == '\r') {
      pending_cr_ = true;
      continue;
    }
    if (c == '\n') {
      out += "\r\n";
      at_line_start_ = true;
      continue;
    }
    if (at_line_start_ && c == '.') out += '.';
    out += c;
    at_line_start_ = false;
  }
}

void DataEncoder::finish(std::string& out) {
  if (pending_cr_ || !at_line_start_) out += "\r\n";
  out += ".\r\n";
  pending_cr_ = false;
  at_line_start_ = true;
}

}  // namespace postroom::relay
