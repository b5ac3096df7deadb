// Time zones for schedules: UTC, fixed offsets, POSIX TZ rules
// ("CET-1CEST,M3.5.0,M10.5.0/3") and the IANA database's zones read from
// its TZif files (RFC 8536; /usr/share/zoneinfo, or $TZDIR), whose
// footer rule covers the instants after the file's last transition.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace dramatiq::schedule {

using Seconds = std::chrono::sys_seconds;

// What a schedule needs of a time zone: the UTC offset in force at an
// instant (local time = instant + offset).
class TimeZone {
 public:
  virtual ~TimeZone() = default;
  virtual std::chrono::seconds offset_at(Seconds instant) const = 0;
  virtual const std::string& name() const = 0;
};

std::shared_ptr<const TimeZone> utc_zone();
// A zone always `offset` ahead of UTC (behind when negative), named
// "UTC+hh:mm".
std::shared_ptr<const TimeZone> fixed_offset_zone(std::chrono::seconds offset);
// A POSIX TZ string's zone; throws std::invalid_argument saying what in it
// cannot be read.
std::shared_ptr<const TimeZone> posix_time_zone(std::string_view tz);
// An IANA zone by name ("Europe/Paris"; "UTC" and "" are UTC). Throws
// std::invalid_argument for a name the database does not have, or a file
// that is not TZif.
std::shared_ptr<const TimeZone> load_time_zone(std::string_view name);
// The same from a TZif file's bytes (`name` names it in errors).
std::shared_ptr<const TimeZone> time_zone_from_tzif(std::string_view name, std::string_view data);

}  // namespace dramatiq::schedule
