// The signer against RFC 6376's canonicalization examples (§3.4.5) and an independent check
// of each signature with OpenSSL over the canonical form written out by hand.
#include "postroom/dkim/signer.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <map>
#include <string>

#include "postroom/dkim/key.hpp"

using namespace postroom;
using namespace postroom::dkim;

namespace {

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  out.resize(static_cast<std::size_t>(
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size))));
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

std::string b64_sha256(std::string_view data) {
  auto d = sha256(data);
  return base64(reinterpret_cast<const unsigned char*>(d.data()), d.size());
}

std::string unbase64(std::string_view text) {
  std::string clean;
  for (char c : text)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') clean += c;
  std::string out(clean.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  REQUIRE(n >= 0);
  std::size_t pad = clean.ends_with("==") ? 2 : clean.ends_with("=") ? 1 : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

// The tags of a DKIM-Signature value, whitespace removed from each (RFC 6376 §3.2).
std::map<std::string, std::string> tags(std::string_view value) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos < value.size()) {
    auto end = value.find(';', pos);
    auto item =
        value.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    auto eq = item.find('=');
    if (eq != std::string_view::npos) {
      std::string name, content;
      for (char c : item.substr(0, eq))
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') name += c;
      for (char c : item.substr(eq + 1))
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') content += c;
      out[name] = content;
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return out;
}

// RFC 6376 §3.4.2 relaxed header canonicalization of one value: unfold, runs of WSP to one
// SP, no WSP at either end.
std::string relaxed_value(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// The signature value with b='s content removed, as it is hashed (RFC 6376 §3.7).
std::string without_b(std::string_view value) {
  std::string v(value);
  // The tag "b=", not "bh=": a "b=" at the start or after ';' or whitespace.
  std::size_t pos = std::string::npos;
  for (std::size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] == 'b' && v[i + 1] == '=' &&
        (i == 0 || v[i - 1] == ';' || v[i - 1] == ' ' || v[i - 1] == '\t'))
      pos = i + 2;
  }
  REQUIRE(pos != std::string::npos);
  auto end = v.find(';', pos);
  v.erase(pos, end == std::string::npos ? std::string::npos : end - pos);
  return v;
}

bool verify(std::string_view pem, Algorithm algorithm, std::string_view data,
            std::string_view signature) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(key);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  int ok = 0;
  if (algorithm == Algorithm::rsa) {
    ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
  } else {
    // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonical data, not the data.
    std::string hash = sha256(data);
    ok = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
         EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(hash.data()),
                          hash.size()) == 1;
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

const std::string& rsa_pem() {
  static const std::string pem = *generate_private_key(Algorithm::rsa);
  return pem;
}
const std::string& ed_pem() {
  static const std::string pem = *generate_private_key(Algorithm::ed25519);
  return pem;
}

// Signs `headers` + `body`, the body fed in pieces of `chunk` octets (0: whole).
std::vector<std::string> sign(const std::vector<SigningKey>& keys, std::string_view headers,
                              std::string_view body, std::size_t chunk = 0) {
  auto library = SignerSettings::create(1700000000);
  REQUIRE(library);
  auto signer = Signer::start(*library, keys, HeaderSection::parse(headers), "test");
  REQUIRE(signer);
  if (chunk == 0) chunk = body.size() + 1;
  for (std::size_t pos = 0; pos < body.size(); pos += chunk)
    REQUIRE((*signer)->body(body.substr(pos, chunk)));
  auto values = (*signer)->finish();
  REQUIRE(values);
  return *values;
}

SigningKey rsa_key() {
  return {"example.test", "sel", Algorithm::rsa, rsa_pem()};
}

}  // namespace

TEST_CASE(
    "dkim: relaxed body canonicalization of RFC 6376 §3.4.5, fed whole, in chunks, bytewise") {
  const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
  const std::string want = b64_sha256(" C\r\nD E\r\n");
  for (std::size_t chunk : {0, 5, 1}) {
    CAPTURE(chunk);
    auto values = sign({rsa_key()}, "From: a@example.test\r\n", body, chunk);
    REQUIRE(values.size() == 1);
    CHECK(tags(values[0])["bh"] == want);
  }
}

TEST_CASE("dkim: an empty body hashes as the empty string in relaxed mode (RFC 6376 §3.4.4)") {
  auto values = sign({rsa_key()}, "From: a@example.test\r\n", "");
  CHECK(tags(values[0])["bh"] == b64_sha256(""));
  values = sign({rsa_key()}, "From: a@example.test\r\n", "\r\n\r\n");
  CHECK(tags(values[0])["bh"] == b64_sha256(""));
}

