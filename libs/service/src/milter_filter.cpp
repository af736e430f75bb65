// Runs one message through the configured milters: a MilterClient per milter drives its
// sans-I/O Conversation over a MilterLink, with a timeout on every wait.
#include "postroom/service/milter_filter.hpp"

#include <memory>

#include "milter_link.hpp"
#include "postroom/base/log.hpp"
#include "postroom/milter/conversation.hpp"
#include "postroom/net/handles.hpp"

namespace postroom::service {
namespace {

using milter::Outcome;

// Writes are handed to libuv only below this, so a milter that does not answer body chunks
// (SMFIP_NR_BODY) cannot make libuv's queue grow with the whole body.
constexpr std::size_t kWriteHighWater = 256 * 1024;

milter::Envelope milter_envelope(const FilterEnvelope& e, const std::string& daemon) {
  milter::Envelope m;
  m.client_ip = e.peer_ip;
  m.client_ipv6 = e.peer_ip.find(':') != std::string::npos;
  // No reverse lookup is made: sendmail's convention for an unresolved client.
  m.client_name = "[" + e.peer_ip + "]";
  m.helo = e.helo;
  m.sender = e.reverse_path ? e.reverse_path->str() : "";
  for (const Address& rcpt : e.recipients) m.recipients.push_back(rcpt.str());
  m.macros = {
      {"j", e.hostname},          {"daemon_name", daemon},    {"_", "unknown [" + e.peer_ip + "]"},
      {"client_addr", e.peer_ip}, {"client_name", "unknown"}, {"i", e.transaction_id},
      {"mail_addr", m.sender}};
  if (e.authenticated) {
    m.macros.emplace_back("auth_type", "PLAIN");
    m.macros.emplace_back("auth_authen", e.auth_user);
  }
  if (e.tls) m.macros.emplace_back("tls_version", "TLS");
  return m;
}

// One milter's conversation for one message.
class MilterClient {
 public:
  MilterClient(uv_loop_t* loop, config::Milter config, const FilterEnvelope& envelope,
               std::function<void()> settled)
      : config_(std::move(config)),
        conversation_(milter_envelope(envelope, envelope.submission ? "submission" : "smtp")),
        timer_(loop),
        settled_(std::move(settled)),
        backlog_shrank_(envelope.backlog_shrank) {
    link_ = MilterLink::open(loop, config_,
                             {.connected =
                                  [this] {
                                    connected_ = true;
                                    timer_.stop();  // the connect timeout is over
                                    pump();
                                  },
                              .received = [this](std::string_view bytes) { received(bytes); },
                              .failed = [this](std::string why) { give_up(std::move(why)); },
                              .drained =
                                  [this] {
                                    pump();
                                    if (backlog_shrank_) backlog_shrank_();
                                  }});
    arm();
  }
  ~MilterClient() {
    if (link_) link_->close();
  }
  MilterClient(const MilterClient&) = delete;
  MilterClient& operator=(const MilterClient&) = delete;

  void headers(const HeaderSection& section) {
    std::vector<std::pair<std::string, std::string>> fields;
    for (const auto& f : section.fields()) fields.emplace_back(f.name, f.value);
    conversation_.headers(fields);
    pump();
  }
  void body(std::string_view bytes) {
    if (settled()) return;
    conversation_.body(bytes);
    if (backlog() > kMilterMaxQueued)
      return give_up("too slow: more than " + std::to_string(kMilterMaxQueued >> 20) +
                     " MiB of body waiting");
    pump();
  }
  void end() {
    if (settled()) return;
    conversation_.end_of_message();
    pump();
  }

  bool settled() const { return failure_ || conversation_.done(); }
  std::size_t backlog() const {
    return settled() ? 0 : conversation_.queued_bytes() + (link_ ? link_->write_queue() : 0);
  }
  const std::string& name() const { return config_.name; }
  const std::optional<std::string>& failure() const { return failure_; }
  const Outcome& outcome() const { return conversation_.outcome(); }
  bool default_tempfail() const {
    return config_.default_action == config::Milter::DefaultAction::tempfail;
  }

