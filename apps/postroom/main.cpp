// postroom: the admin command (interface.md "Admin commands").
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>

#include "cli.hpp"
#include "postroom/store/postmaster.hpp"
#include "postroom/system/privileges.hpp"

using namespace postroom;
using namespace postroom::cli;

namespace {

constexpr const char* kHelp = R"(usage: postroom [--config PATH] COMMAND ...

  check-config                               validate the config file
  user add ADDRESS [--password-stdin]        create a mailbox
  user passwd ADDRESS [--password-stdin]     change its password
  user del ADDRESS                           delete a mailbox and its messages
  user list                                  ADDRESS<TAB>MESSAGES<TAB>BYTES<TAB>MAX-MESSAGES<TAB>
                                             MAX-BYTES (limits: - for none)
  user apop ADDRESS --password-stdin | --off enable APOP with its own secret, or disable it
  user quota ADDRESS [--bytes SIZE|none|unlimited] [--messages N|none|unlimited]
                                             show or set a mailbox's limits (none: the config's
                                             default; SIZE like 50M or 2GiB)
  domain quota DOMAIN [--bytes ...] [--messages ...]
                                             the same for all of a domain's mailboxes together
  domain list                                DOMAIN<TAB>MESSAGES<TAB>BYTES<TAB>MAX-MESSAGES<TAB>MAX-BYTES
  alias add ALIAS TARGET [TARGET...]         a local alias to local or remote addresses
  alias del ALIAS | alias list
  allow|block add|del ADDRESS|DOMAIN|NETWORK [LOCAL-DOMAIN|LOCAL-ADDRESS]
  allow|block list                           KIND<TAB>VALUE<TAB>SCOPE (* for everyone)
  queue list | show ID | retry [ID] | delete ID
  backup FILE                                a consistent copy of the database
  verify                                     check the whole store; exit 1 on a problem
  import mbox ADDRESS FILE                   load an mbox; X-UIDL header fields are kept as UIDLs
  import maildir ADDRESS DIR [--uidl-format F]
                                             load a Maildir; UIDLs from dovecot-uidlist (F is
                                             Dovecot's pop3_uidl_format, default %08Xu%08Xv)
                                             or courierpop3dsizelist are kept
  import pop3 ADDRESS --host HOST[:PORT] --user USER [--password-stdin]
              [--tls|--starttls] [--ca-file FILE|--insecure]
                                             copy a mailbox from the old POP3 server with its
                                             UIDLs; deletes nothing there; resumable
  dkim generate DOMAIN [--selector S] [--algorithm rsa|ed25519]
                                             a new signing key, published but not signing yet
  dkim list                                  DOMAIN SELECTOR ALGORITHM STATE NAME RECORD
  dkim activate DOMAIN SELECTOR              sign with it (then reload postroomd)
  dns-records [DOMAIN]                       every DNS record the office needs, to paste
  check-dns [DOMAIN]                         look them up: right, missing or wrong; blocklists
  mobileconfig ADDRESS                       an Apple mail profile for it (no password inside)
  vacation ADDRESS [--subject S] --message-file F [--from DATE] [--until DATE] [--days N]
                                             an away reply (RFC 3834), once per sender per N
                                             days (7); DATE is YYYY-MM-DD[THH:MM], local time
  vacation ADDRESS | vacation ADDRESS --off | vacation list
  device add ADDRESS NAME [--pop3] [--smtp] [--from ADDRESS]... [--rate N/h]
                                             a generated password for one device, printed once;
                                             only for the protocols given (default both), sending
                                             only as --from (default the mailbox's addresses)
  device list [ADDRESS]                      ADDRESS NAME PROTOCOLS FROM RATE CREATED LAST-USE
                                             LAST-ADDRESS
  device revoke ADDRESS NAME                 remove it: its next login fails (also: device del)
  retention set ADDRESS|DOMAIN [--retrieved D|never] [--max-age D|never] [--login-delay D|none]
                                             delete mail D after its first download, or any
                                             mail D old; least time between two POP3 logins
  retention clear ADDRESS|DOMAIN | list      back to the domain's or config's setting; the list
  retention show ADDRESS                     what is enforced for it, and its POP3 EXPIRE
  status [--json]                            the daemon, listeners, queue, certificate, errors;
                                             exit 1 when postroomd is not running
  migrate-store --to postgresql              copy the whole store into the empty PostgreSQL
                                             database of store.postgresql, verify, commit
                                             (postroomd stopped)
  sendmail [-t] [-i] [-f SENDER] [-F NAME] [RECIPIENT...] < MESSAGE
                                             submit a message to the local postroomd (also
                                             installed as sbin/sendmail); sysexits codes

The config is --config PATH, else $POSTROOM_CONFIG, else /etc/postroom/postroom.yaml.
)";

struct CommandSpec {
  std::string name;
  std::set<std::string> subcommands;  // empty: takes no subcommand
  std::set<std::string> flags;
  std::set<std::string> valued = {};  // flags that take a value: "--flag VALUE" or "--flag=VALUE"
};

const std::vector<CommandSpec> kCommands = {
    {"check-config", {}, {}},
    {"user",
     {"add", "passwd", "del", "list", "apop", "quota"},
     {"--password-stdin", "--off"},
     {"--bytes", "--messages"}},
    {"domain", {"quota", "list"}, {}, {"--bytes", "--messages"}},
    {"alias", {"add", "del", "list"}, {}},
    {"allow", {"add", "del", "list"}, {}},
    {"block", {"add", "del", "list"}, {}},
    {"queue", {"list", "show", "retry", "delete"}, {}},
    {"backup", {}, {}},
    {"verify", {}, {}},
    {"import",
     {"mbox", "maildir", "pop3"},
     {"--password-stdin", "--tls", "--starttls", "--insecure"},
     {"--host", "--user", "--ca-file", "--uidl-format"}},
    {"dkim", {"generate", "list", "activate"}, {}, {"--selector", "--algorithm"}},
    {"dns-records", {}, {}},
    {"check-dns", {}, {}},
    {"mobileconfig", {}, {}},
    {"vacation", {}, {"--off"}, {"--subject", "--message-file", "--from", "--until", "--days"}},
    {"device", {"add", "list", "revoke", "del"}, {"--pop3", "--smtp"}, {"--from", "--rate"}},
    {"retention",
     {"set", "clear", "list", "show"},
     {},
     {"--retrieved", "--max-age", "--login-delay"}},
    {"status", {}, {"--json"}},
    {"migrate-store", {}, {}, {"--to"}},
};

int run(int argc, char** argv);

// A warning, not an error: the config is valid, but mail to postmaster (RFC 5321 §4.5.1) will
// be refused. Looked up only in a database that exists; check-config creates nothing.
void warn_if_postmaster_missing(const config::Config& config) {
  // Not a SQLite file the daemon does not read (a store moved to PostgreSQL leaves it behind).
  if (config.store.backend != config::StoreBackend::sqlite) return;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(config.database_path(), ec)) return;
  auto db = store::Database::open(config.database_path(), {.create = false, .migrate = false});
  if (!db) return;
  auto missing = store::postmaster_missing(*db, config.domains);
  if (missing && *missing)
    std::cerr << "warning: no mailbox or alias postmaster@" << config.domains.front()
              << ": mail to postmaster is refused until one exists (postroom alias add postmaster@"
              << config.domains.front() << " YOU@" << config.domains.front() << ")\n";
}

}  // namespace

