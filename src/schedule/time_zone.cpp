#include "schedule/time_zone.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace dramatiq::schedule {

namespace {

using namespace std::chrono;

class UtcZone final : public TimeZone {
 public:
  seconds offset_at(Seconds) const override { return seconds(0); }
  const std::string& name() const override { return name_; }

 private:
  std::string name_ = "UTC";
};

class FixedOffsetZone final : public TimeZone {
 public:
  explicit FixedOffsetZone(seconds offset) : offset_(offset) {
    long long total = offset.count();
    char sign = total < 0 ? '-' : '+';
    total = total < 0 ? -total : total;
    char text[32];
    std::snprintf(text, sizeof text, "UTC%c%02lld:%02lld", sign, total / 3600, total % 3600 / 60);
    name_ = text;
  }
  seconds offset_at(Seconds) const override { return offset_; }
  const std::string& name() const override { return name_; }

 private:
  seconds offset_;
  std::string name_;
};

// ---------------------------------------------------------------- POSIX TZ

// When a POSIX rule switches: a day of the year in one of three forms,
// and a local time of day (RFC 8536 allows -167..167 hours).
struct RuleDate {
  enum class Form { kJulianNoLeap, kZeroBased, kMonthWeekDay } form = Form::kMonthWeekDay;
  int day = 0;      // Jn: 1..365; n: 0..365
  int month = 0;    // Mm.w.d
  int week = 0;
  int weekday = 0;  // 0 = Sunday
  seconds time = hours(2);

  sys_days date_in(int y) const {
    switch (form) {
      case Form::kJulianNoLeap: {
        bool leap = year(y).is_leap();
        return sys_days(year(y) / January / 1) + days(day - 1 + (leap && day >= 60 ? 1 : 0));
      }
      case Form::kZeroBased:
        return sys_days(year(y) / January / 1) + days(day);
      case Form::kMonthWeekDay:
      default: {
        sys_days first = sys_days(year(y) / std::chrono::month(static_cast<unsigned>(month)) / 1);
        int first_weekday = static_cast<int>(std::chrono::weekday(first).c_encoding());
        sys_days date = first + days((weekday - first_weekday + 7) % 7 + (week - 1) * 7);
        sys_days next_month = sys_days(year_month_day(first) + months(1));
        while (date >= next_month) date -= days(7);  // week 5: the last such day
        return date;
      }
    }
  }
};

struct PosixRule {
  std::string text;
  seconds standard{0};  // UTC offsets (east positive)
  std::optional<seconds> daylight;
  RuleDate start;
  RuleDate end;

  seconds offset_at(Seconds instant) const {
    if (!daylight) return standard;
    int y = static_cast<int>(year_month_day(floor<days>(instant)).year());
    // Switches happen in local time: into daylight time on standard time's
    // clock, out of it on daylight time's.
    Seconds starts = Seconds(start.date_in(y)) + start.time - standard;
    Seconds ends = Seconds(end.date_in(y)) + end.time - *daylight;
    bool in_daylight = starts < ends ? (instant >= starts && instant < ends) : (instant < ends || instant >= starts);
    return in_daylight ? *daylight : standard;
  }
};

class PosixReader {
 public:
  explicit PosixReader(std::string_view text) : text_(text) {}

  PosixRule read() {
    PosixRule rule;
    rule.text = std::string(text_);
    read_name();
    rule.standard = -read_offset("standard time's offset");
    if (at_end()) return rule;
    read_name();
    rule.daylight = rule.standard + hours(1);
    if (!at_end() && peek() != ',') rule.daylight = -read_offset("daylight time's offset");
    if (at_end()) {
      // No rule given: the United States' since 2007, as glibc assumes.
      rule.start = RuleDate{RuleDate::Form::kMonthWeekDay, 0, 3, 2, 0, hours(2)};
      rule.end = RuleDate{RuleDate::Form::kMonthWeekDay, 0, 11, 1, 0, hours(2)};
      return rule;
    }
    expect(',');
    rule.start = read_date();
    expect(',');
    rule.end = read_date();
    if (!at_end()) fail("unexpected '" + std::string(text_.substr(at_)) + "' at the end");
    return rule;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("TZ rule '" + std::string(text_) + "': " + what);
  }
  bool at_end() const { return at_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[at_]; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "' at position " + std::to_string(at_));
    ++at_;
  }

  void read_name() {
    if (peek() == '<') {
      auto close = text_.find('>', at_);
      if (close == std::string_view::npos) fail("a '<' name without its '>'");
      at_ = close + 1;
      return;
    }
    std::size_t start = at_;
    while (std::isalpha(static_cast<unsigned char>(peek()))) ++at_;
    if (at_ - start < 3) fail("a zone abbreviation of at least three letters expected at position " + std::to_string(start));
  }

