// The embedded SQLiteBroker through the engine's C++ API, on real files in
// a temporary directory: what a commit leaves in the file, delivery through
// a Worker, priorities, due times, dead letters and their requeue, leases
// returned from dead processes, the cross-process doorbell, and files it
// must refuse.
#include <gtest/gtest.h>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/sqlite_broker.hpp"
#include "dramatiq/wait_interruption.hpp"
#include "dramatiq/worker.hpp"
#include "interrupt_wait_scenario.hpp"
#include "cancellation_scenario.hpp"
#include "dead_letter_scenario.hpp"
#include "message_listing_scenario.hpp"
#include "queue_counts_scenario.hpp"
#include "worker_record_scenario.hpp"
#include "settlement_scenario.hpp"
#include "sqlite/doorbell.hpp"
#include "sqlite/store.hpp"
#include "test_support.hpp"
#include "tracking_broker.hpp"

using namespace dramatiq;
using namespace dramatiq::testing;
using namespace std::chrono_literals;

namespace {

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dramatiq-sqlite-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

SQLiteBrokerOptions options_for(const std::string& path) {
  SQLiteBrokerOptions options;
  options.path = path;
  return options;
}

std::shared_ptr<SQLiteBroker> make_broker(const std::string& path) {
  return std::make_shared<SQLiteBroker>(options_for(path));
}

// Reads the file through a connection of its own, as another process would.
std::int64_t count_rows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::int64_t n = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

void execute(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

WorkerOptions worker_options(int threads) { return WorkerOptions{std::nullopt, 50, threads}; }

template <typename Condition>
bool eventually(Condition condition) {
  auto deadline = std::chrono::steady_clock::now() + kLongWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// The pid of a process that has exited (and been reaped).
pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

}  // namespace

// What a sent message is once send returns: its producer may die the next
// instant (SIGKILL, no destructor, no close) and the message still reaches
// a worker of another process, with the bytes that were sent.
TEST(SQLiteBroker, ASentMessageSurvivesItsProducersCrash) {
  TempDir dir;
  const std::string path = dir.file("q.db");
  int ids[2];
  ASSERT_EQ(::pipe(ids), 0);
  pid_t producer = ::fork();
  if (producer == 0) {
    auto broker = make_broker(path);
    broker->declare_queue("default");
    Message stored = broker->enqueue(make_message("add", {Value(1), Value(2)}));
    std::string id = stored.message_id;
    (void)!::write(ids[1], id.data(), id.size());
    ::raise(SIGKILL);
  }
  ::close(ids[1]);
  char id[64] = {};
  ASSERT_EQ(::read(ids[0], id, sizeof id), 36);
  ::close(ids[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(producer, &status, 0), producer);
  ASSERT_TRUE(WIFSIGNALED(status));

  auto broker = make_broker(path);
  auto consumer = broker->consume("default", 1);
  auto delivered = consumer->next(kLongWait);
  ASSERT_NE(delivered, nullptr);
  EXPECT_EQ(delivered->message.message_id, std::string(id));
  EXPECT_EQ(delivered->message.args.as_array(), (Array{Value(1), Value(2)}));
  EXPECT_EQ(broker->queue_counts("default").ready, 0);  // moved once
  consumer->ack(*delivered);
  consumer->close();
}

// durable=True promises what a synchronous commit does: the row is in the
// database, for any connection, before send returns.
TEST(SQLiteBroker, ADurableSendIsCommittedBeforeItReturns) {
  TempDir dir;
  auto options = options_for(dir.file("q.db"));
  options.durable = true;
  auto broker = std::make_shared<SQLiteBroker>(options);
  broker->declare_queue("default");
  Message stored = broker->enqueue(make_message("add", {Value(1), Value(2)}));
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages WHERE queue = 'default' "
                                          "AND holder IS NULL AND message_id = '" + stored.message_id + "'"),
            1);
  sqlite3* db = nullptr;
  sqlite3_open(dir.file("q.db").c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT body FROM dramatiq_messages", -1, &stmt, nullptr);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  std::string body(static_cast<const char*>(sqlite3_column_blob(stmt, 0)),
                   static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(body, get_encoder()->encode(stored));
}

// A spooled send is in the queues, with its bytes, for whatever the broker
// reads next (a count, a join), in this process or another.
TEST(SQLiteBroker, ASpooledSendIsInTheQueuesAtTheNextRead) {
  TempDir dir;
  auto producer = make_broker(dir.file("q.db"));
  auto reader = make_broker(dir.file("q.db"));  // its own connection, as another process's
  producer->declare_queue("default");
  Message stored = producer->enqueue(make_message("add", {Value(1), Value(2)}));
  EXPECT_EQ(reader->queue_counts("default").ready, 1);
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages WHERE message_id = '" +
                                             stored.message_id + "'"),
            1);
  EXPECT_EQ(producer->queue_counts("default").ready, 1);  // moved once
}

