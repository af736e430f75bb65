// Away replies: the RFC 3834 rules as a pure decision, the reply, and the post-commit hook.
#include "postroom/service/vacation.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "postroom/base/log.hpp"
#include "postroom/base/sasl.hpp"
#include "postroom/relay/dsn.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::service {
namespace {

constexpr std::int64_t kDay = 86400;
// References kept from the original: enough for threading, bounded so the field stays small.
constexpr std::size_t kMaxReferences = 20;

std::string_view trim(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// A field value on one line: folding undone (RFC 5322 §2.2.3), outer blanks trimmed.
std::string unfolded(std::string_view value) {
  std::string out;
  for (char c : value)
    if (c != '\r' && c != '\n') out += c;
  return std::string(trim(out));
}

std::optional<std::string> field(const HeaderSection& headers, std::string_view name) {
  const auto* f = headers.find(name);
  if (!f) return std::nullopt;
  return unfolded(f->value);
}

// The first token of a value, lower-case: "no" of "no (a comment)" or "bulk;".
std::string keyword(std::string_view value) {
  value = trim(value);
  auto end = value.find_first_of(" \t;(");
  return to_lower_ascii(value.substr(0, end));
}

bool is_system_sender(const Address& sender) {
  // RFC 3834 §2: senders that are programs or list managers, whose replies would go to a
  // list or nowhere. The local part is lower-case already (Address).
  const std::string& l = sender.local;
  static const std::vector<std::string_view> exact = {
      "mailer-daemon", "mailer",   "listserv",   "majordomo",   "postmaster",
      "noreply",       "no-reply", "donotreply", "do-not-reply"};
  if (std::find(exact.begin(), exact.end(), l) != exact.end()) return true;
  return l.starts_with("owner-") || l.ends_with("-request") || l.ends_with("-owner") ||
         l.ends_with("-bounces") || l.starts_with("bounce");
}

bool is_auto_submitted(const HeaderSection& headers) {
  for (std::size_t i = 1; const auto* f = headers.find("Auto-Submitted", i); ++i)
    if (keyword(f->value) != "no") return true;
  // Responders that predate RFC 3834 mark their replies thus; Exchange asks for none.
  if (headers.find("X-Autoreply") || headers.find("X-Autorespond")) return true;
  if (auto suppress = field(headers, "X-Auto-Response-Suppress")) {
    auto s = to_lower_ascii(*suppress);
    if (s.find("oof") != std::string::npos || s.find("all") != std::string::npos) return true;
  }
  return false;
}

bool is_list_mail(const HeaderSection& headers) {
  return std::any_of(headers.fields().begin(), headers.fields().end(), [](const auto& f) {
    return f.name.size() > 5 && header_name_equals(f.name.substr(0, 5), "List-");
  });
}

bool is_bulk(const HeaderSection& headers) {
  auto p = field(headers, "Precedence");
  if (!p) return false;
  auto k = keyword(*p);
  return k == "bulk" || k == "list" || k == "junk";
}

bool is_spam(const HeaderSection& headers) {
  for (std::size_t i = 1; const auto* f = headers.find("X-Spam-Flag", i); ++i)
    if (keyword(f->value) == "yes") return true;
  return false;
}

bool relevant(std::string_view name) {
  for (std::string_view keep : {"To", "Cc", "Subject", "Message-ID", "References", "In-Reply-To",
                                "Precedence", "Auto-Submitted", "X-Autoreply", "X-Autorespond",
                                "X-Auto-Response-Suppress", "X-Spam-Flag"})
    if (header_name_equals(name, keep)) return true;
  return name.size() > 5 && header_name_equals(name.substr(0, 5), "List-");
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// A field value with its folds kept, each line end made CRLF (a bare LF may have arrived).
std::string folded_crlf(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\r') continue;
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// An unstructured value (RFC 5322 §3.2.5) fit for the header: as it is when it is ASCII,
// else RFC 2047 encoded-words (UTF-8, "B"), each at most 75 characters, folded between words.
std::string header_text(std::string_view text) {
  if (is_ascii(text)) return std::string(text);
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    // 45 octets make 60 base64 characters: with "=?UTF-8?B?" and "?=" that is 72.
    std::size_t n = std::min<std::size_t>(45, text.size() - pos);
    // Never split a UTF-8 sequence: back up to the start of the character.
    while (pos + n < text.size() && n > 1 &&
           (static_cast<unsigned char>(text[pos + n]) & 0xC0) == 0x80)
      --n;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + sasl::base64_encode(text.substr(pos, n)) + "?=";
    pos += n;
  }
  return out;
}

// The first <msg-id> of a value (RFC 5322 §3.6.4), angle brackets included; "" if none.
std::string first_msg_id(std::string_view value) {
  auto open = value.find('<');
  if (open == std::string_view::npos) return {};
  auto close = value.find('>', open);
  if (close == std::string_view::npos || close - open > 900) return {};
  return std::string(value.substr(open, close - open + 1));
}

std::vector<std::string> msg_ids(std::string_view value) {
  std::vector<std::string> out;
  while (true) {
    auto id = first_msg_id(value);
    if (id.empty()) return out;
    value.remove_prefix(value.find(id) + id.size());
    out.push_back(std::move(id));
  }
}

}  // namespace

std::string_view to_string(VacationReason reason) {
  switch (reason) {
    case VacationReason::reply:
      return "reply";
    case VacationReason::null_sender:
      return "null sender";
    case VacationReason::system_sender:
      return "system sender";
    case VacationReason::own_address:
      return "own address";
    case VacationReason::auto_submitted:
      return "auto-submitted";
    case VacationReason::list_mail:
      return "list mail";
    case VacationReason::bulk:
      return "bulk precedence";
    case VacationReason::spam:
      return "spam";
    case VacationReason::inactive:
      return "not active now";
    case VacationReason::not_addressed:
      return "not in To or Cc";
    case VacationReason::replied_recently:
      return "replied recently";
  }
  return "reply";
}

std::vector<std::string> addresses_in(std::string_view value) {
  std::vector<std::string> out;
  std::string token;
  auto flush = [&] {
    if (token.find('@') != std::string::npos) out.push_back(to_lower_ascii(token));
    token.clear();
  };
  int comment = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
      continue;
    }
    if (comment > 0) {
      if (c == '\\')
        ++i;
      else if (c == '(')
        ++comment;
      else if (c == ')')
        --comment;
      continue;
    }
    switch (c) {
      case '"':
        flush();
        quoted = true;
        break;
      case '(':
        flush();
        comment = 1;
        break;
      case ',':
      case '<':
      case '>':
      case ':':
      case ';':
      case ' ':
      case '\t':
      case '\r':
      case '\n':
        flush();
        break;
      default:
        token += c;
    }
  }
  flush();
  return out;
}

