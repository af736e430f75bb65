// postroom backup FILE, verify, import mbox ADDRESS FILE, import maildir ADDRESS DIR.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "import_batches.hpp"
#include "postroom/base/file.hpp"
#include "postroom/pop3/client_protocol.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/imports.hpp"
#include "postroom/store/mbox.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/queue.hpp"
#include "postroom/store/uidl_sources.hpp"
#include "postroom/store/verify.hpp"
#include "postroom/system/data_dir.hpp"

namespace postroom::cli {

namespace fs = std::filesystem;

int backup_command(Context& ctx) {
  if (ctx.args.words.size() != 1) return usage_error("usage: postroom backup FILE");
  auto db = open_store(ctx.config);
  if (!db) return failure(db.error().message);
  if (auto r = store::backup(*db, ctx.args.words[0]); !r) return failure(r.error().message);
  // Created 0600 under the umask set in main; run as root, it goes to postroomd's account.
  if (auto r = system::hand_over(ctx.args.words[0], data_owner(ctx.config)); !r)
    return failure(r.error().message);
  std::cout << "backup written to " << ctx.args.words[0] << "\n";
  return kOk;
}

int verify_command(Context& ctx) {
  if (!ctx.args.words.empty()) return usage_error("usage: postroom verify");
  auto db = open_store(ctx.config);
  if (!db) return failure(db.error().message);
  auto report = store::verify_store(*db);
  if (!report) return failure("cannot verify the store: " + report.error().message);
  for (const auto& problem : report->problems) std::cout << "problem: " << problem << "\n";
  std::cout << report->contents << " messages, " << report->deliveries << " mailbox entries, "
            << report->queued << " queued, " << report->open_contents
            << " being written or abandoned\n";
  if (!report->problems.empty()) {
    std::cout << report->problems.size() << " problem(s) found\n";
    return kFailed;
  }
  std::cout << "ok\n";
  return kOk;
}

namespace {

// Files are read with stdio, not iostreams: libstdc++'s filebuf throws on a read error
// (EIO, EISDIR), and the import must report that as an error like any other.
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Result<File> open_for_reading(const fs::path& file) {
  if (auto r = check_readable_file(file); !r)
    return fail("cannot read " + file.string() + ": " + r.error().message);
  File f(std::fopen(file.c_str(), "rb"));
  if (!f) return fail("cannot read " + file.string() + ": " + std::strerror(errno));
  return f;
}

// An old server's UIDL when it is a valid one (RFC 1939 §7); otherwise the message gets a
// new UIDL, and the admin is told why.
std::optional<std::string> usable_uidl(std::optional<std::string> uidl, std::string_view where) {
  if (!uidl || pop3::valid_uidl(*uidl)) return uidl;
  std::cerr << "warning: " << where << ": UIDL '" << *uidl
            << "' is not a valid POP3 unique-id: the message gets a new one\n";
  return std::nullopt;
}

// mbox: messages are counted from the top; a resumed import skips the ones already in.
// A message's X-UIDL header field, when it has one, is its UIDL.
Result<ImportCounts> import_mbox(ImportBatches& batches, const fs::path& file) {
  auto in = open_for_reading(file);
  if (!in) return std::unexpected(in.error());
  std::error_code ec;
  std::uint64_t total = fs::file_size(file, ec);
  auto resumed = batches.resume();
  if (!resumed) return std::unexpected(resumed.error());
  // The position is the number of the last message done (added, or found there already).
  int skip = resumed->position.empty() ? resumed->messages : std::atoi(resumed->position.c_str());
  if (skip > 0) std::cerr << "resuming after " << skip << " messages done before\n";
  // Enough of each message's start to hold its header section's X-UIDL field.
  constexpr std::size_t kHeaderScan = 64 * 1024;
  Result<void> status{};
  ImportCounts counts;
  int index = 0;  // of the message being read, from 1
  bool writing = false;
  std::string head;
  store::MboxReader reader(
      [&] {
        ++index;
        writing = index > skip;
        head.clear();
        if (writing && status) status = batches.begin_message();
      },
      [&](std::string_view bytes) {
        if (!writing || !status) return;
        if (head.size() < kHeaderScan) head.append(bytes.substr(0, kHeaderScan - head.size()));
        status = batches.add(bytes);
      },
      [&] {
        if (!writing || !status) return;
        auto uidl = usable_uidl(store::find_x_uidl(head),
                                file.string() + " message " + std::to_string(index));
        auto outcome = batches.end_message(std::to_string(index), uidl);
        if (!outcome) {
          status = std::unexpected(outcome.error());
          return;
        }
        counts.count(*outcome, uidl);
      });
  // getline(3)'s buffer, which it grows with realloc.
  struct LineBuffer {
    char* data = nullptr;
    std::size_t capacity = 0;
    ~LineBuffer() { std::free(data); }
  } buffer;
  std::uint64_t done = 0;
  int last_percent = -1;
  ssize_t length;
  // getline keeps the '\n' (the reader expects it) and any NUL bytes inside the line.
  while ((length = ::getline(&buffer.data, &buffer.capacity, in->get())) > 0) {
    std::string_view line(buffer.data, static_cast<std::size_t>(length));
    done += line.size();
    reader.line(line);
    if (!status) return std::unexpected(status.error());
    int percent = total ? static_cast<int>(done * 100 / total) : 100;
    if (percent != last_percent) progress(done, total, index), last_percent = percent;
  }
  if (std::ferror(in->get())) return fail("cannot read " + file.string() + ": read error");
  reader.finish();
  if (!status) return std::unexpected(status.error());
  if (auto r = batches.commit(); !r) return std::unexpected(r.error());
  progress(total, total, reader.messages());
  return counts;
}

// Where a Maildir's UIDLs come from: Dovecot's dovecot-uidlist (with its POP3 UIDL format)
// or Courier's courierpop3dsizelist; with neither, messages get new UIDLs.
struct MaildirUidls {
  std::optional<store::DovecotUidlist> dovecot;
  std::optional<store::CourierSizelist> courier;
  std::string format;  // Dovecot's pop3_uidl_format