// A file made by an earlier version carries an index of leased rows that
// every lease and ack paid for: opening it drops that index, and its
// messages are still delivered.
TEST(SQLiteBroker, FileWithTheOldLeaseIndexIsOpenedWithoutIt) {
  TempDir dir;
  {
    auto broker = make_broker(dir.file("q.db"));
    broker->declare_queue("default");
    broker->enqueue(make_message("add", {Value(1), Value(2)}));
    broker->close();
  }
  execute(dir.file("q.db"),
          "CREATE INDEX dramatiq_messages_held ON dramatiq_messages (holder) WHERE holder IS NOT NULL");
  ASSERT_EQ(count_rows(dir.file("q.db"),
                       "SELECT count(*) FROM sqlite_schema WHERE name = 'dramatiq_messages_held'"),
            1);
  auto broker = make_broker(dir.file("q.db"));
  EXPECT_EQ(count_rows(dir.file("q.db"),
                       "SELECT count(*) FROM sqlite_schema WHERE name = 'dramatiq_messages_held'"),
            0);
  auto consumer = broker->consume("default", 1);
  auto message = consumer->next(kLongWait);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->message.actor_name, "add");
}

// Another process holds the write lock: a send waits for it (SQLite's busy
// handler, ours), and once the lock is released the send commits; held
// past the busy timeout's attempts, the send raises naming the lock.
TEST(SQLiteBroker, SendWaitsForAnotherWritersLockWithinTheBusyTimeout) {
  TempDir dir;
  auto options = options_for(dir.file("q.db"));
  options.busy_timeout_ms = 50;
  options.durable = true;  // durable sends commit; spooled ones take no lock
  auto broker = std::make_shared<SQLiteBroker>(options);
  broker->declare_queue("default");
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir.file("q.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  try {
    broker->enqueue(make_message("add", {Value(1), Value(2)}));
    ADD_FAILURE() << "the send committed while another connection held the write lock";
  } catch (const ConnectionClosed& e) {
    EXPECT_NE(std::string(e.what()).find("stayed locked"), std::string::npos) << e.what();
  }
  // Released by another thread, as the send starts or while it waits: the
  // send goes through.
  std::promise<void> sending;
  std::thread releaser([&] {
    sending.get_future().wait();
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  sending.set_value();
  EXPECT_NO_THROW(broker->enqueue(make_message("add", {Value(3), Value(4)})));
  releaser.join();
  sqlite3_close(other);
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages"), 1);
}

// Ctrl-C while a send waits for another program's lock: the thread whose
// scope says stop gets WaitInterrupted and nothing of its send is stored;
// a send of another thread, waiting meanwhile (in the same batch or the
// next), is committed once the lock is free.
TEST(SQLiteBroker, AnInterruptedWaitForTheLockFailsOnlyThatSend) {
  TempDir dir;
  auto options = options_for(dir.file("q.db"));
  options.busy_timeout_ms = 60000;
  options.durable = true;
  auto broker = std::make_shared<SQLiteBroker>(options);
  broker->declare_queue("default");
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir.file("q.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  std::atomic<int> asked{0};
  std::promise<void> asked_twice;
  std::promise<void> interrupt;
  auto interrupt_now = interrupt.get_future().share();
  auto interrupted = std::async(std::launch::async, [&] {
    InterruptibleWaits scope(
        [&] {
          if (++asked == 2) asked_twice.set_value();  // waiting for the lock, asked between steps
          return interrupt_now.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
        },
        std::chrono::milliseconds(5));
    broker->enqueue(make_message("add", {Value(1), Value(2)}));
  });
  ASSERT_EQ(asked_twice.get_future().wait_for(kLongWait), std::future_status::ready);
  auto other_send = std::async(std::launch::async, [&] { return broker->enqueue(make_message("add", {Value(3), Value(4)})); });
  interrupt.set_value();
  ASSERT_EQ(interrupted.wait_for(kLongWait), std::future_status::ready) << "the interrupted send went on waiting";
  EXPECT_THROW(interrupted.get(), WaitInterrupted);
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  ASSERT_EQ(other_send.wait_for(kLongWait), std::future_status::ready);
  Message sent = other_send.get();
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages"), 1);
  EXPECT_EQ(count_rows(dir.file("q.db"),
                       "SELECT count(*) FROM dramatiq_messages WHERE message_id = '" + sent.message_id + "'"),
            1);
}

TEST(SQLiteBroker, DelaysAreDueTimesNotDelayQueues) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->declare_queue("default");
  std::int64_t before = current_millis();
  Message stored = broker->enqueue(make_message("add", {}), 60000);
  EXPECT_EQ(stored.queue_name, "default");
  EXPECT_GE(stored.options.find("eta")->as_number(), static_cast<double>(before + 60000));
  EXPECT_TRUE(broker->get_declared_delay_queues().empty());
  auto counts = broker->queue_counts("default");
  EXPECT_EQ(counts.delayed, 1);
  EXPECT_EQ(counts.ready, 0);
  // Not due: a consumer gets nothing.
  auto consumer = broker->consume("default", 10);
  EXPECT_EQ(consumer->next(20ms), nullptr);
}

TEST(SQLiteBroker, DelayedMessageIsDeliveredOnceDue) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->declare_queue("default");
  Message stored = broker->enqueue(make_message("add", {}), 150);
  auto consumer = broker->consume("default", 10);
  // One wait covers it: the consumer sleeps until the due time, not the timeout.
  auto delivered = consumer->next(kLongWait);
  ASSERT_NE(delivered, nullptr);
  EXPECT_EQ(delivered->message.message_id, stored.message_id);
  EXPECT_GE(current_millis(), static_cast<std::int64_t>(stored.options.find("eta")->as_number()));
  consumer->ack(*delivered);
  consumer->close();
}

TEST(SQLiteBroker, HigherBrokerPriorityIsFetchedFirstThenFifo) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->declare_queue("default");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    Value options = Value::object();
    if (i == 2) options.set("broker_priority", Value(std::int64_t{5}));
    ids.push_back(broker->enqueue(make_message("add", {Value(i)}, "default", std::move(options))).message_id);
  }
  auto consumer = broker->consume("default", 10);
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    auto m = consumer->next(kLongWait);
    ASSERT_NE(m, nullptr);
    order.push_back(m->message.message_id);
    consumer->ack(*m);
  }
  EXPECT_EQ(order, (std::vector<std::string>{ids[2], ids[0], ids[1]}));
  consumer->close();
}

