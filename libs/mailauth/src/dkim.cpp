// DKIM-Signature parsing (RFC 6376 §3.5), key records (§3.6.1), the header hash (§3.7) and
// the signature check with OpenSSL (RSA with SHA-256; Ed25519 over the SHA-256 digest, RFC
// 8463 §3). rsa-sha1 and RSA keys under 1024 bits get "policy" (RFC 8301).
#include "postroom/mailauth/dkim.hpp"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <variant>

#include "postroom/mailauth/dkim_canon.hpp"
#include "tag_list.hpp"
#include "text.hpp"

namespace postroom::mailauth {

const char* dkim_result_name(DkimResult result) {
  switch (result) {
    case DkimResult::none:
      return "none";
    case DkimResult::pass:
      return "pass";
    case DkimResult::fail:
      return "fail";
    case DkimResult::policy:
      return "policy";
    case DkimResult::neutral:
      return "neutral";
    case DkimResult::temperror:
      return "temperror";
    case DkimResult::permerror:
      return "permerror";
  }
  return "none";
}

namespace {

struct DigestDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using DigestPtr = std::unique_ptr<EVP_MD_CTX, DigestDeleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(out), length);
}

// The signature field's value with the b= tag's value taken out, everything else exactly
// as received (§3.7: the signature is computed with b= empty).
std::string without_b_value(std::string_view value) {
  std::string out;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(';', start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view part = value.substr(start, end - start);
    std::size_t eq = part.find('=');
    if (eq != std::string_view::npos && trim(part.substr(0, eq)) == "b") {
      out.append(part.substr(0, eq + 1));
    } else {
      out.append(part);
    }
    if (end < value.size()) out += ';';
    start = end + 1;
  }
  return out;
}

}  // namespace

struct DkimVerifier::Signature {
  DkimOutcome outcome;  // filled as far as parsing gets; result none until decided
  std::string field_name;
  std::string field_value;
  std::vector<std::string> signed_headers;  // h=, lower-case
  std::string b;                            // decoded signature
  std::string bh;                           // decoded body hash
  Canon header_canon = Canon::simple;
  Canon body_canon = Canon::simple;
  bool ed25519 = false;
  DigestPtr body_hash;
  std::unique_ptr<BodyCanonicalizer> canonicalizer;
  std::int64_t limit = -1;  // l=: octets of canonical body signed; -1 for all
  std::string body_digest;  // set by end_body()
  std::string key_name;     // selector._domainkey.domain
};

namespace {

// A decimal number of at most 18 digits (l=, t=, x=).
std::optional<std::int64_t> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Fills `sig` from its field; returns the result that ends its check early, if any.
std::optional<DkimResult> parse_signature(DkimVerifier::Signature& sig, std::int64_t now,
                                          std::string& reason);

}  // namespace

DkimVerifier::DkimVerifier(const HeaderSection& headers, std::int64_t now) : headers_(headers) {
  for (const HeaderSection::Field& field : headers.fields()) {
    if (!header_name_equals(field.name, "DKIM-Signature")) continue;
    if (signatures_.size() == kMaxSignatures) break;
    auto sig = std::make_unique<Signature>();
    sig->field_name = field.name;
    sig->field_value = field.value;
    std::string reason;
    if (auto early = parse_signature(*sig, now, reason)) {
      sig->outcome.result = *early;
      sig->outcome.reason = reason;
    } else {
      sig->body_hash.reset(EVP_MD_CTX_new());
      EVP_DigestInit_ex(sig->body_hash.get(), EVP_sha256(), nullptr);
      EVP_MD_CTX* ctx = sig->body_hash.get();
      sig->canonicalizer = std::make_unique<BodyCanonicalizer>(
          sig->body_canon, sig->limit,
          [ctx](std::string_view s) { EVP_DigestUpdate(ctx, s.data(), s.size()); });
    }
    signatures_.push_back(std::move(sig));
  }
}

DkimVerifier::~DkimVerifier() = default;

