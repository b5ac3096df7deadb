// Cron expressions (src/schedule/cron.hpp): what they accept and refuse,
// and the next tick after an instant, in UTC, a fixed offset, and a zone
// with daylight saving time.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "schedule/cron.hpp"

using namespace std::chrono;
using dramatiq::schedule::CronSchedule;
using dramatiq::schedule::Seconds;
using dramatiq::schedule::TimeZone;

namespace {

Seconds at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return Seconds(sys_days(year(y) / month(mo) / day(d))) + hours(h) + minutes(mi) + seconds(s);
}

Seconds next(const char* expression, Seconds after) {
  auto tick = CronSchedule::parse(expression).next_after(after, *dramatiq::schedule::utc_zone());
  EXPECT_TRUE(tick.has_value()) << expression;
  return tick.value_or(Seconds{});
}

std::string error_of(const char* expression) {
  try {
    CronSchedule::parse(expression);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

// Central European time as the EU keeps it since 1996: UTC+1, and UTC+2
// from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last
// Sunday of October.
class CentralEuropeanTime final : public TimeZone {
 public:
  seconds offset_at(Seconds instant) const override {
    auto y = year_month_day(floor<days>(instant)).year();
    Seconds summer_starts = Seconds(sys_days(y / March / Sunday[last])) + hours(1);
    Seconds summer_ends = Seconds(sys_days(y / October / Sunday[last])) + hours(1);
    return instant >= summer_starts && instant < summer_ends ? hours(2) : hours(1);
  }
  const std::string& name() const override { return name_; }

 private:
  std::string name_ = "CET";
};

}  // namespace

TEST(Cron, FiveFieldsTickOnTheMinute) {
  EXPECT_EQ(next("*/5 * * * *", at(2026, 12, 3, 10, 2, 30)), at(2026, 12, 3, 10, 5));
  EXPECT_EQ(next("*/5 * * * *", at(2026, 12, 3, 10, 5)), at(2026, 12, 3, 10, 10));  // strictly after
  EXPECT_EQ(next("* * * * *", at(2026, 12, 31, 23, 59, 59)), at(2027, 1, 1, 0, 0));
  EXPECT_EQ(next("30 2 * * *", at(2026, 12, 3, 2, 30)), at(2026, 12, 4, 2, 30));
}

TEST(Cron, SixFieldsStartWithSeconds) {
  EXPECT_EQ(next("*/10 * * * * *", at(2026, 12, 3, 10, 0, 1)), at(2026, 12, 3, 10, 0, 10));
  EXPECT_EQ(next("15 30 * * * *", at(2026, 12, 3, 10, 31)), at(2026, 12, 3, 11, 30, 15));
  EXPECT_EQ(next("59 59 23 31 12 *", at(2026, 1, 1)), at(2026, 12, 31, 23, 59, 59));
}

TEST(Cron, ListsRangesStepsAndNames) {
  EXPECT_EQ(next("0 9-17/4 * * *", at(2026, 12, 3, 13, 0)), at(2026, 12, 3, 17, 0));
  EXPECT_EQ(next("0 9-17/4 * * *", at(2026, 12, 3, 17, 0)), at(2026, 12, 4, 9, 0));
  EXPECT_EQ(next("5,35 * * * *", at(2026, 12, 3, 10, 6)), at(2026, 12, 3, 10, 35));
  EXPECT_EQ(next("10/20 * * * *", at(2026, 12, 3, 10, 31)), at(2026, 12, 3, 10, 50));
  // 2026-12-03 is a Thursday.
  EXPECT_EQ(next("0 8 * * MON-fri", at(2026, 12, 4, 9)), at(2026, 12, 7, 8));
  EXPECT_EQ(next("0 0 1 Jul *", at(2026, 12, 3)), at(2027, 7, 1));
  EXPECT_EQ(next("0 0 * * 7", at(2026, 12, 3)), at(2026, 12, 6));  // 7 is Sunday, as 0
  EXPECT_EQ(next("0 0 * * 0", at(2026, 12, 3)), at(2026, 12, 6));
}

TEST(Cron, NamedExpressions) {
  EXPECT_EQ(next("@hourly", at(2026, 12, 3, 10, 1)), at(2026, 12, 3, 11));
  EXPECT_EQ(next("@daily", at(2026, 12, 3, 10)), at(2026, 12, 4));
  EXPECT_EQ(next("@midnight", at(2026, 12, 3, 10)), at(2026, 12, 4));
  EXPECT_EQ(next("@weekly", at(2026, 12, 3)), at(2026, 12, 6));
  EXPECT_EQ(next("@monthly", at(2026, 12, 3)), at(2027, 1, 1));
  EXPECT_EQ(next("@YEARLY", at(2026, 12, 3)), at(2027, 1, 1));
  EXPECT_EQ(next("@annually", at(2027, 1, 1)), at(2028, 1, 1));
}

TEST(Cron, DayOfMonthAndDayOfWeekBothRestrictedMatchEither) {
  // The 13th or any Friday (Vixie cron); 2026-12-04 is a Friday.
  EXPECT_EQ(next("0 0 13 * 5", at(2026, 12, 3)), at(2026, 12, 4));
  EXPECT_EQ(next("0 0 13 * 5", at(2026, 12, 11)), at(2026, 12, 13));
  // A day of week after '*' restricts alone: Fridays only.
  EXPECT_EQ(next("0 0 * * 5", at(2026, 12, 4)), at(2026, 12, 11));
  // '*/2' counts as unrestricted, so both must match: odd days that are Fridays.
  EXPECT_EQ(next("0 0 */2 * 5", at(2026, 12, 3)), at(2026, 12, 11));
}

TEST(Cron, LeapDaysAreFoundYearsAhead) {
  EXPECT_EQ(next("0 0 29 2 *", at(2026, 3, 1)), at(2028, 2, 29));
  EXPECT_EQ(next("0 0 29 2 *", at(2096, 3, 1)), at(2104, 2, 29));  // 2100 is no leap year
  EXPECT_EQ(next("0 0 31 * *", at(2026, 4, 1)), at(2026, 5, 31));  // months without a 31st are passed
}

TEST(Cron, BadExpressionsSayWhichFieldAndWhy) {
  EXPECT_NE(error_of("* * * *").find("has 4 fields"), std::string::npos);
  EXPECT_NE(error_of("* * * * * * *").find("has 7 fields"), std::string::npos);
  EXPECT_NE(error_of("61 * * * *").find("minute field '61' has 61, outside 0-59"), std::string::npos);
  EXPECT_NE(error_of("0 24 * * *").find("hour field '24' has 24, outside 0-23"), std::string::npos);
  EXPECT_NE(error_of("0 0 0 * *").find("day-of-month field '0' has 0, outside 1-31"), std::string::npos);
  EXPECT_NE(error_of("0 0 * 13 *").find("month field '13'"), std::string::npos);
  EXPECT_NE(error_of("0 0 * * 8").find("day-of-week field '8'"), std::string::npos);
  EXPECT_NE(error_of("*/0 * * * *").find("step of 0"), std::string::npos);
  EXPECT_NE(error_of("5-1 * * * *").find("runs backwards"), std::string::npos);
  EXPECT_NE(error_of("a * * * *").find("not a number: 'a'"), std::string::npos);
  EXPECT_NE(error_of("0 0 * * funday").find("unknown name 'funday'"), std::string::npos);
  EXPECT_NE(error_of("1,,2 * * * *").find("empty item"), std::string::npos);
  EXPECT_NE(error_of("*/5/2 * * * *").find("more than one '/'"), std::string::npos);
  EXPECT_NE(error_of("@fortnightly").find("unknown name"), std::string::npos);
  EXPECT_NE(error_of("").find("has 0 fields"), std::string::npos);
  EXPECT_NE(error_of("0 0 30 2 *").find("never ticks"), std::string::npos);
  EXPECT_EQ(error_of(" */5  *\t* * * "), "(accepted)");  // spacing is free
}

TEST(Cron, FixedOffsetsShiftTheLocalTime) {
  auto paris_winter = dramatiq::schedule::fixed_offset_zone(hours(1));
  auto new_york_winter = dramatiq::schedule::fixed_offset_zone(-hours(5));
  EXPECT_EQ(paris_winter->name(), "UTC+01:00");
  EXPECT_EQ(new_york_winter->name(), "UTC-05:00");
  auto nine = CronSchedule::parse("0 9 * * *");
  EXPECT_EQ(nine.next_after(at(2026, 12, 3), *paris_winter), at(2026, 12, 3, 8));
  EXPECT_EQ(nine.next_after(at(2026, 12, 3, 12), *new_york_winter), at(2026, 12, 3, 14));
  EXPECT_EQ(nine.next_after(at(2026, 12, 3, 14), *new_york_winter), at(2026, 12, 4, 14));
  EXPECT_THROW(dramatiq::schedule::fixed_offset_zone(hours(25)), std::invalid_argument);
}

TEST(Cron, ALocalTimeTheClockSkipsTicksAtTheEndOfTheGap) {
  // 2026-03-29: clocks go from 02:00 to 03:00 local (01:00 UTC).
  CentralEuropeanTime cet;
  auto half_past_two = CronSchedule::parse("30 2 * * *");
  EXPECT_EQ(half_past_two.next_after(at(2026, 3, 28, 2), cet), at(2026, 3, 29, 1));  // 03:00 local
  EXPECT_EQ(half_past_two.next_after(at(2026, 3, 29, 1), cet), at(2026, 3, 30, 0, 30));  // 02:30 CEST
  auto every_minute = CronSchedule::parse("* * * * *");
  EXPECT_EQ(every_minute.next_after(at(2026, 3, 29, 0, 59), cet), at(2026, 3, 29, 1));
}

TEST(Cron, ALocalTimeThatOccursTwiceTicksOnce) {
  // 2026-10-25: clocks go from 03:00 back to 02:00 local (01:00 UTC), so
  // 02:30 local is 00:30 UTC and again 01:30 UTC.
  CentralEuropeanTime cet;
  auto half_past_two = CronSchedule::parse("30 2 * * *");
  EXPECT_EQ(half_past_two.next_after(at(2026, 10, 24, 12), cet), at(2026, 10, 25, 0, 30));
  EXPECT_EQ(half_past_two.next_after(at(2026, 10, 25, 0, 30), cet), at(2026, 10, 26, 1, 30));
  auto hourly = CronSchedule::parse("0 * * * *");
  // 03:00 local comes once, an hour after the first 02:00 plus the repeat.
  EXPECT_EQ(hourly.next_after(at(2026, 10, 25, 0, 0), cet), at(2026, 10, 25, 2, 0));
}

// ------------------------------------------------------------ time zones

TEST(TimeZone, APosixRuleMatchesTheEuropeanUnionsRuleAllYear) {
  auto rule = dramatiq::schedule::posix_time_zone("CET-1CEST,M3.5.0,M10.5.0/3");
  CentralEuropeanTime cet;
  for (int y : {2026, 2051}) {
    for (Seconds t = at(y, 1, 1); t < at(y + 1, 1, 1); t += minutes(30)) {
      ASSERT_EQ(rule->offset_at(t), cet.offset_at(t)) << t.time_since_epoch().count();
    }
  }
  EXPECT_EQ(rule->offset_at(at(2026, 3, 29, 0, 59, 59)), hours(1));
  EXPECT_EQ(rule->offset_at(at(2026, 3, 29, 1)), hours(2));
  EXPECT_EQ(rule->offset_at(at(2026, 10, 25, 0, 59, 59)), hours(2));
  EXPECT_EQ(rule->offset_at(at(2026, 10, 25, 1)), hours(1));
}

TEST(TimeZone, PosixRulesWestOfUtcSouthernAndFixed) {
  auto new_york = dramatiq::schedule::posix_time_zone("EST5EDT,M3.2.0,M11.1.0");
  EXPECT_EQ(new_york->offset_at(at(2026, 3, 8, 6, 59, 59)), -hours(5));
  EXPECT_EQ(new_york->offset_at(at(2026, 3, 8, 7)), -hours(4));
  EXPECT_EQ(new_york->offset_at(at(2026, 11, 1, 5, 59, 59)), -hours(4));
  EXPECT_EQ(new_york->offset_at(at(2026, 11, 1, 6)), -hours(5));
  auto sydney = dramatiq::schedule::posix_time_zone("AEST-10AEDT,M10.1.0,M4.1.0/3");
  EXPECT_EQ(sydney->offset_at(at(2026, 1, 15)), hours(11));
  EXPECT_EQ(sydney->offset_at(at(2026, 7, 15)), hours(10));
  EXPECT_EQ(sydney->offset_at(at(2026, 12, 15)), hours(11));
  auto india = dramatiq::schedule::posix_time_zone("IST-5:30");
  EXPECT_EQ(india->offset_at(at(2026, 7, 1)), hours(5) + minutes(30));
  auto quoted = dramatiq::schedule::posix_time_zone("<+03>-3");
  EXPECT_EQ(quoted->offset_at(at(2026, 7, 1)), hours(3));
  auto julian = dramatiq::schedule::posix_time_zone("XST0XDT,J60/0,J300/0");  // 1 March to 27 October, leap or not
  EXPECT_EQ(julian->offset_at(at(2028, 2, 29, 23)), hours(0));
  EXPECT_EQ(julian->offset_at(at(2028, 3, 1, 0)), hours(1));
}

TEST(TimeZone, BadPosixRulesSayWhatIsWrong) {
  auto error = [](const char* tz) -> std::string {
    try {
      dramatiq::schedule::posix_time_zone(tz);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(error("X-1").find("at least three letters"), std::string::npos);
  EXPECT_NE(error("CET").find("a number expected"), std::string::npos);
  EXPECT_NE(error("CET-1CEST,M13.1.0,M10.5.0").find("m 1-12"), std::string::npos);
  EXPECT_NE(error("CET-1CEST,M3.5.0").find("expected ','"), std::string::npos);
  EXPECT_NE(error("CET-25").find("out of range"), std::string::npos);
  EXPECT_NE(error("<+03-3").find("without its '>'"), std::string::npos);
}

TEST(TimeZone, IanaZonesAreReadFromTheTzDatabase) {
  auto paris = dramatiq::schedule::load_time_zone("Europe/Paris");
  EXPECT_EQ(paris->name(), "Europe/Paris");
  EXPECT_EQ(paris->offset_at(at(2026, 3, 29, 0, 59, 59)), hours(1));
  EXPECT_EQ(paris->offset_at(at(2026, 3, 29, 1)), hours(2));
  EXPECT_EQ(paris->offset_at(at(1990, 7, 1)), hours(2));
  EXPECT_EQ(paris->offset_at(at(2090, 7, 1)), hours(2));  // past the file's transitions: its footer rule
  EXPECT_EQ(paris->offset_at(at(2090, 12, 1)), hours(1));
  auto new_york = dramatiq::schedule::load_time_zone("America/New_York");
  EXPECT_EQ(new_york->offset_at(at(2026, 11, 1, 6)), -hours(5));
  EXPECT_EQ(new_york->offset_at(at(2026, 11, 1, 5, 59, 59)), -hours(4));
  auto kolkata = dramatiq::schedule::load_time_zone("Asia/Kolkata");
  EXPECT_EQ(kolkata->offset_at(at(2026, 7, 1)), hours(5) + minutes(30));
  EXPECT_EQ(dramatiq::schedule::load_time_zone("UTC")->offset_at(at(2026, 7, 1)), seconds(0));
  // The cron gap and repeat rules hold on the database's zone too.
  auto half_past_two = CronSchedule::parse("30 2 * * *");
  EXPECT_EQ(half_past_two.next_after(at(2026, 3, 28, 2), *paris), at(2026, 3, 29, 1));
  EXPECT_EQ(half_past_two.next_after(at(2026, 10, 24, 12), *paris), at(2026, 10, 25, 0, 30));
}

TEST(TimeZone, UnknownNamesAndBadFilesAreRefused) {
  auto error = [](auto&& load) -> std::string {
    try {
      load();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(error([] { dramatiq::schedule::load_time_zone("Mars/Olympus_Mons"); }).find("unknown time zone"),
            std::string::npos);
  EXPECT_NE(error([] { dramatiq::schedule::load_time_zone("../../etc/passwd"); }).find("not a time zone name"),
            std::string::npos);
  EXPECT_NE(error([] { dramatiq::schedule::time_zone_from_tzif("x", "garbage"); }).find("not a TZif file"),
            std::string::npos);
  std::string header_only = "TZif2";
  header_only.resize(60, '\0');
  EXPECT_NE(error([&] { dramatiq::schedule::time_zone_from_tzif("x", header_only); }).find("impossible counts"),
            std::string::npos);
  std::string cut = "TZif2";
  cut.resize(44, '\0');
  cut[20 + 4 * 4 + 3] = 1;  // one local time type
  cut[20 + 4 * 3 + 3] = 5;  // five transitions, not there
  EXPECT_NE(error([&] { dramatiq::schedule::time_zone_from_tzif("x", cut); }).find("cut short"), std::string::npos);
}