TEST(SQLiteBroker, WorkerProcessesAndAcksEveryMessage) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }));
  std::vector<Message> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(make_message("record", {Value(i)}));
  broker->enqueue_all(std::move(batch));
  EXPECT_EQ(broker->queue_counts("default").ready, 500);
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages"), 500);

  Worker worker(broker, worker_options(4));
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait, .poll_interval = 5ms}));
  worker.stop(kLongWait);
  EXPECT_EQ(calls.count(), 500u);
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages"), 0);
}

// Spooled (one file, appends from many threads) and durable (group
// commit): every message arrives once.
TEST(SQLiteBroker, ProducersOnManyThreadsEachSendOnce) {
  for (bool durable : {false, true}) {
    SCOPED_TRACE(durable ? "durable" : "spooled");
    TempDir dir;
    auto options = options_for(dir.file("q.db"));
    options.durable = durable;
    auto broker = std::make_shared<SQLiteBroker>(options);
    broker->declare_queue("default");
    std::vector<std::thread> producers;
    for (int t = 0; t < 4; ++t) {
      producers.emplace_back([&, t] {
        for (int i = 0; i < 250; ++i) broker->enqueue(make_message("add", {Value(t * 1000 + i)}));
      });
    }
    for (auto& p : producers) p.join();
    EXPECT_EQ(broker->queue_counts("default").ready, 1000);
    EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(DISTINCT body) FROM dramatiq_messages"), 1000);
  }
}

TEST(SQLiteBroker, MessageOutOfRetriesIsDeadLetteredAndCanBeRequeued) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->add_middleware(std::make_shared<Retries>(Value(std::int64_t{0})));
  std::atomic<int> runs{0};
  broker->declare_actor(make_actor("boom", [&](const Array&, const Object&) -> Value {
    if (runs++ == 0) throw std::runtime_error("boom");
    return Value();
  }));
  LogCapture logs;
  Message stored = broker->enqueue(make_message("boom", {}));
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait, .poll_interval = 5ms}));
  auto letters = broker->list_dead_letters("default", 10);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].message_id.value_or(""), stored.message_id);
  EXPECT_EQ(broker->queue_counts("default").dead, 1);

  EXPECT_EQ(broker->requeue_dead_letters("default", {}), 1u);
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait, .poll_interval = 5ms}));
  worker.stop(kLongWait);
  EXPECT_EQ(runs.load(), 2);
  EXPECT_EQ(broker->queue_counts("default").dead, 0);
}

TEST(SQLiteBroker, GarbageAndUnknownActorsAreDeadLetteredWithAReason) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  Calls calls;
  broker->declare_actor(make_actor("record", [&](const Array& args, const Object&) {
    return calls.record(make_message("record", args));
  }));
  LogCapture logs;
  // Rows written by hand, as a buggy or hostile program would.
  execute(dir.file("q.db"),
          "INSERT INTO dramatiq_messages (queue, rank, due, message_id, body) VALUES "
          "('default', 0, 0, 'junk', X'ff206e6f74206a736f6e'), "
          "('default', 0, 0, 'array', '[1, 2]')");
  broker->enqueue(make_message("nobody", {}));
  broker->enqueue(make_message("record", {Value(1)}));
  Worker worker(broker, worker_options(1));
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait, .poll_interval = 5ms}));
  worker.stop(kLongWait);
  EXPECT_EQ(calls.count(), 1u);
  EXPECT_EQ(broker->queue_counts("default").dead, 3);
  EXPECT_EQ(logs.matching(log::Level::Error, "undecodable").size(), 2u);
  EXPECT_FALSE(logs.matching(log::Level::Error, "nobody").empty());
}

// Records that Worker::stop() began shutting worker threads down.
class ShutdownWatcher : public Middleware {
 public:
  std::string name() const override { return "ShutdownWatcher"; }
  void before_worker_thread_shutdown(Broker&, const ThreadInfo&) override { worker_thread_down.open(); }
  Latch worker_thread_down;
};

