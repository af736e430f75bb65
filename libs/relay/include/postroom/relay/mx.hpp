// Orders the hosts to try for a domain from its MX records (RFC 5321 §5.1, RFC 7505 null MX).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace postroom::relay {

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // as resolved; a trailing dot is dropped
};

// Why a domain gets no delivery attempt at all.
struct MxFailure {
  bool permanent = true;
  std::string text;  // enhanced status, a space, the explanation
};

inline constexpr std::string_view kNullMxText = "5.1.10 domain does not accept mail (null MX)";

// Returns a uniformly chosen index in [0, n), n > 0. Injected so tests are
// deterministic; production passes one backed by a seeded std::mt19937.
using RandomIndex = std::function<std::size_t(std::size_t n)>;

// The hosts to try, in order: lowest preference first, shuffled among equal
// preferences (RFC 5321 §5.1), duplicates dropped. No records: the domain
// itself, its A/AAAA being an implicit MX (RFC 5321 §5.1). A null MX (one
// record with host ".", RFC 7505 §3) fails permanently with kNullMxText; a
// "." mixed with real hosts is a misconfiguration and is skipped.
std::expected<std::vector<std::string>, MxFailure> order_mx_hosts(std::string_view domain,
                                                                  std::vector<MxRecord> records,
                                                                  const RandomIndex& random_index);

}  // namespace postroom::relay
