// Per-device passwords on PostgreSQL.
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr Statement kFindDevice{
    "find_device",
    "SELECT d.id, a.address, d.name, d.password_hash, d.pop3, d.smtp, d.rate_per_hour,"
    " d.created_at FROM devices d JOIN accounts a ON a.id = d.account_id"
    " WHERE d.account_id = $1 AND d.selector = $2 AND a.deleting = 0"};
constexpr Statement kDeviceSenders{
    "device_senders", "SELECT address FROM device_senders WHERE device_id = $1 ORDER BY address"};
constexpr Statement kDeviceUse{"device_use",
                               "UPDATE devices SET last_used_at = $1, last_ip = $2 WHERE id = $3"};

}  // namespace

void PgMailStore::find_device(std::int64_t account, std::string selector,
                              Reply<std::optional<Device>> done) {
  auto out = std::make_shared<std::optional<Device>>();
  Unit unit{.begin = kReadSnapshot, .steps = {}};
  unit.steps.then(kFindDevice, Params().add(account).add(selector),
                  [out, account, selector](Rows& r, Steps& next) {
                    if (r.size() == 0) return PgResult<void>{};
                    Device d;
                    d.id = r.int64(0, 0);
                    d.account_id = account;
                    d.address = r.text(0, 1);
                    d.name = r.text(0, 2);
                    d.selector = selector;
                    d.password_hash = r.text(0, 3);
                    d.rights.pop3 = r.int64(0, 4) != 0;
                    d.rights.smtp = r.int64(0, 5) != 0;
                    d.rights.rate_per_hour = r.int64(0, 6);
                    d.created_at = r.int64(0, 7);
                    out->emplace(std::move(d));
                    next.then(kDeviceSenders, Params().add((*out)->id), [out](Rows& s, Steps&) {
                      for (int i = 0; i < s.size(); ++i)
                        (*out)->rights.senders.push_back(s.text(i, 0));
                      return PgResult<void>{};
                    });
                    return PgResult<void>{};
                  });
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::record_device_use(std::int64_t device, std::int64_t at, std::string ip,
                                    Reply<void> done) {
  Unit unit;
  // A device revoked meanwhile simply matches no row.
  unit.steps.then(kDeviceUse, Params().add(at).add(ip).add(device));
  answer(pool_, std::move(unit), std::move(done));
}

}  // namespace postroom::pgstore