// Two worker threads, one stuck in a slow actor: the idle one exits once
// stop() cleared the running flag (the watcher sees it); only then does the
// slow actor enqueue more work and wait until the consumer leased it. None
// of it may start, and stop() must give every lease back.
TEST(SQLiteBroker, StopReturnsLeasedButUnstartedMessagesToTheQueue) {
  TempDir dir;
  auto broker = std::make_shared<TrackingBroker<SQLiteBroker>>(options_for(dir.file("q.db")));
  auto watcher = std::make_shared<ShutdownWatcher>();
  broker->add_middleware(watcher);
  Calls later;
  broker->declare_actor(make_actor("later", [&](const Array& args, const Object&) {
    return later.record(make_message("later", args));
  }));
  std::atomic<bool> handed_over{false};
  Latch slow_started;
  broker->declare_actor(make_actor("slow", [&](const Array&, const Object&) {
    slow_started.open();
    if (!watcher->worker_thread_down.wait()) return Value();
    for (int i = 0; i < 5; ++i) broker->enqueue(make_message("later", {Value(i)}));
    handed_over = broker->wait_handed_over("default", 3);
    return Value();
  }, "slow_q"));
  Worker worker(broker, worker_options(2));
  worker.start();
  broker->enqueue(make_message("slow", {}, "slow_q"));
  ASSERT_TRUE(slow_started.wait());
  worker.stop(kLongWait);
  ASSERT_TRUE(handed_over);
  EXPECT_EQ(later.count(), 0u) << "a message was started after stop() began";
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages WHERE queue = 'default' "
                                          "AND holder IS NULL"), 5);
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages"), 5);
}

TEST(SQLiteBroker, LeasesOfADeadProcessReturnToTheQueue) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->declare_queue("default");
  for (int i = 0; i < 3; ++i) broker->enqueue(make_message("anything", {}));
  // This process registers as a worker when it opens a consumer (whose
  // heartbeat may itself find the dead worker: either way is right).
  LogCapture logs;
  auto registration = broker->consume("other", 1);
  // A read moves the spooled sends into the table, where a worker leases
  // them (the raw UPDATE below sees only what is there).
  ASSERT_EQ(broker->queue_counts("default").ready, 3);
  // A worker process of this host (same boot, pid namespace and host name)
  // that leased the messages and died.
  pid_t gone = dead_pid();
  execute(dir.file("q.db"),
          "INSERT INTO dramatiq_workers (id, pid, started, boot_id, pid_namespace, hostname, heartbeat) "
          "SELECT 9000, " + std::to_string(gone) + ", 1, boot_id, pid_namespace, hostname, heartbeat "
          "FROM dramatiq_workers LIMIT 1; "
          "UPDATE dramatiq_messages SET holder = 9000;");
  broker->reclaim_dead_workers();
  EXPECT_EQ(broker->queue_counts("default").ready, 3);
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_workers WHERE id = 9000"), 0);
  EXPECT_EQ(logs.matching(log::Level::Warning, "is gone").size(), 1u);
  registration->close();
}

TEST(SQLiteBroker, ALiveProcessKeepsItsLeasesAndASilentRemoteOneLosesThem) {
  TempDir dir;
  auto holder = make_broker(dir.file("q.db"));
  holder->declare_queue("default");
  for (int i = 0; i < 2; ++i) holder->enqueue(make_message("anything", {}));
  auto consumer = holder->consume("default", 2);
  auto first = consumer->next(kLongWait);
  ASSERT_NE(first, nullptr);
  // Another broker on the same file (another process, as far as the file
  // knows) sees this one alive: nothing is taken from it.
  auto other = make_broker(dir.file("q.db"));
  EXPECT_EQ(other->reclaim_dead_workers(), 0u);
  EXPECT_EQ(other->queue_counts("default").in_flight, 2);
  // A worker on another host that stopped sending heartbeats is presumed dead.
  execute(dir.file("q.db"),
          "INSERT INTO dramatiq_workers (id, pid, started, boot_id, pid_namespace, hostname, heartbeat) "
          "VALUES (9001, 1, 1, 'another-boot', 'pid:[1]', 'elsewhere', 1); "
          "INSERT INTO dramatiq_messages (queue, rank, due, holder, message_id, body) "
          "VALUES ('default', 0, 0, 9001, 'x', '{}')");
  EXPECT_EQ(other->reclaim_dead_workers(), 1u);
  consumer->ack(*first);
  consumer->close();
}

TEST(SQLiteBroker, DoorbellRingsAcrossProcesses) {
  TempDir dir;
  sqlite::Doorbell bell(dir.file("bell"));
  std::uint32_t ticket = bell.ticket("default");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    sqlite::Doorbell own(dir.file("bell"));
    char byte;
    if (::read(ready[0], &byte, 1) != 1) ::_exit(2);
    own.ring("default");
    ::_exit(0);
  }
  ASSERT_EQ(::write(ready[1], "x", 1), 1);
  EXPECT_TRUE(bell.wait("default", ticket, std::chrono::steady_clock::now() + kLongWait));
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Without a ring, a wait ends at its deadline and says so.
  EXPECT_FALSE(bell.wait("default", bell.ticket("default"), std::chrono::steady_clock::now() + 10ms));
}

