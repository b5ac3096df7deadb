// Prometheus metrics in the engine: the shared metrics files (written by one
// object, read back and merged by another, as the exposition server does
// from another process) and the Prometheus middleware counting what a real
// Worker does on a StubBroker.
#include "dramatiq/builtin_middleware.hpp"
#include "dramatiq/metrics_file.hpp"
#include "dramatiq/prometheus.hpp"
#include "dramatiq/stub_broker.hpp"
#include "dramatiq/worker.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace dramatiq;
using namespace dramatiq::testing;
namespace fs = std::filesystem;
using metrics::Metric;

namespace {

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "dramatiq-metrics-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::int64_t value(const metrics::SeriesSnapshot& s, Metric m) {
  return s.values[static_cast<std::size_t>(m)];
}
bool touched(const metrics::SeriesSnapshot& s, Metric m) {
  return (s.touched >> static_cast<std::size_t>(m)) & 1;
}

// The exposition's samples: "name{labels}" -> value text.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

// A sample's key in `samples`: name{actor_name=...,[extra,]queue_name=...}.
std::string key(const std::string& name, const std::string& actor, const std::string& queue,
                const std::string& extra = "") {
  return name + "{actor_name=\"" + actor + "\"," + (extra.empty() ? "" : extra + ",") + "queue_name=\"" +
         queue + "\"}";
}

// Sums a metric over the snapshots of one series.
std::int64_t total(const std::vector<metrics::SeriesSnapshot>& snapshots, const std::string& queue,
                   const std::string& actor, Metric m) {
  std::int64_t sum = 0;
  for (const auto& s : snapshots) {
    if (s.queue_name == queue && s.actor_name == actor) sum += value(s, m);
  }
  return sum;
}

}  // namespace

// ------------------------------------------------------------ metrics files

TEST(MetricsFile, CountsAreReadBackByAnotherReaderWhileTheWriterLives) {
  TempDir dir;
  metrics::MetricsFile file(dir.path());
  EXPECT_EQ(fs::path(file.path()).parent_path(), fs::path(dir.path()));
  auto* a = file.series("default", "add");
  auto* b = file.series("other", "mul");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(file.series("default", "add"), a);  // one record per series
  a->add(Metric::Messages, 3);
  a->add(Metric::InProgress, 1);
  b->add(Metric::Errors, 2);
  a->observe(4);     // <= 5
  a->observe(5);     // <= 5 (bounds are inclusive)
  a->observe(5000);  // <= 5000
  a->observe(1e7);   // +Inf

  auto snapshots = metrics::read_directory(dir.path());
  ASSERT_EQ(snapshots.size(), 2u);
  const auto& sa = snapshots[0].actor_name == "add" ? snapshots[0] : snapshots[1];
  const auto& sb = snapshots[0].actor_name == "add" ? snapshots[1] : snapshots[0];
  EXPECT_EQ(sa.queue_name, "default");
  EXPECT_EQ(sb.queue_name, "other");
  EXPECT_TRUE(sa.live);
  EXPECT_EQ(sa.pid, ::getpid());
  EXPECT_EQ(value(sa, Metric::Messages), 3);
  EXPECT_EQ(value(sa, Metric::InProgress), 1);
  EXPECT_TRUE(touched(sa, Metric::Messages));
  EXPECT_FALSE(touched(sa, Metric::Errors));
  EXPECT_EQ(value(sb, Metric::Errors), 2);
  EXPECT_FALSE(touched(sb, Metric::Messages));
  EXPECT_EQ(sa.buckets[0], 2u);
  EXPECT_EQ(sa.buckets[11], 1u);  // the 5000 ms bucket
  EXPECT_EQ(sa.buckets[metrics::kBucketCount - 1], 1u);
  EXPECT_EQ(value(sa, Metric::DurationMicros), 4000 + 5000 + 5000000 + 10000000000);
}

