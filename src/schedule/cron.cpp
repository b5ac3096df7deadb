#include "schedule/cron.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace dramatiq::schedule {

namespace {

using namespace std::chrono;

// One field's place in the expression and the values it takes.
struct FieldSpec {
  const char* name;
  int min;
  int max;
  const std::array<std::string_view, 12>* names;  // names[i] is min + i; null: numbers only
};

constexpr std::array<std::string_view, 12> kMonthNames{"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 12> kWeekdayNames{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr FieldSpec kSecond{"second", 0, 59, nullptr};
constexpr FieldSpec kMinute{"minute", 0, 59, nullptr};
constexpr FieldSpec kHour{"hour", 0, 23, nullptr};
constexpr FieldSpec kDay{"day-of-month", 1, 31, nullptr};
constexpr FieldSpec kMonth{"month", 1, 12, &kMonthNames};
constexpr FieldSpec kWeekday{"day-of-week", 0, 7, &kWeekdayNames};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

class FieldParser {
 public:
  FieldParser(std::string_view expression, std::string_view field, const FieldSpec& spec)
      : expression_(expression), field_(field), spec_(spec) {}

  // The values the field takes, as bits min..max.
  std::uint64_t parse() const {
    if (field_.empty()) fail("is empty");
    std::uint64_t bits = 0;
    for (std::string_view item : split(field_, ',')) bits |= parse_item(item);
    return bits;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("cron expression '" + std::string(expression_) + "': the " + spec_.name +
                                " field '" + std::string(field_) + "' " + what);
  }

  std::uint64_t parse_item(std::string_view item) const {
    if (item.empty()) fail("has an empty item between commas");
    auto parts = split(item, '/');
    if (parts.size() > 2) fail("has more than one '/' in '" + std::string(item) + "'");
    int step = 1;
    if (parts.size() == 2) {
      step = number(parts[1], "step");
      if (step < 1) fail("has a step of 0");
    }
    std::string_view range = parts[0];
    int first;
    int last;
    if (range == "*") {
      first = spec_.min;
      last = spec_.max;
    } else if (auto dash = range.find('-'); dash != std::string_view::npos) {
      first = value(range.substr(0, dash));
      last = value(range.substr(dash + 1));
      if (first > last) fail("has a range that runs backwards: '" + std::string(range) + "'");
    } else {
      first = value(range);
      last = parts.size() == 2 ? spec_.max : first;
    }
    std::uint64_t bits = 0;
    for (int v = first; v <= last; v += step) bits |= std::uint64_t{1} << v;
    return bits;
  }

  int number(std::string_view text, const char* what) const {
    if (text.empty() || text.size() > 4 ||
        !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
      fail(std::string("has a ") + what + " that is not a number: '" + std::string(text) + "'");
    }
    return std::stoi(std::string(text));
  }

  int value(std::string_view text) const {
    if (spec_.names && !text.empty() && std::isalpha(static_cast<unsigned char>(text[0]))) {
      std::string name = lower(text);
      for (std::size_t i = 0; i < spec_.names->size(); ++i) {
        if (!(*spec_.names)[i].empty() && (*spec_.names)[i] == name) return spec_.min + static_cast<int>(i);
      }
      fail("has an unknown name '" + std::string(text) + "'");
    }
    int v = number(text, "value");
    if (v < spec_.min || v > spec_.max) {
      fail("has " + std::to_string(v) + ", outside " + std::to_string(spec_.min) + "-" + std::to_string(spec_.max));
    }
    return v;
  }

  std::string_view expression_;
  std::string_view field_;
  const FieldSpec& spec_;
};

constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kNamedExpressions{{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

template <std::size_t N>
std::bitset<N> to_bits(std::uint64_t bits) {
  return std::bitset<N>(bits & ((N >= 64) ? ~std::uint64_t{0} : ((std::uint64_t{1} << N) - 1)));
}

// The first set bit at or after `from`, or -1.
template <std::size_t N>
int next_set(const std::bitset<N>& bits, int from) {
  for (int i = std::max(from, 0); i < static_cast<int>(N); ++i) {
    if (bits[static_cast<std::size_t>(i)]) return i;
  }
  return -1;
}

// Far enough for any schedule that can tick at all: weekdays and leap
// years repeat every 28 years between century years, and a 29 February
// may be 8 years away across one (2096 -> 2104).
constexpr int kSearchYears = 40;

}  // namespace

CronSchedule CronSchedule::parse(std::string_view expression) {
  CronSchedule schedule;
  schedule.expression_ = std::string(expression);
  std::string text = std::string(expression);
  auto begin = text.find_first_not_of(" \t");
  auto end = text.find_last_not_of(" \t");
  text = begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
  if (!text.empty() && text[0] == '@') {
    std::string name = lower(text);
    auto found = std::find_if(kNamedExpressions.begin(), kNamedExpressions.end(),
                              [&](const auto& named) { return named.first == name; });
    if (found == kNamedExpressions.end()) {
      throw std::invalid_argument("cron expression '" + schedule.expression_ +
                                  "': unknown name (known: @yearly, @annually, @monthly, @weekly, @daily, "
                                  "@midnight, @hourly)");
    }
    text = std::string(found->second);
  }
  std::vector<std::string_view> fields;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto start = rest.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    rest = rest.substr(start);
    auto stop = rest.find_first_of(" \t");
    fields.push_back(rest.substr(0, stop));
    rest = stop == std::string_view::npos ? std::string_view() : rest.substr(stop);
  }
  if (fields.size() != 5 && fields.size() != 6) {
    throw std::invalid_argument("cron expression '" + schedule.expression_ + "' has " +
                                std::to_string(fields.size()) +
                                " fields; expected 5 (minute hour day-of-month month day-of-week) or 6 "
                                "(second first)");
  }
  std::size_t at = 0;
  const std::string_view whole = schedule.expression_;
  schedule.seconds_ = fields.size() == 6 ? to_bits<60>(FieldParser(whole, fields[at++], kSecond).parse())
                                         : std::bitset<60>(1);
  schedule.minutes_ = to_bits<60>(FieldParser(whole, fields[at++], kMinute).parse());
  schedule.hours_ = to_bits<24>(FieldParser(whole, fields[at++], kHour).parse());
  schedule.days_restricted_ = fields[at][0] != '*';
  schedule.days_ = to_bits<32>(FieldParser(whole, fields[at++], kDay).parse());
  schedule.months_ = to_bits<13>(FieldParser(whole, fields[at++], kMonth).parse());
  schedule.weekdays_restricted_ = fields[at][0] != '*';
  std::uint64_t weekdays = FieldParser(whole, fields[at++], kWeekday).parse();
  if (weekdays & (std::uint64_t{1} << 7)) weekdays |= 1;  // 7 is Sunday too
  schedule.weekdays_ = to_bits<7>(weekdays);

  if (!schedule.next_after(Seconds(sys_days(year(2000) / January / 1)), *utc_zone())) {
    throw std::invalid_argument("cron expression '" + schedule.expression_ +
                                "' never ticks (no such day in any of its months)");
  }
  return schedule;
}

bool CronSchedule::day_matches(year_month_day date) const {
  bool day_ok = days_[static_cast<unsigned>(date.day())];
  bool weekday_ok = weekdays_[std::chrono::weekday(sys_days(date)).c_encoding()];
  if (days_restricted_ && weekdays_restricted_) return day_ok || weekday_ok;
  return day_ok && weekday_ok;
}

std::optional<Seconds> CronSchedule::next_local_after(Seconds local) const {
  Seconds t = local + seconds(1);
  const int last_year = static_cast<int>(year_month_day(floor<days>(t)).year()) + kSearchYears;
  while (true) {
    sys_days day = floor<days>(t);
    year_month_day date(day);
    if (static_cast<int>(date.year()) > last_year) return std::nullopt;
    if (!months_[static_cast<unsigned>(date.month())]) {
      year_month_day first_of_next = date.year() / date.month() / 1;
      first_of_next += months(1);
      t = Seconds(sys_days(first_of_next));
      continue;
    }
    if (!day_matches(date)) {
      t = Seconds(day + days(1));
      continue;
    }
    auto time_of_day = t - Seconds(day);
    int h = static_cast<int>(duration_cast<hours>(time_of_day).count());
    int m = static_cast<int>(duration_cast<minutes>(time_of_day % hours(1)).count());
    int s = static_cast<int>((time_of_day % minutes(1)).count());
    int next_h = next_set(hours_, h);
    if (next_h < 0) {
      t = Seconds(day + days(1));
      continue;
    }
    if (next_h != h) {
      t = Seconds(day) + hours(next_h);
      continue;
    }
    int next_m = next_set(minutes_, m);
    if (next_m < 0) {
      t = Seconds(day) + hours(h + 1);
      continue;
    }
    if (next_m != m) {
      t = Seconds(day) + hours(h) + minutes(next_m);
      continue;
    }
    int next_s = next_set(seconds_, s);
    if (next_s < 0) {
      t = Seconds(day) + hours(h) + minutes(m + 1);
      continue;
    }
    return Seconds(day) + hours(h) + minutes(m) + seconds(next_s);
  }
}

std::optional<Seconds> CronSchedule::next_after(Seconds after, const TimeZone& zone) const {
  Seconds local = after + zone.offset_at(after);
  while (auto candidate = next_local_after(local)) {
    const Seconds wanted = *candidate;
    // The instants whose local time is `wanted`: one, two (the clock fell
    // back over it) or none (it sprang forward over it). Offsets change by
    // hours at most, so those in force a day either side are the ones.
    std::array<seconds, 3> offsets{zone.offset_at(wanted - days(1)), zone.offset_at(wanted),
                                   zone.offset_at(wanted + days(1))};
    std::optional<Seconds> first;
    bool exists = false;
    for (seconds offset : offsets) {
      Seconds instant = wanted - offset;
      if (zone.offset_at(instant) != offset) continue;
      exists = true;
      if (instant > after && (!first || instant < *first)) first = instant;
    }
    if (first) return first;
    if (!exists) {
      // Skipped by the clock: tick at the first instant past the gap.
      auto [low, high] = std::minmax_element(offsets.begin(), offsets.end());
      Seconds lo = wanted - *high;
      Seconds hi = wanted - *low;
      while (lo < hi) {
        Seconds mid = lo + (hi - lo) / 2;
        if (mid + zone.offset_at(mid) > wanted) {
          hi = mid;
        } else {
          lo = mid + seconds(1);
        }
      }
      if (lo > after) return lo;
    }
    // Every instant of it is not after `after` (the second pass of a time
    // that occurred twice): look further.
    local = wanted;
  }
  return std::nullopt;
}

}  // namespace dramatiq::schedule
