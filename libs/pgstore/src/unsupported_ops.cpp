// The MailStore operations the PostgreSQL store does not offer yet: each answers a typed
// not_supported error, never a success it did not earn.
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

void PgMailStore::expired_mail_accounts(RetentionPolicy, std::int64_t,
                                        Reply<ExpiredMailboxes> done) {
  not_supported(pool_, "expired_mail_accounts", std::move(done));
}
void PgMailStore::purge_expired(RetentionPolicy, std::int64_t, std::vector<std::int64_t>, int,
                                Reply<int> done) {
  not_supported(pool_, "purge_expired", std::move(done));
}
// PostgreSQL manages its own caches; nothing to give back from here.
void PgMailStore::release_memory() {}
// There is no local file to lose: a lost server shows as connection errors instead.
bool PgMailStore::file_lost() const {
  return false;
}
std::size_t PgMailStore::writes_in_flight() const {
  return writes_in_flight_;
}

}  // namespace postroom::pgstore
