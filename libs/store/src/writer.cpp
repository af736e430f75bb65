// Group commit on one thread: many jobs, one transaction, one fsync.
#include "postroom/store/writer.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "postroom/base/log.hpp"

namespace postroom::store {

namespace {
// Bounds one transaction so a flood of jobs still commits (and acknowledges) steadily.
constexpr std::size_t kMaxBatch = 256;
}  // namespace

Writer::Writer(Database db, std::function<void()> wake, FaultHook fault, Reserve reserve)
    : db_(std::move(db)),
      wake_(std::move(wake)),
      fault_(std::move(fault)),
      reserve_(std::move(reserve)),
      thread_([this] { run(); }) {}

Writer::~Writer() {
  stop();
}

void Writer::submit(Work work, Done done, Kind kind) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(Job{std::move(work), std::move(done), kind, {}});
    ++in_flight_;
  }
  wanted_.notify_one();
}

void Writer::run_completions() {
  std::deque<Job> ready;
  {
    std::lock_guard lock(mutex_);
    ready.swap(completed_);
    in_flight_ -= ready.size();
  }
  for (auto& job : ready) {
    if (job.done) job.done(std::move(job.result));
  }
}

void Writer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wanted_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Writer::release_memory() {
  {
    std::lock_guard lock(mutex_);
    release_wanted_ = true;
  }
  wanted_.notify_one();
}

std::size_t Writer::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

CommitLatency Writer::commit_latency() const {
  std::lock_guard lock(mutex_);
  return latency_;
}

std::uint64_t Writer::batches() const {
  std::lock_guard lock(mutex_);
  return batches_;
}

bool Writer::file_lost() const {
  std::lock_guard lock(mutex_);
  return file_lost_;
}

void Writer::restore_reserve() {
  // Only with room to spare, so the reserve never takes the last free space itself.
  struct statvfs fs {};
  if (::statvfs(reserve_.file.parent_path().c_str(), &fs) != 0) return;
  std::uint64_t free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free < 3 * reserve_.bytes) return;
  int fd = ::open(reserve_.file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = ::posix_fallocate(fd, 0, static_cast<off_t>(reserve_.bytes)) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(reserve_.file.c_str());
    return;
  }
  reserve_held_ = true;
}

void Writer::make_room_for_deletions(std::deque<Job>& batch, bool failed_full) {
  bool deletes = std::any_of(batch.begin(), batch.end(),
                             [](const Job& job) { return job.kind == Kind::frees; });
  if (!deletes) return;
  if (release_reserve(reserve_.file)) {
    log_line("store: the disk is full; released the ", reserve_.bytes / 1024,
             " KiB reserve so that mail can be deleted");
  }
  reserve_held_ = false;
  if (failed_full) {
    std::deque<Job> deletions;
    for (auto& job : batch) {
      if (job.kind == Kind::frees) deletions.push_back(Job{job.work, nullptr, job.kind, {}});
    }
    commit_batch(deletions);
    auto result = deletions.begin();
    for (auto& job : batch) {
      if (job.kind == Kind::frees) job.result = std::move((result++)->result);
    }
  }
  // Then the checkpoint that moves the WAL into the file's freed pages and cuts the WAL
  // back: that is the space given back, and new mail fits again.
  if (db_.exec("PRAGMA wal_checkpoint(TRUNCATE)")) disk_full_ = false;
}

void Writer::recover_from_full_disk() {
  // A checkpoint that completes moves the WAL into the database file and cuts the WAL
  // back: the room new mail needs. Mail deleted by another process (`postroom user del`)
  // left free pages in the file but no room for that copy: the reserve gives it.
  if (db_.exec("PRAGMA wal_checkpoint(TRUNCATE)")) {
    disk_full_ = false;
    return;
  }
  bool freed = false;
  {
    // Reset before the checkpoint: a statement left open holds a read transaction.
    auto free_pages = db_.prepare("PRAGMA freelist_count");
    freed = free_pages && free_pages->step().value_or(false) && free_pages->column_int(0) > 0;
  }
  if (!freed || !release_reserve(reserve_.file)) return;
  reserve_held_ = false;
  log_line("store: the disk is full and mail was deleted; released the ", reserve_.bytes / 1024,
           " KiB reserve to move the WAL into the freed pages");
  if (db_.exec("PRAGMA wal_checkpoint(TRUNCATE)")) disk_full_ = false;
}