TEST(MetricsFile, ConcurrentCountsAreExactAndManySeriesGrowTheFile) {
  TempDir dir;
  metrics::MetricsFile file(dir.path());
  constexpr int kThreads = 4, kPerThread = 20000, kSeries = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        file.series("q", "actor-" + std::to_string(i % kSeries))->add(Metric::Messages, 1);
      }
    });
  }
  // Read while they count: never a damaged record, never more than counted.
  for (int i = 0; i < 20; ++i) {
    for (const auto& s : metrics::read_directory(dir.path())) {
      EXPECT_EQ(s.queue_name, "q");
      EXPECT_LE(value(s, Metric::Messages), kThreads * kPerThread / kSeries);
    }
  }
  for (auto& t : threads) t.join();
  auto snapshots = metrics::read_directory(dir.path());
  ASSERT_EQ(snapshots.size(), static_cast<std::size_t>(kSeries));  // > the initial 64 KiB
  for (const auto& s : snapshots) EXPECT_EQ(value(s, Metric::Messages), kThreads * kPerThread / kSeries);
}

TEST(MetricsFile, DeadProcessesKeepTheirCountersButNotTheirGauges) {
  TempDir dir;
  auto gone = std::make_unique<metrics::MetricsFile>(dir.path());
  metrics::MetricsFile running(dir.path());
  metrics::MetricsFile shut_down(dir.path());
  for (auto* file : {gone.get(), &running, &shut_down}) {
    auto* s = file->series("default", "work");
    s->add(Metric::Messages, 10);
    s->add(Metric::InProgress, 1);
    s->add(Metric::Delayed, 2);
    s->observe(20);
  }
  shut_down.set_live(false);  // what after_worker_shutdown does
  gone.reset();               // the process ended: its lock is released

  auto snapshots = metrics::read_directory(dir.path());
  ASSERT_EQ(snapshots.size(), 3u);
  int live = 0;
  for (const auto& s : snapshots) live += s.live;
  EXPECT_EQ(live, 1);

  auto text = metrics::render_prometheus(snapshots);
  auto got = samples(text);
  EXPECT_EQ(got[key("dramatiq_messages_total", "work", "default")], "30.0");
  EXPECT_EQ(got[key("dramatiq_messages_inprogress", "work", "default")], "1.0");
  std::string pid = "pid=\"" + std::to_string(::getpid()) + "\"";
  EXPECT_EQ(got[key("dramatiq_delayed_messages_inprogress", "work", "default", pid)], "2.0");
  const std::string bucket = "dramatiq_message_duration_milliseconds_bucket";
  EXPECT_EQ(got[key(bucket, "work", "default", "le=\"10.0\"")], "0.0");
  EXPECT_EQ(got[key(bucket, "work", "default", "le=\"25.0\"")], "3.0");
  EXPECT_EQ(got[key(bucket, "work", "default", "le=\"+Inf\"")], "3.0");
  EXPECT_EQ(got[key("dramatiq_message_duration_milliseconds_count", "work", "default")], "3.0");
  EXPECT_EQ(got[key("dramatiq_message_duration_milliseconds_sum", "work", "default")], "60.0");
  // Families nobody used are not shown at all (as prometheus_client does).
  EXPECT_EQ(text.find("dramatiq_message_errors_total"), std::string::npos);
  EXPECT_NE(text.find("# HELP dramatiq_messages_total The total number of messages processed.\n"
                      "# TYPE dramatiq_messages_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE dramatiq_message_duration_milliseconds histogram\n"), std::string::npos);
}

TEST(MetricsFile, AnotherProcessSeesLiveCountsAndAKilledWriterAsDead) {
  TempDir dir;
  int to_child[2], to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The writer process: counts, says so, then counts more while the
    // parent watches, and waits to be killed.
    metrics::MetricsFile file(dir.path());
    auto* s = file.series("default", "work");
    s->add(Metric::InProgress, 1);
    s->add(Metric::Messages, 5);
    char byte = 'r';
    if (::write(to_parent[1], &byte, 1) != 1) ::_exit(1);
    if (::read(to_child[0], &byte, 1) != 1) ::_exit(1);
    s->add(Metric::Messages, 2);
    if (::write(to_parent[1], &byte, 1) != 1) ::_exit(1);
    while (true) ::pause();
  }
  char byte;
  ASSERT_EQ(::read(to_parent[0], &byte, 1), 1);
  auto before = metrics::read_directory(dir.path());
  ASSERT_EQ(before.size(), 1u);
  EXPECT_TRUE(before[0].live);
  EXPECT_EQ(before[0].pid, child);
  EXPECT_EQ(value(before[0], Metric::Messages), 5);
  ASSERT_EQ(::write(to_child[1], &byte, 1), 1);
  ASSERT_EQ(::read(to_parent[0], &byte, 1), 1);
  EXPECT_EQ(value(metrics::read_directory(dir.path())[0], Metric::Messages), 7);  // no reopen needed

  ::kill(child, SIGKILL);  // no shutdown hook runs: only the lock tells
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) ::close(fd);
  auto after = metrics::read_directory(dir.path());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_FALSE(after[0].live);
  EXPECT_EQ(value(after[0], Metric::Messages), 7);
  auto text = metrics::render_prometheus(after);
  EXPECT_EQ(text.find("dramatiq_messages_inprogress"), std::string::npos);
  EXPECT_NE(text.find("dramatiq_messages_total{actor_name=\"work\",queue_name=\"default\"} 7.0\n"),
            std::string::npos);
}

