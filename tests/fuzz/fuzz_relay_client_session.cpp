// Fuzzes the SMTP client session with arbitrary server bytes: no crash, one Done with a result
// per recipient, Close last, and clean CRLF on the wire.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "postroom/relay/client_session.hpp"

namespace {

using namespace postroom::relay;
using postroom::fuzz::Input;

constexpr std::string_view kBody =
    "From: a@example.test\nSubject: fuzz\n\nHello.\n.\n..two\r\nbare\rCR\nno end";

struct Host {
  std::string wire;  // everything sent
  int dones = 0;
  bool closed = false;
  bool tls_fails = false;
  std::uint32_t body_seed = 0;
  std::size_t recipients = 0;

  void drain(ClientSession& s) { postroom::fuzz::drain(*this, s); }
  void carry_out(ClientSession&, Send& a) {
    FUZZ_CHECK(!a.bytes.empty());
    wire += a.bytes;
  }
  void carry_out(ClientSession& s, StartTls&) {
    FUZZ_CHECK(s.state() == ClientSession::State::tls_handshake);
    if (tls_fails)
      s.on_tls_failed("handshake failure");
    else
      s.on_tls_started();
  }
  void carry_out(ClientSession& s, NeedBody&) {
    for (std::string_view piece : postroom::fuzz::chunks(kBody, body_seed)) {
      if (!s.body_wanted()) return;
      s.send_body_chunk(piece);
    }
    if (s.body_wanted()) s.end_body();
  }
  void carry_out(ClientSession&, Done& a) {
    ++dones;
    FUZZ_CHECK(dones == 1);
    FUZZ_CHECK(a.results.size() == recipients);
    for (const RecipientResult& r : a.results) {
      FUZZ_CHECK(!r.reply.empty());
      FUZZ_CHECK(r.reply.find_first_of("\r\n") == std::string::npos);
      if (r.kind == Outcome::delivered) FUZZ_CHECK(r.code >= 200 && r.code < 300);
      if (r.code != 0) FUZZ_CHECK(r.code >= 200 && r.code <= 599);
      if (!r.status.empty()) {
        char want = r.kind == Outcome::delivered ? '2' : r.kind == Outcome::temporary ? '4' : '5';
        // Known bug 2: a 2xx or 3xx reply that arrives while the body is due (say "250" or a
        // second "354" right after "354") fails the recipient temporarily but keeps a status
        // of the reply's class ("2.0.0", even "3.0.0", which RFC 3463 does not have).
        if ((r.code / 100 == 2 || r.code / 100 == 3) && r.kind != Outcome::delivered)
          FUZZ_CHECK(r.status[0] == want);
        else
          FUZZ_CHECK(r.status[0] == want);
      }
    }
  }
  // With reuse the session goes idle after its one transaction; the host has no more mail.
  // Server bytes fed in the same write may already have moved it on (an unsolicited reply
  // while idle closes it).
  void carry_out(ClientSession& s, Ready&) {
    FUZZ_CHECK(dones == 1);
    FUZZ_CHECK(s.state() == ClientSession::State::idle || s.closed());
    s.quit();
  }
  void carry_out(ClientSession&, Close&) { closed = true; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(postroom::fuzz::as_view(data, size));
  std::uint8_t flags = in.byte();
  std::uint8_t more = in.byte();
  std::uint32_t seed = in.u32();
  std::string_view server = in.rest();

  ClientParams params;
  params.hostname = "mail.example.test";
  switch (flags & 3) {
    case 0:
      params.tls = TlsMode::none;
      break;
    case 1:
      params.tls = TlsMode::opportunistic;
      break;
    case 2:
      params.tls = TlsMode::required;
      break;
    default:
      params.tls = TlsMode::implicit;
      break;
  }
  params.tls_available = (flags & 4) != 0;
  if (flags & 8) params.credentials = Credentials{"office@example.test", "s3cret"};
  params.envelope.sender = (flags & 16) ? "" : "alice@example.test";
  std::size_t recipients = more % 4;  // zero recipients: an empty Done and Close at once
  for (std::size_t i = 0; i < recipients; ++i)
    params.envelope.recipients.push_back("r" + std::to_string(i) + "@remote.example");
  params.envelope.size = kBody.size();
  params.envelope.needs_smtputf8 = (flags & 32) != 0;
  params.envelope.body_8bit = (flags & 64) != 0;
  params.reuse = (more & 16) != 0;

  Host host;
  host.tls_fails = (more & 4) != 0;
  host.body_seed = seed;
  host.recipients = recipients;
  ClientSession session(params);
  host.drain(session);
  for (std::string_view piece : postroom::fuzz::chunks(server, seed >> 3)) {
    session.feed(piece);
    host.drain(session);
    FUZZ_CHECK(session.closed() == host.closed);
  }
  // The connection ends one way or the other; Done and Close must have come by then.
  if (more & 8)
    session.on_timeout();
  else
    session.on_disconnected();
  host.drain(session);
  FUZZ_CHECK(host.closed && session.closed());
  FUZZ_CHECK(host.dones == 1);
  session.feed("250 ok\r\n");
  session.on_timeout();
  FUZZ_CHECK(session.take_actions().empty());

  // What went on the wire: commands and the encoded body, CRLF only.
  FUZZ_CHECK(postroom::fuzz::crlf_only(host.wire, true));
  FUZZ_CHECK(postroom::fuzz::longest_line(host.wire) <= 1000);
  return 0;
}
