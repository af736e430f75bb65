#include "postroom/net/tls.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>

#include "test_certificate.hpp"

using namespace postroom::net;
namespace fs = std::filesystem;

namespace {

struct Certs {
  fs::path dir, cert, key;
  Certs() {
    char tmpl[] = "/tmp/postroom-tls-XXXXXX";
    dir = mkdtemp(tmpl);
    cert = dir / "cert.pem";
    key = dir / "key.pem";
    write_test_certificate(cert, key);
  }
  ~Certs() { fs::remove_all(dir); }
};

// Moves ciphertext both ways until neither side has anything to say.
void pump(TlsEngine& a, TlsEngine& b, std::string& a_plain, std::string& b_plain,
          postroom::Result<void>& a_result, postroom::Result<void>& b_result) {
  for (int i = 0; i < 20; ++i) {
    auto to_b = a.take_outgoing();
    auto to_a = b.take_outgoing();
    if (to_a.empty() && to_b.empty()) return;
    if (!to_b.empty() && b_result) b_result = b.receive(to_b, b_plain);
    if (!to_a.empty() && a_result) a_result = a.receive(to_a, a_plain);
  }
}

}  // namespace

TEST_CASE("tls: a server and a client engine complete a handshake and exchange data") {
  Certs certs;
  auto server_ctx = TlsContext::server(certs.cert, certs.key);
  REQUIRE(server_ctx);
  auto client_ctx = TlsContext::client(false, std::nullopt);
  REQUIRE(client_ctx);
  TlsEngine server(*server_ctx, TlsEngine::Role::server);
  TlsEngine client(*client_ctx, TlsEngine::Role::client, "localhost");
  std::string server_plain, client_plain;
  postroom::Result<void> sr{}, cr{};
  REQUIRE(server.send("220 greeting sent before the handshake\r\n"));
  cr = client.receive({}, client_plain);  // ClientHello
  pump(client, server, client_plain, server_plain, cr, sr);
  REQUIRE(sr);
  REQUIRE(cr);
  CHECK(server.handshake_done());
  CHECK(client.handshake_done());
  CHECK(client_plain == "220 greeting sent before the handshake\r\n");
  REQUIRE(client.send("EHLO x\r\n"));
  pump(client, server, client_plain, server_plain, cr, sr);
  CHECK(server_plain == "EHLO x\r\n");
  CHECK(server.description().rfind("TLSv1.", 0) == 0);
}

TEST_CASE("tls: a verifying client refuses a self-signed certificate") {
  Certs certs;
  auto server_ctx = TlsContext::server(certs.cert, certs.key);
  auto client_ctx = TlsContext::client(true, std::nullopt);
  REQUIRE(client_ctx);
  TlsEngine server(*server_ctx, TlsEngine::Role::server);
  TlsEngine client(*client_ctx, TlsEngine::Role::client, "localhost");
  std::string a, b;
  postroom::Result<void> sr{}, cr{};
  cr = client.receive({}, a);
  pump(client, server, a, b, cr, sr);
  REQUIRE_FALSE(cr);
  CHECK(cr.error().message.find("certificate") != std::string::npos);
}

TEST_CASE("tls: the client trusts a certificate named by ca_file") {
  Certs certs;
  auto server_ctx = TlsContext::server(certs.cert, certs.key);
  auto client_ctx = TlsContext::client(true, certs.cert);
  REQUIRE(client_ctx);
  TlsEngine server(*server_ctx, TlsEngine::Role::server);
  TlsEngine client(*client_ctx, TlsEngine::Role::client, "localhost");
  std::string a, b;
  postroom::Result<void> sr{}, cr{};
  cr = client.receive({}, a);
  pump(client, server, a, b, cr, sr);
  CHECK(cr);
  CHECK(client.handshake_done());
}

TEST_CASE("tls: missing, unreadable and mismatched certificate files are clear errors") {
  Certs certs, other;
  auto missing = TlsContext::server(certs.dir / "nope.pem", certs.key);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("tls.cert") != std::string::npos);
  auto mismatched = TlsContext::server(certs.cert, other.key);
  REQUIRE_FALSE(mismatched);
  CHECK(mismatched.error().message.find("does not match") != std::string::npos);
  std::ofstream(certs.dir / "garbage.pem") << "not a key";
  CHECK_FALSE(TlsContext::server(certs.cert, certs.dir / "garbage.pem"));
}

namespace {

// A handshake of a checking client (client_checking with `ca`) against the test certificate.
struct Checked {
  postroom::Result<void> client_result{};
  std::string verify_error;
  bool done = false;
};

Checked checked_handshake(const Certs& certs, const std::optional<fs::path>& ca,
                          const PeerCheck& check) {
  auto server_ctx = TlsContext::server(certs.cert, certs.key);
  auto client_ctx = TlsContext::client_checking(ca);
  REQUIRE(client_ctx);
  TlsEngine server(*server_ctx, TlsEngine::Role::server);
  TlsEngine client(*client_ctx, "localhost", check);
  std::string a, b;
  Checked out;
  postroom::Result<void> sr{};
  out.client_result = client.receive({}, a);
  pump(client, server, a, b, out.client_result, sr);
  out.done = client.handshake_done();
  out.verify_error = client.verify_error();
  return out;
}

std::string spki_sha256(const fs::path& cert_file) {
  FILE* f = fopen(cert_file.c_str(), "r");
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  fclose(f);
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
  unsigned char md[32];
  SHA256(der, static_cast<std::size_t>(len), md);
  OPENSSL_free(der);
  X509_free(x);
  return std::string(reinterpret_cast<char*>(md), 32);
}

}  // namespace

