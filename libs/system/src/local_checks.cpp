// The config-aware local checks: who to run as, which secret files are too open.
#include "postroom/system/local_checks.hpp"

#include <grp.h>
#include <unistd.h>

#include "postroom/system/file_modes.hpp"

namespace postroom::system {

RunAs run_as(const config::Config& config) {
  return decide_run_as(::geteuid(), config.user, config.run_as_root, lookup_account);
}

std::string service_group(const RunAs& run_as) {
  if (run_as.account) return run_as.account->group;
  if (::getegid() != 0) {
    if (const group* g = ::getgrgid(::getegid())) return g->gr_name;
  }
  return kDefaultUser;
}

std::vector<std::string> secret_file_warnings(const config::Config& config,
                                              const std::string& group) {
  std::vector<std::string> out;
  if (config.tls) {
    if (auto w = check_secret_file(config.tls->key, "tls.key", group)) out.push_back(*w);
  }
  if (config.relay.smarthost && config.relay.smarthost->password_file) {
    if (auto w = check_secret_file(*config.relay.smarthost->password_file,
                                   "relay.smarthost.password_file", group))
      out.push_back(*w);
  }
  if (config.store.postgresql && config.store.postgresql->password_file) {
    if (auto w = check_secret_file(*config.store.postgresql->password_file,
                                   "store.postgresql.password_file", group))
      out.push_back(*w);
  }
  return out;
}

}  // namespace postroom::system
