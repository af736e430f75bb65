// OpenSSL contexts and the memory-BIO engine the connections use for TLS.
#include "postroom/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
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

struct AcmeAlpnCertificates::Entry {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  ~Entry() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

AcmeAlpnCertificates::~AcmeAlpnCertificates() {
  clear();
}

void AcmeAlpnCertificates::clear() {
  for (auto& [name, entry] : entries_) delete entry;
  entries_.clear();
}

Result<void> AcmeAlpnCertificates::add(const std::string& name, std::string_view cert_pem,
                                       std::string_view key_pem) {
  auto entry = std::make_unique<Entry>();
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  entry->cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  entry->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!entry->cert || !entry->key) return fail(openssl_error("tls-alpn-01 certificate"));
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  entries_.emplace_back(lower, entry.release());
  return {};
}

const AcmeAlpnCertificates::Entry* AcmeAlpnCertificates::find(std::string_view name) const {
  for (const auto& [n, entry] : entries_) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        }))
      return entry;
  }
  return nullptr;
}

namespace {

constexpr std::string_view kAcmeTls = "acme-tls/1";

// True when a ClientHello ALPN list (RFC 7301 §3.1 ProtocolNameList) names acme-tls/1.
bool offers_acme_tls(const unsigned char* data, std::size_t size) {
  if (size < 2) return false;
  std::size_t total = static_cast<std::size_t>(data[0]) << 8 | data[1];
  data += 2;
  size = std::min(size - 2, total);
  while (size > 0) {
    std::size_t n = data[0];
    if (n + 1 > size) return false;
    if (std::string_view(reinterpret_cast<const char*>(data + 1), n) == kAcmeTls) return true;
    data += n + 1;
    size -= n + 1;
  }
  return false;
}

// The host_name of a ClientHello server_name extension (RFC 6066 §3), or empty.
std::string client_hello_sni(SSL* ssl) {
  const unsigned char* p = nullptr;
  std::size_t size = 0;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &size) || size < 5) return {};
  std::size_t list = static_cast<std::size_t>(p[0]) << 8 | p[1];
  if (list + 2 > size || p[2] != TLSEXT_NAMETYPE_host_name) return {};
  std::size_t n = static_cast<std::size_t>(p[3]) << 8 | p[4];
  if (n + 5 > size) return {};
  return std::string(reinterpret_cast<const char*>(p + 5), n);
}

// RFC 8737 §3: a ClientHello offering acme-tls/1 is a validation; it gets the challenge
// certificate for its SNI name, or the handshake fails.
int acme_client_hello(SSL* ssl, int* alert, void* arg) {
  const auto* certs = static_cast<const AcmeAlpnCertificates*>(arg);
  const unsigned char* alpn = nullptr;
  std::size_t size = 0;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &alpn,
                                 &size) ||
      !offers_acme_tls(alpn, size))
    return SSL_CLIENT_HELLO_SUCCESS;
  const auto* entry = certs->find(client_hello_sni(ssl));
  if (!entry || SSL_use_certificate(ssl, entry->cert) != 1 ||
      SSL_use_PrivateKey(ssl, entry->key) != 1) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int acme_alpn_select(SSL*, const unsigned char** out, unsigned char* outlen,
                     const unsigned char* in, unsigned int inlen, void*) {
  // The same list without its two-octet length prefix (OpenSSL hands the bare list here).
  const unsigned char* p = in;
  unsigned int left = inlen;
  while (left > 0) {
    unsigned int n = p[0];
    if (n + 1 > left) break;
    if (std::string_view(reinterpret_cast<const char*>(p + 1), n) == kAcmeTls) {
      *out = p + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    p += n + 1;
    left -= n + 1;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX* new_server_ctx() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Keep the per-connection buffers small: idle TLS sessions should cost little memory.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

}  // namespace

void TlsContext::answer_acme_alpn(std::shared_ptr<const AcmeAlpnCertificates> certificates) {
  acme_alpn_ = std::move(certificates);
  if (!acme_alpn_) return;
  SSL_CTX_set_client_hello_cb(ctx_, acme_client_hello,
                              const_cast<AcmeAlpnCertificates*>(acme_alpn_.get()));
  SSL_CTX_set_alpn_select_cb(ctx_, acme_alpn_select, nullptr);
}

Result<std::shared_ptr<TlsContext>> TlsContext::server_pem(std::string_view cert_chain_pem,
                                                           std::string_view key_pem) {
  SSL_CTX* ctx = new_server_ctx();
  if (!ctx) return fail(openssl_error("TLS"));
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, false));
  BIO* bio = BIO_new_mem_buf(cert_chain_pem.data(), static_cast<int>(cert_chain_pem.size()));
  X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  while (ok) {
    X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (!extra) break;
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      ok = false;
    }
  }
  BIO_free(bio);
  ERR_clear_error();  // the end of the chain reads as a "no start line" error
  if (!ok) return fail(openssl_error("certificate chain is not PEM"));
  bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  if (!ok) return fail(openssl_error("the key does not match the certificate"));
  return context;
}

Result<std::shared_ptr<TlsContext>> TlsContext::server(const std::filesystem::path& cert_chain,
                                                       const std::filesystem::path& key) {
  SSL_CTX* ctx = new_server_ctx();
  if (!ctx) return fail(openssl_error("TLS"));
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, false));
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
