// Where direct delivery's TLS policies come from: MTA-STS (DNS TXT, then HTTPS with libcurl,
// cached) and DANE TLSA records validated by libunbound. Blocking calls run in small pools.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "postroom/config/config.hpp"
#include "postroom/net/blocking_pool.hpp"
#include "postroom/net/resolver.hpp"
#include "postroom/relay/attempt.hpp"

namespace postroom::service {

class TlsPolicySource {
 public:
  // `resolver` answers the _mta-sts TXT queries; `dns_servers` (relay.dns_servers) are the
  // validator's forwarders when tls_policy.dnssec_servers is empty.
  TlsPolicySource(uv_loop_t* loop, const config::TlsPolicy& config,
                  const std::vector<Endpoint>& dns_servers,
                  std::shared_ptr<net::Resolver> resolver);
  ~TlsPolicySource();
  TlsPolicySource(const TlsPolicySource&) = delete;
  TlsPolicySource& operator=(const TlsPolicySource&) = delete;

  bool mta_sts_enabled() const { return config_.mta_sts; }
  bool dane_enabled() const { return config_.dane; }

  // RFC 8461 §3, §5: the domain's policy (from the cache while its id is unchanged and its
  // max_age has not run out), or none. Runs `done` on the loop, never from inside this call.
  void mta_sts(const std::string& domain, std::function<void(relay::MtaStsLookup)> done);
  // RFC 7672 §2.2: the TLSA records at _PORT._tcp.HOST, DNSSEC-validated.
  void tlsa(const std::string& host, std::uint16_t port,
            std::function<void(relay::TlsaLookup)> done);

 private:
  struct Cached {
    relay::MtaStsPolicy policy;
    std::int64_t expires = 0;  // unix seconds
  };
  struct Validator;  // the libunbound context (tls_policy_source.cpp)

  void fetch(const std::string& domain, const std::string& id,
             std::function<void(relay::MtaStsLookup)> done);

  uv_loop_t* loop_;
  config::TlsPolicy config_;
  std::shared_ptr<net::Resolver> resolver_;
  net::BlockingPool fetch_pool_;
  net::BlockingPool dane_pool_;
  std::shared_ptr<Validator> validator_;
  std::string validator_error_;  // why DANE cannot work (then every TLSA lookup fails)
  std::map<std::string, Cached> cache_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace postroom::service
