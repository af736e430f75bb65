// Message writes under injected store faults: a success reported to a sink is always a
// whole message, byte for byte, in its own mailbox, and no two messages share a content.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../../store/tests/temp_dir.hpp"
#include "postroom/service/context.hpp"
#include "postroom/service/message_sink.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "postroom/store/mail_store.hpp"
#include "postroom/store/verify.hpp"
#include "postroom/store/writer.hpp"

using namespace postroom;
using namespace postroom::service;
using FaultPoint = store::Writer::FaultPoint;

namespace {

// A store whose writer fails where `fault` says; reads run inline (the test is the loop).
struct FaultyStore {
  TempDir dir;
  std::int64_t alice = 0, bob = 0;
  std::optional<store::Writer> writer;
  std::optional<store::ReadPool> reads;
  std::optional<store::SqliteMailStore> mail;
  Context context;

  explicit FaultyStore(store::Writer::FaultHook fault) {
    auto db = store::Database::open(dir.db());
    REQUIRE(db);
    alice = *store::add_account(*db, "alice@example.test", "h");
    bob = *store::add_account(*db, "bob@example.test", "h");
    writer.emplace(std::move(*db), nullptr, std::move(fault));
    reads.emplace(dir.db());
    mail.emplace(*writer, *reads, [](std::function<void()> work, std::function<void()> after) {
      work();
      after();
    });
    context.store = &*mail;
  }

