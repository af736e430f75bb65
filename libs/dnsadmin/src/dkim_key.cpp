// Reads DKIM private keys with OpenSSL and derives the p= value DNS publishes.
#include "postroom/dnsadmin/dkim_key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>

#include "postroom/base/address.hpp"
#include "postroom/base/file.hpp"
#include "postroom/base/wipe.hpp"

namespace postroom::dnsadmin {
namespace {

std::string base64(const unsigned char* data, std::size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

Result<DkimKey> read_dkim_key(const std::filesystem::path& file) {
  auto pem = read_small_file(file, 64 * 1024);
  if (!pem) return fail(file.string() + ": " + pem.error().message);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  wipe(*pem);
  if (!key) return fail(file.string() + ": not a PEM private key");
  DkimKey out;
  out.file = file;
  out.selector = file.stem().string();
  int type = EVP_PKEY_get_base_id(key.get());
  if (type == EVP_PKEY_RSA) {
    out.algorithm = "rsa";
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key.get(), &der);
    if (len <= 0) return fail(file.string() + ": cannot encode its public key");
    out.public_key = base64(der, static_cast<std::size_t>(len));
    OPENSSL_free(der);
  } else if (type == EVP_PKEY_ED25519) {
    out.algorithm = "ed25519";
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key.get(), raw, &len) != 1 || len != sizeof raw)
      return fail(file.string() + ": cannot read its Ed25519 public key");
    out.public_key = base64(raw, len);
  } else {
    return fail(file.string() + ": neither an RSA nor an Ed25519 key");
  }
  return out;
}

Result<std::vector<DkimKey>> list_dkim_keys(const std::filesystem::path& dkim_dir,
                                            const std::string& domain) {
  std::vector<DkimKey> keys;
  std::error_code ec;
  auto dir = dkim_dir / domain;
  if (!std::filesystem::is_directory(dir, ec)) return keys;
  std::filesystem::directory_iterator it(dir, ec), end;
  if (ec) return fail(dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return fail(dir.string() + ": " + ec.message());
    if (it->path().extension() != ".pem") continue;
    auto key = read_dkim_key(it->path());
    if (!key) return std::unexpected(key.error());
    keys.push_back(std::move(*key));
  }
  std::sort(keys.begin(), keys.end(),
            [](const DkimKey& a, const DkimKey& b) { return a.selector < b.selector; });
  return keys;
}

std::vector<std::pair<std::string, std::string>> parse_tags(std::string_view record) {
  std::vector<std::pair<std::string, std::string>> tags;
  while (!record.empty()) {
    auto semi = record.find(';');
    std::string_view part = record.substr(0, semi);
    record = semi == std::string_view::npos ? std::string_view{} : record.substr(semi + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      if (!trim(part).empty()) return {};
      continue;
    }
    std::string value;
    for (char c : part.substr(eq + 1))
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') value += c;
    tags.emplace_back(to_lower_ascii(trim(part.substr(0, eq))), value);
  }
  return tags;
}

}  // namespace postroom::dnsadmin
