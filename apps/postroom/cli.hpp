// What every admin subcommand shares: parsed arguments, exit codes, the opened store.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/address.hpp"
#include "postroom/config/config.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/quotas.hpp"
#include "postroom/system/run_as.hpp"

namespace postroom::cli {

// interface.md: 0 success, 1 a well-formed command that failed, 2 a usage error.
enum Exit { kOk = 0, kFailed = 1, kUsage = 2 };

struct Args {
  std::vector<std::string> words;             // positional arguments after the command words
  std::vector<std::string> flags;             // --flags seen
  std::map<std::string, std::string> values;  // flags with a value: --selector S
  // Every value of a flag given more than once (--from A --from B), in order.
  std::map<std::string, std::vector<std::string>> all_values;
  bool has(const std::string& flag) const;
};

struct Context {
  config::Config config;
  Args args;
};

// A Unix time as ISO 8601 in UTC (2026-12-02T15:20:00Z), as every listing prints it.
std::string format_time(std::int64_t unix_seconds);

int usage_error(const std::string& message);
int failure(const std::string& message);

// The config, or nullopt after printing every error (the caller exits 1).
std::optional<config::Config> load_config(const std::string& path);
// The account that must own data_dir and what the admin command creates in it: the one
// postroomd switches to, when this command runs as root; nullopt otherwise.
std::optional<system::Account> data_owner(const config::Config& config);
// The command being run ("device add"), for open_store's refusal; main sets it.
void set_command_name(std::string name);
// Makes data_dir ready for what an admin command writes there (private, and when run as
// root owned by data_owner()); prints what it changed.
Result<void> ready_data_dir(const config::Config& config);
// Opens (creating and migrating when missing) the SQLite database named by the config;
// data_dir and the database are created private and, when run as root, owned by
// data_owner(). With store.backend postgresql it refuses, naming the command: the commands
// ported to PostgreSQL go through open_admin_store (admin_store.hpp) instead, and no other
// may change a SQLite file the daemon does not read.
Result<store::Database> open_store(const config::Config& config);
// check-config's local checks (data_dir modes, secret files, the account): warnings on
// stderr, changing nothing.
void print_local_warnings(const config::Config& config);
// Parses ADDRESS and checks that its domain is one of `domains`.
Result<Address> local_address(const config::Config& config, const std::string& text);
// The store and the mailbox ADDRESS names, for the commands that write into one.
struct Mailbox {
  store::Database db;
  std::int64_t account = 0;
  std::string address;  // as stored (lower-case)
};
Result<Mailbox> open_mailbox(const config::Config& config, const std::string& text);
// Reads a password: one line of stdin with --password-stdin, else a prompt without echo.
Result<std::string> read_password(const Args& args, bool confirm);

int user_command(Context& ctx, const std::string& sub);
int alias_command(Context& ctx, const std::string& sub);
int access_command(Context& ctx, const std::string& list, const std::string& sub);
int queue_command(Context& ctx, const std::string& sub);
int backup_command(Context& ctx);
int import_command(Context& ctx, const std::string& sub);
int import_pop3_command(Context& ctx);
int verify_command(Context& ctx);
int dkim_command(Context& ctx, const std::string& sub);
int dns_records_command(Context& ctx);
int check_dns_command(Context& ctx);
int mobileconfig_command(Context& ctx);
int vacation_command(Context& ctx);
int device_command(Context& ctx, const std::string& sub);
int retention_command(Context& ctx, const std::string& sub);
int status_command(Context& ctx);
int migrate_store_command(Context& ctx);
// The sendmail-compatible command: `args` are sendmail's arguments; returns a sysexits code.
int sendmail_main(const char* config_flag, const std::vector<std::string>& args);
int user_quota_command(Context& ctx);
int domain_command(Context& ctx, const std::string& sub);
// The config's quota section as the store takes it, and a mailbox's or domain's limits as
// the list commands print them: MAX-MESSAGES<TAB>MAX-BYTES, "-" for none.
store::QuotaDefaults quota_defaults(const config::Config& config);
std::string quota_columns(const store::QuotaLimit& limit);

}  // namespace postroom::cli
