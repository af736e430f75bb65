// Applies the outbound limits to messages, tells the postmaster, and saves the counters.
#include "postroom/service/outbound_limits.hpp"

#include <ctime>

#include "postroom/base/log.hpp"
#include "postroom/relay/dsn.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::service {
namespace {

// How often changed counters are written: a crash loses at most this much counting.
constexpr std::uint64_t kSaveIntervalMs = 10'000;

class LimitFilter final : public MessageFilter {
 public:
  LimitFilter(std::weak_ptr<OutboundLimits> owner, FilterEnvelope envelope)
      : owner_(std::move(owner)), envelope_(std::move(envelope)) {}
  void finish(HeaderSection& headers, std::function<void(FilterVerdict)> done) override {
    (void)headers;
    auto owner = owner_.lock();
    // Checked at the end of the data, when the message would be accepted: a refused
    // message is not counted, and a sender that gives up half-way costs nothing.
    done(owner ? owner->check(envelope_, std::time(nullptr)) : FilterVerdict{});
  }

 private:
  std::weak_ptr<OutboundLimits> owner_;
  FilterEnvelope envelope_;
};

OutboundLimitValues values_of(const config::Limits& limits) {
  return {limits.outbound_messages_per_hour, limits.outbound_messages_per_day,
          limits.outbound_new_recipients_per_day};
}

}  // namespace

std::string outbound_subject(const FilterEnvelope& envelope) {
  if (envelope.remote_recipients.empty()) return {};
  if (envelope.authenticated) return to_lower_ascii(envelope.auth_user);
  if (envelope.trusted) return "trusted_networks";
  return {};  // mail from the internet to an alias that forwards: not this sender's sending
}

OutboundLimits::OutboundLimits(Context& context) : context_(context) {}

void OutboundLimits::start() {
  timer_ = std::make_unique<net::Timer>(context_.loop);
  timer_->start(kSaveIntervalMs, [this] {
    save();
    start();
  });
}

void OutboundLimits::stop() {
  timer_.reset();
  saving_ = false;  // the writer keeps order; the last state must be submitted now
  save();
}

FilterFactory OutboundLimits::factory() {
  std::weak_ptr<OutboundLimits> weak = weak_from_this();
  return [weak](const FilterEnvelope& envelope) -> std::unique_ptr<MessageFilter> {
    if (outbound_subject(envelope).empty() && device_subject(envelope).empty()) return nullptr;
    return std::make_unique<LimitFilter>(weak, envelope);
  };
}

std::string device_subject(const FilterEnvelope& envelope) {
  if (!envelope.authenticated || envelope.device_id == 0 || envelope.device_rate_per_hour <= 0)
    return {};
  return "device:" + std::to_string(envelope.device_id);
}

FilterVerdict OutboundLimits::check(const FilterEnvelope& envelope, std::int64_t now) {
  FilterVerdict verdict;
  // A device's own rate first, over every message sent with it (local ones too: a stolen
  // scanner password must not flood the office's own mailboxes either). Counted in the
  // same counters, so it holds across a restart like the others.
  if (std::string device = device_subject(envelope); !device.empty()) {
    OutboundLimitValues rate{static_cast<std::size_t>(envelope.device_rate_per_hour), 0, 0};
    auto decision = counter_.admit(device, {}, now, rate);
    if (!decision.allowed) {
      log_line("outbound limit: device \"", envelope.device_name, "\" of ",
               to_lower_ascii(envelope.auth_user), " reached ", decision.value, " ", decision.limit,
               "; message ", envelope.transaction_id,
               " refused with 451 4.7.0 peer=", envelope.peer_ip);
      verdict.action = FilterVerdict::Action::tempfail;
      verdict.code = 451;
      verdict.enhanced = "4.7.0";
      verdict.text = "Device rate limit reached: " + std::to_string(decision.value) + " " +
                     decision.limit + " for this device; try again later";
      verdict.log = "device_limit=" + device;
      return verdict;
    }
  }
  std::string subject = outbound_subject(envelope);
  if (subject.empty()) return verdict;
  auto decision =
      counter_.admit(subject, envelope.remote_recipients, now, values_of(context_.config->limits));
  if (decision.allowed) return verdict;
  std::string who = subject == "trusted_networks" ? "the trusted networks" : subject;
  log_line("outbound limit: ", subject, " reached ", decision.value, " ", decision.limit,
           "; message ", envelope.transaction_id,
           " refused with 451 4.7.0 peer=", envelope.peer_ip);
  verdict.action = FilterVerdict::Action::tempfail;
  verdict.code = 451;
  verdict.enhanced = "4.7.0";
  verdict.text = "Outbound limit reached: " + std::to_string(decision.value) + " " +
                 decision.limit + " for " + who + "; try again later";
  verdict.log = "outbound_limit=" + subject;
  if (decision.notify) notify(subject, decision, now);
  return verdict;
}

void OutboundLimits::save() {
  if (saving_ || !counter_.has_changes() || !context_.store) return;
  saving_ = true;
  std::weak_ptr<OutboundLimits> weak = weak_from_this();
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  store::OutboundCounts changes = counter_.take_changes();
  auto done = [weak, changes](Result<void> saved) {
    auto self = weak.lock();
    if (!saved) {
      log_line("outbound limits: saving the counters failed (kept for the next save): ",
               saved.error().message);
      if (self) self->counter_.not_saved(changes);
    }
    if (self) self->saving_ = false;
  };
  context_.store->save_outbound_counts(std::move(changes), now - OutboundCounter::kDaySeconds,
                                       OutboundCounter::kBucketSeconds, std::move(done));
}

void OutboundLimits::notify(const std::string& subject, const OutboundCounter::Decision& decision,
                            std::int64_t now) {
  const auto& config = *context_.config;
  std::string who = subject == "trusted_networks" ? "the trusted networks (mail relayed without "
                                                    "a login from trusted_networks)"
                                                  : subject;
  auto when = relay::Clock::from_time_t(static_cast<std::time_t>(now));
  std::string m;
  m += "From: Mail Delivery System <MAILER-DAEMON@" + config.hostname + ">\r\n";
  m += "To: postmaster@" + config.domains.front() + "\r\n";
  m += "Subject: Outbound limit reached by " + subject + "\r\n";
  m += "Date: " + relay::format_rfc5322_date(when) + "\r\n";
  m += "Message-ID: <" + store::random_token(12) + "@" + config.hostname + ">\r\n";
  m += "Auto-Submitted: auto-generated\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "\r\n";
  m += "This is postroom on " + config.hostname + ".\r\n\r\n";
  m += who + " has reached its limit of " + std::to_string(decision.value) + " " + decision.limit +
       ".\r\n";
  m += "Further outbound mail from it is refused with \"451 4.7.0\" until it is under\r\n"
       "the limit again; its mail client will retry later.\r\n\r\n";
  m += "If this was not expected, the account's password may have been stolen: change\r\n"
       "it with `postroom user passwd ADDRESS` and look at the daemon's log. If it was\r\n"
       "expected, raise limits.outbound_messages_per_hour, outbound_messages_per_day or\r\n"
       "outbound_new_recipients_per_day in the config and reload.\r\n\r\n"
       "You get one such notice per sender and day.\r\n";
  context_.store->notify_postmaster(std::move(m), config.domains, [subject](Result<bool> stored) {
    if (!stored) {
      log_line("outbound limit: the notice to the postmaster about ", subject,
               " could not be stored: ", stored.error().message);
    } else if (!*stored) {
      log_line("outbound limit: no postmaster to tell about ", subject);
    }
  });
}

}  // namespace postroom::service
