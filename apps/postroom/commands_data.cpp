// postroom backup FILE, import mbox ADDRESS FILE, import maildir ADDRESS DIR.
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
#include "postroom/base/file.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/imports.hpp"
#include "postroom/store/mbox.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/queue.hpp"
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

// An import commits in short transactions, so the daemon's writer (which waits at most
// its busy timeout for the lock) never notices it. Each batch commits together with the
// import's position: cut short anywhere, a second run resumes after the last batch and
// adds each message once.
constexpr std::uint64_t kBatchBytes = 8 * 1024 * 1024;
constexpr int kBatchMessages = 500;
constexpr auto kBatchTime = std::chrono::milliseconds(250);

// A progress line on a terminal; nothing when stderr is a file or a pipe.
void progress(std::uint64_t done, std::uint64_t total, int messages) {
  if (!isatty(STDERR_FILENO)) return;
  int percent = total ? static_cast<int>(done * 100 / total) : 100;
  int filled = percent / 5;
  std::cerr << "\r[" << std::string(filled, '#') << std::string(20 - filled, ' ') << "] " << percent
            << "% " << messages << " messages" << std::flush;
}

// Messages written into one account, batch by batch, with the import's position.
class ImportBatches {
 public:
  ImportBatches(store::Database& db, std::int64_t account, std::string source)
      : db_(db), account_(account), source_(std::move(source)) {}

  // What an earlier run of the same import got through.
  Result<store::ImportPosition> resume() {
    auto found = store::import_position(db_, account_, source_);
    if (!found) return std::unexpected(found.error());
    committed_ = *found;
    return committed_;
  }

  Result<void> begin_message() {
    if (!tx_) {
      auto tx = store::Transaction::begin(db_);
      if (!tx) return std::unexpected(tx.error());
      tx_.emplace(std::move(*tx));
      batch_started_ = std::chrono::steady_clock::now();
      batch_bytes_ = 0;
      batch_messages_ = 0;
    }
    writer_.emplace(db_);
    return writer_->begin();
  }
  Result<void> add(std::string_view bytes) { return writer_->add(bytes); }
  // The message is in the batch; `position` says where the source resumes after it.
  Result<void> end_message(std::string position) {
    auto stored = writer_->commit(store::Destination{{account_}, std::nullopt});
    if (!stored) return std::unexpected(stored.error());
    batch_bytes_ += writer_->size();
    ++batch_messages_;
    pending_ = {std::move(position), committed_.messages + batch_messages_};
    if (batch_bytes_ >= kBatchBytes || batch_messages_ >= kBatchMessages ||
        std::chrono::steady_clock::now() - batch_started_ >= kBatchTime)
      return commit();
    return {};
  }
  Result<void> commit() {
    if (!tx_) return {};
    if (auto r = store::save_import_position(db_, account_, source_, pending_); !r) return r;
    if (auto r = tx_->commit(); !r) return r;
    tx_.reset();
    committed_ = pending_;
    return {};
  }
  int imported() const { return committed_.messages; }

 private:
  store::Database& db_;
  std::int64_t account_;
  std::string source_;
  std::optional<store::Transaction> tx_;
  std::optional<store::MessageWriter> writer_;
  store::ImportPosition committed_, pending_;
  std::chrono::steady_clock::time_point batch_started_;
  std::uint64_t batch_bytes_ = 0;
  int batch_messages_ = 0;
};

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

// mbox: messages are counted from the top; a resumed import skips the ones already in.
Result<int> import_mbox(ImportBatches& batches, const fs::path& file) {
  auto in = open_for_reading(file);
  if (!in) return std::unexpected(in.error());
  std::error_code ec;
  std::uint64_t total = fs::file_size(file, ec);
  auto resumed = batches.resume();
  if (!resumed) return std::unexpected(resumed.error());
  int skip = resumed->messages;
  if (skip > 0) std::cerr << "resuming after " << skip << " messages imported before\n";
  Result<void> status{};
  int index = 0;  // of the message being read, from 1
  bool writing = false;
  store::MboxReader reader(
      [&] {
        ++index;
        writing = index > skip;
        if (writing && status) status = batches.begin_message();
      },
      [&](std::string_view bytes) {
        if (writing && status) status = batches.add(bytes);
      },
      [&] {
        if (writing && status) status = batches.end_message(std::to_string(index));
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
  return index - skip;
}

// Maildir: files in name order (the names start with the delivery time); a resumed
// import starts after the last name it committed.
Result<int> import_maildir(ImportBatches& batches, const fs::path& dir) {
  // Every filesystem call takes an error_code: the throwing forms would end the command
  // with an abort on a permission problem.
  std::vector<fs::path> files;
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
      if (it->is_regular_file(type_error)) files.push_back(it->path());
    }
    if (ec) return fail("cannot list " + (dir / sub).string() + ": " + ec.message());
  }
  if (!maildir) return fail(dir.string() + " is not a Maildir (no cur/ or new/)");
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  auto resumed = batches.resume();
  if (!resumed) return std::unexpected(resumed.error());
  const std::string& after = resumed->position;
  if (!after.empty())
    std::cerr << "resuming after " << resumed->messages << " messages imported before\n";
  int count = 0;
  std::size_t seen = 0;
  for (const auto& file : files) {
    ++seen;
    std::string name = file.filename().string();
    if (!after.empty() && name <= after) continue;
    auto in = open_for_reading(file);
    if (!in) return std::unexpected(in.error());
    if (auto r = batches.begin_message(); !r) return std::unexpected(r.error());
    char buffer[64 * 1024];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, in->get())) > 0) {
      if (auto r = batches.add(std::string_view(buffer, n)); !r) return std::unexpected(r.error());
    }
    if (std::ferror(in->get())) return fail("cannot read " + file.string() + ": read error");
    if (auto r = batches.end_message(name); !r) return std::unexpected(r.error());
    ++count;
    progress(seen, files.size(), count);
  }
  if (auto r = batches.commit(); !r) return std::unexpected(r.error());
  return count;
}

}  // namespace

int import_command(Context& ctx, const std::string& sub) {
  if (ctx.args.words.size() != 2)
    return usage_error("usage: postroom import " + sub +
                       (sub == "mbox" ? " ADDRESS FILE" : " ADDRESS DIR"));
  auto address = local_address(ctx.config, ctx.args.words[0]);
  if (!address) return failure(address.error().message);
  auto db = open_store(ctx.config);
  if (!db) return failure(db.error().message);
  auto account = store::find_account(*db, address->str());
  if (!account) return failure(account.error().message);
  if (!*account) return failure("no mailbox " + address->str());
  std::error_code ec;
  fs::path source = fs::absolute(ctx.args.words[1], ec);
  if (ec) return failure("cannot resolve " + ctx.args.words[1] + ": " + ec.message());
  ImportBatches batches(*db, (*account)->id, sub + ":" + source.lexically_normal().string());
  auto count = sub == "mbox" ? import_mbox(batches, source) : import_maildir(batches, source);
  if (isatty(STDERR_FILENO)) std::cerr << "\n";
  if (!count)
    return failure(count.error().message + " (" + std::to_string(batches.imported()) +
                   " messages were imported; run the same command again to resume)");
  std::cout << "imported " << *count << " messages into " << address->str() << "\n";
  return kOk;
}

}  // namespace postroom::cli
