// The PostgreSQL store's own state; its operations live in the *_ops.cpp files by concern.
#include "postroom/pgstore/pg_mail_store.hpp"

#include "write_lanes.hpp"

namespace postroom::pgstore {

PgMailStore::PgMailStore(Pool& pool, PgMailStoreOptions options)
    : pool_(pool),
      options_(options),
      lanes_(std::make_unique<WriteLanes>(pool)),
      account_lanes_(std::make_unique<WriteLanes>(pool)) {}

PgMailStore::~PgMailStore() = default;

// PostgreSQL manages its own caches; nothing to give back from here.
void PgMailStore::release_memory() {}
// There is no local file to lose: a lost server shows as connection errors instead.
bool PgMailStore::file_lost() const {
  return false;
}
std::size_t PgMailStore::writes_in_flight() const {
  return *writes_in_flight_;
}

}  // namespace postroom::pgstore