bool DkimVerifier::has_signatures() const {
  return !signatures_.empty();
}

std::vector<std::string> DkimVerifier::key_names() const {
  std::vector<std::string> out;
  for (const auto& sig : signatures_)
    if (sig->outcome.result == DkimResult::none) out.push_back(sig->key_name);
  return out;
}

void DkimVerifier::body(std::string_view bytes) {
  for (auto& sig : signatures_)
    if (sig->canonicalizer) sig->canonicalizer->feed(bytes);
}

void DkimVerifier::end_body() {
  if (body_ended_) return;
  body_ended_ = true;
  for (auto& sig : signatures_) {
    if (!sig->canonicalizer) continue;
    sig->canonicalizer->finish();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(sig->body_hash.get(), digest, &length);
    sig->body_digest.assign(reinterpret_cast<char*>(digest), length);
  }
}

namespace {

std::optional<DkimResult> parse_signature(DkimVerifier::Signature& sig, std::int64_t now,
                                          std::string& reason) {
  auto tags = parse_tag_list(sig.field_value);
  if (!tags) {
    reason = "malformed DKIM-Signature";
    return DkimResult::neutral;
  }
  auto get = [&](std::string_view name) -> const std::string* {
    const Tag* t = find_tag(*tags, name);
    return t ? &t->value : nullptr;
  };
  DkimOutcome& o = sig.outcome;
  if (auto* d = get("d")) o.domain = lower(*d);
  if (auto* s = get("s")) o.selector = *s;
  if (auto* a = get("a")) o.algorithm = lower(*a);
  if (auto* b = get("b")) o.b_prefix = strip_whitespace(*b).substr(0, 8);
  // §6.1.1: the required tags.
  for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"}) {
    if (!get(required)) {
      reason = std::string("DKIM-Signature without ") + required + "=";
      return DkimResult::neutral;
    }
  }
  if (*get("v") != "1") {
    reason = "unknown DKIM-Signature version";
    return DkimResult::neutral;
  }
  if (o.algorithm == "rsa-sha1") {
    reason = "rsa-sha1 is not accepted (RFC 8301)";
    return DkimResult::policy;
  }
  if (o.algorithm != "rsa-sha256" && o.algorithm != "ed25519-sha256") {
    reason = "unknown algorithm " + o.algorithm;
    return DkimResult::neutral;
  }
  sig.ed25519 = o.algorithm == "ed25519-sha256";
  auto b = base64_decode(*get("b"));
  auto bh = base64_decode(*get("bh"));
  if (!b || !bh || b->empty()) {
    reason = "bad base64 in b= or bh=";
    return DkimResult::neutral;
  }
  sig.b = *b;
  sig.bh = *bh;
  if (auto* c = get("c")) {
    auto parts = split(*c, '/');
    if (parts.size() > 2) {
      reason = "bad c=";
      return DkimResult::neutral;
    }
    auto canon_of = [](std::string_view name, Canon& out) {
      if (name == "simple") {
        out = Canon::simple;
      } else if (name == "relaxed") {
        out = Canon::relaxed;
      } else {
        return false;
      }
      return true;
    };
    if (!canon_of(trim(parts[0]), sig.header_canon) ||
        (parts.size() == 2 && !canon_of(trim(parts[1]), sig.body_canon))) {
      reason = "unknown canonicalization " + *c;
      return DkimResult::neutral;
    }
  }
  bool has_from = false;
  for (auto name : split(*get("h"), ':')) {
    std::string n = lower(trim(name));
    if (n.empty()) continue;
    if (n == "from") has_from = true;
    sig.signed_headers.push_back(n);
  }
  if (!has_from) {
    reason = "From is not signed";
    return DkimResult::neutral;
  }
  if (o.domain.empty() || o.selector.empty()) {
    reason = "empty d= or s=";
    return DkimResult::neutral;
  }
  if (auto* i = get("i")) {
    o.identity = *i;
    std::size_t at = i->rfind('@');
    if (at == std::string::npos || !is_subdomain_of(i->substr(at + 1), o.domain)) {
      reason = "i= is not within d=";
      return DkimResult::neutral;
    }
  } else {
    o.identity = "@" + o.domain;
  }
  if (auto* l = get("l")) {
    auto value = parse_number(*l);
    if (!value) {
      reason = "bad l=";
      return DkimResult::neutral;
    }
    sig.limit = *value;
  }
  if (auto* x = get("x")) {
    auto expiry = parse_number(*x);
    const std::string* t = get("t");
    auto signed_at = t ? parse_number(*t) : std::optional<std::int64_t>(0);
    if (!expiry || !signed_at || *signed_at > *expiry) {
      reason = "bad x= or t=";
      return DkimResult::neutral;
    }
    if (now > *expiry) {
      reason = "signature expired";
      return DkimResult::fail;
    }
  }
  sig.key_name = o.selector + "._domainkey." + o.domain;
  return std::nullopt;
}

