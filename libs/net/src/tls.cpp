// OpenSSL contexts and the memory-BIO engine the connections use for TLS.
#include "postroom/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace postroom::net {

std::string openssl_error(std::string_view what) {
  unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return std::string(what) + ": " + text;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

Result<std::shared_ptr<TlsContext>> TlsContext::server(const std::filesystem::path& cert_chain,
                                                       const std::filesystem::path& key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return fail(openssl_error("TLS"));
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, false));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Keep the per-connection buffers small: idle TLS sessions should cost little memory.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Admins read these at start-up and after SIGHUP: say what the file should have been,
  // with OpenSSL's own words last for whoever has to dig further.
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_chain.c_str()) != 1)
    return fail(openssl_error("tls.cert " + cert_chain.string() +
                              " is not a readable PEM certificate chain"));
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::string error =
        openssl_error("tls.key " + key.string() + " is not a readable PEM private key");
    if (error.find("mismatch") != std::string::npos)
      return fail("tls.key " + key.string() + " does not match the certificate " +
                  cert_chain.string());
    return fail(error);
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    return fail("tls.key " + key.string() + " does not match the certificate " +
                cert_chain.string());
  return context;
}

std::optional<std::int64_t> TlsContext::not_after() const {
  X509* cert = SSL_CTX_get0_certificate(ctx_);
  struct tm when {};
  if (!cert || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &when) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&when));
}

Result<std::shared_ptr<TlsContext>> TlsContext::client(
    bool verify, const std::optional<std::filesystem::path>& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return fail(openssl_error("TLS"));
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, verify));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file->c_str(), nullptr)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) return fail(openssl_error("CA certificates"));
  }
  return context;
}

Result<std::shared_ptr<TlsContext>> TlsContext::client_checking(
    const std::optional<std::filesystem::path>& extra_ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return fail(openssl_error("TLS"));
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, false));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Each connection sets its own verify mode (TlsEngine with a PeerCheck).
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (SSL_CTX_set_default_verify_paths(ctx) != 1) return fail(openssl_error("CA certificates"));
  if (extra_ca_file && SSL_CTX_load_verify_locations(ctx, extra_ca_file->c_str(), nullptr) != 1)
    return fail(openssl_error("CA file " + extra_ca_file->string()));
  if (SSL_CTX_dane_enable(ctx) <= 0) return fail(openssl_error("DANE"));
  return context;
}

TlsEngine::TlsEngine(std::shared_ptr<TlsContext> context, const std::string& peer_name,
                     const PeerCheck& check)
    : TlsEngine(std::move(context), Role::client, peer_name) {
  if (check.kind == PeerCheck::Kind::none) return;
  checked_ = true;
  SSL_set_verify(ssl_, check.enforce ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (check.kind == PeerCheck::Kind::dane) {
    // RFC 7672 §3.2.2: DANE-TA certificates must carry the MX host's name.
    const char* base = check.names.empty() ? nullptr : check.names.front().c_str();
    if (SSL_dane_enable(ssl_, base) <= 0) {
      check_setup_error_ = openssl_error("DANE");
      return;
    }
    // RFC 7672 §3.1.1: a DANE-EE match authenticates the key itself; the certificate's
    // names (and dates) are not checked.
    SSL_dane_set_flags(ssl_, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    int usable = 0;
    for (const auto& t : check.tlsa) {
      const auto* data = reinterpret_cast<const unsigned char*>(t.data.data());
      if (SSL_dane_tlsa_add(ssl_, t.usage, t.selector, t.matching, data, t.data.size()) > 0)
        ++usable;
    }
    ERR_clear_error();
    if (usable == 0) check_setup_error_ = "no usable TLSA record";
    for (std::size_t i = 1; i < check.names.size(); ++i)
      SSL_add1_host(ssl_, check.names[i].c_str());
    return;
  }
  for (std::size_t i = 0; i < check.names.size(); ++i) {
    if (i == 0)
      SSL_set1_host(ssl_, check.names[i].c_str());
    else
      SSL_add1_host(ssl_, check.names[i].c_str());
  }
}

std::string TlsEngine::verify_error() const {
  if (!checked_) return {};
  if (!check_setup_error_.empty()) return check_setup_error_;
  long verify = SSL_get_verify_result(ssl_);
  if (verify == X509_V_OK) return {};
  return X509_verify_cert_error_string(verify);
}

TlsEngine::TlsEngine(std::shared_ptr<TlsContext> context, Role role, const std::string& peer_name)
    : context_(std::move(context)) {
  ssl_ = SSL_new(context_->get());
  network_in_ = BIO_new(BIO_s_mem());
  network_out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_, network_in_, network_out_);
  if (role == Role::server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
    if (!peer_name.empty()) {
      SSL_set_tlsext_host_name(ssl_, peer_name.c_str());
      if (context_->verifies()) SSL_set1_host(ssl_, peer_name.c_str());
    }
  }
}

TlsEngine::~TlsEngine() {
  SSL_free(ssl_);
}

Result<void> TlsEngine::advance() {
  if (!handshake_done_) {
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
      handshake_done_ = true;
      return flush_pending();
    }
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK)
      return fail(std::string("TLS handshake failed: certificate ") +
                  X509_verify_cert_error_string(verify));
    return fail(openssl_error("TLS handshake failed"));
  }
  return {};
}

Result<void> TlsEngine::flush_pending() {
  if (pending_plaintext_.empty()) return {};
  std::string pending;
  pending.swap(pending_plaintext_);
  return send(pending);
}

Result<void> TlsEngine::receive(std::string_view ciphertext, std::string& plaintext) {
  if (!ciphertext.empty())
    BIO_write(network_in_, ciphertext.data(), static_cast<int>(ciphertext.size()));
  if (auto r = advance(); !r) return r;
  if (!handshake_done_) return {};
  char buffer[16384];
  while (true) {
    int n = SSL_read(ssl_, buffer, sizeof buffer);
    if (n > 0) {
      plaintext.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
    if (err == SSL_ERROR_ZERO_RETURN) return fail("TLS closed by peer");
    return fail(openssl_error("TLS read"));
  }
}

Result<void> TlsEngine::send(std::string_view plaintext) {
  if (!handshake_done_) {
    pending_plaintext_.append(plaintext);
    return advance();
  }
  while (!plaintext.empty()) {
    int n = SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size()));
    if (n <= 0) return fail(openssl_error("TLS write"));
    plaintext.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::string TlsEngine::take_outgoing() {
  std::string out;
  char buffer[16384];
  int n;
  while ((n = BIO_read(network_out_, buffer, sizeof buffer)) > 0) out.append(buffer, n);
  return out;
}

void TlsEngine::shutdown() {
  if (handshake_done_) SSL_shutdown(ssl_);
}

std::string TlsEngine::description() const {
  if (!handshake_done_) return "none";
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

}  // namespace postroom::net
