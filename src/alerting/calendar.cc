#include "src/alerting/calendar.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hut::alerting {
namespace {

constexpr std::array<std::pair<const char*, absl::Weekday>, 7> kWeekdays = {{
    {"monday", absl::Weekday::monday},
    {"tuesday", absl::Weekday::tuesday},
    {"wednesday", absl::Weekday::wednesday},
    {"thursday", absl::Weekday::thursday},
    {"friday", absl::Weekday::friday},
    {"saturday", absl::Weekday::saturday},
    {"sunday", absl::Weekday::sunday},
}};

std::string Quoted(const std::string& s) { return absl::StrCat("\"", s, "\""); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The number the digits s[pos, pos + n) spell, or -1 when one is not a digit.
int Digits(const std::string& s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!IsDigit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// Strictly YYYY-MM-DD: absl's parser also takes signs and normalizes some
// out-of-range fields, and a spec's holiday should mean exactly one date.
bool ParseDate(const std::string& s, absl::CivilDay* day) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  const int y = Digits(s, 0, 4), m = Digits(s, 5, 2), d = Digits(s, 8, 2);
  if (y < 0 || m < 0 || d < 0) return false;
  const absl::CivilDay parsed(y, m, d);  // normalizes, e.g. 02-30 to 03-02
  if (parsed.year() != y || parsed.month() != m || parsed.day() != d) return false;
  *day = parsed;
  return true;
}

// Names are looked up under /usr/share/zoneinfo; absl would also open an
// absolute path or climb out with "..", which a spec has no business doing.
bool LooksLikeZoneName(const std::string& s) {
  return !s.empty() && s.front() != '/' && s.front() != ':' &&
         s.find("..") == std::string::npos;
}

// The instant of `minutes` after midnight on local day `d`: for a skipped
// time the end of the gap, for a repeated one its first occurrence.
absl::Time AtLocalTime(absl::TimeZone zone, absl::CivilDay d, int minutes) {
  const absl::TimeZone::TimeInfo info =
      zone.At(absl::CivilSecond(d.year(), d.month(), d.day(), minutes / 60, minutes % 60, 0));
  switch (info.kind) {
    case absl::TimeZone::TimeInfo::SKIPPED:
      return info.trans;
    case absl::TimeZone::TimeInfo::REPEATED:
    case absl::TimeZone::TimeInfo::UNIQUE:
      break;
  }
  return info.pre;
}

// Whether `t` falls on local day `d`: false only for a day the zone skips
// whole (Pacific/Apia's 2011-12-30), whose times map into the next day.
bool OnDay(absl::TimeZone zone, absl::Time t, absl::CivilDay d) {
  return absl::CivilDay(zone.At(t).cs) == d;
}

}  // namespace

bool BusinessCalendar::IsBusinessDay(absl::CivilDay d) const {
  return !weekend.contains(absl::GetWeekday(d)) && !holidays.contains(d);
}

absl::StatusOr<int> ParseTimeOfDay(const std::string& hhmm) {
  if (hhmm.size() == 5 && hhmm[2] == ':') {
    const int h = Digits(hhmm, 0, 2), m = Digits(hhmm, 3, 2);
    if (h >= 0 && h <= 23 && m >= 0 && m <= 59) return h * 60 + m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(Quoted(hhmm), " is not a time of day (expected HH:MM, 00:00 to 23:59)"));
}

absl::StatusOr<BusinessCalendar> MakeBusinessCalendar(const std::string& time_zone,
                                                      const std::vector<std::string>& weekend,
                                                      const std::vector<std::string>& holidays,
                                                      const std::string& day_ends) {
  BusinessCalendar c;
  if (!LooksLikeZoneName(time_zone) || !absl::LoadTimeZone(time_zone, &c.zone)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown time zone ", Quoted(time_zone),
                                                   " (expected an IANA name such as "
                                                   "Europe/Berlin)"));
  }
  c.weekend.clear();
  for (const std::string& name : weekend) {
    bool found = false;
    for (const auto& [day_name, day] : kWeekdays) {
      if (name == day_name) {
        c.weekend.insert(day);
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("weekend day ", Quoted(name),
                       " is not a day of the week (expected monday, tuesday, wednesday, "
                       "thursday, friday, saturday or sunday, in lower case)"));
    }
  }
  if (c.weekend.size() == kWeekdays.size()) {
    return absl::InvalidArgumentError(
        "every day of the week is a weekend day (a calendar needs at least one business day)");
  }
  for (const std::string& h : holidays) {
    absl::CivilDay day;
    if (!ParseDate(h, &day)) {
      return absl::InvalidArgumentError(
          absl::StrCat("holiday ", Quoted(h), " is not a date (expected YYYY-MM-DD)"));
    }
    c.holidays.insert(day);
  }
  absl::StatusOr<int> ends = ParseTimeOfDay(day_ends);
  if (!ends.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("end of the business day: ", ends.status().message()));
  }
  c.day_ends_minutes = *ends;
  return c;
}

TimePoint NextBusinessDayDeadline(const BusinessCalendar& c, TimePoint t) {
  // Broken invariant: the loop below would never end.
  if (c.weekend.size() >= kWeekdays.size()) {
    std::fputs("NextBusinessDayDeadline: a calendar without business days\n", stderr);
    std::abort();
  }
  for (absl::CivilDay d = LocalDay(c.zone, t) + 1;; ++d) {
    if (!c.IsBusinessDay(d)) continue;
    const absl::Time end = AtLocalTime(c.zone, d, c.day_ends_minutes);
    if (OnDay(c.zone, end, d)) return absl::ToChronoTime(end);
  }
}

TimePoint NextLocalTime(absl::TimeZone zone, int minutes_after_midnight, TimePoint after) {
  const absl::Time a = absl::FromChrono(after);
  // Today's instant if it is still ahead, else the next day's, which always is:
  // the instants of successive days increase.
  for (absl::CivilDay d = absl::CivilDay(zone.At(a).cs);; ++d) {
    const absl::Time next = AtLocalTime(zone, d, minutes_after_midnight);
    if (next > a && OnDay(zone, next, d)) return absl::ToChronoTime(next);
  }
}

absl::CivilDay LocalDay(absl::TimeZone zone, TimePoint t) {
  return absl::CivilDay(zone.At(absl::FromChrono(t)).cs);
}

}  // namespace hut::alerting