  int read_number(int max_digits) {
    std::size_t start = at_;
    int value = 0;
    while (std::isdigit(static_cast<unsigned char>(peek())) && at_ - start < static_cast<std::size_t>(max_digits)) {
      value = value * 10 + (text_[at_++] - '0');
    }
    if (at_ == start) fail("a number expected at position " + std::to_string(start));
    return value;
  }

  // [+-]hh[:mm[:ss]]
  seconds read_time(const char* what, int max_hours) {
    int sign = 1;
    if (peek() == '+' || peek() == '-') sign = text_[at_++] == '-' ? -1 : 1;
    int h = read_number(3);
    int m = 0;
    int s = 0;
    if (peek() == ':') {
      ++at_;
      m = read_number(2);
      if (peek() == ':') {
        ++at_;
        s = read_number(2);
      }
    }
    if (h > max_hours || m > 59 || s > 59) fail(std::string(what) + " is out of range");
    return sign * (hours(h) + minutes(m) + seconds(s));
  }
  seconds read_offset(const char* what) { return read_time(what, 24); }

  RuleDate read_date() {
    RuleDate date;
    if (peek() == 'J') {
      ++at_;
      date.form = RuleDate::Form::kJulianNoLeap;
      date.day = read_number(3);
      if (date.day < 1 || date.day > 365) fail("a Jn day must be 1-365");
    } else if (peek() == 'M') {
      ++at_;
      date.form = RuleDate::Form::kMonthWeekDay;
      date.month = read_number(2);
      expect('.');
      date.week = read_number(1);
      expect('.');
      date.weekday = read_number(1);
      if (date.month < 1 || date.month > 12 || date.week < 1 || date.week > 5 || date.weekday > 6) {
        fail("an Mm.w.d date needs m 1-12, w 1-5, d 0-6");
      }
    } else {
      date.form = RuleDate::Form::kZeroBased;
      date.day = read_number(3);
      if (date.day > 365) fail("a day of the year must be 0-365");
    }
    if (peek() == '/') {
      ++at_;
      date.time = read_time("a switch time", 167);
    }
    return date;
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

class PosixZone final : public TimeZone {
 public:
  explicit PosixZone(PosixRule rule) : rule_(std::move(rule)) {}
  seconds offset_at(Seconds instant) const override { return rule_.offset_at(instant); }
  const std::string& name() const override { return rule_.text; }

 private:
  PosixRule rule_;
};

// ----------------------------------------------------------------- TZif

class TzifZone final : public TimeZone {
 public:
  TzifZone(std::string name, std::vector<std::int64_t> transitions, std::vector<seconds> offsets_after,
           seconds before_first, std::optional<PosixRule> footer)
      : name_(std::move(name)), transitions_(std::move(transitions)), offsets_after_(std::move(offsets_after)),
        before_first_(before_first), footer_(std::move(footer)) {}

  seconds offset_at(Seconds instant) const override {
    std::int64_t t = instant.time_since_epoch().count();
    auto after = std::upper_bound(transitions_.begin(), transitions_.end(), t);
    if (after == transitions_.begin()) {
      return transitions_.empty() && footer_ ? footer_->offset_at(instant) : before_first_;
    }
    if (after == transitions_.end() && footer_) return footer_->offset_at(instant);
    return offsets_after_[static_cast<std::size_t>(after - transitions_.begin() - 1)];
  }
  const std::string& name() const override { return name_; }

 private:
  std::string name_;
  std::vector<std::int64_t> transitions_;
  std::vector<seconds> offsets_after_;
  seconds before_first_;
  std::optional<PosixRule> footer_;
};

class TzifReader {
 public:
  TzifReader(std::string_view name, std::string_view data) : name_(name), data_(data) {}

  std::shared_ptr<const TimeZone> read() {
    if (data_.substr(0, 4) != "TZif") fail("is not a TZif file");
    char version = data_.size() > 4 ? data_[4] : '\0';
    Counts v1 = counts(0);
    std::size_t v1_size = v1.timecnt * 5 + v1.typecnt * 6 + v1.charcnt + v1.leapcnt * 8 + v1.isstdcnt + v1.isutcnt;
    if (version == '\0') return zone(44, v1, 4, std::nullopt);
    // Version 2 and later: a second header with 64-bit times, then the footer.
    std::size_t second = 44 + v1_size;
    if (second + 44 > data_.size()) fail("is cut short");
    if (data_.compare(second, 4, "TZif") != 0) fail("has no second header");
    Counts v2 = counts(second);
    std::size_t v2_size = v2.timecnt * 9 + v2.typecnt * 6 + v2.charcnt + v2.leapcnt * 12 + v2.isstdcnt + v2.isutcnt;
    std::size_t footer_at = second + 44 + v2_size;
    std::optional<PosixRule> footer;
    if (footer_at < data_.size() && data_[footer_at] == '\n') {
      auto close = data_.find('\n', footer_at + 1);
      if (close == std::string_view::npos) fail("has an unterminated footer");
      std::string_view tz = data_.substr(footer_at + 1, close - footer_at - 1);
      if (!tz.empty()) footer = PosixReader(tz).read();
    }
    return zone(second + 44, v2, 8, std::move(footer));
  }

 private:
  struct Counts {
    std::size_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
  };

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("time zone '" + std::string(name_) + "': its file " + what);
  }

  std::uint64_t big_endian(std::size_t at, std::size_t width) const {
    if (at + width > data_.size()) fail("is cut short");
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) value = value << 8 | static_cast<unsigned char>(data_[at + i]);
    return value;
  }

