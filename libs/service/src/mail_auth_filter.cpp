// Drives the sans-I/O checks of libs/mailauth for one message: SPF starts when the filter is
// made (the envelope is all it needs), DKIM keys and DMARC records are fetched as soon as
// the header section is known, the body feeds the DKIM body hashes as it streams, and
// finish() waits for whatever is still out. Every lookup shares one per-message budget;
// what has not answered when it runs out counts as a DNS failure (temperror).
#include "postroom/service/mail_auth_filter.hpp"

#include <ctime>
#include <map>
#include <random>
#include <set>

#include "postroom/base/endpoint.hpp"
#include "postroom/base/log.hpp"
#include "postroom/mailauth/public_suffix.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/net/resolver.hpp"
#include "postroom/service/greylisting.hpp"
#include "postroom/service/mail_auth_verdict.hpp"

namespace postroom::service {

namespace {

using mailauth::DnsAnswer;
using mailauth::DnsStatus;
using mailauth::DnsType;

DnsStatus status_of(net::DnsStatus s) {
  switch (s) {
    case net::DnsStatus::ok:
      return DnsStatus::ok;
    case net::DnsStatus::no_data:
      return DnsStatus::no_data;
    case net::DnsStatus::not_found:
      return DnsStatus::not_found;
    case net::DnsStatus::temporary:
      return DnsStatus::temporary;
  }
  return DnsStatus::temporary;
}

// The HELO name is an SPF identity only when it is a domain name (RFC 7208 §2.3), not an
// address literal or a bare word.
bool helo_is_domain(const std::string& helo) {
  return !helo.empty() && helo.front() != '[' && helo.find('.') != std::string::npos &&
         helo.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ==
             std::string::npos;
}

int pct_sample() {
  thread_local std::mt19937 random{std::random_device{}()};
  return std::uniform_int_distribution<int>(0, 99)(random);
}

// The Public Suffix List, read once per path (it is some 10,000 rules).
struct SuffixLists {
  std::map<std::string, std::shared_ptr<const mailauth::PublicSuffixList>> loaded;

  std::shared_ptr<const mailauth::PublicSuffixList> get(const std::string& path) {
    auto it = loaded.find(path);
    if (it != loaded.end()) return it->second;
    auto list = mailauth::PublicSuffixList::load(path);
    std::shared_ptr<const mailauth::PublicSuffixList> shared;
    if (list) {
      shared = std::make_shared<const mailauth::PublicSuffixList>(std::move(*list));
    } else {
      // Without the list every domain is its own organizational domain: relaxed alignment
      // then works like strict, which refuses nothing that strict would pass.
      log_line("mail_auth: ", list.error().message, "; DMARC alignment falls back to strict");
      shared = std::make_shared<const mailauth::PublicSuffixList>();
    }
    loaded.emplace(path, shared);
    return shared;
  }
};

class MailAuthFilter final : public MessageFilter {
 public:
  MailAuthFilter(Context& context, std::shared_ptr<const config::Config> config,
                 const FilterEnvelope& envelope,
                 std::shared_ptr<const mailauth::PublicSuffixList> psl)
      : context_(context),
        config_(std::move(config)),
        settings_(config_->mail_auth),
        psl_(std::move(psl)),
        budget_(context.loop) {
    results_.authserv_id = config_->hostname;
    results_.helo = envelope.helo;
    peer_ip_ = envelope.peer_ip;
    sender_ = envelope.reverse_path;
    greylist_unless_aligned_ = envelope.greylist_unless_aligned;
    if (envelope.reverse_path) results_.mail_from = envelope.reverse_path->str();
    run_spf_ = settings_.spf != config::CheckMode::off || settings_.dmarc != config::CheckMode::off;
    run_dkim_ =
        settings_.dkim != config::CheckMode::off || settings_.dmarc != config::CheckMode::off;
    results_.dmarc_checked = settings_.dmarc != config::CheckMode::off;
    if (run_spf_) {
      spf_request_ = results_.mail_from.empty()
                         ? mailauth::spf_helo_request(envelope.peer_ip, envelope.helo)
                         : mailauth::spf_mail_from_request(envelope.peer_ip, results_.mail_from,
                                                           envelope.helo);
      spf_request_.receiver = config_->hostname;
      spf_request_.now = std::time(nullptr);
      spf_request_.default_explanation = "SPF does not allow this sender";
      if (results_.mail_from.empty() && !helo_is_domain(envelope.helo)) {
        // No identity to check: the null reverse-path from a client without a HELO domain.
        results_.spf = mailauth::SpfOutcome{mailauth::SpfResult::none, "", "", "no identity"};
      }
      if (!results_.mail_from.empty() && helo_is_domain(envelope.helo))
        helo_request_ = mailauth::spf_helo_request(envelope.peer_ip, envelope.helo);
    }
    auto ms = static_cast<std::uint64_t>(settings_.dns_timeout.count()) * 1000;
    std::weak_ptr<bool> alive = alive_;
    budget_.start(ms, [this, alive] {
      if (alive.expired()) return;
      expire();
    });
    pump();
  }

