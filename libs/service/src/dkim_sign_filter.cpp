// The DKIM signing filter: picks the signing domain from From, feeds dkim::Signer as the
// message streams, and prepends the signatures at the end.
#include "postroom/service/dkim_sign_filter.hpp"

#include <algorithm>
#include <ctime>
#include <map>

#include "postroom/base/address.hpp"
#include "postroom/base/log.hpp"

namespace postroom::service {

namespace {

// The domain of the first address in a From field's value (RFC 5322 §3.6.2), lower-case;
// empty when there is none. The angle-addr when there is one ("Name <a@b>"), else the
// addr-spec itself; a comment after it is not part of the domain.
std::string from_domain(std::string_view value) {
  auto open = value.find('<');
  if (open != std::string_view::npos) {
    auto close = value.find('>', open);
    value = value.substr(open + 1, close == std::string_view::npos ? close : close - open - 1);
  }
  auto at = value.find('@');
  if (at == std::string_view::npos) return {};
  std::string domain;
  for (char c : value.substr(at + 1)) {
    if (domain.empty() && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) continue;
    bool label_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.';
    if (!label_char) break;
    domain += c;
  }
  return to_lower_ascii(domain);
}

// The keys that sign at `now`, by domain, the RSA key before the Ed25519 one (RFC 8463 §3
// advises both while verifiers learn Ed25519).
using Signing = std::map<std::string, std::vector<dkim::SigningKey>>;

Signing signing_keys(const DkimKeys& keys, std::int64_t now) {
  std::vector<dkim::KeyInfo> infos;
  for (const auto& k : keys.keys) infos.push_back(k.info);
  auto states = dkim::effective_states(infos, now, keys.activate_after);
  Signing out;
  for (std::size_t i = 0; i < keys.keys.size(); ++i) {
    if (states[i] != dkim::State::active || !keys.parsed[i]) continue;
    const auto& k = keys.keys[i];
    out[k.info.domain].push_back(
        {k.info.domain, k.info.selector, k.info.algorithm, {}, keys.parsed[i]});
  }
  for (auto& [domain, list] : out) {
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.algorithm == dkim::Algorithm::rsa && b.algorithm != dkim::Algorithm::rsa;
    });
  }
  return out;
}

class DkimSignFilter final : public MessageFilter {
 public:
  DkimSignFilter(const FilterEnvelope& envelope, std::shared_ptr<dkim::SignerSettings> settings,
                 std::shared_ptr<const DkimKeys> keys, Signing signing,
                 std::shared_ptr<net::BlockingPool> pool)
      : settings_(std::move(settings)),
        pool_(std::move(pool)),
        keys_(std::move(keys)),
        signing_(std::move(signing)),
        id_(envelope.transaction_id),
        envelope_domain_(envelope.reverse_path ? envelope.reverse_path->domain : "") {}

  void headers_complete(const HeaderSection& headers) override {
    const auto* from = headers.find("From");
    std::string domain = from ? from_domain(from->value) : "";
    auto it = signing_.find(domain);
    if (it == signing_.end()) it = signing_.find(envelope_domain_);
    if (it == signing_.end()) {
      outcome_ = "dkim-sign=none (no signing key for " +
                 (domain.empty() ? std::string("the From domain") : domain) + ")";
      return;
    }
    auto signer = dkim::Signer::start(settings_, it->second, headers, id_);
    if (!signer) {
      outcome_ = "dkim-sign=error (" + signer.error().message + ")";
      return;
    }
    signer_ = std::move(*signer);
    std::string selectors;
    for (const auto& key : it->second) selectors += (selectors.empty() ? "" : ",") + key.selector;
    outcome_ = "dkim-sign=ok d=" + it->first + " s=" + selectors;
  }

  void body(std::string_view bytes) override {
    if (!signer_) return;
    if (auto r = signer_->body(bytes); !r) {
      outcome_ = "dkim-sign=error (" + r.error().message + ")";
      signer_.reset();
    }
  }

  void finish(HeaderSection& headers, std::function<void(FilterVerdict)> done) override {
    if (!signer_) {
      // The message ended before its header section did: nothing to sign it by.
      if (outcome_.empty()) outcome_ = "dkim-sign=none (no header section)";
      return conclude(done);
    }
    // The signatures (an RSA one costs about half a millisecond) are made on the signing
    // thread, so the loop serves other clients meanwhile; here if its queue is full.
    std::shared_ptr<dkim::Signer> signer = std::move(signer_);
    auto values = std::make_shared<Result<std::vector<std::string>>>(fail("not signed"));
    std::weak_ptr<bool> alive = alive_;
    auto apply = [this, alive, values, &headers, done] {
      if (alive.expired()) return;  // the message was abandoned meanwhile
      add_signatures(*values, headers);
      conclude(done);
    };
    if (pool_ && pool_->submit([signer, values] { *values = signer->finish(); }, apply)) return;
    *values = signer->finish();
    apply();
  }

