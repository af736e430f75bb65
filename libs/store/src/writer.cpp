// Group commit on one thread: many jobs, one transaction, one fsync.
#include "postroom/store/writer.hpp"

namespace postroom::store {

namespace {
// Bounds one transaction so a flood of jobs still commits (and acknowledges) steadily.
constexpr std::size_t kMaxBatch = 256;
}  // namespace

Writer::Writer(Database db, std::function<void()> wake, FaultHook fault)
    : db_(std::move(db)),
      wake_(std::move(wake)),
      fault_(std::move(fault)),
      thread_([this] { run(); }) {}

Writer::~Writer() {
  stop();
}

void Writer::submit(Work work, Done done) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(Job{std::move(work), std::move(done), {}});
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

std::uint64_t Writer::batches() const {
  std::lock_guard lock(mutex_);
  return batches_;
}

bool Writer::file_lost() const {
  std::lock_guard lock(mutex_);
  return file_lost_;
}

void Writer::run() {
  while (true) {
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
    commit_batch(batch);
    {
      std::lock_guard lock(mutex_);
      ++batches_;
      for (auto& job : batch) completed_.push_back(std::move(job));
    }
    if (wake_) wake_();
  }
}

void Writer::fail_all(std::deque<Job>& batch, const Error& error) {
  for (auto& job : batch) job.result = std::unexpected(error);
}

void Writer::commit_batch(std::deque<Job>& batch) {
  // Mail is never acknowledged into a file nobody can find again.
  auto same = db_.still_same_file();
  {
    std::lock_guard lock(mutex_);
    file_lost_ = !same;
  }
  if (!same) return fail_all(batch, same.error());
  if (fault_ && fault_(FaultPoint::begin, 0)) return fail_all(batch, Error{"injected: BEGIN failed"});
  if (auto begun = db_.exec("BEGIN IMMEDIATE"); !begun) return fail_all(batch, begun.error());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& job = batch[i];
    // A savepoint per job: one job's failure must not undo the others.
    if (auto r = db_.exec("SAVEPOINT job"); !r) {
      if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
      return fail_all(batch, Error{"batch lost: " + r.error().message});
    }
    job.result = job.work(db_);
    if (job.result && fault_ && fault_(FaultPoint::job, i))
      job.result = fail("injected: job rolled back");
    // SQLite rolls the whole transaction back by itself on some errors (SQLITE_FULL,
    // SQLITE_IOERR, SQLITE_NOMEM): then the jobs before this one are gone as well, and
    // the ones after it would run outside any transaction.
    bool lost = !db_.in_transaction();
    if (!lost && !job.result) lost = !db_.exec("ROLLBACK TO job");
    if (!lost) lost = !db_.exec("RELEASE job");
    if (lost) {
      Error error = job.result ? Error{"the transaction was rolled back"} : job.result.error();
      if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
      return fail_all(batch, Error{"batch lost: " + error.message});
    }
  }
  Result<void> committed = fault_ && fault_(FaultPoint::commit, 0)
                               ? fail("injected: COMMIT failed")
                               : db_.exec("COMMIT");
  if (!committed) {
    if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
    for (auto& job : batch) {
      if (job.result) job.result = std::unexpected(committed.error());
    }
  }
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
