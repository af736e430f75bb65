// Signing with OpenSSL over the relaxed canonical forms of mailauth/dkim_canon.hpp: SHA-256 of the
// body as it streams, then per key the header hash input of RFC 6376 §3.7 and its signature.
#include "postroom/dkim/signer.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <ctime>
#include <map>

#include "openssl_util.hpp"
#include "postroom/mailauth/dkim_canon.hpp"

namespace postroom::dkim {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Appends `words` to `out` separated by `separator`, starting a new line (CRLF TAB) before
// a word that would pass column 76; `column` is where `out` ends now.
void fold_words(std::string& out, std::size_t& column, const std::vector<std::string>& words,
                std::string_view separator) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string word = words[i] + (i + 1 < words.size() ? std::string(separator) : "");
    if (column + word.size() > 76 && column > 1) {
      out += "\r\n\t";
      column = 1;
      if (word.front() == ' ') word.erase(0, 1);  // the fold is the whitespace
    }
    out += word;
    column += word.size();
  }
}

}  // namespace

struct Signer::State {
  struct Key {
    SigningKey key;  // pem emptied after loading
    std::shared_ptr<const PrivateKey> pkey;
  };
  std::shared_ptr<SignerSettings> settings;
  std::vector<Key> keys;
  std::vector<std::string> signed_names;  // h=, in order
  std::string header_data;                // the canonical signed fields, as hashed
  MdCtx body_hash;
  std::unique_ptr<mailauth::BodyCanonicalizer> body;
  bool hash_failed = false;
  bool finished = false;
};

const std::vector<std::string>& signed_fields() {
  static const std::vector<std::string> fields = {"from",
                                                  "sender",
                                                  "reply-to",
                                                  "subject",
                                                  "date",
                                                  "message-id",
                                                  "to",
                                                  "cc",
                                                  "mime-version",
                                                  "content-type",
                                                  "content-transfer-encoding",
                                                  "content-id",
                                                  "content-description",
                                                  "resent-date",
                                                  "resent-from",
                                                  "resent-sender",
                                                  "resent-to",
                                                  "resent-cc",
                                                  "resent-message-id",
                                                  "in-reply-to",
                                                  "references",
                                                  "list-id",
                                                  "list-help",
                                                  "list-unsubscribe",
                                                  "list-subscribe",
                                                  "list-post",
                                                  "list-owner",
                                                  "list-archive",
                                                  "list-unsubscribe-post"};
  return fields;
}

const std::vector<std::string>& oversigned_fields() {
  static const std::vector<std::string> fields = {"from",
                                                  "sender",
                                                  "reply-to",
                                                  "subject",
                                                  "date",
                                                  "message-id",
                                                  "to",
                                                  "cc",
                                                  "mime-version",
                                                  "content-type",
                                                  "content-transfer-encoding",
                                                  "in-reply-to",
                                                  "references",
                                                  "list-unsubscribe",
                                                  "list-unsubscribe-post"};
  return fields;
}

Result<std::shared_ptr<SignerSettings>> SignerSettings::create(
    std::optional<std::uint64_t> fixed_time) {
  auto settings = std::make_shared<SignerSettings>();
  settings->fixed_time_ = fixed_time;
  return settings;
}

std::uint64_t SignerSettings::now() const {
  return fixed_time_ ? *fixed_time_ : static_cast<std::uint64_t>(std::time(nullptr));
}

Signer::Signer() : state_(std::make_unique<State>()) {}
Signer::~Signer() = default;

