// Shared helpers of the admin command: errors, config, store, addresses, passwords.
#include "cli.hpp"

#include <termios.h>
#include <unistd.h>
#include <ctime>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>

#include "postroom/base/wipe.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/system/data_dir.hpp"
#include "postroom/system/local_checks.hpp"

namespace postroom::cli {

bool Args::has(const std::string& flag) const {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

std::string format_time(std::int64_t unix_seconds) {
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

int usage_error(const std::string& message) {
  std::cerr << "postroom: " << message << " (see postroom --help)\n";
  return kUsage;
}

int failure(const std::string& message) {
  std::cerr << "postroom: " << message << "\n";
  return kFailed;
}

std::optional<config::Config> load_config(const std::string& path) {
  auto config = config::load(path);
  if (!config) {
    for (const auto& e : config.error()) std::cerr << e.str() << "\n";
    return std::nullopt;
  }
  return *config;
}

namespace {

// A daemon whose database file was removed keeps writing into the unlinked file (and
// refuses mail, see Writer): creating a fresh file under the same name would make the
// admin's changes invisible to it. /proc shows such a file as "PATH (deleted)".
std::optional<std::string> process_holding_removed(const std::filesystem::path& file) {
  std::error_code ec;
  std::string wanted =
      std::filesystem::absolute(file, ec).lexically_normal().string() + " (deleted)";
  // increment(ec), not a range-for: its operator++ throws when a process ends mid-listing.
  using Dir = std::filesystem::directory_iterator;
  for (Dir process("/proc", ec); !ec && process != Dir(); process.increment(ec)) {
    std::string pid = process->path().filename().string();
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
    std::error_code fd_ec;
    for (Dir fd(process->path() / "fd", fd_ec); !fd_ec && fd != Dir(); fd.increment(fd_ec)) {
      std::error_code link_ec;
      auto target = std::filesystem::read_symlink(fd->path(), link_ec);
      if (!link_ec && target.string() == wanted) return pid;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<system::Account> data_owner(const config::Config& config) {
  auto run_as = system::run_as(config);
  if (run_as.kind != system::RunAs::Kind::switch_to) return std::nullopt;
  return run_as.account;
}

namespace {
std::string command_name = "this command";
// The store commands that work on both backends (through open_admin_store).
constexpr const char* kPortedCommands =
    "user add|passwd|del|list|apop|quota, alias add|del|list, domain list|quota, "
    "device add|list|revoke|del, vacation, allow|block add|del|list, "
    "retention set|clear|list|show, queue list|show|retry|delete and status";
}  // namespace

void set_command_name(std::string name) {
  command_name = "`postroom " + name + "`";
}

Result<void> ready_data_dir(const config::Config& config) {
  auto notes =
      system::prepare_data_dir(config.data_dir, config.database_path(), data_owner(config));
  if (!notes) return std::unexpected(notes.error());
  for (const auto& note : *notes) std::cerr << "postroom: data_dir: " << note << "\n";
  return {};
}

Result<store::Database> open_store(const config::Config& config) {
  if (config.store.backend == config::StoreBackend::postgresql)
    return fail(command_name + " does not work on store.backend postgresql yet; " +
                kPortedCommands + " do (see README, \"More than one box\")");
  auto file = config.database_path();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (auto pid = process_holding_removed(file))
      return fail("the database " + file.string() + " was removed while process " + *pid +
                  " (postroomd) still uses it: that daemon refuses all mail until restarted; "
                  "restore the file or restart postroomd before changing anything");
  }
  if (auto ready = ready_data_dir(config); !ready) return std::unexpected(ready.error());
  auto owner = data_owner(config);
  auto db = store::Database::open(file);
  // Run as root, SQLite has just created root's files (a new database, its WAL and SHM):
  // they go to postroomd's account now, as the daemon must write them.
  if (db && owner) {
    if (auto handed = system::prepare_data_dir(config.data_dir, file, owner); !handed)
      return std::unexpected(handed.error());
  }
  return db;
}

void print_local_warnings(const config::Config& config) {
  std::string name = config.user.value_or(system::kDefaultUser);
  auto account = system::lookup_account(name);
  if (::geteuid() == 0) {
    if (auto run_as = system::run_as(config); run_as.kind == system::RunAs::Kind::refuse)
      std::cerr << "warning: postroomd started as root would refuse: " << run_as.message << "\n";
  } else if (config.user && !account) {
    std::cerr << "warning: user " << name << " does not exist: postroomd will not start\n";
  }
  for (const auto& line : system::report_data_dir(config.data_dir, config.database_path()))
    std::cerr << "warning: " << line << "\n";
  std::string group = account ? account->group : name;
  for (const auto& line : system::secret_file_warnings(config, group))
    std::cerr << "warning: " << line << "\n";
}

Result<Address> local_address(const config::Config& config, const std::string& text) {
  auto address = parse_address(text);
  if (!address) return fail("'" + text + "' is not a valid address: " + address.error().message);
  if (!config.is_local_domain(address->domain))
    return fail("'" + address->domain + "' is not one of the configured domains");
  return address;
}

Result<Mailbox> open_mailbox(const config::Config& config, const std::string& text) {
  auto address = local_address(config, text);
  if (!address) return std::unexpected(address.error());
  auto db = open_store(config);
  if (!db) return std::unexpected(db.error());
  auto account = store::find_account(*db, address->str());
  if (!account) return std::unexpected(account.error());
  if (!*account) return fail("no mailbox " + address->str());
  return Mailbox{std::move(*db), (*account)->id, address->str()};
}

namespace {

std::string read_line_no_echo(const char* prompt, bool& ok) {
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (!tty) {
    ok = false;
    return {};
  }
  std::fputs(prompt, tty);
  std::fflush(tty);
  termios old{};
  int fd = fileno(tty);
  bool have_termios = tcgetattr(fd, &old) == 0;
  if (have_termios) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string line;
  // Room for the longest password accepted, so growing never leaves copies behind.
  line.reserve(1100);
  int c;
  while ((c = std::fgetc(tty)) != EOF && c != '\n') line.push_back(static_cast<char>(c));
  if (have_termios) tcsetattr(fd, TCSAFLUSH, &old);
  std::fputs("\n", tty);
  std::fclose(tty);
  ok = true;
  return line;
}

}  // namespace

Result<std::string> read_password(const Args& args, bool confirm) {
  std::string password;
  password.reserve(1100);  // no reallocation, so no unwiped copy, for any accepted length
  if (args.has("--password-stdin")) {
    if (!std::getline(std::cin, password)) return fail("no password on standard input");
    if (!password.empty() && password.back() == '\r') password.pop_back();
  } else {
    bool ok = false;
    password = read_line_no_echo("Password: ", ok);
    if (!ok) return fail("no terminal to prompt for a password: use --password-stdin");
    if (confirm) {
      std::string again = read_line_no_echo("Repeat password: ", ok);
      bool same = again == password;
      wipe(again);
      if (!same) {
        wipe(password);
        return fail("the passwords do not match");
      }
    }
  }
  if (password.empty()) return fail("the password is empty");
  if (password.size() > 1024) {
    wipe(password);
    return fail("the password is longer than 1024 characters");
  }
  return password;
}

}  // namespace postroom::cli