  void drain() {
    for (int i = 0; i < 5000 && writer->in_flight() > 0; ++i) {
      writer->run_completions();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    writer->run_completions();
  }
};

struct Sent {
  std::string body;
  std::int64_t account = 0;
  std::optional<Result<store::StoredMessage>> outcome;
};

std::string message_body(std::mt19937& random, int index, const std::string& to) {
  // 0 to 3 full chunks and a tail: single-chunk, exact-boundary and multi-chunk messages.
  std::size_t size = (random() % 4) * store::kChunkSize + random() % 3000;
  if (index % 7 == 0) size = store::kChunkSize * (1 + random() % 2);  // ends on a boundary
  std::string body = "To: " + to + "\r\nMessage-ID: <" + std::to_string(index) + ">\r\n\r\n";
  while (body.size() < size) body += "line " + std::to_string(index) + " of " + to + "\r\n";
  body.resize(size);
  return body;
}

// Runs `count` interleaved sinks through the store and checks every reported success.
std::int64_t deliveries(const std::filesystem::path& file) {
  auto db = store::Database::open(file);
  REQUIRE(db);
  auto s = db->prepare("SELECT count(*) FROM deliveries");
  REQUIRE(s->step().value());
  return s->column_int(0);
}

void run_and_check(FaultyStore& store, int count, unsigned seed) {
  std::mt19937 random(seed);
  auto delivered_before = deliveries(store.dir.db());
  std::vector<Sent> sent(count);
  std::vector<std::unique_ptr<MessageSink>> sinks;
  std::vector<std::size_t> offset(count, 0);
  for (int i = 0; i < count; ++i) {
    bool to_alice = i % 2 == 0;
    sent[i].account = to_alice ? store.alice : store.bob;
    sent[i].body = message_body(random, i, to_alice ? "alice" : "bob");
    sinks.push_back(std::make_unique<MessageSink>(store.context));
    sinks[i]->begin();
  }
  // Feed the sinks in turns, in pieces, so their chunk writes share batches.
  bool more = true;
  while (more) {
    more = false;
    for (int i = 0; i < count; ++i) {
      auto& body = sent[i].body;
      if (offset[i] >= body.size()) continue;
      std::size_t piece = 1 + random() % 100'000;
      sinks[i]->append(std::string_view(body).substr(offset[i], piece));
      offset[i] = std::min(body.size(), offset[i] + piece);
      more = true;
      if (random() % 4 == 0) store.writer->run_completions();
    }
  }
  for (int i = 0; i < count; ++i) {
    sinks[i]->commit(
        store::Destination{{sent[i].account}, std::nullopt},
        [&sent, i](Result<store::StoredMessage> r) { sent[i].outcome = std::move(r); });
  }
  store.drain();

  auto db = store::Database::open(store.dir.db());
  REQUIRE(db);
  std::set<store::ContentId> contents;
  int ok = 0;
  for (int i = 0; i < count; ++i) {
    REQUIRE(sent[i].outcome.has_value());  // every commit was answered
    const auto& outcome = *sent[i].outcome;
    if (!outcome) continue;
    ++ok;
    CHECK(contents.insert(outcome->content_id).second);  // no content shared
    std::string stored;
    for (std::int64_t seq = 0;; ++seq) {
      auto chunk = store::read_chunk(*db, outcome->content_id, seq);
      REQUIRE(chunk);
      if (!*chunk) break;
      stored += **chunk;
    }
    CHECK(stored == sent[i].body);  // whole, byte for byte
    auto s = db->prepare("SELECT account_id FROM deliveries WHERE content_id = ?");
    REQUIRE(s);
    s->bind(1, outcome->content_id);
    std::vector<std::int64_t> owners;
    while (s->step().value()) owners.push_back(s->column_int(0));
    CHECK(owners == std::vector<std::int64_t>{sent[i].account});  // once, in its own mailbox
  }
  // Nothing refused is delivered anywhere: the new deliveries are exactly the successes.
  CHECK(deliveries(store.dir.db()) - delivered_before == ok);
  auto report = store::verify_store(*db);
  REQUIRE(report);
  for (const auto& problem : report->problems) FAIL_CHECK(problem);
  MESSAGE(ok << " of " << count << " messages acknowledged");
}

}  // namespace

TEST_CASE("message sink: no faults, every message is acknowledged whole") {
  FaultyStore store(nullptr);
  run_and_check(store, 24, 1);
  CHECK(deliveries(store.dir.db()) == 24);
}

TEST_CASE("message sink: failed BEGINs lose whole batches, and only those messages fail") {
  std::mt19937 random(7);
  FaultyStore store([&](FaultPoint point, std::size_t) {
    return point == FaultPoint::begin && random() % 3 == 0;
  });
  run_and_check(store, 40, 2);
}

TEST_CASE("message sink: failed COMMITs roll back batches that chunks of many messages share") {
  std::mt19937 random(11);
  FaultyStore store([&](FaultPoint point, std::size_t) {
    return point == FaultPoint::commit && random() % 3 == 0;
  });
  run_and_check(store, 40, 3);
}

TEST_CASE("message sink: single rolled-back jobs (a lost chunk) fail their message alone") {
  std::mt19937 random(13);
  FaultyStore store(
      [&](FaultPoint point, std::size_t) { return point == FaultPoint::job && random() % 5 == 0; });
  run_and_check(store, 40, 4);
}

TEST_CASE("message sink: every kind of fault at once, many rounds") {
  std::mt19937 random(17);
  FaultyStore store([&](FaultPoint, std::size_t) { return random() % 6 == 0; });
  for (unsigned round = 0; round < 4; ++round) run_and_check(store, 30, 100 + round);
}

namespace {

// Feeds `message` to a fresh sink one byte at a time (the empty line split every way), lets
// `edit` change the header section, commits, and returns what the store holds.
std::string stored_after_edit(FaultyStore& store, const std::string& message, std::size_t trace,
                              const std::function<void(HeaderSection&)>& edit,
                              std::string* body_seen = nullptr) {
  MessageSink sink(store.context);
  std::string headers_seen;
  sink.on_headers = [&](const HeaderSection& h) { headers_seen = h.text(); };
  sink.on_body = [&](std::string_view bytes) {
    if (body_seen) body_seen->append(bytes);
  };
  sink.begin(trace);
  for (char c : message) sink.append(std::string_view(&c, 1));
  edit(sink.headers());
  std::optional<Result<store::StoredMessage>> outcome;
  sink.commit(store::Destination{{store.alice}, std::nullopt},
              [&](Result<store::StoredMessage> r) { outcome = std::move(r); });
  store.drain();
  REQUIRE(outcome.has_value());
  REQUIRE(*outcome);
  auto db = store::Database::open(store.dir.db());
  REQUIRE(db);
  std::string stored;
  for (std::int64_t seq = 0;; ++seq) {
    auto chunk = store::read_chunk(*db, (*outcome)->content_id, seq);
    REQUIRE(chunk);
    if (!*chunk) break;
    stored += **chunk;
  }
  auto report = store::verify_store(*db);
  REQUIRE(report);
  for (const auto& problem : report->problems) FAIL_CHECK(problem);
  return stored;
}

}  // namespace

TEST_CASE("message sink: the header section is edited before it is stored, above the body") {
  FaultyStore store(nullptr);
  const std::string trace = "Return-Path: <a@example.test>\r\n";
  std::string body_seen;
  auto stored = stored_after_edit(
      store, trace + "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n\r\nmore\r\n", trace.size(),
      [](HeaderSection& h) {
        CHECK(h.fields().size() == 2);  // the Return-Path line is not the filters'
        h.prepend("Authentication-Results", "mx.example.test; spf=pass");
        h.change("Subject", 1, "[SPAM] hi");
      },
      &body_seen);
  CHECK(stored == trace +
                      "Authentication-Results: mx.example.test; spf=pass\r\nReceived: from x\r\n"
                      "Subject: [SPAM] hi\r\n\r\nbody\r\n\r\nmore\r\n");
  CHECK(body_seen == "body\r\n\r\nmore\r\n");
}

TEST_CASE("message sink: an empty header section, and a message that is all header") {
  FaultyStore store(nullptr);
  auto no_fields = stored_after_edit(store, "\r\nonly a body\r\n", 0, [](HeaderSection& h) {
    CHECK(h.fields().empty());
    h.prepend("X-Added", "1");
  });
  CHECK(no_fields == "X-Added: 1\r\n\r\nonly a body\r\n");
  auto no_body = stored_after_edit(store, "Subject: x\r\nTo: y\r\n", 0, [](HeaderSection& h) {
    CHECK(h.count("to") == 1);
    h.append("X-Last", "2");
  });
  CHECK(no_body == "Subject: x\r\nTo: y\r\nX-Last: 2\r\n");
}

TEST_CASE("message sink: a header section above the limit fails the message, nothing stored") {
  FaultyStore store(nullptr);
  auto before = deliveries(store.dir.db());
  MessageSink sink(store.context);
  sink.begin();
  std::string line = "X-Filler: " + std::string(990, 'x') + "\r\n";
  std::string big;
  for (std::size_t n = 0; n <= MessageSink::kMaxHeaderSection / line.size() + 1; ++n) big += line;
  // In one piece with its end: the bound holds however the bytes arrive.
  sink.append(big + "\r\nbody\r\n");
  CHECK(sink.header_too_large());
  std::optional<Result<store::StoredMessage>> outcome;
  sink.commit(store::Destination{{store.alice}, std::nullopt},
              [&](Result<store::StoredMessage> r) { outcome = std::move(r); });
  store.drain();
  REQUIRE(outcome.has_value());
  CHECK_FALSE(*outcome);
  CHECK(deliveries(store.dir.db()) == before);
}