Result<std::unique_ptr<Signer>> Signer::start(std::shared_ptr<SignerSettings> settings,
                                              const std::vector<SigningKey>& keys,
                                              const HeaderSection& headers, std::string_view id) {
  if (keys.empty()) return fail("no key to sign with");
  std::unique_ptr<Signer> signer(new Signer());
  State& s = *signer->state_;
  s.settings = std::move(settings);
  for (const auto& key : keys) {
    auto pkey = key.parsed ? key.parsed : PrivateKey::parse(key.pem, key.algorithm);
    if (!pkey) return fail("d=" + key.domain + " s=" + key.selector + ": " + pkey.error().message);
    State::Key k{key, std::move(*pkey)};
    k.key.pem = {};
    s.keys.push_back(std::move(k));
  }
  if (!headers.find("From")) return fail(std::string(id) + ": no From field to sign");

  // h= names the present signed fields top to bottom, then each oversigned name once more.
  const auto& wanted = signed_fields();
  for (const auto& field : headers.fields()) {
    if (field.name.empty()) continue;
    std::string name = lower(field.name);
    if (std::find(wanted.begin(), wanted.end(), name) != wanted.end())
      s.signed_names.push_back(field.name);
  }
  for (const auto& name : oversigned_fields()) s.signed_names.push_back(name);
  // What a verifier hashes for that list (RFC 6376 §5.4.2): for each name, the last instance
  // not yet used, from the bottom up; a name with none left adds nothing.
  std::map<std::string, std::size_t> used;
  const auto& fields = headers.fields();
  for (const auto& name : s.signed_names) {
    std::string key = lower(name);
    std::size_t skip = used[key]++;
    for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
      if (it->name.empty() || !header_name_equals(it->name, key)) continue;
      if (skip-- > 0) continue;
      s.header_data += mailauth::canonical_header(it->name, it->value, mailauth::Canon::relaxed);
      break;
    }
  }

  s.body_hash.reset(EVP_MD_CTX_new());
  if (!s.body_hash || EVP_DigestInit_ex(s.body_hash.get(), EVP_sha256(), nullptr) != 1)
    return fail("cannot start SHA-256");
  State* state = &s;
  s.body = std::make_unique<mailauth::BodyCanonicalizer>(
      mailauth::Canon::relaxed, -1, [state](std::string_view canonical) {
        if (EVP_DigestUpdate(state->body_hash.get(), canonical.data(), canonical.size()) != 1)
          state->hash_failed = true;
      });
  return signer;
}

Result<void> Signer::body(std::string_view bytes) {
  if (state_->finished) return fail("body after the end");
  state_->body->feed(bytes);
  if (state_->hash_failed) return fail("SHA-256 failed");
  return {};
}

Result<std::vector<std::string>> Signer::finish() {
  State& s = *state_;
  if (s.finished) return fail("finished twice");
  s.finished = true;
  s.body->finish();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (s.hash_failed || EVP_DigestFinal_ex(s.body_hash.get(), digest, &digest_size) != 1)
    return fail("SHA-256 failed");
  const std::string bh = base64(digest, digest_size);
  const std::string t = std::to_string(s.settings->now());

  std::vector<std::string> values;
  for (const auto& k : s.keys) {
    const bool rsa = k.key.algorithm == Algorithm::rsa;
    // The field as it will be stored, up to "b=", folded; it is hashed in its relaxed form,
    // which a verifier rebuilds from the stored field by emptying b= (RFC 6376 §3.7).
    std::string value;
    std::size_t column = sizeof("DKIM-Signature:") - 1;
    fold_words(value, column,
               {" v=1;", std::string(" a=") + (rsa ? "rsa-sha256;" : "ed25519-sha256;"),
                " c=relaxed/relaxed;", " d=" + k.key.domain + ";", " s=" + k.key.selector + ";",
                " t=" + t + ";", " bh=" + bh + ";"},
               "");
    std::vector<std::string> names = s.signed_names;
    names.front() = " h=" + names.front();
    names.back() += ";";
    fold_words(value, column, names, ":");
    fold_words(value, column, {" b="}, "");
    value.erase(0, 1);  // HeaderSection::prepend adds the space after the colon itself

    std::string data = s.header_data + mailauth::canonical_header("DKIM-Signature", value,
                                                                  mailauth::Canon::relaxed);
    data.resize(data.size() - 2);  // the signature field is hashed without its CRLF

    std::string message = data;
    if (!rsa) {
      // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data (PureEdDSA over the hash).
      unsigned char hash[32];
      unsigned int size = 0;
      if (EVP_Digest(data.data(), data.size(), hash, &size, EVP_sha256(), nullptr) != 1)
        return fail("SHA-256 failed");
      message.assign(reinterpret_cast<char*>(hash), size);
    }
    auto sig = sign(k.pkey->native(), rsa ? EVP_sha256() : nullptr, message);
    if (!sig) return fail("d=" + k.key.domain + " s=" + k.key.selector + ": cannot sign");
    std::string b = base64(reinterpret_cast<const unsigned char*>(sig->data()), sig->size());
    // b= in pieces of 64 on lines of their own; a verifier drops it with its whitespace.
    for (std::size_t pos = 0; pos < b.size(); pos += 64) {
      if (column + std::min<std::size_t>(64, b.size() - pos) > 76) {
        value += "\r\n\t";
        column = 1;
      }
      value += b.substr(pos, 64);
      column += std::min<std::size_t>(64, b.size() - pos);
    }
    values.push_back(std::move(value));
  }
  return values;
}

}  // namespace postroom::dkim
