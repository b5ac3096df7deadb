// The scheduler (src/schedule/scheduler.hpp): ticks enqueued at their
// time, each exactly once among schedulers racing on one broker (the stub,
// the embedded broker's file, a real redis-server), missed ticks by the
// schedule's policy, a failed enqueue tried again, and the thread on the
// system clock. Passes are driven with chosen instants, not waited for.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "dramatiq/encoder.hpp"
#include "dramatiq/redis_broker.hpp"
#include "dramatiq/sqlite_broker.hpp"
#include "dramatiq/stub_broker.hpp"
#include "redis_server.hpp"
#include "schedule/scheduler.hpp"
#include "test_support.hpp"

using namespace std::chrono;
using namespace dramatiq;
using dramatiq::schedule::CronSchedule;
using dramatiq::schedule::MissedTicks;
using dramatiq::schedule::PeriodicTask;
using dramatiq::schedule::Scheduler;
using dramatiq::schedule::Seconds;
using dramatiq::schedule::TickOutcome;
using dramatiq::testing::kLongWait;
using dramatiq::testing::RedisServer;

namespace {

const Seconds kStart = Seconds(sys_days(year(2026) / December / 3)) + hours(12);

PeriodicTask every(const char* cron, const char* name = "beat", MissedTicks missed = MissedTicks::kSkip) {
  PeriodicTask task{name, CronSchedule::parse(cron)};
  task.queue_name = "default";
  task.actor_name = "beat";
  task.args = Value(Array{Value(7)});
  task.missed = missed;
  return task;
}

std::int64_t millis(Seconds t) { return duration_cast<milliseconds>(t.time_since_epoch()).count(); }

std::vector<Message> stub_messages(StubBroker& broker) {
  std::vector<Message> messages;
  for (const auto& raw : broker.queue_contents("default")) messages.push_back(get_encoder()->decode(raw));
  return messages;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dramatiq-scheduler-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Three schedulers, each on its own broker object (`make`), run passes at
// every second of `seconds` seconds on their own threads; returns, per
// tick, how many of them enqueued it.
template <typename Make>
std::map<std::int64_t, int> race_three(Make make, int seconds_to_run) {
  std::vector<std::shared_ptr<Broker>> brokers;
  std::vector<std::unique_ptr<Scheduler>> schedulers;
  for (int i = 0; i < 3; ++i) {
    brokers.push_back(make());
    brokers.back()->declare_queue("default");
    schedulers.push_back(std::make_unique<Scheduler>(brokers.back(), std::vector{every("* * * * * *")}));
  }
  std::vector<std::vector<TickOutcome>> outcomes(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      for (int s = 0; s < seconds_to_run; ++s) {
        for (auto& outcome : schedulers[i]->run_due(kStart + seconds(s))) outcomes[i].push_back(outcome);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::map<std::int64_t, int> enqueued_by;
  for (const auto& list : outcomes) {
    for (const auto& outcome : list) {
      EXPECT_TRUE(outcome.error.empty()) << outcome.error;
      enqueued_by[outcome.tick_ms] += outcome.enqueued ? 1 : 0;
    }
  }
  return enqueued_by;
}

void expect_each_tick_once(const std::map<std::int64_t, int>& enqueued_by, int seconds_to_run) {
  ASSERT_EQ(enqueued_by.size(), static_cast<std::size_t>(seconds_to_run));
  for (int s = 0; s < seconds_to_run; ++s) {
    auto it = enqueued_by.find(millis(kStart + seconds(s)));
    ASSERT_NE(it, enqueued_by.end()) << "tick " << s << " was not tried";
    EXPECT_EQ(it->second, 1) << "tick " << s;
  }
}

}  // namespace

TEST(Scheduler, EnqueuesEachDueTickOnceWithItsArguments) {
  auto broker = std::make_shared<StubBroker>();
  broker->declare_queue("default");
  Scheduler scheduler(broker, {every("*/10 * * * * *")});
  auto first = scheduler.run_due(kStart);  // a new schedule: its tick at the start is due
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0].enqueued);
  EXPECT_EQ(first[0].tick_ms, millis(kStart));
  EXPECT_TRUE(scheduler.run_due(kStart + seconds(9)).empty());
  EXPECT_EQ(scheduler.next_due(), kStart + seconds(10));
  auto second = scheduler.run_due(kStart + seconds(10));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0].enqueued);

  auto messages = stub_messages(*broker);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].actor_name, "beat");
  EXPECT_EQ(messages[0].args.as_array().size(), 1u);
  EXPECT_EQ(messages[0].options.find("periodic_tick")->as_int(), millis(kStart));
  EXPECT_EQ(messages[1].options.find("periodic_tick")->as_int(), millis(kStart + seconds(10)));
  EXPECT_EQ(broker->last_tick("beat"), millis(kStart + seconds(10)));
}

