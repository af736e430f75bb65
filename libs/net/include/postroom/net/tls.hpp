// TLS with OpenSSL 3 over memory BIOs: a context (certificates) and a sans-I/O engine.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace postroom::net {

// An SSL_CTX limited to TLS 1.2 and 1.3. Sessions keep their context alive, so a
// reload (SIGHUP) can swap in a new one without touching open connections.
class TlsContext {
 public:
  // Server side: the certificate chain and key must load and match.
  static Result<std::shared_ptr<TlsContext>> server(const std::filesystem::path& cert_chain,
                                                    const std::filesystem::path& key);
  // Client side: verify the peer against `ca_file` (or the system CAs) when `verify`.
  static Result<std::shared_ptr<TlsContext>> client(bool verify,
                                                    const std::optional<std::filesystem::path>& ca_file);
  ~TlsContext();
  SSL_CTX* get() const { return ctx_; }
  bool verifies() const { return verify_; }

 private:
  explicit TlsContext(SSL_CTX* ctx, bool verify) : ctx_(ctx), verify_(verify) {}
  SSL_CTX* ctx_;
  bool verify_ = false;
};

// One TLS connection as bytes in, bytes out: the network layer feeds ciphertext and
// writes whatever take_outgoing() returns.
class TlsEngine {
 public:
  enum class Role { server, client };
  // `peer_name`: the host name to verify and send as SNI (client role).
  TlsEngine(std::shared_ptr<TlsContext> context, Role role, const std::string& peer_name = {});
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;

  // Feeds ciphertext; appends any decrypted plaintext to `plaintext`.
  Result<void> receive(std::string_view ciphertext, std::string& plaintext);
  // Encrypts plaintext (buffered until the handshake completes).
  Result<void> send(std::string_view plaintext);
  // Ciphertext waiting to go to the network.
  std::string take_outgoing();
  bool handshake_done() const { return handshake_done_; }
  // A close_notify alert for a clean shutdown.
  void shutdown();
  std::string description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"

 private:
  Result<void> advance();
  Result<void> flush_pending();

  std::shared_ptr<TlsContext> context_;
  SSL* ssl_ = nullptr;
  BIO* network_in_ = nullptr;   // ciphertext from the peer (owned by ssl_)
  BIO* network_out_ = nullptr;  // ciphertext for the peer (owned by ssl_)
  bool handshake_done_ = false;
  std::string pending_plaintext_;  // written before the handshake finished
};

}  // namespace postroom::net