 private:
  void add_signatures(const Result<std::vector<std::string>>& values, HeaderSection& headers) {
    if (!values) {
      outcome_ = "dkim-sign=error (" + values.error().message + ")";
      return;
    }
    // Prepended last first, so they read in key order from the top.
    for (auto v = values->rbegin(); v != values->rend(); ++v) headers.prepend("DKIM-Signature", *v);
  }

  // A message that cannot be signed still goes: unsigned mail may be junked, but refusing
  // the office's own mail for a key problem would be worse. The log says why.
  void conclude(const std::function<void(FilterVerdict)>& done) {
    FilterVerdict verdict;
    verdict.log = outcome_;
    done(std::move(verdict));  // may destroy this filter: nothing after it
  }

  std::shared_ptr<dkim::SignerSettings> settings_;
  std::shared_ptr<net::BlockingPool> pool_;  // the signing thread; null: sign on the loop
  std::shared_ptr<const DkimKeys> keys_;     // keeps the private keys signing_ points into
  Signing signing_;
  std::string id_;
  std::string envelope_domain_;
  std::unique_ptr<dkim::Signer> signer_;
  std::string outcome_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

std::unique_ptr<MessageFilter> make_dkim_sign_filter(const FilterEnvelope& envelope,
                                                     std::shared_ptr<dkim::SignerSettings> settings,
                                                     std::shared_ptr<const DkimKeys> keys,
                                                     std::int64_t now,
                                                     std::shared_ptr<net::BlockingPool> pool) {
  if (envelope.remote_recipients.empty()) return nullptr;
  if (!envelope.authenticated && !envelope.trusted) return nullptr;
  if (!settings || !keys || keys->keys.empty()) return nullptr;
  Signing signing = signing_keys(*keys, now);
  if (signing.empty()) return nullptr;
  return std::make_unique<DkimSignFilter>(envelope, std::move(settings), std::move(keys),
                                          std::move(signing), std::move(pool));
}

DkimSigning::DkimSigning(uv_loop_t* loop, std::filesystem::path dkim_dir)
    : dkim_dir_(std::move(dkim_dir)), shared_(std::make_shared<Shared>()) {
  // One thread: the loop keeps the other core. A burst beyond the queue signs on the loop.
  shared_->pool = std::make_shared<net::BlockingPool>(loop, 1, 256);
}

void DkimSigning::stop() {
  shared_->pool.reset();  // its handle closes while the loop still runs
}

void DkimSigning::load(std::optional<std::int64_t> activate_after) {
  if (!shared_->settings) {
    auto settings = dkim::SignerSettings::create();
    if (!settings) {
      log_line("dkim: signing is off: ", settings.error().message);
      return;
    }
    shared_->settings = std::move(*settings);
  }
  auto read = dkim::read_keys(dkim_dir_, true);
  for (const auto& problem : read.problems) log_line("dkim: key not used: ", problem);
  auto keys = std::make_shared<DkimKeys>();
  keys->keys = std::move(read.keys);
  keys->activate_after = activate_after;
  for (const auto& problem : parse_private_keys(*keys)) log_line("dkim: key not used: ", problem);
  std::vector<dkim::KeyInfo> infos;
  for (const auto& k : keys->keys) infos.push_back(k.info);
  auto states = dkim::effective_states(infos, std::time(nullptr), activate_after);
  for (std::size_t i = 0; i < infos.size(); ++i) {
    log_line("dkim: key domain=", infos[i].domain, " selector=", infos[i].selector,
             " algorithm=", dkim::algorithm_name(infos[i].algorithm),
             " state=", dkim::state_name(states[i]));
  }
  shared_->keys = std::move(keys);
}

std::vector<std::string> parse_private_keys(DkimKeys& keys) {
  std::vector<std::string> problems;
  keys.parsed.clear();
  for (const auto& k : keys.keys) {
    auto parsed = dkim::PrivateKey::parse(k.pem, k.info.algorithm);
    if (!parsed)
      problems.push_back(k.info.domain + "/" + k.info.selector + ": " + parsed.error().message);
    keys.parsed.push_back(parsed ? std::move(*parsed) : nullptr);
  }
  return problems;
}

FilterFactory DkimSigning::factory() {
  return [shared = shared_](const FilterEnvelope& envelope) -> std::unique_ptr<MessageFilter> {
    return make_dkim_sign_filter(envelope, shared->settings, shared->keys,
                                 static_cast<std::int64_t>(std::time(nullptr)), shared->pool);
  };
}

}  // namespace postroom::service