  void headers_complete(const HeaderSection& headers) override {
    if (run_dkim_) dkim_ = std::make_unique<mailauth::DkimVerifier>(headers, std::time(nullptr));
    if (results_.dmarc_checked) results_.author_domain = mailauth::author_domain(headers);
    prefetch();
    pump();
  }

  void body(std::string_view bytes) override {
    if (dkim_) dkim_->body(bytes);
  }

  void finish(HeaderSection& headers, std::function<void(FilterVerdict)> done) override {
    if (run_dkim_ && !dkim_) headers_complete(headers);  // the message ended in its headers
    headers_ = &headers;
    done_ = std::move(done);
    finished_ = true;
    if (dkim_) dkim_->end_body();
    pump();
  }

 private:
  // Asks for what will surely be needed, so it travels while the body arrives: the DKIM
  // keys, and the DMARC records of the From domain and its organizational domain.
  void prefetch() {
    if (dkim_) {
      for (const std::string& name : dkim_->key_names()) (void)cache_.lookup(DnsType::txt, name);
    }
    if (results_.dmarc_checked && results_.author_domain) {
      const std::string& from = *results_.author_domain;
      (void)cache_.lookup(DnsType::txt, "_dmarc." + from);
      std::string org = psl_->organizational_domain(from);
      if (org != from) (void)cache_.lookup(DnsType::txt, "_dmarc." + org);
    }
  }

  // Runs every evaluation that can make progress, sends the lookups they name, and ends the
  // filter once everything is known.
  void pump() {
    if (pumping_) return;
    pumping_ = true;
    for (;;) {
      if (run_spf_ && !results_.spf) results_.spf = mailauth::spf_check(spf_request_, cache_);
      if (helo_request_ && !results_.spf_helo)
        results_.spf_helo = mailauth::spf_check(*helo_request_, cache_);
      if (finished_ && dkim_ && !results_.dkim) results_.dkim = dkim_->verify(cache_);
      if (finished_ && results_.dmarc_checked && !results_.dmarc && results_.author_domain &&
          results_.spf && results_.dkim) {
        mailauth::DmarcInput input;
        input.from_domain = *results_.author_domain;
        input.spf = results_.spf->result;
        input.spf_domain = results_.spf->domain;
        input.dkim = *results_.dkim;
        input.pct_sample = pct_sample();
        results_.dmarc = mailauth::dmarc_check(input, *psl_, cache_);
      }
      bool answered_now = false;
      for (auto& [type, name] : cache_.take_missing()) {
        if (expired_ || !context_.resolver) {
          cache_.put(type, name, DnsAnswer{DnsStatus::temporary, {}});
          answered_now = true;
        } else {
          send(type, name);
        }
      }
      if (!answered_now) break;
    }
    pumping_ = false;
    if (finished_ && done_ && complete_enough()) complete();
  }

  bool complete_enough() const {
    if (run_spf_ && !results_.spf) return false;
    if (helo_request_ && !results_.spf_helo) return false;
    if (dkim_ && !results_.dkim) return false;
    if (results_.dmarc_checked && results_.author_domain && !results_.dmarc) return false;
    return true;
  }

  void send(DnsType type, const std::string& name) {
    auto key = std::make_pair(type, name);
    if (!in_flight_.insert(key).second) return;
    std::weak_ptr<bool> alive = alive_;
    auto deliver = [this, alive, key](DnsAnswer answer) {
      if (alive.expired()) return;
      if (in_flight_.erase(key) == 0) return;  // the budget ran out first
      cache_.put(key.first, key.second, std::move(answer));
      pump();
    };
    net::Resolver& resolver = *context_.resolver;
    auto addresses = [deliver](net::AddressResult r) {
      DnsAnswer a{status_of(r.status), {}};
      for (const auto& s : r.addresses)
        a.records.push_back(format_ip(reinterpret_cast<const sockaddr*>(&s)));
      deliver(std::move(a));
    };
    switch (type) {
      case DnsType::txt:
        resolver.query_txt(name, [deliver](net::TxtResult r) {
          deliver(DnsAnswer{status_of(r.status), std::move(r.records)});
        });
        break;
      case DnsType::mx:
        resolver.query_mx(name, [deliver](net::MxResult r) {
          DnsAnswer a{status_of(r.status), {}};
          for (auto& mx : r.records)
            if (!mx.host.empty()) a.records.push_back(std::move(mx.host));
          deliver(std::move(a));
        });
        break;
      case DnsType::a:
        resolver.query_address_records(name, AF_INET, addresses);
        break;
      case DnsType::aaaa:
        resolver.query_address_records(name, AF_INET6, addresses);
        break;
      case DnsType::ptr:
        resolver.query_ptr(name, [deliver](net::NameResult r) {
          deliver(DnsAnswer{status_of(r.status), std::move(r.names)});
        });
        break;
    }
  }