TEST_CASE("dkim: a changed body changes the body hash") {
  auto a = sign({rsa_key()}, "From: a@example.test\r\n", "Hello\r\n");
  auto b = sign({rsa_key()}, "From: a@example.test\r\n", "Hellp\r\n");
  CHECK(tags(a[0])["bh"] != tags(b[0])["bh"]);
}

TEST_CASE("dkim: relaxed header canonicalization per RFC 6376 §3.4.2, checked with OpenSSL") {
  // The RFC's example fields "A: X" and "B : Y<TAB><CRLF><TAB>Z  " under names that are
  // signed: "subject:Y Z" and "from:X" once canonicalized.
  const std::string headers =
      "Received: from somewhere\r\n"
      "FROM:    X \r\n"
      "Subject: Y\t\r\n\tZ  \r\n"
      "X-Not-Signed: whatever\r\n";
  for (auto key : {rsa_key(), SigningKey{"example.test", "ed", Algorithm::ed25519, ed_pem()}}) {
    CAPTURE(algorithm_name(key.algorithm));
    auto values = sign({key}, headers, "body\r\n");
    REQUIRE(values.size() == 1);
    auto t = tags(values[0]);
    CHECK(t["a"] == (key.algorithm == Algorithm::rsa ? "rsa-sha256" : "ed25519-sha256"));
    CHECK(t["c"] == "relaxed/relaxed");
    CHECK(t["d"] == "example.test");
    CHECK(t["s"] == key.selector);
    CHECK(t["t"] == "1700000000");
    // From and Subject are signed, then oversigned; Received and X-Not-Signed are not.
    const std::string h = t["h"];
    CHECK(h.starts_with("FROM:Subject:"));
    CHECK(h.find("from:") != std::string::npos);
    CHECK(h.find("subject:") != std::string::npos);
    CHECK(h.find("message-id") != std::string::npos);
    CHECK(h.find("Received") == std::string::npos);
    CHECK(h.find("X-Not-Signed") == std::string::npos);
    // What was hashed: the signed fields canonicalized (absent oversigned ones add nothing),
    // then the signature field itself without b='s value and without its final CRLF.
    std::string data = "from:X\r\nsubject:Y Z\r\n";
    data += "dkim-signature:" + relaxed_value(without_b(values[0]));
    CHECK(verify(key.pem, key.algorithm, data, unbase64(t["b"])));
    // The same check fails on a canonical form that differs in one space.
    CHECK_FALSE(verify(key.pem, key.algorithm,
                       "from:X\r\nsubject:Y  Z\r\n" + data.substr(data.find("dkim-signature:")),
                       unbase64(t["b"])));
  }
}

TEST_CASE("dkim: two keys give an RSA and an Ed25519 signature over the same body hash") {
  auto values = sign({rsa_key(), {"example.test", "ed", Algorithm::ed25519, ed_pem()}},
                     "From: a@example.test\r\nTo: b@remote.test\r\n", "x\r\n", 1);
  REQUIRE(values.size() == 2);
  CHECK(tags(values[0])["a"] == "rsa-sha256");
  CHECK(tags(values[1])["a"] == "ed25519-sha256");
  CHECK(tags(values[0])["bh"] == tags(values[1])["bh"]);
}

TEST_CASE("dkim: folded signature lines end in CRLF, never a bare LF") {
  auto values = sign({rsa_key()}, "From: a@example.test\r\n", "x\r\n");
  const std::string& v = values[0];
  CHECK(v.find("\r\n\t") != std::string::npos);  // 2048-bit b= needs several lines
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] == '\n') CHECK((i > 0 && v[i - 1] == '\r'));
  CHECK_FALSE(v.ends_with("\n"));
}

TEST_CASE("dkim: a message without From cannot be signed (RFC 6376 §5.4)") {
  auto library = SignerSettings::create();
  REQUIRE(library);
  auto signer =
      Signer::start(*library, {rsa_key()}, HeaderSection::parse("Subject: no from\r\n"), "t");
  CHECK_FALSE(signer);
}

TEST_CASE("dkim: a bad key is an error that does not quote the key") {
  auto library = SignerSettings::create();
  REQUIRE(library);
  const std::string bad = "-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n-----END PRIVATE KEY-----\n";
  auto signer = Signer::start(*library, {{"example.test", "s", Algorithm::rsa, bad}},
                              HeaderSection::parse("From: a@example.test\r\n"), "t");
  if (signer) {
    REQUIRE((*signer)->body("x\r\n"));
    auto values = (*signer)->finish();
    REQUIRE_FALSE(values);
    CHECK(values.error().message.find("SECRETSTUFF") == std::string::npos);
  } else {
    CHECK(signer.error().message.find("SECRETSTUFF") == std::string::npos);
  }
}
