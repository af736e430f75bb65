// MTA-STS policy fetch and cache (libcurl) and DANE TLSA lookups (libunbound) for direct
// delivery, each blocking call on its own small pool.
#include "tls_policy_source.hpp"

#include <unbound.h>

#include <ctime>
#include <mutex>

#include "https_exchange.hpp"
#include "postroom/base/log.hpp"
#include "postroom/net/handles.hpp"

namespace postroom::service {

namespace {

// RFC 8461 §3.3 asks senders to bound the fetch; a policy host slower than this is down.
constexpr long kFetchTimeoutSeconds = 20;
constexpr std::size_t kFetchThreads = 2;
constexpr std::size_t kDaneThreads = 2;
// Lookups waiting for a thread; beyond this the attempt is told "no policy" (MTA-STS) or
// "lookup failed" (DANE, so the host waits for a later attempt).
constexpr std::size_t kMaxQueued = 256;

std::int64_t now_seconds() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

void after_on_loop(uv_loop_t* loop, std::function<void()> callback) {
  net::queue_work(
      loop, [] {}, std::move(callback));
}

struct FetchResult {
  bool ok = false;
  std::string body;
  std::string error;
};

FetchResult fetch_policy(const std::string& domain, const config::TlsPolicy& config) {
  FetchResult result;
  HttpsRequest request;
  request.url = "https://mta-sts." + domain + "/.well-known/mta-sts.txt";
  // RFC 8461 §3.3: no redirects (https_exchange follows none); the certificate must be valid
  // for mta-sts.DOMAIN; more than 64 KiB is not a policy.
  request.max_body = relay::kMtaStsMaxPolicySize;
  request.timeout_seconds = kFetchTimeoutSeconds;
  request.ca_file = config.ca_file;
  request.resolve = config.mta_sts_resolve;
  auto answer = https_exchange(request);
  std::string_view type = answer.header("content-type");
  if (!answer.error.empty()) {
    result.error = "fetching " + answer.error;
  } else if (answer.status != 200) {
    // RFC 8461 §3.3: only a 200 answer is a policy.
    result.error = "fetching " + request.url + " answered HTTP " + std::to_string(answer.status);
  } else if (type.substr(0, 10) != "text/plain") {
    result.error = "fetching " + request.url + " answered " +
                   (type.empty() ? std::string("no Content-Type") : std::string(type)) +
                   ", not text/plain";
  } else {
    result.ok = true;
    result.body = std::move(answer.body);
  }
  return result;
}

}  // namespace

struct TlsPolicySource::Validator {
  ub_ctx* ctx = nullptr;
  ~Validator() {
    if (ctx) ub_ctx_delete(ctx);
  }
};

TlsPolicySource::TlsPolicySource(uv_loop_t* loop, const config::TlsPolicy& config,
                                 const std::vector<Endpoint>& dns_servers,
                                 std::shared_ptr<net::Resolver> resolver)
    : loop_(loop),
      config_(config),
      resolver_(std::move(resolver)),
      fetch_pool_(loop, kFetchThreads, kMaxQueued),
      dane_pool_(loop, kDaneThreads, kMaxQueued) {
  if (!config_.dane) return;
  auto validator = std::make_shared<Validator>();
  validator->ctx = ub_ctx_create();
  if (!validator->ctx) {
    validator_error_ = "cannot create the DNSSEC validator";
  } else if (int rc = ub_ctx_add_ta_file(validator->ctx, config_.trust_anchor.c_str()); rc != 0) {
    validator_error_ =
        "DNSSEC trust anchor " + config_.trust_anchor.string() + ": " + ub_strerror(rc);
  } else {
    const auto& servers = config_.dnssec_servers.empty() ? dns_servers : config_.dnssec_servers;
    // A forwarder on loopback (a local caching resolver) is the usual case; libunbound
    // refuses to query 127/8 unless told.
    if (!servers.empty()) ub_ctx_set_option(validator->ctx, "do-not-query-localhost:", "no");
    for (const Endpoint& server : servers) {
      // libunbound's forwarder syntax is ADDRESS@PORT.
      std::string fwd = server.host + "@" + std::to_string(server.port);
      if (int rc = ub_ctx_set_fwd(validator->ctx, fwd.c_str()); rc != 0)
        validator_error_ = "DNSSEC forwarder " + fwd + ": " + ub_strerror(rc);
    }
  }
  if (!validator_error_.empty())
    log_line("relay: DANE lookups will fail (hosts with TLSA wait): ", validator_error_);
  else
    validator_ = std::move(validator);
}

TlsPolicySource::~TlsPolicySource() = default;

void TlsPolicySource::mta_sts(const std::string& domain,
                              std::function<void(relay::MtaStsLookup)> done) {
  std::weak_ptr<bool> alive = alive_;
  resolver_->query_txt("_mta-sts." + domain, [this, alive, domain,
                                              done = std::move(done)](net::TxtResult txt) {
    if (alive.expired()) return;
    auto id =
        txt.status == net::DnsStatus::ok ? relay::parse_mta_sts_txt(txt.records) : std::nullopt;
    auto cached = cache_.find(domain);
    bool fresh = cached != cache_.end() && cached->second.expires > now_seconds();
    if (!id) {
      // RFC 8461 §5.1: a cached, unexpired policy stays in force while the record is gone
      // (an attacker can suppress DNS answers more easily than an HTTPS fetch).
      if (fresh) return done({cached->second.policy, "cached; no TXT record now"});
      std::string note = txt.status == net::DnsStatus::temporary ? "TXT lookup failed: " + txt.error
                                                                 : std::string();
      return done({std::nullopt, note});
    }
    if (fresh && cached->second.policy.id == *id) return done({cached->second.policy, "cached"});
    fetch(domain, *id, std::move(done));
  });
}

void TlsPolicySource::fetch(const std::string& domain, const std::string& id,
                            std::function<void(relay::MtaStsLookup)> done) {
  auto result = std::make_shared<FetchResult>();
  auto config = config_;
  std::weak_ptr<bool> alive = alive_;
  auto finished = [this, alive, domain, id, result, done] {
    if (alive.expired()) return;
    auto cached = cache_.find(domain);
    bool fresh = cached != cache_.end() && cached->second.expires > now_seconds();
    if (!result->ok) {
      if (fresh) return done({cached->second.policy, "cached; " + result->error});
      return done({std::nullopt, result->error});
    }
    auto policy = relay::parse_mta_sts_policy(result->body);
    if (!policy) {
      if (fresh)
        return done({cached->second.policy, "cached; new policy: " + policy.error().message});
      return done({std::nullopt, "policy of " + domain + ": " + policy.error().message});
    }
    policy->id = id;
    cache_[domain] = Cached{*policy, now_seconds() + policy->max_age};
    done({*policy, "fetched"});
  };
  bool queued = fetch_pool_.submit(
      [result, domain, config] { *result = fetch_policy(domain, config); }, finished);
  if (!queued) {
    result->error = "too many MTA-STS fetches waiting";
    after_on_loop(loop_, finished);
  }
}

void TlsPolicySource::tlsa(const std::string& host, std::uint16_t port,
                           std::function<void(relay::TlsaLookup)> done) {
  auto lookup = std::make_shared<relay::TlsaLookup>();
  std::weak_ptr<bool> alive = alive_;
  auto finished = [alive, lookup, done] {
    if (!alive.expired()) done(*lookup);
  };
  if (!validator_) {
    lookup->failed = true;
    lookup->error = validator_error_.empty() ? "DANE is off" : validator_error_;
    return after_on_loop(loop_, finished);
  }
  std::string name = "_" + std::to_string(port) + "._tcp." + host;
  auto validator = validator_;
  bool queued = dane_pool_.submit(
      [validator, name, lookup] {
        ub_result* result = nullptr;
        constexpr int kTlsa = 52, kIn = 1;
        int rc = ub_resolve(validator->ctx, name.c_str(), kTlsa, kIn, &result);
        if (rc != 0) {
          lookup->failed = true;
          lookup->error = ub_strerror(rc);
          return;
        }
        if (result->bogus) {
          lookup->failed = true;
          lookup->error = std::string("DNSSEC validation failed") +
                          (result->why_bogus ? std::string(": ") + result->why_bogus : "");
        } else if (result->rcode != 0 && result->rcode != 3) {
          // SERVFAIL and friends: not known to be insecure, so not safe to ignore.
          lookup->failed = true;
          lookup->error = "TLSA lookup answered rcode " + std::to_string(result->rcode);
        } else {
          lookup->secure = result->secure != 0;
          for (int i = 0; result->havedata && result->data[i]; ++i) {
            int len = result->len[i];
            if (len < 4) continue;
            const auto* d = reinterpret_cast<const unsigned char*>(result->data[i]);
            lookup->records.push_back(
                {d[0], d[1], d[2],
                 std::string(result->data[i] + 3, static_cast<std::size_t>(len - 3))});
          }
        }
        ub_resolve_free(result);
      },
      finished);
  if (!queued) {
    lookup->failed = true;
    lookup->error = "too many TLSA lookups waiting";
    after_on_loop(loop_, finished);
  }
}

}  // namespace postroom::service
