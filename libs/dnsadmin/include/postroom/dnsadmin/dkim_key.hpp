// DKIM keys as the signer keeps them ({data_dir}/dkim/{domain}/{selector}.pem) and the
// public half DNS must publish (RFC 6376 §3.6.1, RFC 8463 §4).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::dnsadmin {

struct DkimKey {
  std::string selector;
  std::string algorithm;   // "rsa" or "ed25519": the k= tag
  std::string public_key;  // the p= tag: base64 of SubjectPublicKeyInfo (RSA) or of the raw
                           // 32-octet key (Ed25519)
  std::filesystem::path file;
};

// The public key of a PEM private key (RSA or Ed25519). The error never holds key bytes.
Result<DkimKey> read_dkim_key(const std::filesystem::path& file);
// Every {selector}.pem under dkim_dir/domain, by selector. A key that cannot be read is
// an error naming its file.
Result<std::vector<DkimKey>> list_dkim_keys(const std::filesystem::path& dkim_dir,
                                            const std::string& domain);
// The tags of a DKIM key record ("v=DKIM1; k=rsa; p=..."): whitespace inside values
// removed (RFC 6376 §3.2); nullopt-like empty map for a record that is not tag=value.
std::vector<std::pair<std::string, std::string>> parse_tags(std::string_view record);

}  // namespace postroom::dnsadmin