 private:
  // Starts the timeout for whatever is awaited now: the connection or an answer.
  void arm() {
    timer_.start(static_cast<std::uint64_t>(config_.timeout.count()) * 1000, [this] {
      give_up("no answer within " + std::to_string(config_.timeout.count()) + "s");
    });
  }

  // Hands the conversation's next commands to the link. The clock runs only while an answer
  // is awaited (or the connection is being made): waiting for the SMTP client's next bytes
  // is not the milter's delay.
  void pump() {
    if (settled() || !link_ || !connected_) return;
    if (link_->write_queue() < kWriteHighWater) {
      bool was_awaiting = conversation_.awaiting_reply();
      std::string out = conversation_.output();
      if (!out.empty()) link_->write(std::move(out));
      if (!link_) return;  // the write failed and gave up
      if (conversation_.awaiting_reply() && !was_awaiting) arm();
    }
  }

  void received(std::string_view bytes) {
    decoder_.append(bytes);
    while (!settled()) {
      auto next = decoder_.next();
      if (!next) break;
      if (!*next) return give_up("protocol error: " + next->error().message);
      auto taken = conversation_.on_reply(**next);
      if (!taken) return give_up("protocol error: " + taken.error().message);
    }
    if (conversation_.done()) return conclude();
    timer_.stop();
    pump();
    // Any answer (progress included) restarts the clock for the one still awaited.
    if (link_ && conversation_.awaiting_reply()) arm();
  }

  void conclude() {
    timer_.stop();
    if (link_) link_->close(milter::Conversation::quit());
    link_ = nullptr;
    if (backlog_shrank_) backlog_shrank_();  // nothing is held for this milter any more
    auto settled = settled_;
    settled();
  }

  void give_up(std::string why) {
    if (settled()) return;
    failure_ = std::move(why);
    log_line("milter ", config_.name, " (", config_.address, "): ", *failure_);
    timer_.stop();
    if (link_) link_->close();
    link_ = nullptr;
    if (backlog_shrank_) backlog_shrank_();  // nothing is held for this milter any more
    auto settled = settled_;
    settled();
  }

  config::Milter config_;
  milter::Conversation conversation_;
  milter::ReplyDecoder decoder_;
  net::Timer timer_;
  MilterLink* link_ = nullptr;
  std::function<void()> settled_;
  std::function<void()> backlog_shrank_;
  std::optional<std::string> failure_;
  bool connected_ = false;
};

// Header edits one milter asked for, applied to the section being stored.
void apply_edits(const MilterClient& client, HeaderSection& headers) {
  for (const milter::Reply& edit : client.outcome().edits) {
    std::string_view value = edit.value;
    // HeaderSection adds the space after the colon itself.
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    switch (edit.kind) {
      case milter::Reply::Kind::add_header:
        headers.append(edit.name, value);
        break;
      case milter::Reply::Kind::insert_header:
        headers.insert(edit.index, edit.name, value);
        break;
      case milter::Reply::Kind::change_header: {
        // libmilter: index 0 is the same as 1; an empty value deletes; changing a field
        // that is not there adds it (sendmail's behaviour).
        std::size_t index = edit.index == 0 ? 1 : edit.index;
        std::optional<std::string_view> new_value;
        if (!edit.value.empty()) new_value = value;
        if (!headers.change(edit.name, index, new_value) && new_value)
          headers.append(edit.name, *new_value);
        break;
      }
      default:
        break;
    }
  }
}

class MilterFilter : public MessageFilter {
 public:
  MilterFilter(Context& context, const FilterEnvelope& envelope) : deliver_(context.loop) {
    for (const config::Milter& m : context.config->milters)
      clients_.push_back(
          std::make_unique<MilterClient>(context.loop, m, envelope, [this] { maybe_done(); }));
  }

  void headers_complete(const HeaderSection& headers) override {
    for (auto& c : clients_) c->headers(headers);
  }
  std::size_t backlog() const override {
    std::size_t total = 0;
    for (const auto& c : clients_) total += c->backlog();
    return total;
  }