TEST(SQLiteBroker, IdleConsumerWakesOnAnotherConnectionsCommit) {
  TempDir dir;
  auto consumer_side = make_broker(dir.file("q.db"));
  consumer_side->declare_queue("default");
  auto consumer = consumer_side->consume("default", 1);
  auto producer = make_broker(dir.file("q.db"));
  Latch waiting;
  std::shared_ptr<MessageProxy> got;
  std::thread waiter([&] {
    waiting.open();
    got = consumer->next(kLongWait * 3);
  });
  ASSERT_TRUE(waiting.wait());
  auto sent = std::chrono::steady_clock::now();
  producer->enqueue(make_message("anything", {}, "default"));
  waiter.join();
  ASSERT_NE(got, nullptr);
  // Woken by the commit's ring, well before the consumer's timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - sent, kLongWait);
  consumer->ack(*got);
  consumer->close();
}

// A program that writes a row and rings no bell: the idle consumer still
// finds it when its wait times out (the worker's worker_timeout).
TEST(SQLiteBroker, AnIdleConsumerFindsUnrungWorkWhenItsWaitEnds) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->declare_queue("default");
  auto consumer = broker->consume("default", 1);
  std::atomic<bool> stop{false};
  std::shared_ptr<MessageProxy> got;
  std::thread waiter([&] {
    auto deadline = std::chrono::steady_clock::now() + kLongWait;
    while (!got && !stop && std::chrono::steady_clock::now() < deadline) got = consumer->next(50ms);
  });
  execute(dir.file("q.db"),
          "INSERT INTO dramatiq_messages (queue, rank, due, message_id, body) VALUES ('default', 0, 0, 'x', '{}')");
  waiter.join();
  ASSERT_NE(got, nullptr);
  consumer->ack(*got);
  consumer->close();
}

// Readers that always overlap keep SQLite's own checkpoints from ever
// resetting the write-ahead log (and journal_size_limit only trims it to
// 64 MiB after one): the worker's heartbeat truncates it to nothing.
std::int64_t file_size(const std::string& path) {
  std::error_code error;
  auto size = std::filesystem::file_size(path, error);
  return error ? 0 : static_cast<std::int64_t>(size);
}

TEST(SQLiteBroker, TheHeartbeatTruncatesTheWriteAheadLogUnderConstantReaders) {
  TempDir dir;
  std::string path = dir.file("q.db");
  SQLiteBrokerOptions options = options_for(path);
  options.heartbeat_interval_ms = 20;
  options.wal_limit_bytes = 256 << 10;
  auto broker = std::make_shared<SQLiteBroker>(options);
  broker->declare_queue("default");
  std::atomic<bool> stop{false};
  std::thread readers([&] {
    sqlite3* connections[2] = {nullptr, nullptr};
    for (auto& c : connections) sqlite3_open(path.c_str(), &c);
    int turn = 0;
    sqlite3_exec(connections[0], "BEGIN; SELECT count(*) FROM dramatiq_queues;", nullptr, nullptr, nullptr);
    while (!stop) {
      // The other reader starts before this one ends: never no reader.
      sqlite3_exec(connections[1 - turn], "BEGIN; SELECT count(*) FROM dramatiq_queues;", nullptr, nullptr,
                   nullptr);
      sqlite3_exec(connections[turn], "COMMIT", nullptr, nullptr, nullptr);
      turn = 1 - turn;
      std::this_thread::sleep_for(200us);
    }
    sqlite3_exec(connections[turn], "COMMIT", nullptr, nullptr, nullptr);
    for (auto& c : connections) sqlite3_close(c);
  });
  for (int i = 0; i < 2000; ++i) broker->enqueue(make_message("a", {Value(std::string(200, 'x'))}));
  EXPECT_EQ(broker->queue_counts("default").ready, 2000);  // moved from the spool into the log
  EXPECT_GT(file_size(path + "-wal"), 256 << 10);
  auto consumer = broker->consume("other", 1);  // a worker: heartbeats run
  EXPECT_TRUE(eventually([&] { return file_size(path + "-wal") == 0; }))
      << "write-ahead log still " << file_size(path + "-wal") << " bytes";
  stop = true;
  readers.join();
  consumer->close();
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM dramatiq_messages"), 2000);
}

// A stopping worker interrupts its consumers' waits instead of waiting out
// the fetch timeout.
TEST(SQLiteBroker, InterruptWaitEndsAnIdleConsumersWait) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->declare_queue("default");
  auto consumer = broker->consume("default", 1);
  expect_interrupt_wait_ends_an_idle_wait(*consumer);
  consumer->close();
}

TEST(SQLiteBroker, FlushDropsWaitingDelayedAndDeadMessages) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->declare_queue("default");
  broker->declare_queue("other");
  broker->enqueue(make_message("a", {}));
  broker->enqueue(make_message("a", {}), 60000);
  broker->enqueue(make_message("a", {}, "other"));
  execute(dir.file("q.db"), "INSERT INTO dramatiq_dead_letters (queue, message_id, dead_at, body) "
                            "VALUES ('default', 'x', 0, '{}')");
  broker->flush("default");
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages WHERE queue = 'default'"), 0);
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_dead_letters"), 0);
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages"), 1);
  broker->flush_all();
  EXPECT_EQ(count_rows(dir.file("q.db"), "SELECT count(*) FROM dramatiq_messages"), 0);
}

