// postroom import pop3 ADDRESS --host HOST[:PORT] --user U: copies a mailbox from the old
// server with every message's UIDL as that server gave it, so POP3 clients that leave mail
// on the server see the same UIDLs after the move and download nothing again.
#include <unistd.h>

#include <iostream>
#include <map>

#include "cli.hpp"
#include "import_batches.hpp"
#include "pop3_client.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::cli {

namespace {

constexpr const char* kPop3Usage =
    "usage: postroom import pop3 ADDRESS --host HOST[:PORT] --user USER [--password-stdin]"
    " [--tls|--starttls] [--ca-file FILE|--insecure]";

struct Fetched {
  std::string uidl;
  std::string bytes;
};

// Writes fetched messages in one transaction: the network is never waited on while the
// database is locked, so the daemon's writer is not held up by a slow old server.
Result<void> flush(ImportBatches& batches, std::vector<Fetched>& fetched, ImportCounts& counts) {
  for (auto& message : fetched) {
    if (auto r = batches.begin_message(); !r) return r;
    if (auto r = batches.add(message.bytes); !r) return r;
    auto outcome = batches.end_message(message.uidl, message.uidl);
    if (!outcome) return std::unexpected(outcome.error());
    counts.count(*outcome, message.uidl);
  }
  fetched.clear();
  return batches.commit();
}

Result<ImportCounts> copy_mailbox(Pop3Client& client, store::Database& db, std::int64_t account,
                                  ImportBatches& batches) {
  auto remote = client.list();
  if (!remote) return std::unexpected(remote.error());
  auto resumed = batches.resume();
  if (!resumed) return std::unexpected(resumed.error());
  // Resuming is by UIDL: what the mailbox holds already is not fetched again.
  std::map<std::string, std::uint64_t, std::less<>> present;
  auto mailbox = store::list_mailbox(db, account);
  if (!mailbox) return std::unexpected(mailbox.error());
  for (auto& entry : *mailbox) present.emplace(std::move(entry.uidl), entry.pop3_size);

  std::uint64_t total = 0, done = 0;
  for (const auto& message : *remote) total += message.size;
  ImportCounts counts;
  std::vector<Fetched> fetched;
  std::uint64_t fetched_bytes = 0;
  auto started = std::chrono::steady_clock::now();
  bool tty = isatty(STDERR_FILENO);
  int shown = -1;
  auto show = [&] {
    int all = counts.added + counts.already_there;
    if (tty) {
      progress(done, total, all);
    } else if (all / 100 != shown / 100 || all == static_cast<int>(remote->size())) {
      // Without a terminal, a plain count every hundred messages.
      std::cerr << all << " of " << remote->size() << " messages\n";
      shown = all;
    }
  };
  for (const auto& message : *remote) {
    if (auto it = present.find(message.uidl); it != present.end() && it->second == message.size) {
      // Same UIDL and the same size: brought by an earlier run. RFC 1939's LIST size is
      // what RETR sends, which is what was stored. When the sizes differ (Dovecot leaves
      // out the CRLF it adds to an unterminated last line), the message is fetched and
      // end_message compares the octets.
      ++counts.already_there;
      done += message.size;
      continue;
    }
    Fetched current{message.uidl, {}};
    current.bytes.reserve(message.size);
    auto got = client.retrieve(message.number, [&](std::string_view bytes) -> Result<void> {
      current.bytes.append(bytes);
      return {};
    });
    if (!got) {
      // The messages that arrived whole before the old server failed are kept: a second
      // run starts after them instead of fetching them again over the same flaky link.
      if (auto r = flush(batches, fetched, counts); !r) return std::unexpected(r.error());
      return std::unexpected(got.error());
    }
    present.emplace(message.uidl, message.size);
    done += message.size;
    fetched_bytes += current.bytes.size();
    fetched.push_back(std::move(current));
    if (fetched_bytes >= kBatchBytes || fetched.size() >= kBatchMessages ||
        std::chrono::steady_clock::now() - started >= kBatchTime) {
      if (auto r = flush(batches, fetched, counts); !r) return std::unexpected(r.error());
      fetched_bytes = 0;
      started = std::chrono::steady_clock::now();
      show();
    }
  }
  if (auto r = flush(batches, fetched, counts); !r) return std::unexpected(r.error());
  show();
  return counts;
}

}  // namespace

int import_pop3_command(Context& ctx) {
  const Args& args = ctx.args;
  if (args.words.size() != 1 || !args.values.contains("--host") || !args.values.contains("--user"))
    return usage_error(kPop3Usage);
  if (args.has("--tls") && args.has("--starttls"))
    return usage_error("--tls and --starttls exclude each other");
  if (args.has("--insecure") && args.values.contains("--ca-file"))
    return usage_error("--ca-file and --insecure exclude each other");
  if (args.values.contains("--uidl-format"))
    return usage_error("--uidl-format is for import maildir (a POP3 server names its own UIDLs)");
  Pop3Options options;
  options.tls = args.has("--tls")        ? Pop3Options::Tls::implicit
                : args.has("--starttls") ? Pop3Options::Tls::starttls
                                         : Pop3Options::Tls::none;
  if ((args.has("--insecure") || args.values.contains("--ca-file")) &&
      options.tls == Pop3Options::Tls::none)
    return usage_error("--ca-file and --insecure need --tls or --starttls");
  auto host = parse_host_port(args.values.at("--host"),
                              options.tls == Pop3Options::Tls::implicit ? 995 : 110);
  if (!host) return usage_error(host.error().message);
  options.host = host->first;
  options.port = host->second;
  if (auto it = args.values.find("--ca-file"); it != args.values.end())
    options.ca_file = it->second;
  options.verify = !args.has("--insecure");

  auto mailbox = open_mailbox(ctx.config, args.words[0]);
  if (!mailbox) return failure(mailbox.error().message);
  store::Database* db = &mailbox->db;
  auto password = read_password(args, false);
  if (!password) return failure(password.error().message);

  const std::string& user = args.values.at("--user");
  auto client = Pop3Client::connect(options);
  if (!client) return failure(client.error().message);
  auto login = (*client)->login(user, *password);
  wipe(*password);
  if (!login) return failure(login.error().message);
  ImportBatches batches(*db, mailbox->account,
                        "pop3:" + user + "@" + options.host + ":" + std::to_string(options.port));
  auto counts = copy_mailbox(**client, *db, mailbox->account, batches);
  if (isatty(STDERR_FILENO)) std::cerr << "\n";
  if (!counts)
    return failure(counts.error().message + " (" + std::to_string(batches.imported()) +
                   " messages were imported; run the same command again to resume)");
  // QUIT after no DELE: the old server's UPDATE state removes nothing. A failed QUIT loses
  // nothing here either, so it is only reported.
  if (auto r = (*client)->quit(); !r) std::cerr << "warning: " << r.error().message << "\n";
  std::cout << "imported " << counts->added << " messages into " << mailbox->address << " ("
            << counts->already_there << " there already";
  if (counts->conflicts) std::cout << ", " << counts->conflicts << " UIDL conflicts not imported";
  std::cout << ")\n";
  return counts->conflicts ? kFailed : kOk;
}

}  // namespace postroom::cli