// The key record (§3.6.1); its outcome on trouble, else the key.
std::variant<KeyPtr, std::pair<DkimResult, std::string>> parse_key(
    const DkimVerifier::Signature& sig, const std::string& record, bool& testing, bool& strict) {
  using Trouble = std::pair<DkimResult, std::string>;
  auto tags = parse_tag_list(record);
  if (!tags) return Trouble{DkimResult::permerror, "malformed key record"};
  if (const Tag* v = find_tag(*tags, "v"); v && (v->value != "DKIM1" || &(*tags)[0] != v))
    return Trouble{DkimResult::permerror, "bad key record version"};
  std::string k = "rsa";
  if (const Tag* kt = find_tag(*tags, "k")) k = lower(kt->value);
  if (k != (sig.ed25519 ? "ed25519" : "rsa"))
    return Trouble{DkimResult::permerror,
                   "key type " + k + " does not fit " + sig.outcome.algorithm};
  if (const Tag* h = find_tag(*tags, "h")) {
    bool ok = false;
    for (auto name : split(h->value, ':'))
      if (trim(name) == "sha256") ok = true;
    if (!ok) return Trouble{DkimResult::permerror, "key does not allow sha256"};
  }
  if (const Tag* s = find_tag(*tags, "s")) {
    bool ok = false;
    for (auto name : split(s->value, ':'))
      if (trim(name) == "*" || trim(name) == "email") ok = true;
    if (!ok) return Trouble{DkimResult::permerror, "key not for email"};
  }
  if (const Tag* t = find_tag(*tags, "t")) {
    for (auto flag : split(t->value, ':')) {
      if (trim(flag) == "y") testing = true;
      if (trim(flag) == "s") strict = true;
    }
  }
  const Tag* p = find_tag(*tags, "p");
  if (!p) return Trouble{DkimResult::permerror, "key record without p="};
  std::string stripped = strip_whitespace(p->value);
  if (stripped.empty()) return Trouble{DkimResult::permerror, "key revoked"};
  auto der = base64_decode(stripped);
  if (!der) return Trouble{DkimResult::permerror, "bad base64 in p="};
  KeyPtr key;
  if (sig.ed25519) {
    if (der->size() != 32) return Trouble{DkimResult::permerror, "Ed25519 key is not 32 octets"};
    key.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(der->data()),
                                          der->size()));
  } else {
    // SubjectPublicKeyInfo, as every signer publishes; a bare RSAPublicKey as §3.6.1 reads.
    const auto* p1 = reinterpret_cast<const unsigned char*>(der->data());
    key.reset(d2i_PUBKEY(nullptr, &p1, static_cast<long>(der->size())));
    if (!key) {
      const auto* p2 = reinterpret_cast<const unsigned char*>(der->data());
      key.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p2, static_cast<long>(der->size())));
    }
    if (key && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
      return Trouble{DkimResult::permerror, "p= is not an RSA key"};
    if (key && EVP_PKEY_get_bits(key.get()) < 1024)
      return Trouble{DkimResult::policy, "RSA key shorter than 1024 bits (RFC 8301)"};
  }
  if (!key) return Trouble{DkimResult::permerror, "unreadable key in p="};
  return key;
}

}  // namespace

