// DNS blocklist lookups (RFC 5782) for connecting clients, and what their answers mean.
#include "postroom/service/dnsbl.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "postroom/base/log.hpp"
#include "postroom/base/quote.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/net/resolver.hpp"
#include "postroom/service/access_lists.hpp"

namespace postroom::service {

std::optional<std::string> dnsbl_query_name(std::string_view ip, std::string_view zone) {
  std::string text(ip);
  in_addr v4{};
  in6_addr v6{};
  std::string name;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    auto* b = reinterpret_cast<const unsigned char*>(&v4);
    for (int i = 3; i >= 0; --i) name += std::to_string(b[i]) + ".";
  } else if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    // An IPv4-mapped peer of a dual-stack listener is looked up as the IPv4 address.
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      for (int i = 15; i >= 12; --i) name += std::to_string(v6.s6_addr[i]) + ".";
    } else {
      for (int i = 15; i >= 0; --i) {
        name += kHex[v6.s6_addr[i] & 0xf];
        name += '.';
        name += kHex[v6.s6_addr[i] >> 4];
        name += '.';
      }
    }
  } else {
    return std::nullopt;
  }
  return name + std::string(zone);
}

DnsblCode classify_dnsbl_answer(const config::DnsblZone& zone, std::string_view answer) {
  if (!answer.starts_with("127.")) return DnsblCode::ignored;
  if (answer.starts_with("127.255.255.")) return DnsblCode::refused;
  if (zone.codes.empty()) return DnsblCode::listed;
  return std::find(zone.codes.begin(), zone.codes.end(), answer) != zone.codes.end()
             ? DnsblCode::listed
             : DnsblCode::ignored;
}

std::string DnsblResult::log_words(unsigned threshold) const {
  std::string out = listed(threshold) ? "dnsbl=listed(" : "dnsbl=pass(";
  std::string inner;
  for (const auto& l : listings) inner += (inner.empty() ? "" : ",") + l.zone + ":" + l.code;
  for (const auto& n : notes) inner += (inner.empty() ? "" : ",") + n;
  return out + "score=" + std::to_string(score) + (inner.empty() ? "" : " " + inner) + ")";
}

struct DnsblCheck::Private {
  Context& context;
  std::shared_ptr<net::Resolver> resolver;  // kept: a reload may replace the context's
  config::Dnsbl config;
  net::Timer timer;
  std::function<void(const DnsblResult&)> done;
  DnsblResult result;
  std::size_t waiting = 0;
  // The check keeps itself alive until it has answered, so a waiter may hold it weakly.
  std::shared_ptr<DnsblCheck> self;
  Private(Context& c) : context(c), timer(c.loop) {}
};

DnsblCheck::DnsblCheck(Context& context) : p_(std::make_unique<Private>(context)) {}
DnsblCheck::~DnsblCheck() = default;

std::shared_ptr<DnsblCheck> DnsblCheck::start(Context& context, const std::string& ip,
                                              std::function<void(const DnsblResult&)> done) {
  std::shared_ptr<DnsblCheck> check(new DnsblCheck(context));
  check->p_->config = context.config->dnsbl;
  check->p_->resolver = context.resolver;
  check->p_->done = std::move(done);
  check->p_->self = check;
  check->begin(ip);
  return check;
}

void DnsblCheck::begin(const std::string& ip) {
  std::weak_ptr<DnsblCheck> weak = shared_from_this();
  auto& p = *p_;
  if (!p.resolver) {
    p.result.notes.push_back("no-resolver");
    p.timer.start(0, [this] { finish(); });
    return;
  }
  for (const auto& zone : p.config.zones) {
    auto name = dnsbl_query_name(ip, zone.zone);
    if (!name) continue;
    ++p.waiting;
    p.resolver->query_addresses(*name, [weak, zone, name = *name](net::AddressResult answer) {
      auto self = weak.lock();
      if (!self || !self->p_->done) return;
      auto& p = *self->p_;
      if (answer.status == net::DnsStatus::temporary)
        p.result.notes.push_back(zone.zone + "=error");
      std::optional<std::string> code;
      bool refused = false;
      for (const auto& a : answer.addresses) {
        std::string text = format_ip(reinterpret_cast<const sockaddr*>(&a));
        switch (classify_dnsbl_answer(zone, text)) {
          case DnsblCode::listed:
            if (!code) code = text;
            break;
          case DnsblCode::refused:
            refused = true;
            break;
          case DnsblCode::ignored:
            break;
        }
      }
      if (refused && !code) {
        p.result.notes.push_back(zone.zone + "=refused");
        log_line("dnsbl: ", zone.zone, " refused the query (127.255.255.x): not counted as listed");
      }
      if (!code) return self->zone_answered();
      p.result.score += zone.weight;
      p.result.listings.push_back(DnsblListing{zone.zone, *code, "", zone.weight});
      // The list's own words for the refusal (RFC 5782 §2.1): its TXT record.
      std::size_t index = p.result.listings.size() - 1;
      p.resolver->query_txt(name, [weak, index](net::TxtResult txt) {
        auto self = weak.lock();
        if (!self || !self->p_->done) return;
        if (txt.status == net::DnsStatus::ok && !txt.records.empty())
          self->p_->result.listings[index].text = printable(txt.records.front(), 200);
        self->zone_answered();
      });
    });
  }
  if (p.waiting == 0) {
    p.timer.start(0, [this] { finish(); });
    return;
  }
  p.timer.start(static_cast<std::uint64_t>(p.config.timeout.count()) * 1000, [this] {
    p_->result.notes.push_back("timeout");
    finish();
  });
}

