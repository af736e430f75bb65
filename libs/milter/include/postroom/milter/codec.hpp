// Milter packets (the Sendmail libmilter wire format, protocol version 6): a 4-octet
// big-endian length, one command octet, then the command's data. This file encodes what the
// MTA sends and decodes what the milter answers, with a bound on every packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::milter {

// Commands the MTA sends (SMFIC_*).
enum class Command : char {
  abort = 'A',
  body = 'B',
  connect = 'C',
  macro = 'D',
  end_of_body = 'E',
  helo = 'H',
  quit_new_connection = 'K',
  header = 'L',
  mail = 'M',
  end_of_headers = 'N',
  negotiate = 'O',
  quit = 'Q',
  rcpt = 'R',
  data = 'T',
  unknown = 'U',
};

// Actions the MTA allows the milter at the end of the message (SMFIF_*).
namespace action {
constexpr std::uint32_t add_headers = 0x01;
constexpr std::uint32_t change_body = 0x02;
constexpr std::uint32_t add_rcpt = 0x04;
constexpr std::uint32_t delete_rcpt = 0x08;
constexpr std::uint32_t change_headers = 0x10;
constexpr std::uint32_t quarantine = 0x20;
constexpr std::uint32_t change_from = 0x40;
constexpr std::uint32_t add_rcpt_with_args = 0x80;
constexpr std::uint32_t set_macro_list = 0x100;
}  // namespace action

// Protocol steps the milter may ask to skip or not to answer (SMFIP_*).
namespace step {
constexpr std::uint32_t no_connect = 0x1;
constexpr std::uint32_t no_helo = 0x2;
constexpr std::uint32_t no_mail = 0x4;
constexpr std::uint32_t no_rcpt = 0x8;
constexpr std::uint32_t no_body = 0x10;
constexpr std::uint32_t no_headers = 0x20;
constexpr std::uint32_t no_eoh = 0x40;
constexpr std::uint32_t no_reply_header = 0x80;
constexpr std::uint32_t no_unknown = 0x100;
constexpr std::uint32_t no_data = 0x200;
constexpr std::uint32_t skip = 0x400;  // the milter may answer SKIP to a body chunk
constexpr std::uint32_t rcpt_rejected = 0x800;
constexpr std::uint32_t no_reply_connect = 0x1000;
constexpr std::uint32_t no_reply_helo = 0x2000;
constexpr std::uint32_t no_reply_mail = 0x4000;
constexpr std::uint32_t no_reply_rcpt = 0x8000;
constexpr std::uint32_t no_reply_data = 0x10000;
constexpr std::uint32_t no_reply_unknown = 0x20000;
constexpr std::uint32_t no_reply_eoh = 0x40000;
constexpr std::uint32_t no_reply_body = 0x80000;
constexpr std::uint32_t header_leading_space = 0x100000;  // header values keep their space
}  // namespace step

// The stages a v6 milter may ask macros for (SMFIM_*), in protocol order.
enum class Stage : std::uint32_t { connect = 0, helo, mail, rcpt, data, end_of_message, eoh };
constexpr std::size_t kStages = 7;

// libmilter's MILTER_CHUNK_SIZE: the largest body chunk a milter must accept.
constexpr std::size_t kBodyChunk = 65535;
// The largest answer packet taken: libmilter's default limit on a packet it reads
// (MILTER_MAX_DATA_SIZE is 64 KiB + 1 MiB with the 1M option); header values and reply
// texts are far smaller, and a bigger claim means the stream is not a milter.
constexpr std::size_t kMaxReplyPacket = 1 << 20;

constexpr std::uint32_t kVersion = 6;

// Encoders: one complete packet each.
std::string packet(Command command, std::string_view data);
std::string encode_negotiate(std::uint32_t version, std::uint32_t actions, std::uint32_t steps);
// SMFIC_MACRO: the macros for the command `for_command` that follows it.
std::string encode_macros(Command for_command,
                          const std::vector<std::pair<std::string, std::string>>& macros);
// SMFIC_CONNECT: the client's host name, then its address ('4' or '6', port, numeric address),
// or 'U' (unknown) when `address` is empty.
std::string encode_connect(std::string_view host, std::string_view address, std::uint16_t port,
                           bool ipv6);
// NUL-terminated strings after the command octet (HELO, MAIL, RCPT, HEADER).
std::string encode_strings(Command command, const std::vector<std::string_view>& strings);

// One decoded answer from the milter (SMFIR_*).
struct Reply {
  enum class Kind : char {
    accept = 'a',
    continue_ = 'c',
    discard = 'd',
    reject = 'r',
    tempfail = 't',
    reply_code = 'y',
    add_header = 'h',
    change_header = 'm',
    insert_header = 'i',
    quarantine = 'q',
    progress = 'p',
    skip = 's',
    negotiate = 'O',
    replace_body = 'b',
    add_rcpt = '+',
    delete_rcpt = '-',
    add_rcpt_with_args = '2',
    change_from = 'e',
    shutdown = 'f',
    connection_failed = 'l',
  };
  Kind kind = Kind::continue_;
  // reply_code: the SMTP reply (code, enhanced status, first line's text).
  int code = 0;
  std::string enhanced;
  std::string text;
  // add/change/insert header: the field; change: index among fields of that name (1-based);
  // insert: position in the section (0 = top). An empty value in a change removes the field.
  std::string name;
  std::string value;
  std::uint32_t index = 0;
  // negotiate: what the milter chose, and its macro wishes per stage (names without braces).
  std::uint32_t version = 0;
  std::uint32_t actions = 0;
  std::uint32_t steps = 0;
  std::vector<std::pair<Stage, std::vector<std::string>>> macro_lists;
};

// Decodes one packet's command octet and data into a Reply; an error when the packet is not
// one a milter may send or its data is malformed.
Result<Reply> decode_reply(char command, std::string_view data);

// Splits the milter's byte stream into packets and decodes them. Buffers at most one packet
// (kMaxReplyPacket plus its header); after an error the stream is unusable.
class ReplyDecoder {
 public:
  void append(std::string_view bytes);
  // The next complete reply, an error (the stream is broken: close it), or nullopt when more
  // bytes are needed.
  std::optional<Result<Reply>> next();
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  std::string buffer_;
  std::size_t offset_ = 0;
  bool failed_ = false;
};

// Parses an SMTP reply a milter gives with SMFIR_REPLYCODE ("550 5.7.1 text", possibly
// multi-line with "550-"): the code must be 4xx or 5xx; the text is the first line's,
// made printable and bounded.
Result<Reply> parse_reply_code(std::string_view text);

}  // namespace postroom::milter