std::optional<std::vector<DkimOutcome>> DkimVerifier::verify(DnsView& dns) {
  end_body();
  // Fetch every key first, so all lookups go out in one round.
  bool waiting = false;
  std::map<std::string, DnsAnswer> keys;
  for (auto& sig : signatures_) {
    if (sig->outcome.result != DkimResult::none) continue;
    auto answer = dns.lookup(DnsType::txt, sig->key_name);
    if (!answer) {
      waiting = true;
      continue;
    }
    keys[sig->key_name] = *answer;
  }
  if (waiting) return std::nullopt;

  std::vector<DkimOutcome> out;
  for (auto& sig_ptr : signatures_) {
    Signature& sig = *sig_ptr;
    DkimOutcome o = sig.outcome;
    if (o.result != DkimResult::none) {
      out.push_back(o);
      continue;
    }
    auto fail_with = [&](DkimResult r, std::string why) {
      o.result = r;
      o.reason = std::move(why);
      out.push_back(o);
    };
    const DnsAnswer& answer = keys[sig.key_name];
    if (answer.status == DnsStatus::temporary) {
      fail_with(DkimResult::temperror, "key lookup failed: " + sig.key_name);
      continue;
    }
    if (answer.status != DnsStatus::ok || answer.records.empty()) {
      fail_with(DkimResult::permerror, "no key at " + sig.key_name);
      continue;
    }
    bool strict = false;
    auto key = parse_key(sig, answer.records.front(), o.testing, strict);
    if (auto* trouble = std::get_if<std::pair<DkimResult, std::string>>(&key)) {
      fail_with(trouble->first, trouble->second);
      continue;
    }
    std::size_t at = o.identity.rfind('@');
    if (strict && !iequals(o.identity.substr(at + 1), o.domain)) {
      fail_with(DkimResult::permerror, "key demands i= domain equal to d=");
      continue;
    }
    if (sig.body_digest != sig.bh) {
      fail_with(DkimResult::fail, "body hash did not verify");
      continue;
    }
    // §5.4.2: each name in h= takes the last not yet used field of that name.
    std::string data;
    std::map<std::string, std::size_t> used;
    const auto& fields = headers_.fields();
    for (const std::string& name : sig.signed_headers) {
      std::size_t seen = 0;
      std::size_t skip = used[name];
      for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
        if (!header_name_equals(it->name, name)) continue;
        if (seen++ < skip) continue;
        data += canonical_header(it->name, it->value, sig.header_canon);
        ++used[name];
        break;
      }
    }
    std::string self =
        canonical_header(sig.field_name, without_b_value(sig.field_value), sig.header_canon);
    self.resize(self.size() - 2);  // the signature field goes in without its CRLF
    data += self;
    KeyPtr& pkey = std::get<KeyPtr>(key);
    DigestPtr ctx(EVP_MD_CTX_new());
    int ok = 0;
    const auto* signature = reinterpret_cast<const unsigned char*>(sig.b.data());
    if (sig.ed25519) {
      std::string hashed = sha256(data);
      if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1)
        ok = EVP_DigestVerify(ctx.get(), signature, sig.b.size(),
                              reinterpret_cast<const unsigned char*>(hashed.data()), hashed.size());
    } else if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) == 1) {
      ok = EVP_DigestVerify(ctx.get(), signature, sig.b.size(),
                            reinterpret_cast<const unsigned char*>(data.data()), data.size());
    }
    if (ok != 1) {
      fail_with(DkimResult::fail, "signature did not verify");
      continue;
    }
    o.result = DkimResult::pass;
    out.push_back(o);
  }
  return out;
}

}  // namespace postroom::mailauth
