// Quotas at RCPT time and the warnings after a delivery: the store's numbers, the replies.
#include "postroom/service/quota_check.hpp"

#include <algorithm>

#include "postroom/base/log.hpp"
#include "postroom/relay/dsn.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::service {

namespace {

std::optional<std::int64_t> as_limit(const std::optional<std::uint64_t>& value) {
  if (!value) return std::nullopt;
  return static_cast<std::int64_t>(std::min<std::uint64_t>(*value, INT64_MAX));
}

// "3.4 MiB": sizes for people, where the config's exact units would read "3565158B".
std::string human_size(std::int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  auto tenths = static_cast<long long>(value * 10 + 0.5);
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " " + units[unit];
}

std::string percent(std::int64_t used, std::int64_t limit) {
  return std::to_string(limit > 0 ? used * 100 / limit : 0) + "%";
}

// "messages 9/10 bytes 4100/5000" for the log.
std::string standing(const store::Usage& usage, const store::QuotaLimit& limit) {
  std::string out = "messages " + std::to_string(usage.messages) + "/" +
                    (limit.messages ? std::to_string(*limit.messages) : "-");
  out += " bytes " + std::to_string(usage.bytes) + "/" +
         (limit.bytes ? std::to_string(*limit.bytes) : "-");
  return out;
}

}  // namespace

store::QuotaDefaults quota_defaults(const config::Quota& quota) {
  store::QuotaDefaults d;
  d.user = {as_limit(quota.user_bytes), as_limit(quota.user_messages)};
  d.domain = {as_limit(quota.domain_bytes), as_limit(quota.domain_messages)};
  return d;
}

std::optional<QuotaRefusal> quota_refusal(const store::QuotaVerdict& verdict) {
  using Kind = store::QuotaVerdict::Kind;
  switch (verdict.kind) {
    case Kind::ok:
      return std::nullopt;
    case Kind::full:
      // RFC 3463 §3.3: X.2.2 "mailbox full"; temporary, so the sender retries (RFC 5321
      // §4.2.5) and the mail arrives once the user has deleted some.
      return QuotaRefusal{452, "4.2.2",
                          verdict.domain ? "Mailbox is full (its domain's quota is used up), "
                                           "try again later"
                                         : "Mailbox is full, try again later"};
    case Kind::too_big:
      return QuotaRefusal{552, "5.2.2",
                          verdict.domain ? "Message is larger than its domain's whole quota"
                                         : "Message is larger than the mailbox's whole quota"};
  }
  return std::nullopt;
}

void apply_quota(const std::string& session_id, std::optional<std::uint64_t> declared_size,
                 const store::RecipientFacts& facts, smtp::RecipientVerdict& verdict) {
  if (verdict.kind != smtp::RecipientVerdict::Kind::local || verdict.mailboxes.empty()) return;
  if (facts.quota_error) {
    log_line("session=", session_id,
             " quota: cannot check (letting it through): ", *facts.quota_error);
    return;
  }
  for (const auto& q : facts.quotas) {
    auto refusal = quota_refusal(store::check_quota(q, declared_size));
    if (!refusal) {
      verdict.quota_limited = verdict.quota_limited || q.limited();
      continue;
    }
    log_line("session=", session_id, " quota: ", q.address, " refused with ", refusal->code, " ",
             refusal->enhanced, " mailbox ", standing(q.usage, q.limit),
             q.domain_limit.any()
                 ? " domain " + q.domain + " " + standing(q.domain_usage, q.domain_limit)
                 : std::string(),
             declared_size ? " size=" + std::to_string(*declared_size) : std::string());
    verdict.kind = smtp::RecipientVerdict::Kind::refused;
    verdict.code = refusal->code;
    verdict.enhanced = refusal->enhanced;
    verdict.text = refusal->text;
    return;
  }
}

void send_quota_warnings(Context& context, std::vector<std::int64_t> accounts) {
  const auto& config = *context.config;
  if (!config.quota.warnings || accounts.empty()) return;
  std::string hostname = config.hostname;
  store::ComposeWarning compose = [hostname](const store::QuotaWarning& w) {
    return quota_warning_message(w, hostname, std::time(nullptr));
  };
  context.store->quota_warnings(std::move(accounts), quota_defaults(config.quota), config.domains,
                                std::move(compose), [](Result<int> sent) {
                                  if (!sent) {
                                    log_line("quota: the warnings could not be stored: ",
                                             sent.error().message);
                                  } else if (*sent > 0) {
                                    log_line("quota: ", *sent, " warning(s) delivered");
                                  }
                                });
}

std::string quota_warning_message(const store::QuotaWarning& warning, const std::string& hostname,
                                  std::time_t now) {
  std::string domain =
      warning.domain ? warning.subject : warning.subject.substr(warning.subject.rfind('@') + 1);
  std::string level = std::to_string(warning.level) + "%";
  std::string m;
  m += "From: Postmaster <postmaster@" + domain + ">\r\n";
  m += "To: " + (warning.domain ? "postmaster@" + domain : warning.subject) + "\r\n";
  m += warning.domain ? "Subject: Mail domain " + domain + " is " + level + " full\r\n"
                      : "Subject: Your mailbox is " + level + " full\r\n";
  m += "Date: " + relay::format_rfc5322_date(relay::Clock::from_time_t(now)) + "\r\n";
  m += "Message-ID: <" + store::random_token(12) + "@" + hostname + ">\r\n";
  // RFC 3834 §5: no auto-reply (a vacation message) answers this.
  m += "Auto-Submitted: auto-generated\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "\r\n";
  if (warning.domain) {
    m += "The mailboxes of " + domain + " together have used " + level +
         " or more of the domain's quota:\r\n\r\n";
  } else {
    m +=
        "Your mailbox " + warning.subject + " has used " + level + " or more of its quota:\r\n\r\n";
  }
  if (warning.limit.messages)
    m += "  messages: " + std::to_string(warning.usage.messages) + " of " +
         std::to_string(*warning.limit.messages) + " (" +
         percent(warning.usage.messages, *warning.limit.messages) + ")\r\n";
  if (warning.limit.bytes)
    m += "  size:     " + human_size(warning.usage.bytes) + " of " +
         human_size(*warning.limit.bytes) + " (" +
         percent(warning.usage.bytes, *warning.limit.bytes) + ")\r\n";
  m += "\r\n";
  m += "When it is full, new mail is refused with \"452 4.2.2 Mailbox is full\": the\r\n"
       "senders' servers keep it and try again for a few days, and it arrives as soon as\r\n"
       "there is room again.\r\n\r\n";
  if (warning.domain) {
    m += "Delete old mail from the domain's mailboxes, or raise the limit with\r\n"
         "`postroom domain quota " +
         domain + " --bytes SIZE --messages N`.\r\n\r\n";
  } else {
    m += "To make room, delete mail you no longer need from the server: a mail program\r\n"
         "set to \"leave a copy of messages on the server\" keeps everything there;\r\n"
         "let it remove messages after a number of days, or ask your administrator\r\n"
         "for a larger quota.\r\n\r\n";
  }
  m += "You get this warning at most once a day.\r\n";
  return m;
}

}  // namespace postroom::service
