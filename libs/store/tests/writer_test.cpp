#include "postroom/store/writer.hpp"

#include <doctest/doctest.h>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "postroom/store/accounts.hpp"
#include "postroom/store/messages.hpp"
#include "put_message.hpp"
#include "temp_dir.hpp"

using namespace postroom;
using namespace postroom::store;

namespace {
// Waits (bounded) until the writer has finished everything, running completions here.
void drain(Writer& writer) {
  for (int i = 0; i < 2000 && writer.in_flight() > 0; ++i) {
    writer.run_completions();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  writer.run_completions();
}

// A store holding one account, with its writer and a read pool.
struct StoreWithAlice {
  TempDir dir;
  std::int64_t alice = 0;
  std::optional<Writer> writer;
  ReadPool readers{dir.db()};  // opens connections only when used

  StoreWithAlice() {
    auto db = Database::open(dir.db());
    alice = *add_account(*db, "alice@example.test", "h");
    writer.emplace(std::move(*db), nullptr);
  }
};
}  // namespace

TEST_CASE("store writer: a burst of jobs shares commits, and each completes once") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  std::atomic<int> wakes = 0;
  Writer writer(std::move(*db), [&] { ++wakes; });
  int done = 0;
  constexpr int kJobs = 200;
  for (int i = 0; i < kJobs; ++i) {
    writer.submit(
        [i](Database& d) -> Result<void> {
          auto id = add_account(d, "user" + std::to_string(i) + "@example.test", "h");
          if (!id) return std::unexpected(id.error());
          return {};
        },
        [&](Result<void> r) {
          CHECK(r);
          ++done;
        });
  }
  drain(writer);
  CHECK(done == kJobs);
  CHECK(writer.batches() < kJobs);  // group commit: fewer commits than jobs
  CHECK(wakes > 0);
  auto check = Database::open(dir.db());
  CHECK(list_accounts(*check)->size() == kJobs);
}

TEST_CASE("store writer: a failing job is rolled back alone") {
  TempDir dir;
  Writer writer(std::move(*Database::open(dir.db())), nullptr);
  int ok = 0, failed = 0;
  for (const char* address : {"a@example.test", "a@example.test", "b@example.test"}) {
    writer.submit(
        [address](Database& d) -> Result<void> {
          auto id = add_account(d, address, "h");
          if (!id) return std::unexpected(id.error());
          return {};
        },
        [&](Result<void> r) { r ? ++ok : ++failed; });
  }
  drain(writer);
  CHECK(ok == 2);
  CHECK(failed == 1);
  auto check = Database::open(dir.db());
  CHECK(list_accounts(*check)->size() == 2);
}

TEST_CASE("store writer: readers on other threads see committed data while writes go on") {
  StoreWithAlice store;
  auto alice = store.alice;
  Writer& writer = *store.writer;
  ReadPool& readers = store.readers;
  std::atomic<bool> stop = false;
  std::atomic<int> reads = 0;
  std::atomic<bool> read_failed = false;
  std::thread reader([&] {
    std::size_t last = 0;
    while (!stop) {
      auto r = readers.with([&](Database& d) -> Result<void> {
        auto box = list_mailbox(d, alice);
        if (!box) return std::unexpected(box.error());
        if (box->size() < last) read_failed = true;  // committed data never disappears
        last = box->size();
        return {};
      });
      if (!r) read_failed = true;
      ++reads;
    }
  });
  for (int i = 0; i < 100; ++i) {
    writer.submit(
        [alice](Database& d) -> Result<void> {
          auto stored = put_message(d, "hi\r\n", {alice});
          if (!stored) return std::unexpected(stored.error());
          return {};
        },
        nullptr);
  }
  drain(writer);
  stop = true;
  reader.join();
  CHECK_FALSE(read_failed);
  CHECK(reads > 0);
  int seen = 0;
  REQUIRE(readers.with([&](Database& d) -> Result<void> {
    seen = static_cast<int>(list_mailbox(d, alice)->size());
    return {};
  }));
  CHECK(seen == 100);
}

TEST_CASE("store writer: stop finishes every submitted job") {
  TempDir dir;
  int done = 0;
  {
    Writer writer(std::move(*Database::open(dir.db())), nullptr);
    for (int i = 0; i < 20; ++i) {
      writer.submit(
          [i](Database& d) -> Result<void> {
            auto r = add_account(d, "u" + std::to_string(i) + "@example.test", "h");
            if (!r) return std::unexpected(r.error());
            return {};
          },
          [&](Result<void>) { ++done; });
    }
    writer.stop();
    writer.run_completions();
  }
  CHECK(done == 20);
}

namespace {
int cache_used(Database& db) {
  int current = 0;
  int highwater = 0;
  sqlite3_db_status(db.handle(), SQLITE_DBSTATUS_CACHE_USED, &current, &highwater, 0);
  return current;
}
}  // namespace

TEST_CASE("store writer: release_memory frees the page caches, and the connections go on working") {
  StoreWithAlice store;
  auto alice = store.alice;
  Writer& writer = *store.writer;
  ReadPool& readers = store.readers;
  // 400 KiB of message: enough pages that a read fills a cache of some size.
  std::string chunk(100 * 1024, 'x');
  std::int64_t content_id = 0;
  writer.submit(
      [&](Database& d) -> Result<void> {
        auto stored = put_message(d, chunk + chunk + chunk + chunk, {alice}, chunk.size());
        if (!stored) return std::unexpected(stored.error());
        content_id = stored->content_id;
        return {};
      },
      nullptr);
  drain(writer);

  auto read_all = [&](Database& d) -> Result<void> {
    auto batch = read_chunks(d, content_id, 0, 1 << 20);
    if (!batch) return std::unexpected(batch.error());
    if (!batch->complete || batch->chunks.size() != 4) return fail("incomplete read");
    return {};
  };
  int filled = 0;
  REQUIRE(readers.with([&](Database& d) -> Result<void> {
    auto r = read_all(d);
    filled = cache_used(d);
    return r;
  }));
  CHECK(filled > 100 * 1024);

  readers.release_memory();
  int after = -1;
  REQUIRE(readers.with([&](Database& d) -> Result<void> {
    after = cache_used(d);  // before reading anything again
    return read_all(d);     // and still a working connection
  }));
  CHECK(after < filled / 4);

  // The writer frees its cache between transactions; a job after that still commits.
  writer.release_memory();
  bool committed = false;
  writer.submit(
      [alice](Database& d) -> Result<void> {
        auto box = list_mailbox(d, alice);
        if (!box) return std::unexpected(box.error());
        if (box->size() != 1) return fail("mailbox lost its message");
        return {};
      },
      [&](Result<void> r) { committed = bool(r); });
  drain(writer);
  CHECK(committed);
}