  // The UIDL the old server gave the file, if it gave one.
  Result<std::optional<std::string>> of(std::string_view filename) const {
    auto base = store::maildir_base_name(filename);
    if (dovecot) {
      auto it = dovecot->by_base_name.find(base);
      if (it == dovecot->by_base_name.end()) return std::optional<std::string>{};
      // A UIDL Dovecot saved for the message (migrated, or pop3_save_uidl) beats the format.
      if (!it->second.pop3_uidl.empty()) return std::optional<std::string>{it->second.pop3_uidl};
      std::string_view guid = it->second.guid.empty() ? base : it->second.guid;
      auto uidl = store::expand_uidl_format(format, {.uid = it->second.uid,
                                                     .uidvalidity = dovecot->uidvalidity,
                                                     .filename = base,
                                                     .guid = guid});
      if (!uidl) return std::unexpected(uidl.error());
      return std::optional<std::string>{std::move(*uidl)};
    }
    if (courier) {
      auto it = courier->find(base);
      if (it != courier->end()) return std::optional<std::string>{it->second};
    }
    return std::optional<std::string>{};
  }
  // The order files are imported in, as a string that sorts that way and marks where a
  // resumed import goes on: with a dovecot-uidlist, listed files by UID (Dovecot's POP3
  // order) and then the others by name; otherwise by name (names start with the time).
  std::string sort_key(std::string_view filename) const {
    if (!dovecot) return std::string(filename);
    auto it = dovecot->by_base_name.find(store::maildir_base_name(filename));
    if (it == dovecot->by_base_name.end()) return "2:" + std::string(filename);
    char key[16];
    std::snprintf(key, sizeof key, "1:%010u", it->second.uid);
    return key;
  }
};

Result<std::string> read_small_file(const fs::path& file) {
  auto in = open_for_reading(file);
  if (!in) return std::unexpected(in.error());
  std::string text;
  char buffer[64 * 1024];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, in->get())) > 0) text.append(buffer, n);
  if (std::ferror(in->get())) return fail("cannot read " + file.string() + ": read error");
  return text;
}

Result<MaildirUidls> maildir_uidls(const fs::path& dir, const std::string& format) {
  MaildirUidls out{{}, {}, format};
  std::error_code ec;
  if (fs::exists(dir / "dovecot-uidlist", ec)) {
    auto text = read_small_file(dir / "dovecot-uidlist");
    if (!text) return std::unexpected(text.error());
    auto list = store::parse_dovecot_uidlist(*text);
    if (!list) return fail((dir / "dovecot-uidlist").string() + ": " + list.error().message);
    out.dovecot = std::move(*list);
  } else if (fs::exists(dir / "courierpop3dsizelist", ec)) {
    auto text = read_small_file(dir / "courierpop3dsizelist");
    if (!text) return std::unexpected(text.error());
    auto list = store::parse_courier_sizelist(*text);
    if (!list) return fail((dir / "courierpop3dsizelist").string() + ": " + list.error().message);
    out.courier = std::move(*list);
  }
  return out;
}

