// TLS with OpenSSL 3 over memory BIOs: a context (certificates) and a sans-I/O engine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace postroom::net {

// `what` followed by OpenSSL's oldest queued error, and the queue cleared.
std::string openssl_error(std::string_view what);

// Certificates for RFC 8737 tls-alpn-01 validation: while a name is here, a handshake that
// offers ALPN "acme-tls/1" with that name as SNI gets this certificate and the protocol;
// one that offers acme-tls/1 for another name fails. Loop thread only.
class AcmeAlpnCertificates {
 public:
  ~AcmeAlpnCertificates();
  Result<void> add(const std::string& name, std::string_view cert_pem, std::string_view key_pem);
  void clear();
  // For the OpenSSL callbacks: the certificate and key for `name`, or null.
  struct Entry;
  const Entry* find(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, Entry*>> entries_;
};

// An SSL_CTX limited to TLS 1.2 and 1.3. Sessions keep their context alive, so a
// reload (SIGHUP) can swap in a new one without touching open connections.
class TlsContext {
 public:
  // Server side: the certificate chain and key must load and match.
  static Result<std::shared_ptr<TlsContext>> server(const std::filesystem::path& cert_chain,
                                                    const std::filesystem::path& key);
  // Server side from PEM text (an ACME certificate chain and its key).
  static Result<std::shared_ptr<TlsContext>> server_pem(std::string_view cert_chain_pem,
                                                        std::string_view key_pem);
  // Server side: answer tls-alpn-01 validations from `certificates` (RFC 8737).
  void answer_acme_alpn(std::shared_ptr<const AcmeAlpnCertificates> certificates);
  // Client side: verify the peer against `ca_file` (or the system CAs) when `verify`.
  static Result<std::shared_ptr<TlsContext>> client(
      bool verify, const std::optional<std::filesystem::path>& ca_file);
  // Client side for direct delivery: trusts the system CAs and `extra_ca_file`, and can
  // do DANE, but verifies only when a connection asks for it with a PeerCheck.
  static Result<std::shared_ptr<TlsContext>> client_checking(
      const std::optional<std::filesystem::path>& extra_ca_file);
  ~TlsContext();
  SSL_CTX* get() const { return ctx_; }
  bool verifies() const { return verify_; }
  // Server side: when the certificate expires (its notAfter, Unix time); nullopt without one.
  std::optional<std::int64_t> not_after() const;

 private:
  explicit TlsContext(SSL_CTX* ctx, bool verify) : ctx_(ctx), verify_(verify) {}
  SSL_CTX* ctx_;
  bool verify_ = false;
  std::shared_ptr<const AcmeAlpnCertificates> acme_alpn_;
};

// How a client checks the server's certificate on one connection.
struct PeerCheck {
  enum class Kind {
    none,  // verify nothing (opportunistic TLS)
    pkix,  // a chain to a trusted CA, valid for one of `names`
    dane,  // match one of `tlsa` (RFC 7671: DANE-EE ignores names, DANE-TA needs one)
  };
  struct Tlsa {
    std::uint8_t usage = 3, selector = 1, matching = 1;
    std::string data;  // raw octets
  };
  Kind kind = Kind::none;
  bool enforce = false;  // a failed check fails the handshake; else it is only reported
  std::vector<std::string> names;
  std::vector<Tlsa> tlsa;
};

// One TLS connection as bytes in, bytes out: the network layer feeds ciphertext and
// writes whatever take_outgoing() returns.
class TlsEngine {
 public:
  enum class Role { server, client };
  // `peer_name`: the host name to verify and send as SNI (client role).
  TlsEngine(std::shared_ptr<TlsContext> context, Role role, const std::string& peer_name = {});
  // Client role with an explicit check (the context should come from client_checking()).
  TlsEngine(std::shared_ptr<TlsContext> context, const std::string& peer_name,
            const PeerCheck& check);
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
  // After the handshake: empty when the PeerCheck passed (or there was none), else why
  // the certificate did not verify.
  std::string verify_error() const;

 private:
  Result<void> advance();
  Result<void> flush_pending();

  std::shared_ptr<TlsContext> context_;
  SSL* ssl_ = nullptr;
  BIO* network_in_ = nullptr;   // ciphertext from the peer (owned by ssl_)
  BIO* network_out_ = nullptr;  // ciphertext for the peer (owned by ssl_)
  bool handshake_done_ = false;
  std::string pending_plaintext_;  // written before the handshake finished
  bool checked_ = false;           // a PeerCheck other than none applies
  std::string check_setup_error_;  // a check that could not be set up (bad TLSA data)
};

}  // namespace postroom::net