TEST(MetricsFile, ReadersSkipForeignAndDamagedFilesAndEscapeLabels) {
  TempDir dir;
  std::ofstream(dir.path() + "/counter_123.db") << "prometheus_client's file";
  std::ofstream(dir.path() + "/junk.dramatiq-metrics") << "short";
  {
    std::ofstream big(dir.path() + "/zeros.dramatiq-metrics", std::ios::binary);
    big << std::string(4096, '\0');
  }
  metrics::MetricsFile file(dir.path());
  file.series("q\"1", "a\\b\nc")->add(Metric::Rejects, 1);
  auto snapshots = metrics::read_directory(dir.path());
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_EQ(metrics::render_prometheus(snapshots),
            "# HELP dramatiq_message_rejects_total The total number of dead-lettered messages.\n"
            "# TYPE dramatiq_message_rejects_total counter\n"
            "dramatiq_message_rejects_total{actor_name=\"a\\\\b\\nc\",queue_name=\"q\\\"1\"} 1.0\n");
  EXPECT_TRUE(metrics::read_directory(dir.path() + "/missing").empty());
}

// ------------------------------------------------------ the middleware

class PrometheusMiddleware : public ::testing::Test {
 protected:
  LogCapture logs;
  TempDir dir;
  std::shared_ptr<StubBroker> broker = std::make_shared<StubBroker>();
  std::shared_ptr<Prometheus> prometheus = std::make_shared<Prometheus>(dir.path());
  static WorkerOptions options() { return WorkerOptions{std::nullopt, 50, 2}; }
};