TEST(SQLiteBroker, JoinTimesOutWhileMessagesWait) {
  TempDir dir;
  auto broker = make_broker(dir.file("q.db"));
  broker->declare_queue("default");
  broker->enqueue(make_message("a", {}));
  EXPECT_FALSE(broker->join("default", {.timeout = 20ms, .poll_interval = 5ms}));
}

TEST(SQLiteBroker, RefusesAFileOfAnotherApplication) {
  TempDir dir;
  execute(dir.file("app.db"), "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
  try {
    make_broker(dir.file("app.db"));
    FAIL() << "opened another application's database";
  } catch (const ConnectionFailed& e) {
    EXPECT_NE(std::string(e.what()).find("another application"), std::string::npos) << e.what();
  }
  // The file is untouched.
  EXPECT_EQ(count_rows(dir.file("app.db"), "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'dramatiq_%'"), 0);
}

TEST(SQLiteBroker, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  std::ofstream(dir.file("junk.db")) << std::string(8192, 'x');
  try {
    make_broker(dir.file("junk.db"));
    FAIL() << "opened a file that is not a database";
  } catch (const ConnectionFailed& e) {
    EXPECT_NE(std::string(e.what()).find("not a database"), std::string::npos) << e.what();
  }
}

TEST(SQLiteBroker, UrlsNameThePathAndOptions) {
  auto absolute = SQLiteBrokerOptions::from_url("sqlite:///var/lib/app/q.db?durable=1");
  EXPECT_EQ(absolute.path, "/var/lib/app/q.db");
  EXPECT_TRUE(absolute.durable);
  auto relative = SQLiteBrokerOptions::from_url("sqlite://data/q.db");
  EXPECT_EQ(relative.path, "data/q.db");
  EXPECT_FALSE(relative.durable);
  EXPECT_THROW(SQLiteBrokerOptions::from_url("sqlite:///q.db?durible=1"), std::invalid_argument);
  EXPECT_THROW(SQLiteBrokerOptions::from_url("sqlite:///q.db?durable=maybe"), std::invalid_argument);
  EXPECT_THROW(SQLiteBrokerOptions::from_url("redis://localhost"), std::invalid_argument);
  EXPECT_EQ(SQLiteBrokerOptions::from_url("SQLite:///var/q.db").path, "/var/q.db");  // schemes ignore case
}

TEST(SQLiteBroker, UrlPathsKeepTheirAtSignsHashesAndEscapes) {
  auto options = SQLiteBrokerOptions::from_url("sqlite:///home/me@work/[q:1]#2%20.db?durable&busy_timeout=50");
  EXPECT_EQ(options.path, "/home/me@work/[q:1]#2 .db");
  EXPECT_TRUE(options.durable);  // a name without a value is true
  EXPECT_EQ(options.busy_timeout_ms, 50);
  EXPECT_EQ(SQLiteBrokerOptions::from_url("sqlite://me@host:1/q.db").path, "me@host:1/q.db");
  EXPECT_FALSE(SQLiteBrokerOptions::from_url("sqlite://").path.empty());  // the default path
}

TEST(SQLiteBroker, PauseResumeSettlesEachMessageThroughItsConsumer) {
  TempDir dir;
  auto broker = std::make_shared<TrackingBroker<SQLiteBroker>>(options_for(dir.file("q.db")));
  expect_settled_through_delivering_consumer(broker, Interruption::PauseResume);
}

TEST(SQLiteBroker, ConsumerRestartSettlesEachMessageThroughItsConsumer) {
  TempDir dir;
  auto broker = std::make_shared<TrackingBroker<SQLiteBroker>>(options_for(dir.file("q.db")));
  expect_settled_through_delivering_consumer(broker, Interruption::ConsumerRestart);
}

// Rows of about one page each, straight into the messages table.
static void insert_page_rows(sqlite::Database& db, int count) {
  static const std::string body(3000, 'x');
  for (int i = 0; i < count; ++i) {
    db.query("INSERT INTO dramatiq_messages (queue, rank, due, message_id, body) VALUES ('q', 0, 0, 'm', ?)")
        .bind_blob(1, body)
        .run();
  }
}

// A commit that grows the log past SQLite's checkpoint threshold leaves the
// checkpoint to the store's own thread, which copies the log into the file.
TEST(SQLiteStore, CheckpointsRunOnTheirOwnThread) {
  TempDir dir;
  sqlite::DatabaseOptions options;
  options.path = dir.file("q.db");
  sqlite::Store store(options);
  for (int batch = 0; batch < 12; ++batch) {
    store.write([&](sqlite::Database& db) { insert_page_rows(db, 100); });
  }
  ASSERT_TRUE(store.wait_for_checkpoints(1, kLongWait));
  EXPECT_GT(file_size(options.path), 1000 * 3000) << "the rows were not copied into the database file";
}

// A checkpoint copies only what no reader's snapshot predates, and SQLite
// starts the log over only once all of it was copied. A round must end with
// the whole log copied — what a reader held back when it began, or what was
// committed while it ran — so that the next commit starts the log over
// (under a steady producer the log grew to hundreds of MB).
TEST(SQLiteStore, TheLogStartsOverAfterARoundThatCouldNotCopyEverythingAtFirst) {
  TempDir dir;
  sqlite::DatabaseOptions options;
  options.path = dir.file("q.db");
  sqlite::Store store(options);
  auto insert = [&] { store.write([&](sqlite::Database& db) { insert_page_rows(db, 1); }); };
  for (int i = 0; i < 50; ++i) insert();
  // Another process's reader, its snapshot taken now: the first copy of the
  // round stops there. It finishes between the round's two copies.
  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open(options.path.c_str(), &reader), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM dramatiq_messages;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  std::atomic<bool> reader_done{false};
  store.set_between_copies([&] {
    if (!reader_done.exchange(true)) sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr);
  });
  for (int i = 0; i < 300; ++i) insert();  // past the checkpoint threshold (1000 pages)
  ASSERT_TRUE(store.wait_for_checkpoints(1, kLongWait));
  ASSERT_TRUE(reader_done.load());
  insert();
  int logged = -1;
  sqlite3_wal_checkpoint_v2(reader, nullptr, SQLITE_CHECKPOINT_PASSIVE, &logged, nullptr);
  sqlite3_close(reader);
  // A log that never started over holds every insert's frames, over the
  // 1000-page threshold; one that did holds those made after the round
  // ended (how many depends on how soon it ended: a slow build's round
  // ends while the inserts go on).
  EXPECT_LT(logged, 1000) << "the log did not start over after the checkpoint round";
}