std::optional<VacationReason> excluded_message(const HeaderSection& headers,
                                               const VacationEnvelope& envelope) {
  if (!envelope.reverse_path || envelope.reverse_path->local.empty())
    return VacationReason::null_sender;
  if (is_system_sender(*envelope.reverse_path)) return VacationReason::system_sender;
  if (is_auto_submitted(headers)) return VacationReason::auto_submitted;
  if (is_list_mail(headers)) return VacationReason::list_mail;
  if (is_bulk(headers)) return VacationReason::bulk;
  if (is_spam(headers)) return VacationReason::spam;
  return std::nullopt;
}

VacationDecision should_reply(const HeaderSection& headers, const VacationEnvelope& envelope,
                              const store::Vacation& settings,
                              const std::vector<std::string>& own_addresses,
                              std::optional<std::int64_t> last_reply, std::int64_t now) {
  VacationDecision d;
  if (auto excluded = excluded_message(headers, envelope)) {
    d.reason = *excluded;
    return d;
  }
  std::string sender = envelope.reverse_path->str();
  if (std::find(own_addresses.begin(), own_addresses.end(), sender) != own_addresses.end()) {
    d.reason = VacationReason::own_address;
    return d;
  }
  if ((settings.starts_at && now < *settings.starts_at) ||
      (settings.ends_at && now >= *settings.ends_at)) {
    d.reason = VacationReason::inactive;
    return d;
  }
  for (std::string_view name : {"To", "Cc"}) {
    for (std::size_t i = 1; const auto* f = headers.find(name, i); ++i) {
      for (const auto& a : addresses_in(f->value)) {
        if (std::find(own_addresses.begin(), own_addresses.end(), a) != own_addresses.end()) {
          d.addressed_as = a;
          break;
        }
      }
      if (!d.addressed_as.empty()) break;
    }
    if (!d.addressed_as.empty()) break;
  }
  if (d.addressed_as.empty()) {
    d.reason = VacationReason::not_addressed;
    return d;
  }
  if (last_reply && now - *last_reply < settings.interval_days * kDay) {
    d.reason = VacationReason::replied_recently;
    return d;
  }
  return d;
}