void DnsblCheck::cancel() {
  p_->done = nullptr;
  p_->timer.stop();
  auto keep = std::move(p_->self);  // released when this returns
}

void DnsblCheck::zone_answered() {
  if (--p_->waiting == 0) finish();
}

void DnsblCheck::finish() {
  auto keep = std::move(p_->self);  // released when this returns
  p_->timer.stop();
  auto done = std::move(p_->done);
  p_->done = nullptr;
  if (done) done(p_->result);
}

std::shared_ptr<DnsblCheck> dnsbl_gate(Context& context, const std::string& peer_ip, bool mx,
                                       bool trusted,
                                       std::function<void(std::optional<std::string>)> go) {
  const auto& dnsbl = context.config->dnsbl;
  bool allowed = context.access && context.access->snapshot()->network_allowed(peer_ip);
  if (!mx || trusted || allowed || dnsbl.zones.empty() ||
      dnsbl.action != config::Dnsbl::Action::reject) {
    go(std::nullopt);
    return nullptr;
  }
  unsigned threshold = dnsbl.threshold;
  return DnsblCheck::start(context, peer_ip, [go, threshold, peer_ip](const DnsblResult& r) {
    log_line("dnsbl peer=", peer_ip, " ", r.log_words(threshold));
    if (!r.listed(threshold)) return go(std::nullopt);
    const DnsblListing& first = r.listings.front();
    std::string text = first.text.empty()
                           ? "Client host [" + peer_ip + "] blocked using " + first.zone
                           : first.text;
    go("554 5.7.1 " + text + "\r\n");
  });
}

namespace {

// Tags the messages of a listed client; the lookups start with the message and are awaited
// at its end (bounded by dnsbl.timeout).
class DnsblTagFilter : public MessageFilter {
 public:
  DnsblTagFilter(Context& context, const std::string& ip)
      : threshold_(context.config->dnsbl.threshold) {
    check_ = DnsblCheck::start(context, ip, [this](const DnsblResult& r) {
      result_ = r;
      deliver();
    });
  }
  ~DnsblTagFilter() override {
    if (check_) check_->cancel();
  }
  void finish(HeaderSection& headers, std::function<void(FilterVerdict)> done) override {
    headers_ = &headers;
    done_ = std::move(done);
    deliver();
  }

 private:
  void deliver() {
    if (!result_ || !done_) return;
    FilterVerdict verdict;
    verdict.log = result_->log_words(threshold_);
    if (result_->listed(threshold_)) {
      std::string value;
      for (const auto& l : result_->listings)
        value += (value.empty() ? "" : ", ") + l.zone + "=" + l.code;
      headers_->prepend("X-DNSBL", value + "; score=" + std::to_string(result_->score));
    }
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(verdict));
  }

  unsigned threshold_;
  std::shared_ptr<DnsblCheck> check_;
  std::optional<DnsblResult> result_;
  HeaderSection* headers_ = nullptr;
  std::function<void(FilterVerdict)> done_;
};

}  // namespace

FilterFactory dnsbl_tag_filter_factory(Context& context) {
  return [&context](const FilterEnvelope& e) -> std::unique_ptr<MessageFilter> {
    const auto& dnsbl = context.config->dnsbl;
    if (e.submission || e.trusted || e.authenticated || dnsbl.zones.empty() ||
        dnsbl.action != config::Dnsbl::Action::tag || sender_allow_listed(context, e))
      return nullptr;
    return std::make_unique<DnsblTagFilter>(context, e.peer_ip);
  };
}

}  // namespace postroom::service
