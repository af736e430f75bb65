// The client side of POP3's framing: status lines, listing lines and the dot-stuffed
// multi-line body of RETR (RFC 1939 §3), as plain functions and a byte-stream decoder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/dot_reader.hpp"

namespace postroom::pop3 {

// A single-line reply: "+OK text" or "-ERR text" (the text may be empty).
struct StatusLine {
  bool ok = false;
  std::string_view text;  // after the status indicator and its space; points into the line
};
// Parses `line` without its line end; nullopt when it starts with neither indicator.
std::optional<StatusLine> parse_status_line(std::string_view line);

// One line of a LIST or UIDL listing (RFC 1939 §7): "msg-number SP token".
struct ListingLine {
  std::uint32_t number = 0;
  std::string_view token;  // the size (LIST) or the unique-id (UIDL)
};
// Parses a listing line that is already un-stuffed and without its line end.
std::optional<ListingLine> parse_listing_line(std::string_view line);

// RFC 1939 §7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E.
bool valid_uidl(std::string_view uidl);

// Undoes the transfer encoding of a multi-line reply body: removes the stuffed leading
// dot of a line and stops at the terminating "." line. The bytes between are passed
// through untouched, CRLF (or an old server's bare LF) included, so a message comes out
// exactly as the server has it. It never buffers, so any chunking of the input works.
class TransferDecoder {
 public:
  // Appends the decoded part of `in` to `out`; returns how many bytes of `in` it used
  // (fewer than all only when the terminating line ended inside `in`).
  std::size_t decode(std::string_view in, std::string& out);
  // The terminating "." line has been read.
  bool done() const { return done_; }

 private:
  DotReader reader_{DotReader::LineEnds::lf_too};
  bool done_ = false;
};

}  // namespace postroom::pop3
