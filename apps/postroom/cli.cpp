// Shared helpers of the admin command: errors, config, store, addresses, passwords.
#include "cli.hpp"

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

namespace postroom::cli {

bool Args::has(const std::string& flag) const {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
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

Result<store::Database> open_store(const config::Config& config) {
  return store::Database::open(config.database_path());
}

Result<Address> local_address(const config::Config& config, const std::string& text) {
  auto address = parse_address(text);
  if (!address) return fail("'" + text + "' is not a valid address: " + address.error().message);
  if (!config.is_local_domain(address->domain))
    return fail("'" + address->domain + "' is not one of the configured domains");
  return address;
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
  if (args.has("--password-stdin")) {
    if (!std::getline(std::cin, password)) return fail("no password on standard input");
    if (!password.empty() && password.back() == '\r') password.pop_back();
  } else {
    bool ok = false;
    password = read_line_no_echo("Password: ", ok);
    if (!ok) return fail("no terminal to prompt for a password: use --password-stdin");
    if (confirm) {
      std::string again = read_line_no_echo("Repeat password: ", ok);
      if (again != password) return fail("the passwords do not match");
    }
  }
  if (password.empty()) return fail("the password is empty");
  if (password.size() > 1024) return fail("the password is longer than 1024 characters");
  return password;
}

}  // namespace postroom::cli