  // The budget is spent: whatever is still out fails as a DNS error would.
  void expire() {
    expired_ = true;
    for (const auto& [type, name] : in_flight_)
      cache_.put(type, name, DnsAnswer{DnsStatus::temporary, {}});
    in_flight_.clear();
    pump();
  }

  void complete() {
    budget_.stop();
    MailAuthDecision decision = decide_mail_auth(results_, settings_);
    std::size_t removed =
        apply_mail_auth(decision, config_->hostname, settings_.subject_tag, *headers_);
    if (removed > 0) decision.verdict.log += " removed_forged_ar=" + std::to_string(removed);
    if (decision.verdict.action == FilterVerdict::Action::accept &&
        !greylist_unless_aligned_.empty()) {
      if (sender_aligned()) {
        decision.verdict.log += " greylist=aligned";
      } else {
        verdict_ = std::move(decision.verdict);
        return greylist_next(0, true);
      }
    }
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(decision.verdict));  // may destroy this filter: nothing after it
  }

  // An allow-listed sender proved: SPF passed for its domain, or a DKIM signature of its
  // organizational domain verified (DMARC's relaxed alignment, RFC 7489 §3.1).
  bool sender_aligned() const {
    if (!sender_) return false;
    if (results_.spf && results_.spf->result == mailauth::SpfResult::pass &&
        !results_.mail_from.empty())
      return true;
    if (!results_.dkim) return false;
    std::string org = psl_->organizational_domain(sender_->domain);
    for (const auto& d : *results_.dkim)
      if (d.result == mailauth::DkimResult::pass && psl_->organizational_domain(d.domain) == org)
        return true;
    return false;
  }

  // The allow-listed sender did not prove itself: its recipients are greylisted like anyone's,
  // one triplet after the other; any deferred one defers the message.
  void greylist_next(std::size_t index, bool all_passed) {
    if (index == greylist_unless_aligned_.size()) {
      if (all_passed) {
        verdict_.log += " greylist=pass";
      } else {
        verdict_.action = FilterVerdict::Action::tempfail;
        verdict_.code = 451;
        verdict_.enhanced = "4.7.1";
        verdict_.text = "Greylisted, please try again later";
        verdict_.log += " greylist=defer";
      }
      auto done = std::move(done_);
      done_ = nullptr;
      return done(std::move(verdict_));  // may destroy this filter: nothing after it
    }
    std::weak_ptr<bool> alive = alive_;
    greylist_triplet(context_, peer_ip_, sender_, greylist_unless_aligned_[index],
                     [this, alive, index, all_passed](bool pass) {
                       if (alive.expired()) return;  // the client went away meanwhile
                       greylist_next(index + 1, all_passed && pass);
                     });
  }

  Context& context_;
  std::shared_ptr<const config::Config> config_;
  config::MailAuth settings_;
  std::shared_ptr<const mailauth::PublicSuffixList> psl_;
  net::Timer budget_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  mailauth::DnsCache cache_;
  std::set<std::pair<DnsType, std::string>> in_flight_;
  bool run_spf_ = false;
  bool run_dkim_ = false;
  mailauth::SpfRequest spf_request_;
  std::optional<mailauth::SpfRequest> helo_request_;
  std::unique_ptr<mailauth::DkimVerifier> dkim_;
  MailAuthResults results_;
  std::string peer_ip_;
  std::optional<Address> sender_;
  std::vector<Address> greylist_unless_aligned_;
  FilterVerdict verdict_;  // held while the greylist decides
  HeaderSection* headers_ = nullptr;
  std::function<void(FilterVerdict)> done_;
  bool finished_ = false;
  bool expired_ = false;
  bool pumping_ = false;
};

}  // namespace

FilterFactory mail_auth_filter_factory(Context& context) {
  auto lists = std::make_shared<SuffixLists>();
  return [&context, lists](const FilterEnvelope& envelope) -> std::unique_ptr<MessageFilter> {
    std::shared_ptr<const config::Config> config = context.config;
    if (!config) return nullptr;
    const config::MailAuth& m = config->mail_auth;
    if (m.spf == config::CheckMode::off && m.dkim == config::CheckMode::off &&
        m.dmarc == config::CheckMode::off)
      return nullptr;
    // Only mail from outside: the office's own mail is vouched for by its login or network.
    if (envelope.submission || envelope.authenticated || envelope.trusted) return nullptr;
    auto psl = lists->get(m.public_suffix_list.string());
    return std::make_unique<MailAuthFilter>(context, config, envelope, std::move(psl));
  };
}

}  // namespace postroom::service
