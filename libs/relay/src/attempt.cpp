// The outbound attempt state machine: policy, MX, addresses, TLSA, connections, failover.
#include "postroom/relay/attempt.hpp"

#include <algorithm>

#include "postroom/base/address.hpp"

namespace postroom::relay {

namespace {

bool in_transaction(ClientSession::State state) {
  using S = ClientSession::State;
  return state == S::mail_rcpt || state == S::data || state == S::body || state == S::data_end;
}

// RFC 7672 §2.2 and RFC 7218: the usages a mail client acts on are DANE-TA(2) and
// DANE-EE(3); PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672 §3.1.3).
bool usable(const Tlsa& record) {
  return (record.usage == 2 || record.usage == 3) && record.selector <= 1 && record.matching <= 2 &&
         !record.data.empty();
}

std::string hex(std::string_view data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : data) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string describe_check(const TlsCheck& check) {
  std::string out = "check=";
  switch (check.kind) {
    case TlsCheck::Kind::none:
      return out + "none";
    case TlsCheck::Kind::pkix:
      out += "pkix";
      break;
    case TlsCheck::Kind::dane:
      out += "dane";
      for (const Tlsa& t : check.tlsa)
        out += " " + std::to_string(t.usage) + "." + std::to_string(t.selector) + "." +
               std::to_string(t.matching) + ":" + hex(t.data).substr(0, 8);
      break;
  }
  out += check.enforce ? " enforce" : " report";
  for (const std::string& name : check.names) out += " " + name;
  return out;
}

}  // namespace

std::string_view to_string(Attempt::State state) {
  using S = Attempt::State;
  switch (state) {
    case S::policy:
      return "policy";
    case S::mx:
      return "mx";
    case S::addresses:
      return "addresses";
    case S::tlsa:
      return "tlsa";
    case S::connecting:
      return "connecting";
    case S::session:
      return "session";
    case S::idle:
      return "idle";
    case S::closing:
      return "closing";
    case S::finished:
      return "finished";
  }
  return "unknown";
}

std::string describe(const AttemptAction& action) {
  struct Describe {
    std::string operator()(const LookupMx& a) const { return ">> mx " + a.domain; }
    std::string operator()(const LookupMtaSts& a) const { return ">> sts " + a.domain; }
    std::string operator()(const LookupAddresses& a) const { return ">> a " + a.host; }
    std::string operator()(const LookupTlsa& a) const {
      return ">> tlsa _" + std::to_string(a.port) + "._tcp." + a.host;
    }
    std::string operator()(const Connect& a) const {
      std::string address =
          a.address.find(':') != std::string::npos ? "[" + a.address + "]" : a.address;
      return ">> connect " + a.host + " " + address + ":" + std::to_string(a.port) +
             (a.implicit_tls ? " implicit-tls" : "") + " " + describe_check(a.check);
    }
    std::string operator()(const BeginTls& a) const {
      return ">> tls " + a.peer_name + " " + describe_check(a.check);
    }
    std::string operator()(const Send& a) const {
      return a.sensitive ? "send <redacted>" : "send " + std::to_string(a.bytes.size()) + " octets";
    }
    std::string operator()(const NeedBody&) const { return "== body"; }
    std::string operator()(const Disconnect& a) const { return ">> disconnect " + a.reason; }
    std::string operator()(const Note& a) const { return "## " + a.text; }
    std::string operator()(const Report& a) const {
      std::string out = "== report";
      for (const RecipientResult& r : a.results)
        out += " " + r.address + "=" + std::string(to_string(r.kind));
      return out;
    }
    std::string operator()(const Idle&) const { return "== idle"; }
    std::string operator()(const Finished&) const { return "== finished"; }
  };
  return std::visit(Describe{}, action);
}

std::vector<RecipientResult> results_for_all(const std::vector<std::string>& recipients,
                                             Outcome kind, const std::string& text,
                                             const std::string& remote_host) {
  std::vector<RecipientResult> results;
  for (const std::string& recipient : recipients) {
    RecipientResult r;
    r.address = recipient;
    r.kind = kind;
    r.reply = text;
    r.status = text.substr(0, text.find(' '));
    r.remote_host = remote_host;
    results.push_back(std::move(r));
  }
  return results;
}

Attempt::Attempt(AttemptParams params) : params_(std::move(params)) {}

std::vector<AttemptAction> Attempt::take_actions() {
  return std::exchange(actions_, {});
}

void Attempt::start() {
  if (!params_.direct) {
    hosts_ = {params_.destination};
    return next_host();
  }
  // user@[192.0.2.1]: the literal is the host (RFC 5321 §4.1.3): no MX, no policy.
  if (params_.destination.starts_with('[')) {
    auto ip = literal_ip(params_.destination);
    if (!ip)
      return fail_all(Outcome::permanent,
                      "5.1.2 no usable address in the address literal " + params_.destination);
    hosts_ = {*ip};
    return next_host();
  }
  if (params_.use_mta_sts) {
    state_ = State::policy;
    return emit(LookupMtaSts{params_.destination});
  }
  lookup_mx();
}

void Attempt::on_mta_sts(MtaStsLookup lookup) {
  if (state_ != State::policy) return;
  if (lookup.policy && lookup.policy->mode != MtaStsMode::none) {
    sts_ = std::move(lookup.policy);
    emit(Note{"mta-sts domain=" + params_.destination +
              " mode=" + std::string(to_string(sts_->mode)) + " id=" + sts_->id +
              (lookup.note.empty() ? "" : " (" + lookup.note + ")")});
  } else if (!lookup.note.empty()) {
    emit(Note{"mta-sts domain=" + params_.destination + " none (" + lookup.note + ")"});
  }
  lookup_mx();
}

void Attempt::lookup_mx() {
  state_ = State::mx;
  emit(LookupMx{params_.destination});
}

void Attempt::on_mx(MxLookup lookup) {
  if (state_ != State::mx) return;
  const std::string& domain = params_.destination;
  if (lookup.status == LookupStatus::not_found)
    return fail_all(Outcome::permanent, "5.1.2 domain " + domain + " does not exist");
  if (lookup.status == LookupStatus::temporary)
    return fail_all(Outcome::temporary,
                    "4.4.3 MX lookup for " + domain + " failed: " + lookup.error);
  RandomIndex keep_order = [](std::size_t) { return std::size_t{0}; };
  auto hosts = order_mx_hosts(domain, std::move(lookup.records),
                              params_.random_index ? params_.random_index : keep_order);
  if (!hosts)
    return fail_all(hosts.error().permanent ? Outcome::permanent : Outcome::temporary,
                    hosts.error().text);
  // RFC 8461 §4.1, §5: a host the policy does not list is never used in enforce mode,
  // and is reported (but used) in testing mode.
  if (sts_) {
    std::vector<std::string> allowed;
    for (std::string& host : *hosts) {
      if (mta_sts_allows(*sts_, host)) {
        allowed.push_back(std::move(host));
        continue;
      }
      bool enforce = sts_->mode == MtaStsMode::enforce;
      emit(Note{"mta-sts domain=" + domain + " mode=" + std::string(to_string(sts_->mode)) +
                ": MX " + host + " is not in the policy" +
                (enforce ? ", not used" : ", used anyway")});
      if (!enforce) allowed.push_back(std::move(host));
    }
    if (allowed.empty())
      return fail_all(Outcome::temporary, "4.7.5 no MX host of " + domain +
                                              " matches its MTA-STS policy (mode enforce)");
    *hosts = std::move(allowed);
  }
  hosts_ = std::move(*hosts);
  next_host();
}

Attempt::HostPolicy Attempt::policy_for(const std::string& host) const {
  HostPolicy policy;
  if (!params_.direct) {
    // The smarthost is the admin's choice: its certificate always verifies against the
    // system CAs (or relay.smarthost.ca_file) for its configured name.
    policy.mode = params_.smarthost_tls;
    if (policy.mode != TlsMode::none) {
      policy.check.kind = TlsCheck::Kind::pkix;
      policy.check.enforce = true;
      policy.check.names = {host};
    }
    policy.label = "smarthost";
    return policy;
  }
  if (sts_ && sts_->mode == MtaStsMode::enforce) {
    // RFC 8461 §5: TLS with a certificate valid for the MX host's name, or no delivery.
    policy.mode = TlsMode::required;
    policy.check = {TlsCheck::Kind::pkix, true, {host}, {}};
    policy.label = "MTA-STS enforce";
  } else if (sts_ && sts_->mode == MtaStsMode::testing) {
    policy.mode = TlsMode::opportunistic;
    policy.check = {TlsCheck::Kind::pkix, false, {host}, {}};
    policy.label = "MTA-STS testing";
  } else {
    policy.mode = TlsMode::opportunistic;
    policy.label = "opportunistic";
  }
  return policy;
}

void Attempt::next_host() {
  if (next_host_ >= hosts_.size()) {
    return fail_all(Outcome::temporary,
                    failures_.empty() ? "4.4.1 no host to try" : failures_.reply());
  }
  host_ = hosts_[next_host_++];
  host_policy_ = policy_for(host_);
  state_ = State::addresses;
  emit(LookupAddresses{host_});
}

void Attempt::on_addresses(AddressLookup lookup) {
  if (state_ != State::addresses) return;
  if (lookup.status != LookupStatus::ok || lookup.addresses.empty()) {
    bool implicit_mx = params_.direct && hosts_.size() == 1 && host_ == params_.destination;
    bool absent = lookup.status != LookupStatus::temporary;
    // RFC 5321 §5.1: no MX and no address for the domain itself: nowhere to deliver.
    if (implicit_mx && absent)
      return fail_all(Outcome::permanent,
                      "5.1.2 domain " + host_ + " has no mail server (no MX, no address)");
    failures_.note(FailureStage::resolve, std::string(absent ? "4.4.4" : "4.4.3") +
                                              " cannot resolve " + host_ +
                                              (lookup.error.empty() ? "" : ": " + lookup.error));
    return next_host();
  }
  addresses_ = std::move(lookup.addresses);
  next_address_ = 0;
  bool literal = params_.destination.starts_with('[');
  if (params_.direct && params_.use_dane && !literal) {
    state_ = State::tlsa;
    return emit(LookupTlsa{host_, params_.port});
  }
  next_address();
}

void Attempt::on_tlsa(TlsaLookup lookup) {
  if (state_ != State::tlsa) return;
  if (lookup.failed) {
    // RFC 7672 §2.2.1: a TLSA lookup that fails or is bogus makes the host unusable;
    // delivering in plaintext (or unauthenticated) would give an attacker the downgrade.
    failures_.note(FailureStage::policy,
                   "4.7.5 DANE: TLSA lookup for " + host_ + " failed: " + lookup.error);
    emit(Note{"dane host=" + host_ + " TLSA lookup failed (" + lookup.error + "), not used"});
    return next_host();
  }
  if (lookup.secure && !lookup.records.empty()) {
    std::vector<Tlsa> records;
    std::copy_if(lookup.records.begin(), lookup.records.end(), std::back_inserter(records), usable);
    host_policy_.mode = TlsMode::required;
    if (records.empty()) {
      // RFC 7672 §2.2: only unusable records: TLS is still mandatory, unauthenticated.
      host_policy_.check = {};
      host_policy_.label = "DANE (no usable TLSA: unauthenticated TLS)";
    } else {
      // RFC 7672 §2.2.3: DANE-TA needs the MX host name in the certificate; DANE-EE
      // ignores names (§3.1.1). DANE supersedes MTA-STS (RFC 8461 §2).
      host_policy_.check = {TlsCheck::Kind::dane, true, {host_}, std::move(records)};
      host_policy_.label = "DANE";
    }
    emit(Note{"dane host=" + host_ + " " + std::to_string(lookup.records.size()) +
              " TLSA record(s): " + host_policy_.label});
  }
  next_address();
}

void Attempt::next_address() {
  if (next_address_ >= addresses_.size()) return next_host();
  connect_current();
}

void Attempt::connect_current() {
  const std::string& address = addresses_[next_address_++];
  current_host_ = host_ + "[" + address + "]:" + std::to_string(params_.port);
  reached_transaction_ = false;
  tls_ready_ = false;
  state_ = State::connecting;
  emit(Connect{host_, address, params_.port, host_policy_.mode == TlsMode::implicit,
               host_policy_.check});
}

void Attempt::on_connect_failed(std::string_view text) {
  if (state_ != State::connecting) return;
  failures_.note(FailureStage::connect,
                 "4.4.1 connection to " + current_host_ + " " + std::string(text));
  next_address();
}

void Attempt::reconnect() {
  if (next_address_ > 0) --next_address_;
  connect_current();
}

bool Attempt::may_reuse() const {
  if (messages_on_connection_ >= params_.reuse.max_messages) return false;
  return !params_.now || params_.now() - connected_at_ < params_.reuse.max_age;
}

void Attempt::on_connected() {
  if (state_ != State::connecting) return;
  ClientParams client = params_.client;
  client.tls = host_policy_.mode;
  client.tls_available = params_.tls_available;
  client.reuse = params_.reuse.max_messages > 1;
  session_.emplace(std::move(client));
  messages_on_connection_ = 0;
  if (params_.now) connected_at_ = params_.now();
  state_ = State::session;
  pump();
}

void Attempt::next_message(Envelope envelope) {
  if (state_ != State::idle) return;
  params_.client.envelope = std::move(envelope);
  reached_transaction_ = false;
  final_ = false;
  reported_ = false;
  retrying_ = false;
  retried_ = false;
  failures_ = AttemptFailures{};
  if (!session_) return reconnect();  // the server closed the idle connection
  state_ = State::session;
  session_->next_envelope(params_.client.envelope);
  pump();
}

void Attempt::quit() {
  if (state_ != State::idle) return;
  final_ = true;
  if (!session_) return finish();
  state_ = State::session;
  session_->quit();
  pump();
}

void Attempt::pump() {
  if (!session_ || state_ == State::finished) return;
  if (in_transaction(session_->state())) reached_transaction_ = true;
  // A session's action may make it act again (quit() after Ready): drain until quiet.
  for (auto actions = session_->take_actions(); !actions.empty();
       actions = session_ ? session_->take_actions() : std::vector<Action>{}) {
    pump_actions(actions);
    if (state_ == State::finished) return;
  }
}

void Attempt::pump_actions(std::vector<Action>& actions) {
  for (Action& action : actions) {
    if (auto* send = std::get_if<Send>(&action)) {
      emit(std::move(*send));
    } else if (std::holds_alternative<StartTls>(action)) {
      emit(BeginTls{host_, host_policy_.check});
    } else if (std::holds_alternative<NeedBody>(action)) {
      emit(NeedBody{});
    } else if (auto* done = std::get_if<Done>(&action)) {
      for (RecipientResult& result : done->results) result.remote_host = current_host_;
      if (messages_on_connection_ > 0 && done->unanswered && !retried_) {
        // The server dropped the reused connection (or said 421) before it answered MAIL:
        // it took nothing, so this is the reused connection's failure, not the message's.
        retrying_ = true;
        retried_ = true;
        emit(Note{"connection to " + current_host_ + " lost after " +
                  std::to_string(messages_on_connection_) +
                  " message(s); sending the next on a new connection"});
        continue;
      }
      bool all_temporary =
          std::all_of(done->results.begin(), done->results.end(),
                      [](const RecipientResult& r) { return r.kind == Outcome::temporary; });
      // RFC 5321 §5.1: a host that fails before the transaction starts (a 4xx greeting,
      // no STARTTLS where a policy needs it, a failed handshake) is skipped for the next.
      if (all_temporary && !reached_transaction_ && !done->results.empty()) {
        bool tls_policy = host_policy_.check.enforce || host_policy_.mode == TlsMode::required;
        const std::string& reply = done->results.front().reply;
        bool tls_failure = reply.starts_with("4.7.");
        failures_.note(tls_policy && tls_failure ? FailureStage::policy : FailureStage::session,
                       reply + " (" + current_host_ +
                           (tls_policy && params_.direct ? ", " + host_policy_.label : "") + ")");
      } else {
        final_ = true;
        report(std::move(done->results));
      }
    } else if (std::holds_alternative<Ready>(action)) {
      ++messages_on_connection_;
      if (may_reuse()) {
        state_ = State::idle;
        emit(Idle{});
      } else {
        session_->quit();
      }
    } else if (auto* close = std::get_if<Close>(&action)) {
      if (state_ == State::closing) continue;
      state_ = State::closing;
      emit(Disconnect{std::move(close->reason)});
    }
  }
}

void Attempt::on_data(std::string_view bytes) {
  // While idle nothing was asked; whatever comes (a 421 before the server closes) is
  // left unread, and the close that follows is what counts.
  if (!session_ || state_ != State::session) return;
  session_->feed(bytes);
  pump();
}

void Attempt::on_tls_started(std::string_view verify_error) {
  if (!session_ || state_ != State::session) return;
  const TlsCheck& check = host_policy_.check;
  tls_ready_ = true;
  if (!verify_error.empty() && check.kind != TlsCheck::Kind::none) {
    if (check.enforce) {
      // The host's TLS layer should have refused the handshake; refuse it here anyway.
      session_->on_tls_failed("certificate does not verify: " + std::string(verify_error));
      return pump();
    }
    emit(Note{host_policy_.label + ": certificate of " + current_host_ + " does not verify (" +
              std::string(verify_error) + "), delivering anyway"});
  }
  if (session_->state() == ClientSession::State::tls_handshake) session_->on_tls_started();
  pump();
}

namespace {

// The TLS layer's reasons start with the words the session puts in front of them anyway.
std::string_view handshake_reason(std::string_view reason) {
  constexpr std::string_view kPrefix = "TLS handshake failed: ";
  if (reason.starts_with(kPrefix)) reason.remove_prefix(kPrefix.size());
  return reason;
}

}  // namespace

void Attempt::on_tls_failed(std::string_view reason) {
  if (!session_ || state_ != State::session) return;
  session_->on_tls_failed(handshake_reason(reason));
  pump();
}

void Attempt::on_timeout() {
  if (!session_ || state_ != State::session) return;
  session_->on_timeout();
  pump();
}

void Attempt::on_closed(std::string_view reason) {
  if (state_ == State::idle) {
    session_.reset();  // next_message() will connect again; quit() just finishes
    return;
  }
  if (state_ != State::session && state_ != State::closing) return;
  if (session_ && !session_->closed()) {
    state_ = State::closing;  // the session's Close needs no Disconnect: nothing is open
    bool handshake = session_->state() == ClientSession::State::tls_handshake ||
                     (host_policy_.mode == TlsMode::implicit && !tls_ready_);
    if (handshake)
      session_->on_tls_failed(handshake_reason(reason));
    else
      session_->on_disconnected();
    pump();
  }
  session_.reset();
  if (state_ == State::finished) return;
  if (retrying_) {
    retrying_ = false;
    return reconnect();
  }
  if (final_) return finish();
  next_address();
}

void Attempt::send_body_chunk(std::string_view bytes) {
  if (!body_wanted()) return;
  session_->send_body_chunk(bytes);
  pump();
}

void Attempt::end_body() {
  if (!body_wanted()) return;
  session_->end_body();
  pump();
}

void Attempt::fail_all(Outcome kind, const std::string& text) {
  report(results_for_all(params_.client.envelope.recipients, kind, text, current_host_));
  finish();
}

void Attempt::report(std::vector<RecipientResult> results) {
  if (reported_ || state_ == State::finished) return;
  reported_ = true;
  emit(Report{std::move(results)});
}

void Attempt::finish() {
  if (state_ == State::finished) return;
  state_ = State::finished;
  emit(Finished{});
}

}  // namespace postroom::relay
