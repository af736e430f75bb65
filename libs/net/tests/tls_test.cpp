#include "postroom/net/tls.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
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
