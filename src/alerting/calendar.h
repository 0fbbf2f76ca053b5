#ifndef HUT_ALERTING_CALENDAR_H_
#define HUT_ALERTING_CALENDAR_H_

// Local-time arithmetic for alerting: a team's business days (for "next
// business day" response deadlines) and a time of day on the local wall clock
// (the daily digest's send time). All of it goes through absl's time zone
// database (/usr/share/zoneinfo), so DST changes are the database's, never
// ours. Pure functions of their arguments; no clock is read.

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "src/common/clock.h"

namespace hut::alerting {

// A team's working days: in a time zone, without its weekend days and holidays.
struct BusinessCalendar {
  absl::TimeZone zone;  // UTC unless set
  std::set<absl::Weekday> weekend = {absl::Weekday::saturday, absl::Weekday::sunday};
  std::set<absl::CivilDay> holidays;  // local dates
  // The local time the business day ends, in minutes after midnight (17:00).
  int day_ends_minutes = 17 * 60;

  bool IsBusinessDay(absl::CivilDay d) const;
};

// Parses what the spec gives: an IANA time zone name ("Europe/Berlin", "UTC"),
// weekend day names (full English names in lower case: "saturday"; an empty
// list means no weekend days), holidays as "YYYY-MM-DD" and the end of the
// business day as "HH:MM". A bad value is InvalidArgument naming the value and
// what was expected; so is a calendar whose every day is a weekend day.
absl::StatusOr<BusinessCalendar> MakeBusinessCalendar(const std::string& time_zone,
                                                      const std::vector<std::string>& weekend,
                                                      const std::vector<std::string>& holidays,
                                                      const std::string& day_ends);

// Parses "HH:MM" (exactly two digits each, 00:00 to 23:59) into minutes after
// midnight; anything else is InvalidArgument naming the value.
absl::StatusOr<int> ParseTimeOfDay(const std::string& hhmm);

// The "next business day" response deadline of an alert received at `t`: the
// end of the business day (day_ends_minutes, local wall time) of the first
// business day strictly after t's local date. Friday 15:00 gives Monday 17:00,
// Saturday gives Monday 17:00, Friday before a Monday holiday gives Tuesday
// 17:00, whatever the UTC offsets of those days. `c` must have a business day
// (MakeBusinessCalendar ensures it); a calendar without one aborts. A day the
// zone skips whole (Pacific/Apia's 2011-12-30) is not a business day.
TimePoint NextBusinessDayDeadline(const BusinessCalendar& c, TimePoint t);

// The first instant strictly after `after` at which the wall clock in `zone`
// shows `minutes_after_midnight` (0 to 1439), at most one per local day:
//   - a time that a spring-forward gap skips maps to the end of the gap (the
//     transition, absl's TimeInfo::trans: 02:30 on Berlin's spring day is
//     03:00 CEST), the first instant the clock has reached that time that day;
//   - a time that a fall-back repeats maps to its first occurrence only
//     (TimeInfo::pre), so a day never gets two.
// Chaining calls (after = the previous result) gives one instant per day; a
// day the zone skips whole gets none.
TimePoint NextLocalTime(absl::TimeZone zone, int minutes_after_midnight, TimePoint after);

// The local date of `t` in `zone`.
absl::CivilDay LocalDay(absl::TimeZone zone, TimePoint t);

}  // namespace hut::alerting

#endif  // HUT_ALERTING_CALENDAR_H_