  Counts counts(std::size_t header) const {
    auto count = [&](int index) { return static_cast<std::size_t>(big_endian(header + 20 + 4 * index, 4)); };
    Counts c{count(0), count(1), count(2), count(3), count(4), count(5)};
    if (c.typecnt == 0 || c.timecnt > 100000 || c.typecnt > 256 || c.charcnt > 65536 || c.leapcnt > 100000) {
      fail("has impossible counts");
    }
    return c;
  }

  std::shared_ptr<const TimeZone> zone(std::size_t at, const Counts& c, std::size_t time_width,
                                       std::optional<PosixRule> footer) const {
    std::vector<std::int64_t> transitions;
    std::vector<std::size_t> type_of;
    for (std::size_t i = 0; i < c.timecnt; ++i) {
      std::uint64_t raw = big_endian(at + i * time_width, time_width);
      transitions.push_back(time_width == 4 ? static_cast<std::int32_t>(raw) : static_cast<std::int64_t>(raw));
    }
    std::size_t types_at = at + c.timecnt * time_width;
    for (std::size_t i = 0; i < c.timecnt; ++i) {
      std::size_t type = static_cast<std::size_t>(big_endian(types_at + i, 1));
      if (type >= c.typecnt) fail("names a local time type it does not have");
      type_of.push_back(type);
    }
    std::size_t infos_at = types_at + c.timecnt;
    std::vector<seconds> type_offsets;
    for (std::size_t i = 0; i < c.typecnt; ++i) {
      auto utoff = static_cast<std::int32_t>(big_endian(infos_at + i * 6, 4));
      if (utoff < -89999 || utoff > 93599) fail("has an offset out of range");
      type_offsets.push_back(seconds(utoff));
    }
    if (!std::is_sorted(transitions.begin(), transitions.end())) fail("has transitions out of order");
    std::vector<seconds> offsets_after;
    for (std::size_t type : type_of) offsets_after.push_back(type_offsets[type]);
    // Before the first transition: local time type 0 (RFC 8536 3.2).
    return std::make_shared<const TzifZone>(std::string(name_), std::move(transitions), std::move(offsets_after),
                                            type_offsets[0], std::move(footer));
  }

  std::string_view name_;
  std::string_view data_;
};

bool valid_zone_name(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.size() > 255) return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '/' || c == '_' || c == '-' || c == '+';
  });
}

}  // namespace

std::shared_ptr<const TimeZone> utc_zone() {
  static const auto zone = std::make_shared<const UtcZone>();
  return zone;
}

std::shared_ptr<const TimeZone> fixed_offset_zone(std::chrono::seconds offset) {
  if (offset < -hours(24) || offset > hours(24)) {
    throw std::invalid_argument("a UTC offset must be within a day, not " + std::to_string(offset.count()) + " s");
  }
  return std::make_shared<const FixedOffsetZone>(offset);
}

std::shared_ptr<const TimeZone> posix_time_zone(std::string_view tz) {
  return std::make_shared<const PosixZone>(PosixReader(tz).read());
}

std::shared_ptr<const TimeZone> time_zone_from_tzif(std::string_view name, std::string_view data) {
  return TzifReader(name, data).read();
}

std::shared_ptr<const TimeZone> load_time_zone(std::string_view name) {
  if (name.empty() || name == "UTC" || name == "Etc/UTC") return utc_zone();
  if (!valid_zone_name(name)) throw std::invalid_argument("'" + std::string(name) + "' is not a time zone name");
  const char* tzdir = std::getenv("TZDIR");
  std::string directory = tzdir && *tzdir ? tzdir : "/usr/share/zoneinfo";
  std::string path = directory + "/" + std::string(name);
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw std::invalid_argument("unknown time zone '" + std::string(name) + "' (no " + path +
                                "; is the tzdata package installed?)");
  }
  std::string data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return time_zone_from_tzif(name, data);
}

}  // namespace dramatiq::schedule
