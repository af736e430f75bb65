// Postmaster addresses (RFC 5321 §4.5.1): bare, at the main domain and at every other one.
#include "postroom/store/postmaster.hpp"

#include <algorithm>

namespace postroom::store {
namespace {

bool is_postmaster(const Address& address) {
  return to_lower_ascii(address.local) == "postmaster";
}

// Asks the store for (*order)[i], then for the next address while the answer is "unknown".
// The store outlives its replies, so holding it by reference across them is safe.
void resolve_from(MailStore& store, std::shared_ptr<const std::vector<std::string>> order,
                  std::size_t i, DomainTest is_local, Reply<Route> done) {
  std::string address = (*order)[i];
  store.resolve_recipient(
      std::move(address), is_local,
      [&store, order, i, is_local, done = std::move(done)](Result<Route> route) mutable {
        if (route && route->kind == Route::Kind::unknown && i + 1 < order->size())
          return resolve_from(store, order, i + 1, std::move(is_local), std::move(done));
        done(std::move(route));
      });
}

}  // namespace

std::vector<std::string> lookup_order(const Address& recipient,
                                      const std::vector<std::string>& local_domains) {
  if (local_domains.empty() || !is_postmaster(recipient)) {
    return {recipient.domain.empty() ? recipient.local : recipient.str()};
  }
  std::string main = "postmaster@" + local_domains.front();
  std::string domain = to_lower_ascii(recipient.domain);
  if (domain.empty() || domain == local_domains.front()) return {main};
  bool local = std::find(local_domains.begin(), local_domains.end(), domain) != local_domains.end();
  if (!local) return {recipient.str()};
  return {"postmaster@" + domain, main};
}

Result<Route> resolve_with_postmaster(Database& db, const Address& recipient,
                                      const std::vector<std::string>& local_domains) {
  auto is_local = [&](std::string_view domain) {
    return std::find(local_domains.begin(), local_domains.end(), to_lower_ascii(domain)) !=
           local_domains.end();
  };
  Result<Route> route = fail("no address to look up");
  for (const auto& address : lookup_order(recipient, local_domains)) {
    route = resolve_recipient(db, address, is_local);
    if (!route || route->kind != Route::Kind::unknown) return route;
  }
  return route;
}

void resolve_with_postmaster(MailStore& store, const Address& recipient,
                             const std::vector<std::string>& local_domains, Reply<Route> done) {
  auto order =
      std::make_shared<const std::vector<std::string>>(lookup_order(recipient, local_domains));
  DomainTest is_local = [local_domains](std::string_view domain) {
    return std::find(local_domains.begin(), local_domains.end(), to_lower_ascii(domain)) !=
           local_domains.end();
  };
  resolve_from(store, std::move(order), 0, std::move(is_local), std::move(done));
}

Result<bool> postmaster_missing(Database& db, const std::vector<std::string>& local_domains) {
  if (local_domains.empty()) return false;
  auto route = resolve_with_postmaster(db, Address{"postmaster", ""}, local_domains);
  if (!route) return std::unexpected(route.error());
  return route->kind == Route::Kind::unknown;
}

}  // namespace postroom::store