TEST_CASE("tls: a per-connection PKIX check enforces or only reports") {
  Certs certs;
  PeerCheck right{PeerCheck::Kind::pkix, true, {"localhost"}, {}};
  auto ok = checked_handshake(certs, certs.cert, right);
  CHECK(ok.client_result);
  CHECK(ok.done);
  CHECK(ok.verify_error.empty());

  PeerCheck wrong_name{PeerCheck::Kind::pkix, true, {"mx.example.test"}, {}};
  auto refused = checked_handshake(certs, certs.cert, wrong_name);
  REQUIRE_FALSE(refused.client_result);
  CHECK(refused.client_result.error().message.find("hostname mismatch") != std::string::npos);

  wrong_name.enforce = false;
  auto reported = checked_handshake(certs, certs.cert, wrong_name);
  CHECK(reported.client_result);
  CHECK(reported.done);
  CHECK(reported.verify_error == "hostname mismatch");

  // Without the extra CA the self-signed certificate has no trusted chain.
  auto untrusted =
      checked_handshake(certs, std::nullopt, {PeerCheck::Kind::pkix, false, {"localhost"}, {}});
  CHECK(untrusted.done);
  CHECK_FALSE(untrusted.verify_error.empty());

  auto none = checked_handshake(certs, std::nullopt, {});
  CHECK(none.done);
  CHECK(none.verify_error.empty());
}

TEST_CASE("tls: a DANE-EE check matches the key whatever the name and the CA") {
  Certs certs, other;
  PeerCheck::Tlsa match{3, 1, 1, spki_sha256(certs.cert)};
  PeerCheck dane{PeerCheck::Kind::dane, true, {"mx.example.test"}, {match}};
  auto ok = checked_handshake(certs, std::nullopt, dane);
  CHECK(ok.client_result);
  CHECK(ok.verify_error.empty());

  dane.tlsa = {{3, 1, 1, spki_sha256(other.cert)}};
  auto refused = checked_handshake(certs, std::nullopt, dane);
  REQUIRE_FALSE(refused.client_result);
  CHECK(refused.client_result.error().message.find("TLSA") != std::string::npos);
}

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A raw OpenSSL client (TlsEngine offers no ALPN) that offers `alpn` with `sni`, driven
// against a server engine over memory BIOs. Returns whether the handshake completed, the
// protocol the server chose and the certificate it showed (DER).
struct AlpnHandshake {
  bool done = false;
  std::string protocol;
  std::string certificate_der;
};

AlpnHandshake alpn_handshake(const std::shared_ptr<TlsContext>& server_ctx, const char* sni,
                             const std::string& alpn) {
  AlpnHandshake out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* wire = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, wire);
  SSL_set_connect_state(ssl);
  SSL_set_tlsext_host_name(ssl, sni);
  if (!alpn.empty()) {
    std::string wire_alpn = std::string(1, static_cast<char>(alpn.size())) + alpn;
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire_alpn.data()),
                        static_cast<unsigned>(wire_alpn.size()));
  }
  TlsEngine server(server_ctx, TlsEngine::Role::server);
  std::string plain;
  for (int i = 0; i < 20 && !out.done; ++i) {
    int r = SSL_do_handshake(ssl);
    if (r == 1) out.done = true;
    if (r <= 0 && SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ) break;
    std::string to_server;
    char buffer[16384];
    int n;
    while ((n = BIO_read(wire, buffer, sizeof buffer)) > 0) to_server.append(buffer, n);
    if (!to_server.empty() && !server.receive(to_server, plain)) break;
    auto to_client = server.take_outgoing();
    if (!to_client.empty()) BIO_write(in, to_client.data(), static_cast<int>(to_client.size()));
  }
  if (out.done) {
    const unsigned char* chosen = nullptr;
    unsigned chosen_length = 0;
    SSL_get0_alpn_selected(ssl, &chosen, &chosen_length);
    out.protocol.assign(reinterpret_cast<const char*>(chosen), chosen_length);
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      unsigned char* der = nullptr;
      int length = i2d_X509(peer, &der);
      out.certificate_der.assign(reinterpret_cast<const char*>(der), length);
      OPENSSL_free(der);
      X509_free(peer);
    }
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

std::string der_of(const fs::path& cert_pem) {
  auto pem = read_file(cert_pem);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  unsigned char* der = nullptr;
  int length = i2d_X509(x, &der);
  std::string out(reinterpret_cast<const char*>(der), length);
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

}  // namespace

TEST_CASE("tls: tls-alpn-01 answers acme-tls/1 for a pending name only (RFC 8737)") {
  Certs served, challenge;  // the listener's certificate, and the validation certificate
  auto server_ctx = TlsContext::server(served.cert, served.key);
  REQUIRE(server_ctx);
  auto pending = std::make_shared<AcmeAlpnCertificates>();
  REQUIRE(pending->add("Mail.Example.Test", read_file(challenge.cert), read_file(challenge.key)));
  (*server_ctx)->answer_acme_alpn(pending);

  // The CA's validation: acme-tls/1 with the name as SNI gets the challenge certificate.
  auto validation = alpn_handshake(*server_ctx, "mail.example.test", "acme-tls/1");
  CHECK(validation.done);
  CHECK(validation.protocol == "acme-tls/1");
  CHECK(validation.certificate_der == der_of(challenge.cert));

  // acme-tls/1 for a name with no validation under way is refused, not answered with the
  // listener's certificate (RFC 8737 §3: only a validation certificate may be offered).
  auto other = alpn_handshake(*server_ctx, "other.example.test", "acme-tls/1");
  CHECK_FALSE(other.done);

  // An ordinary client of the same name never sees the validation certificate.
  auto ordinary = alpn_handshake(*server_ctx, "mail.example.test", "");
  CHECK(ordinary.done);
  CHECK(ordinary.protocol.empty());
  CHECK(ordinary.certificate_der == der_of(served.cert));
}