TEST(Scheduler, ThreeSchedulersOnTheStubEnqueueEveryTickExactlyOnce) {
  auto shared = std::make_shared<StubBroker>();
  auto enqueued_by = race_three([&] { return shared; }, 300);
  expect_each_tick_once(enqueued_by, 300);
  EXPECT_EQ(shared->queue_size("default"), 300u);
}

TEST(Scheduler, ThreeSchedulersOnOneEmbeddedBrokerFileEnqueueEveryTickExactlyOnce) {
  TempDir dir;
  SQLiteBrokerOptions options;
  options.path = dir.file("q.db");
  auto enqueued_by = race_three([&] { return std::make_shared<SQLiteBroker>(options); }, 300);
  expect_each_tick_once(enqueued_by, 300);
  auto counter = std::make_shared<SQLiteBroker>(options);
  EXPECT_EQ(counter->queue_counts("default").ready, 300);
  EXPECT_EQ(counter->last_tick("beat"), millis(kStart + seconds(299)));
}

TEST(Scheduler, ThreeSchedulersOnOneRedisServerEnqueueEveryTickExactlyOnce) {
  RedisServer server;
  auto make = [&] {
    RedisBrokerOptions options;
    options.connection = RedisConnectionOptions::from_url(server.url());
    return std::make_shared<RedisBroker>(std::move(options));
  };
  auto enqueued_by = race_three(make, 300);
  expect_each_tick_once(enqueued_by, 300);
  auto counter = make();
  EXPECT_EQ(counter->queue_size("default"), 300u);
  EXPECT_EQ(counter->last_tick("beat"), millis(kStart + seconds(299)));
}

TEST(Scheduler, MissedTicksAreSkippedByDefault) {
  auto broker = std::make_shared<StubBroker>();
  broker->declare_queue("default");
  {
    Scheduler before(broker, {every("0 * * * *")});  // hourly
    ASSERT_TRUE(before.run_due(kStart)[0].enqueued);
  }
  // Every scheduler was down for three hours and a half.
  Scheduler after(broker, {every("0 * * * *")});
  auto outcomes = after.run_due(kStart + minutes(210));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_FALSE(outcomes[0].enqueued);
  EXPECT_EQ(outcomes[0].missed, 3u);
  EXPECT_EQ(broker->queue_size("default"), 1u);
  EXPECT_EQ(after.next_due(), kStart + hours(4));
}

TEST(Scheduler, MissedTicksRunOnceWhenTheScheduleSaysSo) {
  auto broker = std::make_shared<StubBroker>();
  broker->declare_queue("default");
  {
    Scheduler before(broker, {every("0 * * * *", "beat", MissedTicks::kRunOnce)});
    ASSERT_TRUE(before.run_due(kStart)[0].enqueued);
  }
  Scheduler after(broker, {every("0 * * * *", "beat", MissedTicks::kRunOnce)});
  auto outcomes = after.run_due(kStart + minutes(210));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_TRUE(outcomes[0].enqueued);
  EXPECT_EQ(outcomes[0].tick_ms, millis(kStart + hours(3)));  // the latest one
  EXPECT_EQ(outcomes[0].missed, 2u);                          // the two before it
  EXPECT_EQ(broker->queue_size("default"), 2u);
}

TEST(Scheduler, ATickReachedWithinTheGraceFiresAndOlderOnesOfThatPassAreMissed) {
  auto broker = std::make_shared<StubBroker>();
  broker->declare_queue("default");
  Scheduler scheduler(broker, {every("* * * * * *")});
  ASSERT_TRUE(scheduler.run_due(kStart)[0].enqueued);
  auto late = scheduler.run_due(kStart + seconds(3));  // a 3 s stall: ticks 1 and 2 are missed
  ASSERT_EQ(late.size(), 1u);
  EXPECT_TRUE(late[0].enqueued);
  EXPECT_EQ(late[0].tick_ms, millis(kStart + seconds(3)));
  EXPECT_EQ(late[0].missed, 2u);
}

namespace {
// A stub whose first tick enqueue fails as a broker that cannot be reached.
class FlakyTickBroker : public StubBroker {
 public:
  int failures = 1;

 protected:
  bool do_enqueue_tick(const std::string& name, std::int64_t tick_ms, const Message& message) override {
    if (failures > 0) {
      --failures;
      throw ConnectionClosed("the broker went away");
    }
    return StubBroker::do_enqueue_tick(name, tick_ms, message);
  }
};

class NoTicksBroker : public StubBroker {
 public:
  bool supports_ticks() const override { return false; }
};
}  // namespace

TEST(Scheduler, AFailedEnqueueLeavesTheTickDue) {
  auto broker = std::make_shared<FlakyTickBroker>();
  broker->declare_queue("default");
  Scheduler scheduler(broker, {every("*/10 * * * * *")});
  auto failed = scheduler.run_due(kStart);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_FALSE(failed[0].enqueued);
  EXPECT_NE(failed[0].error.find("went away"), std::string::npos);
  EXPECT_EQ(scheduler.next_due(), kStart);
  auto retried = scheduler.run_due(kStart + seconds(1));
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_TRUE(retried[0].enqueued);
  EXPECT_EQ(retried[0].tick_ms, millis(kStart));
}