int main(int argc, char** argv) {
  // The database, its WAL and SHM and backups are for postroom's user only; and a password
  // typed here, or an APOP secret read, must not end up in a core file.
  ::umask(077);
  if (auto r = system::forbid_core_dumps(); !r) return failure(r.error().message);
  // Errors are values everywhere below; this only turns a missed exception into one line on
  // stderr and exit 1 instead of an abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return failure(std::string("internal error: ") + e.what());
  } catch (...) {
    return failure("internal error");
  }
}

namespace {

int run(int argc, char** argv) {
  // Called as sendmail (a symlink), or as `postroom [--config PATH] sendmail ...`: sendmail's
  // own options follow, which the admin command's parser would refuse.
  if (argc > 0 && std::filesystem::path(argv[0]).filename() == "sendmail")
    return sendmail_main(nullptr, std::vector<std::string>(argv + 1, argv + argc));
  {
    int at = 1;
    const char* config = nullptr;
    if (argc > 2 && std::string_view(argv[1]) == "--config") {
      config = argv[2];
      at = 3;
    } else if (argc > 1 && std::string_view(argv[1]).starts_with("--config=")) {
      config = argv[1] + 9;
      at = 2;
    }
    if (at < argc && std::string_view(argv[at]) == "sendmail")
      return sendmail_main(config, std::vector<std::string>(argv + at + 1, argv + argc));
  }
  std::vector<std::string> argv_words(argv + 1, argv + argc);
  const char* config_flag = nullptr;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < argv_words.size(); ++i) {
    const std::string& word = argv_words[i];
    if (word == "--config") {
      if (i + 1 >= argv_words.size()) return usage_error("--config needs a PATH");
      config_flag = argv[i + 2];  // argv_words[i] is argv[i + 1]
      ++i;
    } else if (word.rfind("--config=", 0) == 0) {
      config_flag = argv[i + 1] + 9;
    } else if (word == "--help" || word == "-h") {
      std::cout << kHelp;
      return kOk;
    } else {
      rest.push_back(word);
    }
  }
  if (rest.empty()) return usage_error("no command given");
  auto spec = std::find_if(kCommands.begin(), kCommands.end(),
                           [&](const CommandSpec& c) { return c.name == rest[0]; });
  if (spec == kCommands.end()) return usage_error("unknown command '" + rest[0] + "'");
  std::string sub;
  Args args;
  for (std::size_t i = 1; i < rest.size(); ++i) {
    const std::string& word = rest[i];
    if (word.rfind("--", 0) == 0 && spec->valued.contains(word.substr(0, word.find('=')))) {
      auto eq = word.find('=');
      std::string flag = word.substr(0, eq);
      if (eq == std::string::npos && i + 1 >= rest.size())
        return usage_error(flag + " needs a value");
      args.values[flag] = eq == std::string::npos ? rest[++i] : word.substr(eq + 1);
      args.all_values[flag].push_back(args.values[flag]);
    } else if (word.rfind("--", 0) == 0) {
      if (!spec->flags.contains(word)) return usage_error("unknown flag '" + word + "'");
      args.flags.push_back(word);
    } else if (!spec->subcommands.empty() && sub.empty()) {
      if (!spec->subcommands.contains(word))
        return usage_error("unknown command '" + spec->name + " " + word + "'");
      sub = word;
    } else {
      args.words.push_back(word);
    }
  }
  if (!spec->subcommands.empty() && sub.empty())
    return usage_error("'" + spec->name + "' needs a subcommand");

