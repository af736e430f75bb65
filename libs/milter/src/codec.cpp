// Encodes MTA commands and decodes milter answers (libmilter's wire format).
#include "postroom/milter/codec.hpp"

#include <algorithm>
#include <cctype>

#include "postroom/base/quote.hpp"

namespace postroom::milter {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

std::uint32_t get_u32(std::string_view data) {
  auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i]));
  };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

// Strings inside a packet end with NUL; a NUL inside a value cannot be sent, so it is cut
// there (an SMTP value never holds one: the SMTP session refuses NUL).
void put_string(std::string& out, std::string_view s) {
  out.append(s.substr(0, s.find('\0')));
  out.push_back('\0');
}

// Reads NUL-terminated strings until the data ends; an error when the last is unterminated.
Result<std::vector<std::string_view>> strings(std::string_view data) {
  std::vector<std::string_view> out;
  while (!data.empty()) {
    auto nul = data.find('\0');
    if (nul == std::string_view::npos) return fail("unterminated string in a milter packet");
    out.push_back(data.substr(0, nul));
    data.remove_prefix(nul + 1);
  }
  return out;
}

// Header fields a milter adds or changes: a name of printable ASCII without colon or space
// (RFC 5322 §2.2), a value without NUL (bare LF folds are converted by the caller).
bool valid_field_name(std::string_view name) {
  return !name.empty() && name.size() <= 256 && std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != ':';
  });
}

Result<Reply> header_reply(Reply::Kind kind, std::string_view data, bool indexed) {
  Reply r;
  r.kind = kind;
  if (indexed) {
    if (data.size() < 4) return fail("header change without an index");
    r.index = get_u32(data);
    data.remove_prefix(4);
  }
  auto parts = strings(data);
  if (!parts) return std::unexpected(parts.error());
  if (parts->size() != 2) return fail("a header answer needs a name and a value");
  if (!valid_field_name((*parts)[0]))
    return fail("bad header field name " + quoted_value((*parts)[0]));
  r.name = (*parts)[0];
  r.value = (*parts)[1];
  return r;
}

Result<Reply> negotiate_reply(std::string_view data) {
  if (data.size() < 12) return fail("short option negotiation");
  Reply r;
  r.kind = Reply::Kind::negotiate;
  r.version = get_u32(data);
  r.actions = get_u32(data.substr(4));
  r.steps = get_u32(data.substr(8));
  data.remove_prefix(12);
  // Version 6 adds macro lists: a stage number and a string of names per entry.
  while (!data.empty()) {
    if (data.size() < 5) return fail("truncated macro list in option negotiation");
    std::uint32_t stage = get_u32(data);
    data.remove_prefix(4);
    auto nul = data.find('\0');
    if (nul == std::string_view::npos) return fail("unterminated macro list");
    if (stage >= kStages) return fail("macro list for unknown stage " + std::to_string(stage));
    std::vector<std::string> names;
    std::string_view list = data.substr(0, nul);
    data.remove_prefix(nul + 1);
    while (!list.empty()) {
      auto sep = list.find_first_of(" ,");
      std::string_view name = list.substr(0, sep);
      list = sep == std::string_view::npos ? std::string_view{} : list.substr(sep + 1);
      if (name.size() > 2 && name.front() == '{' && name.back() == '}')
        name = name.substr(1, name.size() - 2);
      if (!name.empty()) names.emplace_back(name);
    }
    r.macro_lists.emplace_back(static_cast<Stage>(stage), std::move(names));
  }
  return r;
}

}  // namespace

std::string packet(Command command, std::string_view data) {
  std::string out;
  out.reserve(5 + data.size());
  put_u32(out, static_cast<std::uint32_t>(data.size() + 1));
  out.push_back(static_cast<char>(command));
  out.append(data);
  return out;
}

std::string encode_negotiate(std::uint32_t version, std::uint32_t actions, std::uint32_t steps) {
  std::string data;
  put_u32(data, version);
  put_u32(data, actions);
  put_u32(data, steps);
  return packet(Command::negotiate, data);
}

std::string encode_macros(Command for_command,
                          const std::vector<std::pair<std::string, std::string>>& macros) {
  std::string data(1, static_cast<char>(for_command));
  for (const auto& [name, value] : macros) {
    // Single-letter macros go bare ("j", "i"), the others in braces, as sendmail names them.
    put_string(data, name.size() == 1 ? name : "{" + name + "}");
    put_string(data, value);
  }
  return packet(Command::macro, data);
}

