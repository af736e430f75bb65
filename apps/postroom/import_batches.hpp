// What every `postroom import` shares: messages written into one account in short
// batches that commit together with the import's position, and the old server's UIDLs.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>

#include "postroom/store/database.hpp"
#include "postroom/store/imports.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::cli {

// An import commits in short transactions, so the daemon's writer (which waits at most
// its busy timeout for the lock) never notices it. Each batch commits together with the
// import's position: cut short anywhere, a second run resumes after the last batch and
// adds each message once.
constexpr std::uint64_t kBatchBytes = 8 * 1024 * 1024;
constexpr int kBatchMessages = 500;
constexpr auto kBatchTime = std::chrono::milliseconds(250);

// A progress bar on a terminal; on a file or a pipe a plain count every `every` messages.
inline void progress(std::uint64_t done, std::uint64_t total, int messages, int every = 0) {
  if (!isatty(STDERR_FILENO)) {
    if (every > 0 && messages > 0 && messages % every == 0)
      std::cerr << messages << " messages imported\n";
    return;
  }
  int percent = total ? static_cast<int>(done * 100 / total) : 100;
  int filled = percent / 5;
  std::cerr << "\r[" << std::string(filled, '#') << std::string(20 - filled, ' ') << "] " << percent
            << "% " << messages << " messages" << std::flush;
}

// What became of one message of the source.
enum class Imported { added, already_there, conflict };

// What a whole import did.
struct ImportCounts {
  int added = 0;
  int already_there = 0;  // the mailbox had the UIDL with the same octets: an earlier run
  int conflicts = 0;      // the mailbox had the UIDL with other octets: reported, not imported
  // Counts one outcome, and reports a conflict on stderr.
  void count(Imported outcome, const std::optional<std::string>& uidl) {
    if (outcome == Imported::added) ++added;
    if (outcome == Imported::already_there) ++already_there;
    if (outcome == Imported::conflict) {
      ++conflicts;
      std::cerr << "UIDL " << uidl.value_or("") << " is in the mailbox already with other content: "
                << "not imported\n";
    }
  }
};

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
    pending_ = committed_;
    return committed_;
  }

  Result<void> begin_message() {
    if (!tx_) {
      auto tx = store::Transaction::begin(db_);
      if (!tx) return std::unexpected(tx.error());
      tx_.emplace(std::move(*tx));
      batch_started_ = std::chrono::steady_clock::now();
      batch_bytes_ = 0;
      batch_added_ = 0;
    }
    writer_.emplace(db_);
    return writer_->begin();
  }
  Result<void> add(std::string_view bytes) { return writer_->add(bytes); }

  // The message is in the batch; `position` says where the source resumes after it. With a
  // `uidl` the message keeps it; when the mailbox has that UIDL already, the message is
  // dropped again: the same octets mean an earlier import brought it, others a conflict
  // the caller reports.
  Result<Imported> end_message(std::string position, const std::optional<std::string>& uidl) {
    auto stored = writer_->commit(store::Destination{{account_}, std::nullopt});
    if (!stored) return std::unexpected(stored.error());
    batch_bytes_ += writer_->size();
    Imported outcome = Imported::added;
    if (uidl) {
      auto existing = store::content_with_uidl(db_, account_, *uidl);
      if (!existing) return std::unexpected(existing.error());
      if (*existing) {
        auto same = store::same_content(db_, **existing, stored->content_id);
        if (!same) return std::unexpected(same.error());
        if (auto r = store::drop_delivery(db_, account_, stored->content_id); !r)
          return std::unexpected(r.error());
        outcome = *same ? Imported::already_there : Imported::conflict;
      } else if (auto r = store::set_uidl(db_, account_, stored->content_id, *uidl); !r) {
        return std::unexpected(r.error());
      }
    }
    if (outcome == Imported::added) ++batch_added_;
    pending_ = {std::move(position), committed_.messages + batch_added_};
    if (batch_bytes_ >= kBatchBytes || batch_added_ >= kBatchMessages ||
        std::chrono::steady_clock::now() - batch_started_ >= kBatchTime) {
      if (auto r = commit(); !r) return std::unexpected(r.error());
    }
    return outcome;
  }
  Result<void> commit() {
    if (!tx_) return {};
    if (auto r = store::save_import_position(db_, account_, source_, pending_); !r) return r;
    if (auto r = tx_->commit(); !r) return r;
    tx_.reset();
    committed_ = pending_;
    batch_added_ = 0;
    return {};
  }
  // Messages committed from this source, this run and earlier ones.
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
  int batch_added_ = 0;
};

}  // namespace postroom::cli