// ---------------------------------------------------------------------------
// The spool (sqlite/spool.hpp): sends in a file per producer, moved into the
// queues by the next write of any process, each record exactly once.

namespace {

std::vector<std::string> spool_files(const std::string& database_path) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(database_path + "-spool", error)) {
    std::string name = entry.path().filename().string();
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".spool") == 0) names.push_back(name);
  }
  return names;
}

// Runs `produce` in a child process that is SIGKILLed once it returns,
// with what it returns (its broker) still open: a producer that dies
// without closing anything.
void in_a_producer_that_is_then_killed(const std::function<std::shared_ptr<void>()>& produce) {
  int done[2];
  ASSERT_EQ(::pipe(done), 0);
  pid_t child = ::fork();
  if (child == 0) {
    auto still_open = produce();
    (void)!::write(done[1], "x", 1);
    ::raise(SIGKILL);
  }
  ::close(done[1]);
  char byte = 0;
  EXPECT_EQ(::read(done[0], &byte, 1), 1) << "the producer failed before it finished";
  ::close(done[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
}

}  // namespace

TEST(SQLiteSpool, AClosedProducersFileIsDeletedOnceItsMessagesAreIn) {
  TempDir dir;
  const std::string path = dir.file("q.db");
  auto reader = make_broker(path);
  {
    auto producer = make_broker(path);
    producer->declare_queue("default");
    producer->enqueue(make_message("add", {}));
    EXPECT_EQ(spool_files(path).size(), 1u);
  }
  EXPECT_EQ(reader->queue_counts("default").ready, 1);
  EXPECT_TRUE(spool_files(path).empty());
}

TEST(SQLiteSpool, ADeadProducersFileIsDeletedOnceItsMessagesAreIn) {
  TempDir dir;
  const std::string path = dir.file("q.db");
  in_a_producer_that_is_then_killed([&] {
    auto producer = make_broker(path);
    producer->declare_queue("default");
    for (int i = 0; i < 3; ++i) producer->enqueue(make_message("add", {Value(i)}));
    return producer;
  });
  ASSERT_EQ(spool_files(path).size(), 1u);
  auto reader = make_broker(path);
  EXPECT_EQ(reader->queue_counts("default").ready, 3);
  EXPECT_TRUE(spool_files(path).empty());
}

// A producer killed inside write(2) leaves part of a record: that send never
// returned. The records before it are delivered, the rest is dropped with a
// logged reason, and the file goes.
TEST(SQLiteSpool, ARecordCutShortByTheProducersDeathIsDroppedWithAReason) {
  TempDir dir;
  const std::string path = dir.file("q.db");
  in_a_producer_that_is_then_killed([&] {
    auto producer = make_broker(path);
    producer->declare_queue("default");
    producer->enqueue(make_message("add", {Value(1)}));
    producer->enqueue(make_message("add", {Value(2)}));
    // What a write(2) cut short leaves: the start of a third record.
    std::string file = path + "-spool/" + spool_files(path).at(0);
    std::ofstream(file, std::ios::binary | std::ios::app) << std::string("\x40\x00\x00\x00\x12\x34", 6);
    return producer;
  });
  LogCapture logs;
  auto reader = make_broker(path);
  EXPECT_EQ(reader->queue_counts("default").ready, 2);
  EXPECT_TRUE(spool_files(path).empty());
  auto dropped = logs.matching(log::Level::Warning, "died inside, before it returned");
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_NE(dropped[0].message.find("Dropped 6 bytes"), std::string::npos) << dropped[0].message;
}

// The move is part of the transaction it rides in: undone with it, and
// done again, once, by the next one.
TEST(SQLiteSpool, AMoveUndoneWithItsTransactionIsDoneAgainOnce) {
  TempDir dir;
  sqlite::DatabaseOptions options;
  options.path = dir.file("q.db");
  sqlite::Store producer(options);
  sqlite::Store other(options);
  producer.enqueue({sqlite::MessageRow{"default", 0, 0, "id-1", "body"}});
  EXPECT_THROW(other.write([](sqlite::Database&) { throw std::runtime_error("undone"); }), std::runtime_error);
  std::int64_t rows = -1;
  other.read([&](sqlite::Database& db) {
    auto count = db.query("SELECT count(*) FROM dramatiq_messages WHERE message_id = 'id-1'");
    count.step();
    rows = count.integer(0);
  });
  EXPECT_EQ(rows, 1);
}

// A group is one record: all of its messages arrive, or (cut short) none.
TEST(SQLiteSpool, AGroupCutShortSendsNoneOfItsMessages) {
  TempDir dir;
  const std::string path = dir.file("q.db");
  in_a_producer_that_is_then_killed([&] {
    auto producer = make_broker(path);
    producer->declare_queue("default");
    std::vector<Message> group;
    for (int i = 0; i < 100; ++i) group.push_back(make_message("add", {Value(i)}));
    producer->enqueue_all(std::move(group));
    // Cut the group's record short by its last byte, as a death mid-write.
    std::string file = path + "-spool/" + spool_files(path).at(0);
    std::filesystem::resize_file(file, std::filesystem::file_size(file) - 1);
    return producer;
  });
  LogCapture logs;
  auto reader = make_broker(path);
  EXPECT_EQ(reader->queue_counts("default").ready, 0);
  EXPECT_EQ(logs.matching(log::Level::Warning, "died inside, before it returned").size(), 1u);
}

// A producer goes on in a new file once its file is large; the full one is
// deleted when it has been moved in, so no file grows without bound.
TEST(SQLiteSpool, AProducerGoesOnInANewFileOnceItsFileIsLarge) {
  TempDir dir;
  const std::string path = dir.file("q.db");
  auto producer = make_broker(path);
  auto reader = make_broker(path);
  producer->declare_queue("default");
  const std::string megabyte(1 << 20, 'x');
  for (int i = 0; i < 20; ++i) producer->enqueue(make_message("add", {Value(megabyte)}));
  EXPECT_EQ(spool_files(path).size(), 2u);
  EXPECT_EQ(reader->queue_counts("default").ready, 20);
  EXPECT_EQ(spool_files(path).size(), 1u);  // the one still written to
}

// Where no spool file can be made (here a file is in the way of its
// directory), a send commits to the database instead.
TEST(SQLiteSpool, WithoutASpoolASendCommitsInstead) {
  TempDir dir;
  const std::string path = dir.file("q.db");
  std::ofstream(path + "-spool") << "in the way";
  auto broker = make_broker(path);
  broker->declare_queue("default");
  Message stored = broker->enqueue(make_message("add", {}));
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM dramatiq_messages WHERE message_id = '" + stored.message_id + "'"),
            1);
}