  void body(std::string_view bytes) override {
    for (auto& c : clients_) c->body(bytes);
  }
  void finish(HeaderSection& headers, std::function<void(FilterVerdict)> done) override {
    headers_ = &headers;
    done_ = std::move(done);
    finishing_ = true;
    for (auto& c : clients_) c->end();
    maybe_done();
  }

 private:
  // `done` is called from this filter's own timer, never from inside a client's event: the
  // connection may destroy the filter in it, and nothing of ours may run after that.
  void maybe_done() {
    if (!finishing_ || !done_) return;
    for (auto& c : clients_)
      if (!c->settled()) return;
    deliver_.start(0, [this] {
      if (!done_) return;
      FilterVerdict verdict = decide();
      auto done = std::move(done_);
      done_ = nullptr;
      done(std::move(verdict));
    });
  }

  FilterVerdict decide() {
    FilterVerdict verdict;
    std::string log;
    std::optional<FilterVerdict> refusal;
    for (auto& c : clients_) {
      std::string word;
      if (c->failure()) {
        word = c->default_tempfail() ? "error-tempfail" : "error-accept";
        if (c->default_tempfail() && !refusal) {
          FilterVerdict v;
          v.action = FilterVerdict::Action::tempfail;
          v.code = 451;
          v.enhanced = "4.7.1";
          v.text = "Content filter unavailable, try again later";
          refusal = v;
        }
      } else {
        const Outcome& o = c->outcome();
        switch (o.action) {
          case Outcome::Action::accept:
            word = o.quarantine ? "quarantine" : "accept";
            break;
          case Outcome::Action::reject:
            word = "reject";
            break;
          case Outcome::Action::tempfail:
            word = "tempfail";
            break;
          case Outcome::Action::discard:
            word = "discard";
            break;
        }
        if (o.action != Outcome::Action::accept && !refusal) {
          FilterVerdict v;
          bool temp = o.action == Outcome::Action::tempfail;
          v.action = o.action == Outcome::Action::discard ? FilterVerdict::Action::discard
                     : temp                               ? FilterVerdict::Action::tempfail
                                                          : FilterVerdict::Action::reject;
          v.code = o.code != 0 ? o.code : temp ? 451 : 550;
          v.enhanced = !o.enhanced.empty() ? o.enhanced : temp ? "4.7.1" : "5.7.1";
          v.text = !o.text.empty() ? o.text
                   : temp          ? "Message deferred by the content filter, try again later"
                                   : "Message rejected by the content filter";
          refusal = v;
        }
      }
      log += (log.empty() ? "" : " ") + std::string("milter.") + c->name() + "=" + word;
    }
    if (refusal) {
      refusal->log = log;
      return *refusal;
    }
    // Everyone accepted: their changes, in config order.
    for (auto& c : clients_) {
      if (c->failure()) continue;
      apply_edits(*c, *headers_);
      if (const auto& q = c->outcome().quarantine) {
        // No hold queue here: a quarantined message is delivered flagged, so a POP3 client
        // files it by the flag (as DMARC's p=quarantine does).
        headers_->prepend("X-Quarantine", c->name() + ": " + (q->empty() ? "quarantined" : *q));
        if (!headers_->find("X-Spam-Flag")) headers_->prepend("X-Spam-Flag", "YES");
      }
    }
    verdict.log = log;
    return verdict;
  }

  net::Timer deliver_;
  std::vector<std::unique_ptr<MilterClient>> clients_;
  HeaderSection* headers_ = nullptr;
  std::function<void(FilterVerdict)> done_;
  bool finishing_ = false;
};

}  // namespace

FilterFactory milter_filter_factory(Context& context) {
  return [&context](const FilterEnvelope& envelope) -> std::unique_ptr<MessageFilter> {
    if (context.config->milters.empty()) return nullptr;
    return std::make_unique<MilterFilter>(context, envelope);
  };
}

}  // namespace postroom::service
