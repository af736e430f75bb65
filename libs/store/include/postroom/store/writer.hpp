// The one store writer thread: group commit of many sessions' writes, results posted back.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "postroom/base/error.hpp"
#include "postroom/store/database.hpp"

namespace postroom::store {

// A file of `bytes` kept beside the database while the disk has room. When a batch
// with deletions fails because the disk is full, the reserve is removed and those
// deletions run again in the room it leaves: an admin or a POP3 client can always
// delete mail to get out of a full disk. It comes back once the disk has room again.
struct DiskReserve {
  std::filesystem::path file;  // empty: no reserve
  std::uint64_t bytes = 0;
};

// Jobs submitted from the loop thread run on the writer thread, each inside its own
// savepoint of a shared transaction; one COMMIT (one fsync, synchronous=FULL) covers the
// whole batch. Only after that commit does each job's `done` run, on the loop thread,
// when the owner calls run_completions() (woken through the `wake` callback, which the
// daemon wires to uv_async_send).
//
// The contract every caller relies on: `done` gets success only if the job's work ran
// and its batch committed. A job that fails is rolled back alone (its savepoint); a
// failed BEGIN, a failed COMMIT, a savepoint that cannot be rolled back, or a
// transaction SQLite rolled back by itself (a full disk, an I/O error) fails every job
// of its batch. A batch is refused whole while the database file is not the one that
// was opened (removed or replaced underneath the daemon).
// Removes the reserve file (the admin tool does too, when its deletion finds the disk
// full); false when there was none.
bool release_reserve(const std::filesystem::path& file);

// How long batches took to commit (from BEGIN to the end of COMMIT), for /metrics.
struct CommitLatency {
  static constexpr std::array<double, 8> kBounds = {0.001, 0.0025, 0.005, 0.01,
                                                    0.025, 0.05,   0.1,   1.0};  // seconds
  std::array<std::uint64_t, kBounds.size()> at_most{};  // batches within each bound (cumulative)
  std::uint64_t count = 0;
  double sum = 0;  // seconds
};

class Writer {
 public:
  using Work = std::function<Result<void>(Database&)>;
  using Done = std::function<void(Result<void>)>;

  // Fault injection for tests: asked at each point of a batch; true makes it fail there
  // as the real fault would (BEGIN refused, a job's savepoint rolled back after its work
  // ran, COMMIT refused and the transaction rolled back).
  enum class FaultPoint { begin, job, commit };
  using FaultHook = std::function<bool(FaultPoint, std::size_t job_in_batch)>;

  using Reserve = DiskReserve;

  Writer(Database db, std::function<void()> wake, FaultHook fault = nullptr, Reserve reserve = {});
  ~Writer();  // stop()s if still running
  Writer(const Writer&) = delete;

  // A job that only deletes may use the disk-space reserve (see below).
  enum class Kind { adds, frees };
  void submit(Work work, Done done, Kind kind = Kind::adds);

  // Runs the callbacks of committed jobs; call on the thread that submits.
  void run_completions();
  // Finishes every submitted job, joins the thread. Completions remain for run_completions.
  void stop();

  // Asks the writer thread to free its connection's page cache once it has no job.
  void release_memory();

  std::size_t in_flight() const;  // submitted and not yet completed
  std::uint64_t batches() const;  // commits so far (for tests and benchmarks)
  CommitLatency commit_latency() const;
  // The last batch found the database file removed or replaced (nothing is acknowledged
  // until it is back): for health reports.
  bool file_lost() const;

 private:
  struct Job {
    Work work;
    Done done;
    Kind kind = Kind::adds;
    Result<void> result;
  };
  void run();
  // Returns whether the batch failed because the disk is full.
  bool commit_batch(std::deque<Job>& batch);
  // On a full disk, a batch with deletions gets the reserve's room: run again if it
  // failed, then a checkpoint that gives the WAL's space back.
  void make_room_for_deletions(std::deque<Job>& batch, bool failed_full);
  // Before a batch while the disk is full: a checkpoint if one can complete now.
  void recover_from_full_disk();
  void restore_reserve();
  void fail_all(std::deque<Job>& batch, const Error& error);

  Database db_;
  std::function<void()> wake_;
  FaultHook fault_;
  mutable std::mutex mutex_;
  std::condition_variable wanted_;
  std::deque<Job> pending_;
  std::deque<Job> completed_;
  std::size_t in_flight_ = 0;
  std::uint64_t batches_ = 0;
  CommitLatency latency_;
  bool stopping_ = false;
  bool release_wanted_ = false;
  bool file_lost_ = false;
  Reserve reserve_;
  bool reserve_held_ = false;  // writer thread only
  bool disk_full_ = false;     // writer thread only: a batch failed for want of space
  std::thread thread_;
};

// Read connections for worker threads (libuv's pool): each borrowed for one call.
class ReadPool {
 public:
  explicit ReadPool(std::filesystem::path file) : file_(std::move(file)) {}
  // Runs `read` with a connection of its own; safe from any thread.
  Result<void> with(const std::function<Result<void>(Database&)>& read);
  // Frees the page caches of the connections not in use.
  void release_memory();

 private:
  std::filesystem::path file_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Database>> idle_;
};

}  // namespace postroom::store
