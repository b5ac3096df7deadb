// When a periodic actor's ticks fall: cron expressions and the next tick
// after a given instant, in a time zone.
//
// The expression is "minute hour day-of-month month day-of-week", or with
// seconds first ("second minute hour day-of-month month day-of-week"), or
// one of @yearly @annually @monthly @weekly @daily @midnight @hourly (as
// periodiq and Vixie cron take them). Each field is a list of items
// separated by commas; an item is `*`, a value, a range `a-b`, and either
// may take a step (`*/15`, `10-40/10`, `5/20` = from 5 to the end by 20).
// Months and days of the week may be names (jan..dec, sun..sat, any case);
// day of week 0 and 7 are both Sunday. As in Vixie cron, when both the
// day of month and the day of week are restricted (neither starts with
// `*`), a day matches if either does; otherwise both must.
//
// Daylight saving time, in the zone the schedule is read in: a local time
// that the clock skips (spring forward) ticks at the end of the gap; a
// local time that occurs twice (fall back) ticks once, the first time.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "schedule/time_zone.hpp"

namespace dramatiq::schedule {

class CronSchedule {
 public:
  // Throws std::invalid_argument naming the field and what is wrong with
  // it, or saying the expression can never tick (e.g. "0 0 30 2 *").
  static CronSchedule parse(std::string_view expression);

  // The first tick strictly after `after`, read in `zone`.
  std::optional<Seconds> next_after(Seconds after, const TimeZone& zone) const;

  const std::string& expression() const { return expression_; }

 private:
  CronSchedule() = default;
  // The first local civil time strictly after `local` that matches, as a
  // count of seconds like a UTC instant's; nullopt past the search bound.
  std::optional<Seconds> next_local_after(Seconds local) const;
  bool day_matches(std::chrono::year_month_day date) const;

  std::string expression_;
  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;      // 1..31
  std::bitset<13> months_;    // 1..12
  std::bitset<7> weekdays_;   // 0 = Sunday
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
};

}  // namespace dramatiq::schedule
