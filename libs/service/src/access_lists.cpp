// Applies the allow and block lists: a snapshot of access_rules, refreshed off the loop.
#include "postroom/service/access_lists.hpp"

#include <sys/socket.h>

#include <arpa/inet.h>

#include "postroom/base/log.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::service {
namespace {

constexpr std::uint64_t kReloadMs = 2000;

std::optional<sockaddr_storage> socket_address(const std::string& ip) {
  sockaddr_storage out{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    return out;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    return out;
  }
  return std::nullopt;
}

// `domain` is `parent` or one of its subdomains.
bool within(std::string_view domain, std::string_view parent) {
  if (domain == parent) return true;
  return domain.size() > parent.size() && domain.ends_with(parent) &&
         domain[domain.size() - parent.size() - 1] == '.';
}

}  // namespace

AccessSnapshot::AccessSnapshot(std::vector<store::AccessRule> rules) {
  for (auto& r : rules) {
    Rule rule{std::move(r), std::nullopt};
    if (rule.rule.kind == store::AccessRule::Kind::network) {
      auto net = Cidr::parse(rule.rule.value);
      if (!net) continue;  // written by `postroom`, which checks it; never expected
      rule.network = *net;
    }
    rules_.push_back(std::move(rule));
  }
}

bool AccessSnapshot::matches(const Rule& r, const sockaddr* peer,
                             const std::optional<Address>& sender) const {
  switch (r.rule.kind) {
    case store::AccessRule::Kind::network:
      return peer && r.network && r.network->contains(peer);
    case store::AccessRule::Kind::address:
      return sender && sender->str() == r.rule.value;
    case store::AccessRule::Kind::domain:
      return sender && within(sender->domain, r.rule.value);
  }
  return false;
}

AccessSnapshot::Verdict AccessSnapshot::decide(const std::string& peer_ip,
                                               const std::optional<Address>& sender,
                                               const Address& recipient) const {
  auto peer = socket_address(peer_ip);
  const sockaddr* p = peer ? reinterpret_cast<const sockaddr*>(&*peer) : nullptr;
  const std::string user = recipient.str();
  for (const std::string& scope : {user, recipient.domain, std::string()}) {
    bool allow = false, block = false;
    for (const Rule& r : rules_) {
      if (r.rule.scope != scope || !matches(r, p, sender)) continue;
      (r.rule.list == store::AccessRule::List::allow ? allow : block) = true;
    }
    if (allow) return Verdict::allow;
    if (block) return Verdict::block;
  }
  return Verdict::none;
}

bool AccessSnapshot::network_allowed(const std::string& peer_ip) const {
  auto peer = socket_address(peer_ip);
  if (!peer) return false;
  for (const Rule& r : rules_) {
    if (r.rule.scope.empty() && r.rule.list == store::AccessRule::List::allow &&
        matches(r, reinterpret_cast<const sockaddr*>(&*peer), std::nullopt))
      return true;
  }
  return false;
}

// The refresh timer and whether a read is in flight; shared with the read so the daemon may
// stop while it runs.
struct AccessLists::Loader {
  bool busy = false;
  std::unique_ptr<net::Timer> timer;
};

AccessLists::AccessLists(Context& context)
    : context_(context),
      snapshot_(std::make_shared<AccessSnapshot>(std::vector<store::AccessRule>{})),
      loader_(std::make_shared<Loader>()) {
  loader_->timer = std::make_unique<net::Timer>(context.loop);
}

AccessLists::~AccessLists() {
  loader_->timer.reset();
}

void AccessLists::start() {
  reload();
}

void AccessLists::stop() {
  loader_->timer.reset();
}

void AccessLists::reload() {
  auto loader = loader_;
  if (loader->busy || !loader->timer || !context_.store) return;
  loader->busy = true;
  std::weak_ptr<Loader> weak = loader;
  context_.store->access_rules([this, weak](Result<std::vector<store::AccessRule>> rules) {
    auto loader = weak.lock();
    if (!loader || !loader->timer) return;  // stopped meanwhile
    loader->busy = false;
    if (rules) {
      snapshot_ = std::make_shared<AccessSnapshot>(std::move(*rules));
    } else {
      log_line("access lists: cannot read them: ", rules.error().message);
    }
    loader->timer->start(kReloadMs, [this] { reload(); });
  });
}

bool sender_allow_listed(const Context& context, const FilterEnvelope& e) {
  if (!context.access) return false;
  auto snapshot = context.access->snapshot();
  if (e.recipients.empty()) return false;
  for (const Address& rcpt : e.recipients)
    if (snapshot->decide(e.peer_ip, e.reverse_path, rcpt) != AccessSnapshot::Verdict::allow)
      return false;
  return true;
}

namespace {

class AccessFilter : public MessageFilter {
 public:
  explicit AccessFilter(FilterVerdict verdict) : verdict_(std::move(verdict)) {}
  void finish(HeaderSection&, std::function<void(FilterVerdict)> done) override { done(verdict_); }

 private:
  FilterVerdict verdict_;
};

}  // namespace

FilterFactory access_filter_factory(Context& context) {
  return [&context](const FilterEnvelope& e) -> std::unique_ptr<MessageFilter> {
    if (!context.access || e.submission || e.authenticated || e.trusted) return nullptr;
    auto snapshot = context.access->snapshot();
    if (snapshot->empty()) return nullptr;
    std::size_t blocked = 0, allowed = 0;
    for (const Address& rcpt : e.recipients) {
      auto v = snapshot->decide(e.peer_ip, e.reverse_path, rcpt);
      blocked += v == AccessSnapshot::Verdict::block;
      allowed += v == AccessSnapshot::Verdict::allow;
    }
    FilterVerdict verdict;
    // Recipients were accepted one by one before this runs, so only a sender every recipient
    // blocks can be refused; a mixed envelope is delivered (and logged).
    if (blocked > 0 && blocked == e.recipients.size()) {
      verdict.action = FilterVerdict::Action::reject;
      verdict.code = 550;
      verdict.enhanced = "5.7.1";
      verdict.text = "Sender or client blocked by the recipient's policy";
      verdict.log = "access=block";
    } else {
      verdict.log = blocked > 0                      ? "access=block-some"
                    : allowed == e.recipients.size() ? "access=allow"
                                                     : "access=none";
    }
    return std::make_unique<AccessFilter>(std::move(verdict));
  };
}

}  // namespace postroom::service