std::string encode_connect(std::string_view host, std::string_view address, std::uint16_t port,
                           bool ipv6) {
  std::string data;
  put_string(data, host);
  if (address.empty()) {
    data.push_back('U');
  } else {
    data.push_back(ipv6 ? '6' : '4');
    data.push_back(static_cast<char>(port >> 8));
    data.push_back(static_cast<char>(port));
    put_string(data, address);
  }
  return packet(Command::connect, data);
}

std::string encode_strings(Command command, const std::vector<std::string_view>& strings) {
  std::string data;
  for (std::string_view s : strings) put_string(data, s);
  return packet(command, data);
}

Result<Reply> parse_reply_code(std::string_view text) {
  std::string_view line = text.substr(0, text.find_first_of("\r\n"));
  if (line.size() < 3 || !std::all_of(line.begin(), line.begin() + 3, ::isdigit) ||
      (line[0] != '4' && line[0] != '5') || line[1] > '5')
    return fail("reply code " + quoted_value(line) + " is not a 4xx or 5xx SMTP reply");
  Reply r;
  r.kind = Reply::Kind::reply_code;
  const char klass = line[0];
  r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  line.remove_prefix(3);
  if (!line.empty()) {
    if (line[0] != ' ' && line[0] != '-') return fail("reply code without a space after it");
    line.remove_prefix(1);
  }
  // An enhanced status code (RFC 3463) whose class matches the reply's.
  auto space = line.find(' ');
  std::string_view first = line.substr(0, space);
  bool enhanced = first.size() >= 5 && first[0] == klass && first[1] == '.' &&
                  std::count(first.begin(), first.end(), '.') == 2 &&
                  std::all_of(first.begin(), first.end(), [](char c) {
                    return c == '.' || std::isdigit(static_cast<unsigned char>(c));
                  });
  if (enhanced) {
    r.enhanced = first;
    line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
  }
  // The text goes into our reply line: printable, no CRLF, bounded (RFC 5321 §4.5.3.1.5).
  std::string t = printable(line, 200);
  r.text = t;
  return r;
}

Result<Reply> decode_reply(char command, std::string_view data) {
  using K = Reply::Kind;
  auto simple = [&](K kind) -> Result<Reply> {
    Reply r;
    r.kind = kind;
    return r;
  };
  switch (command) {
    case 'a':
      return simple(K::accept);
    case 'c':
      return simple(K::continue_);
    case 'd':
      return simple(K::discard);
    case 'r':
      return simple(K::reject);
    case 't':
      return simple(K::tempfail);
    case 'p':
      return simple(K::progress);
    case 's':
      return simple(K::skip);
    case 'f':
      return simple(K::shutdown);
    case 'l':
      return simple(K::connection_failed);
    case 'y': {
      auto parts = strings(data);
      if (!parts) return std::unexpected(parts.error());
      if (parts->size() != 1) return fail("reply code packet must hold one string");
      return parse_reply_code((*parts)[0]);
    }
    case 'h':
      return header_reply(K::add_header, data, false);
    case 'm':
      return header_reply(K::change_header, data, true);
    case 'i':
      return header_reply(K::insert_header, data, true);
    case 'q': {
      auto parts = strings(data);
      if (!parts) return std::unexpected(parts.error());
      Reply r;
      r.kind = K::quarantine;
      r.text = parts->empty() ? std::string() : printable((*parts)[0], 200);
      return r;
    }
    case 'O':
      return negotiate_reply(data);
    case 'b':
      return simple(K::replace_body);
    case '+':
      return simple(K::add_rcpt);
    case '-':
      return simple(K::delete_rcpt);
    case '2':
      return simple(K::add_rcpt_with_args);
    case 'e':
      return simple(K::change_from);
    default:
      return fail("unknown milter answer " + printable(std::string_view(&command, 1)));
  }
}

void ReplyDecoder::append(std::string_view bytes) {
  if (failed_) return;
  // Drop what was consumed before growing, so the buffer holds at most one packet and a chunk.
  if (offset_ > 0) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<Result<Reply>> ReplyDecoder::next() {
  if (failed_) return std::nullopt;
  std::string_view rest = std::string_view(buffer_).substr(offset_);
  if (rest.size() < 4) return std::nullopt;
  std::uint32_t length = get_u32(rest);
  if (length == 0 || length > kMaxReplyPacket) {
    failed_ = true;
    buffer_.clear();
    offset_ = 0;
    return Result<Reply>(fail("milter packet length " + std::to_string(length) + " out of range"));
  }
  if (rest.size() < 4 + static_cast<std::size_t>(length)) return std::nullopt;
  char command = rest[4];
  std::string_view data = rest.substr(5, length - 1);
  auto reply = decode_reply(command, data);
  offset_ += 4 + length;
  if (!reply) {
    failed_ = true;
    buffer_.clear();
    offset_ = 0;
  }
  return reply;
}

}  // namespace postroom::milter