// ---- queue counts (tests/cpp/queue_counts_scenario.hpp)

TEST(SQLiteBroker, CountsAQueuesMessagesByState) {
  TempDir dir;
  const std::string path = dir.file("broker.sqlite3");
  expect_queue_counts_by_state([&] { return make_broker(path); }, /*sees_in_flight=*/true);
}

// ---- waiting messages (tests/cpp/message_listing_scenario.hpp)

TEST(SQLiteBroker, WaitingMessagesAreListedFromAnotherBroker) {
  TempDir dir;
  const std::string path = dir.file("broker.sqlite3");
  expect_waiting_messages_listed([&] { return make_broker(path); });
}

// ---- worker records (tests/cpp/worker_record_scenario.hpp)

TEST(SQLiteBroker, WorkerRecordsFollowTheWorker) {
  TempDir dir;
  const std::string path = dir.file("broker.sqlite3");
  expect_worker_records_follow_the_worker([&] { return make_broker(path); });
}

TEST(SQLiteBroker, ExpiredWorkerRecordsAreNotListed) {
  TempDir dir;
  const std::string path = dir.file("broker.sqlite3");
  expect_expired_worker_records_not_listed([&] { return make_broker(path); });
}

// ---- dead letters (tests/cpp/dead_letter_scenario.hpp)

TEST(SQLiteBroker, DeadLettersAreListedRequeuedAndDeletedFromAnotherBroker) {
  TempDir dir;
  const std::string path = dir.file("broker.sqlite3");
  expect_dead_letters_listed_requeued_and_deleted([&] { return make_broker(path); });
}

// ---- cancellation (tests/cpp/cancellation_scenario.hpp)

TEST(SQLiteBroker, ACancellationFromAnotherBrokerInterruptsTheRunningMessageAndSkipsAPendingOne) {
  TempDir dir;
  const std::string path = dir.file("broker.sqlite3");
  auto inspector = make_broker(path);
  expect_running_interrupted_and_pending_skipped(
      [&] { return make_broker(path); },
      [&] { return static_cast<long long>(inspector->list_dead_letters("default", 100).size()); });
}

TEST(SQLiteBroker, CancellationsInForceWhenAWorkerStartsAreHonouredAndExpiredOnesAreNot) {
  TempDir dir;
  const std::string path = dir.file("broker.sqlite3");
  expect_cancellations_in_force_honoured([&] { return make_broker(path); });
}