  std::string path = config::default_path(config_flag).string();
  if (spec->name == "check-config") {
    if (!args.words.empty()) return usage_error("check-config takes no arguments");
    auto config = load_config(path);
    if (!config) return kFailed;
    print_local_warnings(*config);
    warn_if_postmaster_missing(*config);
    std::cout << "ok\n";
    return kOk;
  }
  auto config = load_config(path);
  if (!config) return kFailed;
  Context ctx{std::move(*config), std::move(args)};
  set_command_name(sub.empty() ? spec->name : spec->name + " " + sub);
  if (spec->name == "user") return user_command(ctx, sub);
  if (spec->name == "domain") return domain_command(ctx, sub);
  if (spec->name == "alias") return alias_command(ctx, sub);
  if (spec->name == "allow" || spec->name == "block") return access_command(ctx, spec->name, sub);
  if (spec->name == "queue") return queue_command(ctx, sub);
  if (spec->name == "backup") return backup_command(ctx);
  if (spec->name == "verify") return verify_command(ctx);
  if (spec->name == "dkim") return dkim_command(ctx, sub);
  if (spec->name == "dns-records") return dns_records_command(ctx);
  if (spec->name == "check-dns") return check_dns_command(ctx);
  if (spec->name == "mobileconfig") return mobileconfig_command(ctx);
  if (spec->name == "vacation") return vacation_command(ctx);
  if (spec->name == "device") return device_command(ctx, sub);
  if (spec->name == "retention") return retention_command(ctx, sub);
  if (spec->name == "status") return status_command(ctx);
  if (spec->name == "migrate-store") return migrate_store_command(ctx);
  return import_command(ctx, sub);
}

}  // namespace
