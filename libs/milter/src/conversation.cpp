// The MTA side of one message's milter conversation: what to send when, and what the answers
// mean at each step (libmilter's protocol, version 6, as Postfix and sendmail speak it).
#include "postroom/milter/conversation.hpp"

#include <algorithm>

namespace postroom::milter {
namespace {

// The stage each macro we know belongs to, as sendmail's default lists place them.
Stage default_stage(std::string_view name) {
  static constexpr std::pair<std::string_view, Stage> kStages[] = {
      {"j", Stage::connect},           {"_", Stage::connect},
      {"daemon_name", Stage::connect}, {"client_addr", Stage::connect},
      {"client_name", Stage::connect}, {"client_port", Stage::connect},
      {"if_addr", Stage::connect},     {"tls_version", Stage::helo},
      {"cipher", Stage::helo},         {"i", Stage::mail},
      {"auth_type", Stage::mail},      {"auth_authen", Stage::mail},
      {"mail_addr", Stage::mail},      {"rcpt_addr", Stage::rcpt},
  };
  for (auto [n, stage] : kStages)
    if (n == name) return stage;
  return Stage::connect;
}

std::string bracketed(std::string_view address) {
  return "<" + std::string(address) + ">";
}

}  // namespace

Conversation::Conversation(Envelope envelope)
    : envelope_(std::move(envelope)), macro_lists_(kStages) {
  enqueue(encode_negotiate(kVersion, kOfferedActions, kOfferedSteps), true);
}

void Conversation::enqueue(std::string bytes, bool expects_reply, bool body, bool final) {
  queued_bytes_ += bytes.size();
  queue_.push_back(Pending{std::move(bytes), expects_reply, body, final});
}

std::string Conversation::output() {
  std::string out;
  while (!awaiting_ && !queue_.empty() && state_ != State::done) {
    Pending next = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= next.bytes.size();
    out += next.bytes;
    if (next.expects_reply) {
      awaiting_ = true;
      awaiting_final_ = next.final;
    }
  }
  return out;
}

void Conversation::enqueue_macros(Stage stage, Command command) {
  const auto& wanted = macro_lists_[static_cast<std::size_t>(stage)];
  std::vector<std::pair<std::string, std::string>> macros;
  for (const auto& [name, value] : envelope_.macros) {
    bool send = wanted.empty() ? default_stage(name) == stage
                               : std::find(wanted.begin(), wanted.end(), name) != wanted.end();
    if (send) macros.emplace_back(name, value);
  }
  if (!macros.empty()) enqueue(encode_macros(command, macros), false);
}

void Conversation::enqueue_envelope() {
  auto want = [&](std::uint32_t no) { return (steps_ & no) == 0; };
  if (want(step::no_connect)) {
    enqueue_macros(Stage::connect, Command::connect);
    enqueue(encode_connect(envelope_.client_name, envelope_.client_ip, envelope_.client_port,
                           envelope_.client_ipv6),
            want(step::no_reply_connect));
  }
  if (want(step::no_helo)) {
    enqueue_macros(Stage::helo, Command::helo);
    enqueue(encode_strings(Command::helo, {envelope_.helo}), want(step::no_reply_helo));
  }
  if (want(step::no_mail)) {
    enqueue_macros(Stage::mail, Command::mail);
    std::string from = bracketed(envelope_.sender);
    enqueue(encode_strings(Command::mail, {from}), want(step::no_reply_mail));
  }
  if (want(step::no_rcpt)) {
    for (const std::string& rcpt : envelope_.recipients) {
      std::vector<std::pair<std::string, std::string>> macros;
      const auto& wanted = macro_lists_[static_cast<std::size_t>(Stage::rcpt)];
      for (const auto& [name, value] : envelope_.macros) {
        if (name == "rcpt_addr") continue;
        if (std::find(wanted.begin(), wanted.end(), name) != wanted.end())
          macros.emplace_back(name, value);
      }
      macros.emplace_back("rcpt_addr", rcpt);
      enqueue(encode_macros(Command::rcpt, macros), false);
      std::string to = bracketed(rcpt);
      enqueue(encode_strings(Command::rcpt, {to}), want(step::no_reply_rcpt));
    }
  }
  // SMFIC_DATA exists from protocol version 4 on.
  if (version_ >= 4 && want(step::no_data)) {
    enqueue_macros(Stage::data, Command::data);
    enqueue(packet(Command::data, {}), want(step::no_reply_data));
  }
}

std::string Conversation::milter_value(std::string_view stored) const {
  // HeaderSection keeps the space after the colon in the value; libmilter strips it unless
  // the milter asked for it, and uses bare LF inside folded values.
  if ((steps_ & step::header_leading_space) == 0 && !stored.empty() &&
      (stored.front() == ' ' || stored.front() == '\t'))
    stored.remove_prefix(1);
  std::string out;
  out.reserve(stored.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    if (stored[i] == '\r' && i + 1 < stored.size() && stored[i + 1] == '\n') continue;
    out.push_back(stored[i]);
  }
  return out;
}

std::string Conversation::stored_value(std::string_view value) const {
  if ((steps_ & step::header_leading_space) != 0 && !value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  // A trailing line end would leave an empty continuation line.
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.remove_suffix(1);
  std::string out;
  out.reserve(value.size() + 8);
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\r') continue;  // line ends are rebuilt below
    if (c == '\0') break;
    if (c != '\n') {
      out.push_back(c);
      continue;
    }
    out += "\r\n";
    // A continuation line must start with white space (RFC 5322 §2.2.3), or it would be read
    // as a new field.
    bool next_is_space = i + 1 < value.size() && (value[i + 1] == ' ' || value[i + 1] == '\t');
    if (!next_is_space) out.push_back('\t');
  }
  return out;
}

void Conversation::headers(const std::vector<std::pair<std::string, std::string>>& fields) {
  if (headers_seen_) return;
  headers_seen_ = true;
  // Before negotiation the steps are not known yet: kept until the answer comes.
  if (state_ == State::negotiating) {
    pending_headers_ = fields;
    return;
  }
  enqueue_headers(fields);
}

void Conversation::enqueue_headers(const std::vector<std::pair<std::string, std::string>>& fields) {
  auto want = [&](std::uint32_t no) { return (steps_ & no) == 0; };
  if (want(step::no_headers)) {
    for (const auto& [name, value] : fields) {
      if (name.empty()) continue;  // a line that is not a field (kept verbatim, not sent)
      enqueue(encode_strings(Command::header, {name, milter_value(value)}),
              want(step::no_reply_header));
    }
  }
  if (want(step::no_eoh)) {
    enqueue_macros(Stage::eoh, Command::end_of_headers);
    enqueue(packet(Command::end_of_headers, {}), want(step::no_reply_eoh));
  }
}

void Conversation::body(std::string_view bytes) {
  if (state_ == State::done || skipping_body_ || eom_seen_) return;
  if (state_ != State::negotiating && (steps_ & step::no_body) != 0) return;
  if (state_ == State::negotiating) {
    pending_body_.append(bytes);
    return;
  }
  enqueue_body(bytes);
}

void Conversation::enqueue_body(std::string_view bytes) {
  if ((steps_ & step::no_body) != 0) return;
  bool reply = (steps_ & step::no_reply_body) == 0;
  // Fill the last queued chunk first, so small writes do not become many small packets.
  while (!bytes.empty()) {
    if (!queue_.empty() && queue_.back().body && queue_.back().bytes.size() < 5 + kBodyChunk) {
      Pending& last = queue_.back();
      std::size_t room = 5 + kBodyChunk - last.bytes.size();
      std::size_t n = std::min(room, bytes.size());
      last.bytes.append(bytes.substr(0, n));
      std::uint32_t length = static_cast<std::uint32_t>(last.bytes.size() - 4);
      for (int i = 0; i < 4; ++i) last.bytes[i] = static_cast<char>(length >> (8 * (3 - i)));
      queued_bytes_ += n;
      bytes.remove_prefix(n);
      continue;
    }
    std::size_t n = std::min(kBodyChunk, bytes.size());
    enqueue(packet(Command::body, bytes.substr(0, n)), reply, true);
    bytes.remove_prefix(n);
  }
}

void Conversation::end_of_message() {
  if (eom_seen_) return;
  eom_seen_ = true;
  if (state_ == State::negotiating) return;  // sent once negotiation is over
  enqueue_end();
}

void Conversation::enqueue_end() {
  if (!headers_seen_) enqueue_headers({});
  enqueue_macros(Stage::end_of_message, Command::end_of_body);
  enqueue(packet(Command::end_of_body, {}), true, false, true);
}

void Conversation::finish(Outcome::Action action) {
  outcome_.action = action;
  state_ = State::done;
  queue_.clear();
  queued_bytes_ = 0;
}

Result<void> Conversation::on_reply(const Reply& reply) {
  using K = Reply::Kind;
  if (state_ == State::done) return fail("answer after the conversation ended");
  if (!awaiting_) return fail("answer nobody asked for");
  if (state_ == State::negotiating) {
    if (reply.kind != K::negotiate) return fail("the first answer is not option negotiation");
    if (reply.version < 2) return fail("milter protocol version " + std::to_string(reply.version));
    version_ = std::min(reply.version, kVersion);
    // What the milter asks beyond our offer cannot happen here: masked, and any such
    // modification later is a protocol error.
    actions_ = reply.actions & kOfferedActions;
    steps_ = reply.steps & kOfferedSteps;
    if (version_ >= 6)
      for (const auto& [stage, names] : reply.macro_lists)
        macro_lists_[static_cast<std::size_t>(stage)] = names;
    awaiting_ = false;
    state_ = State::envelope;
    enqueue_envelope();
    if (headers_seen_) enqueue_headers(pending_headers_);
    pending_headers_.clear();
    if (!pending_body_.empty()) enqueue_body(pending_body_);
    pending_body_.clear();
    if (eom_seen_) enqueue_end();
    return {};
  }
  bool at_end = awaiting_final_;
  switch (reply.kind) {
    case K::continue_:
      awaiting_ = false;
      if (at_end) finish(Outcome::Action::accept);
      return {};
    case K::accept:
      // Before the end: accept the message without looking further (no edits were possible).
      awaiting_ = false;
      finish(Outcome::Action::accept);
      return {};
    case K::reject:
      awaiting_ = false;
      finish(Outcome::Action::reject);
      return {};
    case K::tempfail:
      awaiting_ = false;
      finish(Outcome::Action::tempfail);
      return {};
    case K::discard:
      awaiting_ = false;
      finish(Outcome::Action::discard);
      return {};
    case K::reply_code:
      awaiting_ = false;
      outcome_.code = reply.code;
      outcome_.enhanced = reply.enhanced;
      outcome_.text = reply.text;
      finish(reply.code >= 500 ? Outcome::Action::reject : Outcome::Action::tempfail);
      return {};
    case K::progress:
      return {};  // still working: the host restarts its timeout
    case K::skip:
      if ((steps_ & step::skip) == 0) return fail("SKIP without having negotiated it");
      awaiting_ = false;
      skipping_body_ = true;
      {
        std::deque<Pending> kept;
        for (auto& p : queue_) {
          if (p.body)
            queued_bytes_ -= p.bytes.size();
          else
            kept.push_back(std::move(p));
        }
        queue_ = std::move(kept);
      }
      return {};
    case K::add_header:
    case K::change_header:
    case K::insert_header: {
      if (!at_end) return fail("header change before end of message");
      std::uint32_t needed =
          reply.kind == K::change_header ? action::change_headers : action::add_headers;
      if ((actions_ & needed) == 0) return fail("header change the milter did not negotiate");
      Reply edit = reply;
      edit.value = stored_value(reply.value);
      outcome_.edits.push_back(std::move(edit));
      return {};
    }
    case K::quarantine:
      if (!at_end) return fail("quarantine before end of message");
      if ((actions_ & action::quarantine) == 0) return fail("quarantine not negotiated");
      outcome_.quarantine = reply.text;
      return {};
    default:
      return fail("unexpected milter answer '" + std::string(1, static_cast<char>(reply.kind)) +
                  "'");
  }
}

std::string Conversation::quit() {
  return packet(Command::quit, {});
}

}  // namespace postroom::milter