TEST(Scheduler, ABrokerWithoutTicksIsRefused) {
  EXPECT_THROW(Scheduler(std::make_shared<NoTicksBroker>(), {every("* * * * *")}), std::invalid_argument);
}

TEST(Scheduler, ItsThreadEnqueuesOnTheSystemClockUntilStopped) {
  auto broker = std::make_shared<StubBroker>();
  broker->declare_queue("default");
  Scheduler scheduler(broker, {every("* * * * * *")});
  scheduler.start();
  // Two ticks a second apart, each handed over on the queue.
  auto first = broker->take_raw("default", kLongWait);
  auto second = broker->take_raw("default", kLongWait);
  scheduler.stop();
  ASSERT_TRUE(first && second);
  auto a = get_encoder()->decode(*first).options.find("periodic_tick")->as_int();
  auto b = get_encoder()->decode(*second).options.find("periodic_tick")->as_int();
  EXPECT_EQ(b - a, 1000);
}

TEST(PeriodicTasks, AreBuiltFromTheWordsUsersWriteOrRefusedSayingWhy) {
  auto task = schedule::periodic_task("report", "0 9 * * mon", "Europe/Paris", "run_once", "reports", "report",
                                      Value(Array{Value(1)}), Value::object(), Value::object());
  EXPECT_EQ(task.schedule.expression(), "0 9 * * mon");
  EXPECT_EQ(task.zone->name(), "Europe/Paris");
  EXPECT_EQ(task.missed, MissedTicks::kRunOnce);
  EXPECT_EQ(task.queue_name, "reports");
  auto defaults = schedule::periodic_task("beat", "@hourly", "", "", "default", "beat", Value::array(),
                                          Value::object(), Value::object());
  EXPECT_EQ(defaults.zone->name(), "UTC");
  EXPECT_EQ(defaults.missed, MissedTicks::kSkip);

  auto refused = [](const char* cron, const char* zone, const char* missed, const char* name) {
    try {
      schedule::periodic_task(name, cron, zone, missed, "default", "beat", Value::array(), Value::object(),
                              Value::object());
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refused("* * *", "", "", "beat").find("cron expression"), std::string::npos);
  EXPECT_NE(refused("* * * * *", "Nowhere/Else", "", "beat").find("unknown time zone 'Nowhere/Else'"),
            std::string::npos);
  EXPECT_EQ(refused("* * * * *", "", "always", "beat"), "missed ticks are \"skip\" or \"run_once\", not \"always\"");
  EXPECT_EQ(refused("* * * * *", "", "", ""), "a schedule's name must not be empty");
}

TEST(PeriodicTasks, AnActorsScheduleOptionsAreCheckedWhenItIsDeclared) {
  StubBroker broker;
  auto declare = [&](const char* name, Value options) {
    auto actor = std::make_shared<Actor>();
    actor->actor_name = name;
    actor->queue_name = "default";
    actor->options = std::move(options);
    broker.declare_actor(actor);
  };
  Value good = Value::object();
  good.set("periodic", Value("*/5 * * * *"));
  good.set("periodic_timezone", Value("America/New_York"));
  good.set("periodic_missed", Value("skip"));
  EXPECT_NO_THROW(declare("good", good));

  Value bad_cron = Value::object();
  bad_cron.set("periodic", Value("*/5 * * *"));
  EXPECT_THROW(declare("bad_cron", bad_cron), std::invalid_argument);
  Value bad_zone = Value::object();
  bad_zone.set("periodic", Value("@daily"));
  bad_zone.set("periodic_timezone", Value(3));
  EXPECT_THROW(declare("bad_zone", bad_zone), std::invalid_argument);
  Value bad_missed = Value::object();
  bad_missed.set("periodic", Value("@daily"));
  bad_missed.set("periodic_missed", Value("twice"));
  EXPECT_THROW(declare("bad_missed", bad_missed), std::invalid_argument);
  EXPECT_EQ(broker.find_actor("bad_cron"), nullptr);
  EXPECT_NE(broker.find_actor("good"), nullptr);
}

TEST(Scheduler, StatesGiveEachSchedulesLastTickInTheBrokerAndItsNextTick) {
  auto broker = std::make_shared<StubBroker>();
  broker->declare_queue("default");
  Scheduler scheduler(broker, {every("0 * * * *", "hourly"), every("0 0 1 1 *", "yearly")});
  scheduler.run_due(kStart);  // 12:00: the hourly one ticks
  auto states = scheduler.states(kStart + minutes(10));
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0].task->name, "hourly");
  EXPECT_EQ(states[0].last_tick_ms, millis(kStart));
  EXPECT_EQ(states[0].next_tick_ms, millis(kStart + hours(1)));
  EXPECT_EQ(states[1].task->name, "yearly");
  EXPECT_EQ(states[1].last_tick_ms, std::nullopt);
  EXPECT_EQ(states[1].next_tick_ms, millis(Seconds(sys_days(year(2027) / January / 1))));
}
