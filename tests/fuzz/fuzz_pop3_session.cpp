// Fuzzes the POP3 server session with arbitrary client bytes, a small maildrop and a fixed host.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "postroom/pop3/session.hpp"

namespace {

using namespace postroom::pop3;
using postroom::fuzz::chunks;
using postroom::fuzz::Input;

constexpr std::size_t kMaxReplyLine = 512;  // RFC 2449 §4, CRLF included

// The stored messages. Their lines are short, so every line the session sends, message
// content included, must fit kMaxReplyLine.
const std::vector<std::string>& contents() {
  static const std::vector<std::string> c = {
      "From: a@example.test\r\nSubject: one\r\n\r\nHello.\r\n.\r\n..two dots\r\n",
      "Subject: bare LF\n\n.\nline\nno final newline",
      "Subject: three\r\n\r\n\r\nbody\rwith CR\r\n",
  };
  return c;
}

// RFC 1939 §11 size: CRLF line ends, plus the CRLF RETR adds after an unterminated last line.
std::uint64_t wire_size(std::string_view m) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < m.size(); ++i)
    n += (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) ? 2 : 1;
  if (!m.empty() && m.back() != '\n') n += m.back() == '\r' ? 1 : 2;
  return n;
}

// Reads `output` as a client would: each reply starts "+OK", "-ERR" or "+ " (a SASL
// challenge, RFC 5034 §4). A "+OK" line followed by a line that is not a status line starts a
// multi-line body, which runs to a line "." (RFC 1939 §3); no body line in this host's
// maildrop, listings or capabilities starts with "+OK" or "-ERR".
bool statuses_well_formed(std::string_view output) {
  auto is_status = [](std::string_view line) {
    return line.starts_with("+OK") || line.starts_with("-ERR") || line.starts_with("+ ");
  };
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at < output.size();) {
    std::size_t end = output.find("\r\n", at);
    if (end == std::string_view::npos) end = output.size();
    lines.push_back(output.substr(at, end - at));
    at = end + 2;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!is_status(lines[i])) return false;
    if (!lines[i].starts_with("+OK") || i + 1 == lines.size() || is_status(lines[i + 1])) continue;
    while (i + 1 < lines.size() && lines[i + 1] != ".") ++i;  // the body
    ++i;                                                      // its "."
  }
  return true;
}

struct Host {
  std::string output;      // every Send, concatenated
  std::string transcript;  // output plus the other actions as "[Name]"
  bool closed = false;
  bool tls_started = false;
  int logins = 0;
  int retrievals = 0;
  int updates = 0;
  std::uint32_t chunk_seed = 0;

  void drain(Session& s) { postroom::fuzz::drain(*this, s); }

  void carry_out(Session&, Send& a) {
    FUZZ_CHECK(!a.bytes.empty());
    if (output.empty()) FUZZ_CHECK(a.bytes.starts_with("+OK "));  // the greeting
    output += a.bytes;
    transcript += a.bytes;
  }
  void carry_out(Session& s, StartTls&) {
    transcript += "[StartTls]";
    tls_started = true;
    s.on_tls_started();
  }
  void carry_out(Session& s, Login&) { answer_login(s); }
  void carry_out(Session& s, LoginApop& a) {
    FUZZ_CHECK(a.digest.size() == 32);
    answer_login(s);
  }
  void answer_login(Session& s) {
    transcript += "[Login]";
    switch (logins++ % 4) {
      case 0:
      case 2: {
        std::vector<MessageInfo> drop;
        for (std::size_t i = 0; i < contents().size(); ++i) {
          drop.push_back({static_cast<std::int64_t>(i + 1), wire_size(contents()[i]),
                          "uid-" + std::to_string(i + 1)});
        }
        s.on_login_result(Session::LoginOutcome::ok, Maildrop(drop));
        break;
      }
      case 1:
        s.on_login_result(Session::LoginOutcome::bad_credentials);
        break;
      default:
        s.on_login_result(Session::LoginOutcome::in_use);
        break;
    }
  }
  void carry_out(Session& s, Retrieve& a) {
    transcript += "[Retrieve " + std::to_string(a.id) + "]";
    FUZZ_CHECK(a.id >= 1 && a.id <= static_cast<std::int64_t>(contents().size()));
    const std::string& m = contents()[static_cast<std::size_t>(a.id - 1)];
    int n = retrievals++;
    if (n % 6 == 5) {  // the store fails before any content
      s.on_content_failed();
      return;
    }
    for (std::string_view piece : chunks(m, chunk_seed + static_cast<std::uint32_t>(n))) {
      if (!s.content_wanted()) break;
      s.on_content(piece);
    }
    s.on_content_end();
  }
  void carry_out(Session& s, Update&) {
    transcript += "[Update]";
    s.on_update_done(updates++ % 3 != 2);
  }
  void carry_out(Session&, Close& a) {
    transcript += "[Close " + a.reason + "]";
    closed = true;
  }
};

Host run(const SessionParams& params, const std::vector<std::string_view>& pieces,
         std::uint32_t chunk_seed) {
  Host host;
  host.chunk_seed = chunk_seed;
  Session session(params);
  host.drain(session);
  for (std::string_view piece : pieces) {
    session.feed(piece);
    host.drain(session);
    FUZZ_CHECK(session.closed() == host.closed);
    FUZZ_CHECK(session.closed() == (session.state() == State::closed));
    if (!session.closed()) {
      FUZZ_CHECK(!session.waiting());  // every request was answered at once
      FUZZ_CHECK(session.buffered_input() <= params.limits.max_command_line);
    }
  }
  FUZZ_CHECK(!host.output.empty());
  FUZZ_CHECK(postroom::fuzz::longest_line(host.output) <= kMaxReplyLine);
  FUZZ_CHECK(statuses_well_formed(host.output));
  if (session.closed()) {
    FUZZ_CHECK(host.output.ends_with("\r\n"));
    session.feed("QUIT\r\n");
    FUZZ_CHECK(session.take_actions().empty());
  }
  (void)session.user();
  (void)session.retrieved();
  (void)session.deleted();
  return host;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(postroom::fuzz::as_view(data, size));
  std::uint8_t flags = in.byte();
  std::uint8_t split = in.byte();
  std::uint32_t seed = in.u32();
  std::string_view client = in.rest();

  SessionParams params;
  params.hostname = "mail.example.test";
  if (flags & 1) params.apop_timestamp = "<1896.697170952@mail.example.test>";
  params.tls_active = (flags & 2) != 0;
  params.stls_available = (flags & 4) != 0 && !params.tls_active;
  params.plaintext_allowed = (flags & 8) == 0;
  if (flags & 16) {
    params.limits.max_bad_commands = 3;
    params.limits.max_failed_logins = 1;
  }

  std::size_t cut = client.size() * split / 255;
  Host two = run(params, {client.substr(0, cut), client.substr(cut)}, seed);
  Host many = run(params, chunks(client, seed), seed);
  // Chunking must not matter, except for which bytes pipelined behind STLS are dropped.
  if (!two.tls_started && !many.tls_started) FUZZ_CHECK(two.transcript == many.transcript);
  return 0;
}