// Maildir: files in the order MaildirUidls::sort_key gives; a resumed import starts after
// the last key it committed.
Result<ImportCounts> import_maildir(ImportBatches& batches, const fs::path& dir,
                                    const MaildirUidls& uidls) {
  // Every filesystem call takes an error_code: the throwing forms would end the command
  // with an abort on a permission problem.
  std::vector<std::pair<std::string, fs::path>> files;  // sort key, path
  bool maildir = false;
  for (const char* sub : {"cur", "new"}) {
    std::error_code ec;
    if (!fs::is_directory(dir / sub, ec)) continue;
    maildir = true;
    fs::directory_iterator it(dir / sub, ec);
    if (ec) return fail("cannot list " + (dir / sub).string() + ": " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) return fail("cannot list " + (dir / sub).string() + ": " + ec.message());
      std::error_code type_error;
      if (it->is_regular_file(type_error))
        files.emplace_back(uidls.sort_key(it->path().filename().string()), it->path());
    }
    if (ec) return fail("cannot list " + (dir / sub).string() + ": " + ec.message());
  }
  if (!maildir) return fail(dir.string() + " is not a Maildir (no cur/ or new/)");
  std::sort(files.begin(), files.end());
  auto resumed = batches.resume();
  if (!resumed) return std::unexpected(resumed.error());
  const std::string& after = resumed->position;
  if (!after.empty())
    std::cerr << "resuming after " << resumed->messages << " messages imported before\n";
  ImportCounts counts;
  std::size_t seen = 0;
  for (const auto& [key, file] : files) {
    ++seen;
    std::string name = file.filename().string();
    if (!after.empty() && key <= after) continue;
    auto uidl = uidls.of(name);
    if (!uidl) return std::unexpected(uidl.error());
    auto kept = usable_uidl(*uidl, file.string());
    auto in = open_for_reading(file);
    if (!in) return std::unexpected(in.error());
    if (auto r = batches.begin_message(); !r) return std::unexpected(r.error());
    char buffer[64 * 1024];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, in->get())) > 0) {
      if (auto r = batches.add(std::string_view(buffer, n)); !r) return std::unexpected(r.error());
    }
    if (std::ferror(in->get())) return fail("cannot read " + file.string() + ": read error");
    auto outcome = batches.end_message(key, kept);
    if (!outcome) return std::unexpected(outcome.error());
    counts.count(*outcome, kept);
    progress(seen, files.size(), counts.added);
  }
  if (auto r = batches.commit(); !r) return std::unexpected(r.error());
  return counts;
}

}  // namespace

int import_command(Context& ctx, const std::string& sub) {
  if (sub == "pop3") return import_pop3_command(ctx);
  const Args& args = ctx.args;
  if (args.words.size() != 2)
    return usage_error("usage: postroom import " + sub +
                       (sub == "mbox" ? " ADDRESS FILE" : " ADDRESS DIR [--uidl-format FORMAT]"));
  for (const char* flag : {"--host", "--user", "--ca-file"})
    if (args.values.contains(flag)) return usage_error(std::string(flag) + " is for import pop3");
  for (const char* flag : {"--password-stdin", "--tls", "--starttls", "--insecure"})
    if (args.has(flag)) return usage_error(std::string(flag) + " is for import pop3");
  if (sub == "mbox" && args.values.contains("--uidl-format"))
    return usage_error("--uidl-format is for import maildir");
  // Dovecot's default pop3_uidl_format; an office that changed it passes its own.
  std::string format = "%08Xu%08Xv";
  if (auto it = args.values.find("--uidl-format"); it != args.values.end()) format = it->second;
  if (auto r = store::expand_uidl_format(format, {}); !r)
    return usage_error("--uidl-format: " + r.error().message);
  auto mailbox = open_mailbox(ctx.config, args.words[0]);
  if (!mailbox) return failure(mailbox.error().message);
  store::Database* db = &mailbox->db;
  std::error_code ec;
  fs::path source = fs::absolute(args.words[1], ec);
  if (ec) return failure("cannot resolve " + args.words[1] + ": " + ec.message());
  source = source.lexically_normal();
  Result<ImportCounts> counts = ImportCounts{};
  std::optional<ImportBatches> batches;
  if (sub == "mbox") {
    batches.emplace(*db, mailbox->account, "mbox:" + source.string());
    counts = import_mbox(*batches, source);
  } else {
    auto uidls = maildir_uidls(source, format);
    if (!uidls) return failure(uidls.error().message);
    // A dovecot-uidlist changes the order and so the meaning of the resume position.
    batches.emplace(*db, mailbox->account,
                    (uidls->dovecot ? "maildir-uidlist:" : "maildir:") + source.string());
    counts = import_maildir(*batches, source, *uidls);
  }
  if (isatty(STDERR_FILENO)) std::cerr << "\n";
  if (!counts)
    return failure(counts.error().message + " (" + std::to_string(batches->imported()) +
                   " messages were imported; run the same command again to resume)");
  std::cout << "imported " << counts->added << " messages into " << mailbox->address;
  if (counts->already_there || counts->conflicts) {
    std::cout << " (" << counts->already_there << " there already";
    if (counts->conflicts) std::cout << ", " << counts->conflicts << " UIDL conflicts not imported";
    std::cout << ")";
  }
  std::cout << "\n";
  return counts->conflicts ? kFailed : kOk;
}

}  // namespace postroom::cli