TEST_F(PrometheusMiddleware, CountsWhatTheWorkerDoes) {
  // Retries: at most 1 retry, 1-2 ms backoff.
  broker->add_middleware(std::make_shared<Retries>(Value(1), 1, 2));
  broker->add_middleware(prometheus);
  broker->declare_actor(make_actor("ok", [](const Array&, const Object&) { return Value(); }));
  broker->declare_actor(make_actor("boom", [](const Array&, const Object&) -> Value {
    throw std::runtime_error("kaboom");
  }, "other"));

  // Nothing is counted before the process or its worker boots.
  broker->enqueue(make_message("ok", {0}, "default", Value(Object{{"retries", 3}})));
  EXPECT_TRUE(prometheus->file_path().empty());
  EXPECT_TRUE(metrics::read_directory(dir.path()).empty());

  Worker worker(broker, options());
  worker.start();
  ASSERT_FALSE(prometheus->file_path().empty());
  for (int i = 1; i < 5; ++i) broker->enqueue(make_message("ok", {i}));
  broker->enqueue(make_message("ok", {5}), 1);  // delayed by 1 ms
  broker->enqueue(make_message("boom", {}, "other"));
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  ASSERT_TRUE(broker->join("other", {.timeout = kLongWait}));
  // The live view, before the worker stops (its after_ack/nack hooks may
  // still be running just after join returns, hence the counts below are
  // read once it has stopped).
  auto live_view = samples(metrics::render_prometheus(metrics::read_directory(dir.path())));
  EXPECT_TRUE(live_view.count("dramatiq_messages_inprogress{actor_name=\"ok\",queue_name=\"default\"}"));
  worker.stop();

  auto snapshots = metrics::read_directory(dir.path());
  // ok: 5 undelayed + 1 delayed; boom: the first attempt and its retry.
  EXPECT_EQ(total(snapshots, "default", "ok", Metric::Messages), 6);
  EXPECT_EQ(total(snapshots, "other", "boom", Metric::Messages), 2);
  EXPECT_EQ(total(snapshots, "other", "boom", Metric::Errors), 2);
  EXPECT_EQ(total(snapshots, "default", "ok", Metric::Errors), 0);
  // A retry counts when it goes to the delay queue and again when it moves
  // to its queue; the message sent before boot was not counted.
  EXPECT_EQ(total(snapshots, "other.DQ", "boom", Metric::Retries), 1);
  EXPECT_EQ(total(snapshots, "other", "boom", Metric::Retries), 1);
  EXPECT_EQ(total(snapshots, "default", "ok", Metric::Retries), 0);
  // Dead-lettered after its last retry.
  EXPECT_EQ(total(snapshots, "other", "boom", Metric::Rejects), 1);
  EXPECT_EQ(total(snapshots, "default", "ok", Metric::Rejects), 0);
  // Gauges are back to zero, and were used (so they are shown).
  for (const auto& s : snapshots) {
    if (s.queue_name == "default" && s.actor_name == "ok") {
      EXPECT_TRUE(touched(s, Metric::InProgress));
      EXPECT_EQ(value(s, Metric::InProgress), 0);
    }
    if (s.queue_name == "default.DQ" && s.actor_name == "ok") {
      EXPECT_TRUE(touched(s, Metric::Delayed));
      EXPECT_EQ(value(s, Metric::Delayed), 0);  // held, then moved to its queue
    }
  }
  // After the worker's shutdown the process shows no gauges; counts remain.
  for (const auto& s : snapshots) EXPECT_FALSE(s.live);
  auto text = metrics::render_prometheus(snapshots);
  EXPECT_EQ(text.find("dramatiq_messages_inprogress"), std::string::npos);
  EXPECT_EQ(text.find("dramatiq_delayed_messages_inprogress"), std::string::npos);
  auto got = samples(text);
  EXPECT_EQ(got[key("dramatiq_messages_total", "ok", "default")], "6.0");
  EXPECT_EQ(got[key("dramatiq_message_duration_milliseconds_count", "ok", "default")], "6.0");
  EXPECT_EQ(got[key("dramatiq_message_duration_milliseconds_count", "boom", "other")], "2.0");
  EXPECT_EQ(got[key("dramatiq_message_rejects_total", "boom", "other")], "1.0");
}

TEST_F(PrometheusMiddleware, MessagesSkippedBeforeItsHookAreCountedButNeverInProgress) {
  // AgeLimit comes first and skips every message before Prometheus sees it
  // start: processed (and dead-lettered) yes, in progress never below zero.
  broker->add_middleware(std::make_shared<AgeLimit>(Value(1)));
  broker->add_middleware(prometheus);
  broker->declare_actor(make_actor("ok", [](const Array&, const Object&) { return Value(); }));
  Message old = make_message("ok", {1});
  old.message_timestamp -= 60000;
  broker->enqueue(old);
  Worker worker(broker, options());
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop();  // its hooks have finished
  auto snapshots = metrics::read_directory(dir.path());
  EXPECT_EQ(total(snapshots, "default", "ok", Metric::Messages), 1);
  EXPECT_EQ(total(snapshots, "default", "ok", Metric::Rejects), 1);
  EXPECT_EQ(total(snapshots, "default", "ok", Metric::InProgress), 0);
  EXPECT_EQ(total(snapshots, "default", "ok", Metric::Errors), 0);
}

TEST_F(PrometheusMiddleware, AnUnwritableDirectoryDisablesMetricsWithALoggedError) {
  auto blocked = std::make_shared<Prometheus>("/proc/definitely/not/writable");
  broker->add_middleware(blocked);
  broker->declare_actor(make_actor("ok", [](const Array&, const Object&) { return Value(); }));
  broker->enqueue(make_message("ok", {1}));
  Worker worker(broker, options());
  worker.start();
  ASSERT_TRUE(broker->join("default", {.timeout = kLongWait}));
  worker.stop();
  EXPECT_TRUE(blocked->file_path().empty());
  EXPECT_EQ(logs.matching(log::Level::Error, "Metrics are disabled").size(), 1u);
}
