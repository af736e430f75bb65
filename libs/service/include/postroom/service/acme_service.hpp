// Keeps an ACME certificate (RFC 8555) for the box's names: obtains one at start when there is
// none, renews it two thirds into its lifetime with backoff after failures, answers the CA's
// challenges through the HTTP listener (http-01) or the HTTPS listener (tls-alpn-01), and puts
// each new certificate in Context::tls, which every TLS listener takes for its next handshake.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "postroom/acme/order.hpp"
#include "postroom/config/config.hpp"
#include "postroom/net/blocking_pool.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/net/tls.hpp"
#include "postroom/system/daemon_status.hpp"

namespace postroom::service {

struct Context;

// The http-01 answers being served: token -> key authorization (RFC 8555 §8.3).
using AcmeHttpAnswers = std::map<std::string, std::string, std::less<>>;

// The files in data_dir/acme: account.key, key.pem and cert.pem (the chain, leaf first).
struct AcmeFiles {
  std::filesystem::path dir;
  std::filesystem::path account_key() const { return dir / "account.key"; }
  std::filesystem::path key() const { return dir / "key.pem"; }
  std::filesystem::path chain() const { return dir / "cert.pem"; }
};

// A TLS context for the listeners before the ACME service runs (Server::bind): the stored
// ACME certificate when there is one, else nullopt.
std::optional<std::shared_ptr<net::TlsContext>> load_acme_context(const AcmeFiles& files);
// A self-signed certificate for `name` so TLS listeners can start before the first
// certificate arrives (clients that verify will refuse it, as they should).
Result<std::shared_ptr<net::TlsContext>> bootstrap_context(const std::string& name);

class AcmeService {
 public:
  AcmeService(uv_loop_t* loop, Context& context);
  ~AcmeService();
  // Looks at the stored certificate and schedules the first attempt.
  void start();
  void stop();
  // The config changed (SIGHUP): new names or CA take effect at the next attempt, which is
  // now when the certificate no longer covers every name.
  void reload();
  // True once an ACME certificate is in use (a reload then keeps it rather than tls.cert).
  bool has_certificate() const { return current_.has_value(); }

 private:
  void schedule();
  void begin();
  void step();
  void finish(std::string chain, std::string key_pem);
  void failed(std::string why);
  void unpublish();
  void publish_status();

  uv_loop_t* loop_;
  Context& context_;
  AcmeFiles files_;
  net::BlockingPool pool_;
  net::Timer timer_;
  std::unique_ptr<acme::Order> order_;
  std::string order_key_pem_;  // the key of the certificate being ordered
  std::vector<std::string> order_names_;
  std::optional<std::filesystem::path> ca_bundle_;  // of the config the order began with
  std::optional<acme::Validity> current_;
  bool current_covers_ = false;
  int failures_ = 0;
  std::int64_t last_failure_ = 0;
  std::int64_t next_attempt_ = 0;
  std::string last_error_;
  bool running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace postroom::service
