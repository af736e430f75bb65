// DKIM signing of outbound mail (RFC 6376, RFC 8463) as a message filter: every message an
// authenticated user or trusted_networks sends to another domain is signed once, as it is
// queued, with the active keys of its From domain (else its envelope sender's domain). The
// body is hashed as it streams in; the DKIM-Signature fields go on top of the header
// section at the end, so both relay modes send the signed message as stored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "postroom/dkim/key_directory.hpp"
#include "postroom/dkim/signer.hpp"
#include "postroom/net/blocking_pool.hpp"
#include "postroom/service/message_filter.hpp"

namespace postroom::service {

// The keys read from the key directory and the rule that says which of them sign.
struct DkimKeys {
  std::vector<dkim::StoredKey> keys;  // with their private keys
  // keys[i] parsed; null for one that does not parse (it signs nothing, and is logged)
  std::vector<std::shared_ptr<const dkim::PrivateKey>> parsed;
  std::optional<std::int64_t> activate_after;  // dkim.activate_after in seconds
};

// Fills keys.parsed from keys.keys; returns one line per key that does not parse.
std::vector<std::string> parse_private_keys(DkimKeys& keys);

// The signer for one message, or nullptr when it has nothing to sign: the message stays
// here, comes from neither a logged-in user nor trusted_networks, or no domain has a key
// that signs at `now`.
std::unique_ptr<MessageFilter> make_dkim_sign_filter(
    const FilterEnvelope& envelope, std::shared_ptr<dkim::SignerSettings> settings,
    std::shared_ptr<const DkimKeys> keys, std::int64_t now,
    std::shared_ptr<net::BlockingPool> pool = nullptr);

// The daemon's signing set-up: the settings handle and the keys last read from
// data_dir/dkim, replaced on reload while messages in flight keep the set they began with.
class DkimSigning {
 public:
  // Signatures are made on a signing thread of its own, which runs until stop().
  DkimSigning(uv_loop_t* loop, std::filesystem::path dkim_dir);
  void stop();
  // Reads the key directory; logs each unusable file and which keys sign now. Never fails:
  // without keys nothing is signed.
  void load(std::optional<std::int64_t> activate_after);
  // For Context::filters: a filter per message that make_dkim_sign_filter() says needs one.
  FilterFactory factory();

 private:
  struct Shared {
    std::shared_ptr<dkim::SignerSettings> settings;
    std::shared_ptr<const DkimKeys> keys;
    std::shared_ptr<net::BlockingPool> pool;
  };
  std::filesystem::path dkim_dir_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace postroom::service