void Writer::run() {
  while (true) {
    if (!reserve_.file.empty() && !reserve_held_) restore_reserve();
    std::deque<Job> batch;
    {
      std::unique_lock lock(mutex_);
      wanted_.wait(lock, [this] { return stopping_ || release_wanted_ || !pending_.empty(); });
      if (pending_.empty()) {
        if (stopping_) return;  // everything is done
        release_wanted_ = false;
        lock.unlock();
        db_.release_memory();  // between transactions: the connection is ours alone
        continue;
      }
      while (!pending_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    if (disk_full_ && !reserve_.file.empty()) recover_from_full_disk();
    auto began = std::chrono::steady_clock::now();
    bool failed_full = commit_batch(batch);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    if (failed_full) disk_full_ = true;
    if (disk_full_ && !reserve_.file.empty()) make_room_for_deletions(batch, failed_full);
    {
      std::lock_guard lock(mutex_);
      ++batches_;
      ++latency_.count;
      latency_.sum += took;
      for (std::size_t i = 0; i < CommitLatency::kBounds.size(); ++i)
        latency_.at_most[i] += took <= CommitLatency::kBounds[i];
      for (auto& job : batch) completed_.push_back(std::move(job));
    }
    if (wake_) wake_();
  }
}

void Writer::fail_all(std::deque<Job>& batch, const Error& error) {
  for (auto& job : batch) job.result = std::unexpected(error);
}

bool release_reserve(const std::filesystem::path& file) {
  return !file.empty() && ::unlink(file.c_str()) == 0;
}

bool Writer::commit_batch(std::deque<Job>& batch) {
  // Mail is never acknowledged into a file nobody can find again.
  auto same = db_.still_same_file();
  {
    std::lock_guard lock(mutex_);
    file_lost_ = !same;
  }
  if (!same) {
    fail_all(batch, same.error());
    return false;
  }
  if (fault_ && fault_(FaultPoint::begin, 0)) {
    fail_all(batch, Error{"injected: BEGIN failed"});
    return false;
  }
  if (auto begun = db_.run("BEGIN IMMEDIATE"); !begun) {
    fail_all(batch, begun.error());
    return db_.last_error_was_full();
  }
  bool full = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& job = batch[i];
    // A savepoint per job: one job's failure must not undo the others.
    if (auto r = db_.run("SAVEPOINT job"); !r) {
      full = db_.last_error_was_full();
      if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
      fail_all(batch, Error{"batch lost: " + r.error().message});
      return full;
    }
    job.result = job.work(db_);
    if (!job.result) full = full || db_.last_error_was_full();
    if (job.result && fault_ && fault_(FaultPoint::job, i))
      job.result = fail("injected: job rolled back");
    // SQLite rolls the whole transaction back by itself on some errors (SQLITE_FULL,
    // SQLITE_IOERR, SQLITE_NOMEM): then the jobs before this one are gone as well, and
    // the ones after it would run outside any transaction.
    bool lost = !db_.in_transaction();
    if (!lost && !job.result) lost = !db_.run("ROLLBACK TO job");
    if (!lost) lost = !db_.run("RELEASE job");
    if (lost) {
      Error error = job.result ? Error{"the transaction was rolled back"} : job.result.error();
      if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
      fail_all(batch, Error{"batch lost: " + error.message});
      return full;
    }
  }
  Result<void> committed =
      fault_ && fault_(FaultPoint::commit, 0) ? fail("injected: COMMIT failed") : db_.run("COMMIT");
  if (!committed) {
    full = full || db_.last_error_was_full();
    if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
    for (auto& job : batch) {
      if (job.result) job.result = std::unexpected(committed.error());
    }
  }
  return full;
}

Result<void> ReadPool::with(const std::function<Result<void>(Database&)>& read) {
  std::unique_ptr<Database> db;
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      db = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!db) {
    auto opened = Database::open(file_, OpenOptions{.create = false, .migrate = false});
    if (!opened) return std::unexpected(opened.error());
    // Readers stream chunks once; a small page cache each keeps the idle daemon small.
    if (auto r = opened->exec("PRAGMA cache_size=-512"); !r) return std::unexpected(r.error());
    db = std::make_unique<Database>(std::move(*opened));
  }
  auto result = read(*db);
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(db));
  return result;
}

void ReadPool::release_memory() {
  std::lock_guard lock(mutex_);  // idle connections stay idle meanwhile
  for (auto& db : idle_) db->release_memory();
}

}  // namespace postroom::store
