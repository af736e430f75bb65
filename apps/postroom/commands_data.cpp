// postroom backup FILE, import mbox ADDRESS FILE, import maildir ADDRESS DIR.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/mbox.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/queue.hpp"

namespace postroom::cli {

namespace fs = std::filesystem;

int backup_command(Context& ctx) {
  if (ctx.args.words.size() != 1) return usage_error("usage: postroom backup FILE");
  auto db = open_store(ctx.config);
  if (!db) return failure(db.error().message);
  if (auto r = store::backup(*db, ctx.args.words[0]); !r) return failure(r.error().message);
  std::cout << "backup written to " << ctx.args.words[0] << "\n";
  return kOk;
}

namespace {

// Writes one imported message into the store in chunks, inside the caller's transaction.
class ImportSink {
 public:
  ImportSink(store::Database& db, std::int64_t account) : db_(db), account_(account) {}

  Result<void> begin() {
    auto content = store::create_content(db_);
    if (!content) return std::unexpected(content.error());
    content_ = *content;
    seq_ = 0;
    sizes_ = {};
    buffer_.clear();
    return {};
  }
  Result<void> add(std::string_view bytes) {
    sizes_.add(bytes);
    buffer_.append(bytes);
    if (buffer_.size() >= store::kChunkSize) return flush();
    return {};
  }
  Result<void> end() {
    if (auto r = flush(); !r) return r;
    auto stored = store::complete_content(db_, content_, sizes_.size(), sizes_.pop3_size(),
                                          {account_}, std::nullopt);
    if (!stored) return std::unexpected(stored.error());
    bytes_total_ += sizes_.size();
    return {};
  }
  std::uint64_t bytes_total() const { return bytes_total_; }

 private:
  Result<void> flush() {
    if (buffer_.empty()) return {};
    auto r = store::append_chunk(db_, content_, seq_++, buffer_);
    buffer_.clear();
    return r;
  }
  store::Database& db_;
  std::int64_t account_;
  std::int64_t content_ = 0;
  std::int64_t seq_ = 0;
  store::SizeCounter sizes_;
  std::string buffer_;
  std::uint64_t bytes_total_ = 0;
};

// A progress line on a terminal; nothing when stderr is a file or a pipe.
void progress(std::uint64_t done, std::uint64_t total, int messages) {
  if (!isatty(STDERR_FILENO)) return;
  int percent = total ? static_cast<int>(done * 100 / total) : 100;
  int filled = percent / 5;
  std::cerr << "\r[" << std::string(filled, '#') << std::string(20 - filled, ' ') << "] " << percent
            << "% " << messages << " messages" << std::flush;
}

Result<int> import_mbox(store::Database& db, std::int64_t account, const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail("cannot read " + file.string());
  std::uint64_t total = fs::file_size(file);
  ImportSink sink(db, account);
  Result<void> status{};
  store::MboxReader reader(
      [&] {
        if (status) status = sink.begin();
      },
      [&](std::string_view bytes) {
        if (status) status = sink.add(bytes);
      },
      [&] {
        if (status) status = sink.end();
      });
  std::string line;
  std::uint64_t done = 0;
  int last_percent = -1;
  while (std::getline(in, line)) {
    done += line.size() + 1;
    if (!in.eof()) line.push_back('\n');
    reader.line(line);
    if (!status) return std::unexpected(status.error());
    int percent = total ? static_cast<int>(done * 100 / total) : 100;
    if (percent != last_percent) progress(done, total, reader.messages()), last_percent = percent;
  }
  reader.finish();
  if (!status) return std::unexpected(status.error());
  progress(total, total, reader.messages());
  return reader.messages();
}

Result<int> import_maildir(store::Database& db, std::int64_t account, const fs::path& dir) {
  std::vector<fs::path> files;
  for (const char* sub : {"cur", "new"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir / sub, ec)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  if (!fs::is_directory(dir / "cur") && !fs::is_directory(dir / "new"))
    return fail(dir.string() + " is not a Maildir (no cur/ or new/)");
  // Maildir names start with the delivery time: sorting keeps the mailbox order.
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  ImportSink sink(db, account);
  int count = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail("cannot read " + file.string());
    if (auto r = sink.begin(); !r) return std::unexpected(r.error());
    char buffer[64 * 1024];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
      if (auto r = sink.add(std::string_view(buffer, static_cast<std::size_t>(in.gcount()))); !r)
        return std::unexpected(r.error());
    }
    if (auto r = sink.end(); !r) return std::unexpected(r.error());
    ++count;
    progress(static_cast<std::uint64_t>(count), files.size(), count);
  }
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
  // One transaction: an import that fails half-way leaves the mailbox as it was.
  auto tx = store::Transaction::begin(*db);
  if (!tx) return failure(tx.error().message);
  fs::path source = ctx.args.words[1];
  auto count = sub == "mbox" ? import_mbox(*db, (*account)->id, source)
                             : import_maildir(*db, (*account)->id, source);
  if (isatty(STDERR_FILENO)) std::cerr << "\n";
  if (!count) return failure(count.error().message);
  if (auto r = tx->commit(); !r) return failure(r.error().message);
  std::cout << "imported " << *count << " messages into " << address->str() << "\n";
  return kOk;
}

}  // namespace postroom::cli
