// Message reception for DATA (dot-terminated text) and BDAT (counted chunks), streamed to the host.
#include <algorithm>

#include "session_impl.hpp"
#include "trace.hpp"

namespace postroom::smtp {
namespace {

// The one refusal for NUL and bare CR or LF, DATA or BDAT (docs/smtp-input-rules.md).
Reply bare_line_end_refusal() {
  return make_reply(550, "5.6.0", "Message contains bare CR/LF or NUL (RFC 5321 section 2.3.8)");
}

}  // namespace

// Emits MessageBegin and starts the stored message with its trace fields (RFC 5321 §4.4).
void Session::Impl::begin_message() {
  Transaction& t = *transaction;
  Envelope& e = t.envelope;
  std::string return_path = return_path_field(e.reverse_path);
  ReceivedInfo info;
  info.helo = helo;
  info.peer_ip = params.peer_ip;
  info.hostname = params.hostname;
  info.protocol = with_protocol(esmtp, params.tls_active, !auth_user.empty(), e.smtputf8);
  info.id = e.transaction_id;
  if (e.recipients.size() == 1) {
    const Address& only = e.recipients.front().address;
    info.for_recipient = only.domain.empty() ? only.local : only.str();  // "<postmaster>"
  }
  info.when = params.clock();
  e.return_path_length = return_path.size();
  push(MessageBegin{e});
  t.message.emplace(
      Message{MessageStream(params.max_message_size, return_path + received_field(info)),
              DotReader{}, LineEndChecker{}});
}

void Session::Impl::emit_ready(std::vector<std::string>& chunks) {
  for (std::string& chunk : chunks) push(MessageData{std::move(chunk)});
  chunks.clear();
}

// Consumes message bytes for the current DATA or BDAT chunk; returns how many were used (the
// rest belongs to the commands that follow).
std::size_t Session::Impl::consume_body(std::string_view bytes) {
  std::vector<std::string> ready;
  if (state == State::bdat) {
    std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(bdat_remaining, bytes.size()));
    if (!bdat_refusal) {
      Message& m = *transaction->message;
      m.stream.write(bytes.substr(0, take), ready);
      m.line_ends.feed(bytes.substr(0, take));
      check_line_ends(m);
    }
    emit_ready(ready);
    bdat_remaining -= take;
    if (bdat_remaining == 0) finish_bdat_chunk();
    return take;
  }
  Message& m = *transaction->message;
  std::string text;
  std::size_t used = 0;
  // Slices bound the scratch buffer whatever the size of the host's read.
  while (used < bytes.size()) {
    std::string_view slice = bytes.substr(used, kChunkSize);
    auto step = m.dot.feed(slice, text);
    used += step.consumed;
    m.stream.write(text, ready);
    text.clear();
    if (m.dot.bare_cr_or_lf() || m.dot.nul()) {
      // RFC 5321 §2.3.8: CR and LF only as CRLF; bare ones enable SMTP smuggling.
      m.stream.fail(Fault::bare_line_end, bare_line_end_refusal());
    }
    if (m.dot.line_too_long()) {
      m.stream.fail(Fault::long_line,
                    make_reply(550, "5.6.0", "Message has a line longer than 998 characters"));
    }
    emit_ready(ready);
    if (step.done) {
      finish_data();
      break;
    }
  }
  return used;
}

void Session::Impl::finish_data() {
  Message& m = *transaction->message;
  enter(State::ready);
  if (m.stream.failure()) {
    // The whole message was read, so the reply lines up with the client (RFC 5321 §4.1.1.4).
    Reply refusal = *m.stream.failure();
    end_transaction(refusal.first_line());
    send(refusal);
    return;
  }
  std::string rest = m.stream.finish();
  if (!rest.empty()) push(MessageData{std::move(rest)});
  push(MessageEnd{});
  transaction->message_ended = true;
  enter(State::wait_store);
}

void Session::Impl::start_bdat_chunk(std::uint64_t size, bool last, std::optional<Reply> refusal) {
  bdat_size = size;
  bdat_remaining = size;
  bdat_last = last;
  bdat_refusal = std::move(refusal);
  enter(State::bdat);
  if (size == 0) finish_bdat_chunk();
}

void Session::Impl::finish_bdat_chunk() {
  enter(State::ready);
  if (bdat_refusal) {
    Reply refusal = std::move(*bdat_refusal);
    bdat_refusal.reset();
    send_error(refusal);
    return;
  }
  Message& m = *transaction->message;
  if (bdat_last) {
    m.line_ends.finish();
    check_line_ends(m);
  }
  if (m.stream.failure()) {
    // RFC 3030 §2: the transaction has failed; chunks already pipelined behind this one are
    // read and refused as out of sequence.
    Reply refusal = *m.stream.failure();
    end_transaction(refusal.first_line());
    send(refusal);
    return;
  }
  if (!bdat_last) {
    send(make_reply(250, "2.0.0", std::to_string(bdat_size) + " octets received"));
    return;
  }
  std::string rest = m.stream.finish();
  if (!rest.empty()) push(MessageData{std::move(rest)});
  push(MessageEnd{});
  transaction->message_ended = true;
  enter(State::wait_store);
}

// BDAT data is stored as counted, but a message with NUL or bare CR/LF is refused as under DATA:
// relayed on by DATA, a bare LF is what SMTP smuggling through the next hop needs.
void Session::Impl::check_line_ends(Message& m) {
  if (m.line_ends.bare_cr_or_lf() || m.line_ends.nul()) {
    m.stream.fail(Fault::bare_line_end, bare_line_end_refusal());
  }
}

}  // namespace postroom::smtp
