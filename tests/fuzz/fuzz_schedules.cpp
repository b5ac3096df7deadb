// Schedules on arbitrary bytes: the first byte chooses what the rest is: a
// TZif file (0), a POSIX TZ rule (1) or a cron expression (2). Each is
// refused with std::invalid_argument or read; a read zone gives offsets
// within a day, and a schedule's next tick in it lies after the instant
// asked about.
#include <chrono>
#include <stdexcept>
#include <string>

#include "fuzz_support.hpp"
#include "schedule/cron.hpp"

using namespace std::chrono;
using namespace dramatiq::schedule;

namespace {

void check_zone(const TimeZone& zone, std::string_view input) {
  const auto hourly = CronSchedule::parse("0 * * * *");
  for (long long t : {-4'000'000'000LL, 0LL, 1'800'000'000LL, 1'800'003'600LL, 4'200'000'000LL}) {
    Seconds instant{seconds(t)};
    seconds offset = zone.offset_at(instant);
    FUZZ_CHECK(offset >= -hours(26) && offset <= hours(26), std::string(input));
    auto tick = hourly.next_after(instant, zone);
    if (tick) FUZZ_CHECK(*tick > instant, std::string(input));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0:
        check_zone(*time_zone_from_tzif("fuzz", input), input);
        break;
      case 1:
        check_zone(*posix_time_zone(input), input);
        break;
      default: {
        auto schedule = CronSchedule::parse(input);
        Seconds after{seconds(1'800'000'000)};
        auto tick = schedule.next_after(after, *utc_zone());
        FUZZ_CHECK(tick && *tick > after, std::string(input));  // parse refuses what never ticks
        break;
      }
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
