// Fuzzes the SMTP server session with arbitrary client bytes and a fixed, deterministic host.
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "postroom/smtp/session.hpp"

namespace {

using namespace postroom::smtp;
using postroom::fuzz::chunks;
using postroom::fuzz::Input;

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
constexpr std::size_t kMaxReplyLine = 512;
constexpr std::size_t kMaxDataChunk = 64 * 1024;  // MessageData's documented bound

// The host: answers every request at once, the same way for the same history.
struct Host {
  std::string transcript;  // replies verbatim, other actions as "[Name]"
  std::string message;     // MessageData since MessageBegin
  bool in_message = false;
  bool closed = false;
  bool tls_started = false;
  int recipients = 0;
  int auths = 0;
  int stores = 0;

  void check_send(const std::string& bytes) {
    FUZZ_CHECK(bytes.size() >= 2);
    FUZZ_CHECK(bytes.ends_with("\r\n"));
    FUZZ_CHECK(postroom::fuzz::crlf_only(bytes));
    FUZZ_CHECK(postroom::fuzz::longest_line(bytes) <= kMaxReplyLine);
    // Every reply line is "ddd" then " " or "-" (RFC 5321 §4.2).
    for (std::size_t at = 0; at < bytes.size(); at = bytes.find("\r\n", at) + 2) {
      FUZZ_CHECK(bytes.size() - at >= 5);
      for (int i = 0; i < 3; ++i) FUZZ_CHECK(bytes[at + i] >= '0' && bytes[at + i] <= '9');
      FUZZ_CHECK(bytes[at + 3] == ' ' || bytes[at + 3] == '-' || bytes[at + 3] == '\r');
    }
  }

  void drain(Session& session) { postroom::fuzz::drain(*this, session); }

  void carry_out(Session&, Send& a) {
    check_send(a.bytes);
    transcript += a.bytes;
  }
  void carry_out(Session& s, StartTls&) {
    transcript += "[StartTls]";
    tls_started = true;
    s.on_tls_started();
  }
  void carry_out(Session&, Close& a) {
    FUZZ_CHECK(!in_message);  // an open message is aborted before the session closes
    transcript += "[Close " + a.reason + "]";
    closed = true;
  }
  void carry_out(Session& s, Authenticate&) {
    transcript += "[Auth]";
    bool ok = auths++ % 2 == 0;  // alternately accepted and refused
    s.on_auth_result(
        ok, ok ? std::vector<std::string>{"alice@example.test"} : std::vector<std::string>{});
  }
  void carry_out(Session& s, CheckRecipient& a) {
    transcript += "[Check " + a.address.str() + "]";
    RecipientVerdict v;
    // Mostly local; now and then the other verdicts, on a fixed cycle.
    switch (recipients++ % 7) {
      case 3:
        v.kind = RecipientVerdict::Kind::remote;
        v.forward_to = {a.address.str()};
        break;
      case 5:
        v.kind = RecipientVerdict::Kind::unknown_user;
        break;
      case 6:
        v.kind = RecipientVerdict::Kind::temp_failure;
        break;
      default:
        v.kind = RecipientVerdict::Kind::local;
        v.mailboxes = {1};
        break;
    }
    s.on_recipient_checked(std::move(v));
  }
  void carry_out(Session&, MessageBegin& a) {
    FUZZ_CHECK(!in_message);
    FUZZ_CHECK(!a.envelope.recipients.empty());
    transcript += "[Begin]";
    in_message = true;
    message.clear();
  }
  void carry_out(Session&, MessageData& a) {
    FUZZ_CHECK(in_message);
    FUZZ_CHECK(!a.bytes.empty());
    FUZZ_CHECK(a.bytes.size() <= kMaxDataChunk);
    message += a.bytes;
  }
  void carry_out(Session& s, MessageEnd&) {
    FUZZ_CHECK(in_message);
    in_message = false;
    transcript += "[End " + std::to_string(message.size()) + "]" + message + "[/End]";
    if (stores++ % 5 == 4) {
      s.on_message_stored(postroom::fail("disk full"));
    } else {
      s.on_message_stored(std::string("Q") + std::to_string(stores));
    }
  }
  void carry_out(Session&, MessageAbort&) {
    FUZZ_CHECK(in_message);
    in_message = false;
    transcript += "[Abort]";
  }
};

SessionParams params_from(std::uint8_t flags) {
  SessionParams p;
  p.hostname = "mail.example.test";
  p.peer_ip = "192.0.2.7";
  p.session_id = "F1";
  p.clock = [] { return std::time_t{1700000000}; };
  p.listener = (flags & 1) ? Listener::submission : Listener::mx;
  p.tls_active = (flags & 2) != 0;
  p.starttls_available = (flags & 4) != 0 && !p.tls_active;
  p.peer_trusted = (flags & 8) != 0;
  p.plaintext_auth_allowed = (flags & 16) == 0;
  if (flags & 32) p.max_message_size = 300;
  if (flags & 64) p.max_recipients = 2;
  return p;
}

// Runs one session over `pieces`; ends it with a shutdown or an idle timeout.
Host run(const SessionParams& params, const std::vector<std::string_view>& pieces, bool timeout) {
  Host host;
  Session session(params);
  host.drain(session);
  for (std::string_view piece : pieces) {
    session.feed(piece);
    host.drain(session);
    FUZZ_CHECK(!session.waiting());  // every request was answered at once
    FUZZ_CHECK(session.closed() == host.closed);
  }
  if (timeout)
    session.on_idle_timeout();
  else
    session.on_shutdown();
  host.drain(session);
  FUZZ_CHECK(host.closed && session.closed());
  FUZZ_CHECK(!host.in_message);
  // A closed session ignores everything.
  session.feed("QUIT\r\n");
  session.on_shutdown();
  FUZZ_CHECK(session.take_actions().empty());
  (void)session.take_transaction_log();
  return host;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(postroom::fuzz::as_view(data, size));
  std::uint8_t flags = in.byte();
  std::uint8_t split = in.byte();
  std::uint32_t seed = in.u32();
  std::string_view client = in.rest();
  SessionParams params = params_from(flags);
  bool timeout = (flags & 128) != 0;

  // The input in two pieces, cut at a point the first byte chooses.
  std::size_t cut = client.size() * split / 255;
  Host two = run(params, {client.substr(0, cut), client.substr(cut)}, timeout);
  // And in the pieces the seed chooses (often one byte at a time). The session promises the
  // same replies and messages for any chunking, except that bytes pipelined behind STARTTLS
  // are dropped and chunking decides which bytes those are.
  Host many = run(params, chunks(client, seed), timeout);
  if (!two.tls_started && !many.tls_started) {
    FUZZ_CHECK(two.transcript == many.transcript);
  }
  return 0;
}