std::string compose_vacation_reply(const HeaderSection& original, const store::Vacation& settings,
                                   std::string_view from, std::string_view to,
                                   std::string_view hostname, std::int64_t now,
                                   std::string_view token) {
  std::string subject = settings.subject;
  if (subject.empty()) {
    // RFC 3834 §3.1.5: "Auto:" and the original subject, folded as it was (so no line
    // grows past what the original had), unless it must be encoded.
    const auto* s = original.find("Subject");
    std::string text = s ? folded_crlf(trim(s->value)) : "";
    if (text.empty()) text = "(no subject)";
    if (!is_ascii(text)) text = unfolded(text);
    subject = "Auto: " + text;
  }
  std::string m;
  m += "From: <" + std::string(from) + ">\r\n";
  m += "To: <" + std::string(to) + ">\r\n";
  m += "Subject: " + header_text(subject) + "\r\n";
  m += "Date: " + relay::format_rfc5322_date(relay::Clock::from_time_t(now)) + "\r\n";
  m += "Message-ID: <" + std::string(token) + "@" + std::string(hostname) + ">\r\n";
  // RFC 3834 §3.1.5 and RFC 5322 §3.6.4: the original's References (else its one
  // In-Reply-To) and its Message-ID, one per folded line.
  std::string id = first_msg_id(field(original, "Message-ID").value_or(""));
  if (!id.empty()) {
    auto refs = msg_ids(field(original, "References").value_or(""));
    if (refs.empty()) {
      auto parent = msg_ids(field(original, "In-Reply-To").value_or(""));
      if (parent.size() == 1) refs = parent;
    }
    if (refs.size() >= kMaxReferences)
      refs.erase(refs.begin() + 1, refs.end() - static_cast<std::ptrdiff_t>(kMaxReferences - 2));
    refs.push_back(id);
    m += "In-Reply-To: " + id + "\r\n";
    m += "References:";
    for (std::size_t i = 0; i < refs.size(); ++i) m += (i == 0 ? " " : "\r\n ") + refs[i];
    m += "\r\n";
  }
  m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += std::string("Content-Transfer-Encoding: ") + (is_ascii(settings.body) ? "7bit" : "8bit") +
       "\r\n\r\n";
  m += settings.body;
  if (!settings.body.empty() && !settings.body.ends_with("\r\n")) m += "\r\n";
  return m;
}

std::optional<AwayCandidate> away_candidate(const VacationEnvelope& envelope,
                                            const std::vector<std::int64_t>& accounts,
                                            const HeaderSection& headers) {
  if (accounts.empty() || excluded_message(headers, envelope)) return std::nullopt;
  std::string kept;
  for (const auto& f : headers.fields())
    if (relevant(f.name)) kept += f.text();
  return AwayCandidate{envelope, accounts, HeaderSection::parse(kept)};
}

void send_away_replies(Context& context, AwayCandidate candidate) {
  std::string sender = candidate.envelope.reverse_path->str();
  auto shared = std::make_shared<AwayCandidate>(std::move(candidate));
  auto accounts = shared->accounts;
  context.store->vacations_for(
      std::move(accounts), sender,
      [&context, shared, sender](Result<std::vector<store::VacationCandidate>> found) {
        if (!found) {
          log_line("vacation: cannot read the settings: ", found.error().message);
          return;
        }
        auto now = static_cast<std::int64_t>(std::time(nullptr));
        for (const auto& c : *found) {
          auto d = should_reply(shared->headers, shared->envelope, c.vacation, c.own_addresses,
                                c.last_reply, now);
          if (!d.reply()) {
            log_line("vacation: ", c.vacation.address, " no reply to ", sender, ": ",
                     to_string(d.reason));
            continue;
          }
          store::VacationReply reply;
          reply.account = c.vacation.account;
          reply.to = sender;
          reply.interval_seconds = c.vacation.interval_days * kDay;
          reply.message =
              compose_vacation_reply(shared->headers, c.vacation, d.addressed_as, sender,
                                     context.config->hostname, now, store::random_token(12));
          store::DomainTest is_local = [config = context.config](std::string_view domain) {
            return config->is_local_domain(domain);
          };
          context.store->send_vacation_reply(
              std::move(reply), std::move(is_local),
              [&context, address = c.vacation.address, sender](Result<store::VacationOutcome> r) {
                if (!r) {
                  log_line("vacation: ", address, " reply to ", sender,
                           " not stored: ", r.error().message);
                  return;
                }
                log_line("vacation: ", address, " reply to ", sender, " ", to_string(r->sent),
                         r->queue_id.empty() ? "" : " queue=" + r->queue_id);
                if (r->sent == store::VacationSent::queued && context.wake_relay)
                  context.wake_relay();
              });
        }
      });
}

}  // namespace postroom::service
