// Expected instants are written in UTC. Europe/Berlin is UTC+1 (CET) in
// winter and UTC+2 (CEST) in summer; in 2026 the clocks go forward on
// 2026-03-29 at 02:00 CET (01:00 UTC) and back on 2026-10-25 at 03:00 CEST
// (01:00 UTC).
#include "src/alerting/calendar.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hut::alerting {
namespace {

using ::testing::HasSubstr;

TimePoint Utc(int y, int mo, int d, int h, int mi) {
  return absl::ToChronoTime(absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0),
                                            absl::UTCTimeZone()));
}

std::string Show(TimePoint t) {
  return absl::FormatTime(absl::RFC3339_full, absl::FromChrono(t), absl::UTCTimeZone());
}

#define EXPECT_INSTANT(got, want) EXPECT_EQ(got, want) << Show(got) << " != " << Show(want)

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone z;
  EXPECT_TRUE(absl::LoadTimeZone(name, &z)) << name;
  return z;
}

BusinessCalendar Berlin(std::vector<std::string> holidays = {}) {
  absl::StatusOr<BusinessCalendar> c =
      MakeBusinessCalendar("Europe/Berlin", {"saturday", "sunday"}, holidays, "17:00");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(NextBusinessDayDeadlineTest, FridayAfternoonGivesMonday) {
  // Friday 15:00 CET; Monday 17:00 CET.
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin(), Utc(2026, 12, 4, 14, 0)),
                 Utc(2026, 12, 7, 16, 0));
}

TEST(NextBusinessDayDeadlineTest, WeekendGivesMonday) {
  const TimePoint monday = Utc(2026, 12, 7, 16, 0);
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin(), Utc(2026, 12, 5, 9, 0)), monday);
  // Sunday 23:30 CET: still Sunday locally, though Monday is 30 minutes away.
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin(), Utc(2026, 12, 6, 22, 30)), monday);
}

TEST(NextBusinessDayDeadlineTest, TheLocalDateCountsNotTheUtcOne) {
  // Friday 23:30 UTC is Saturday 00:30 in Berlin: Monday either way, but
  // Thursday 23:30 UTC is Friday 00:30 in Berlin, so Monday, not Friday.
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin(), Utc(2026, 12, 3, 23, 30)),
                 Utc(2026, 12, 7, 16, 0));
}

TEST(NextBusinessDayDeadlineTest, StrictlyAfterTheDayReceivedEvenAfterItsEnd) {
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin(), Utc(2026, 12, 7, 7, 0)),
                 Utc(2026, 12, 8, 16, 0));  // Monday 08:00: Tuesday
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin(), Utc(2026, 12, 7, 17, 0)),
                 Utc(2026, 12, 8, 16, 0));  // Monday 18:00: Tuesday
}

TEST(NextBusinessDayDeadlineTest, MondayHolidayGivesTuesday) {
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin({"2026-12-07"}), Utc(2026, 12, 4, 14, 0)),
                 Utc(2026, 12, 8, 16, 0));
}

TEST(NextBusinessDayDeadlineTest, ChristmasAcrossTheWeekend) {
  // Holidays Thursday 24 and Friday 25: Wednesday's alert is due Monday 28.
  const BusinessCalendar c = Berlin({"2026-12-24", "2026-12-25"});
  EXPECT_INSTANT(NextBusinessDayDeadline(c, Utc(2026, 12, 23, 14, 0)), Utc(2026, 12, 28, 16, 0));
  EXPECT_INSTANT(NextBusinessDayDeadline(c, Utc(2026, 12, 24, 10, 0)), Utc(2026, 12, 28, 16, 0));
  EXPECT_FALSE(c.IsBusinessDay(absl::CivilDay(2026, 12, 24)));
  EXPECT_TRUE(c.IsBusinessDay(absl::CivilDay(2026, 12, 23)));
}

TEST(NextBusinessDayDeadlineTest, SpringForwardKeepsLocalWallTime) {
  // Friday 10:00 CET; Monday 17:00 CEST is 15:00 UTC, not 16:00.
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin(), Utc(2026, 3, 27, 9, 0)),
                 Utc(2026, 3, 30, 15, 0));
}

TEST(NextBusinessDayDeadlineTest, FallBackKeepsLocalWallTime) {
  // Friday 10:00 CEST; Monday 17:00 CET is 16:00 UTC.
  EXPECT_INSTANT(NextBusinessDayDeadline(Berlin(), Utc(2026, 10, 23, 8, 0)),
                 Utc(2026, 10, 26, 16, 0));
}

TEST(NextBusinessDayDeadlineTest, CustomWeekendAndEndOfDay) {
  absl::StatusOr<BusinessCalendar> c =
      MakeBusinessCalendar("UTC", {"friday", "saturday"}, {}, "18:30");
  ASSERT_TRUE(c.ok()) << c.status();
  // Thursday and Friday both give Sunday 18:30.
  EXPECT_INSTANT(NextBusinessDayDeadline(*c, Utc(2026, 12, 3, 12, 0)), Utc(2026, 12, 6, 18, 30));
  EXPECT_INSTANT(NextBusinessDayDeadline(*c, Utc(2026, 12, 4, 12, 0)), Utc(2026, 12, 6, 18, 30));
  // Sunday gives Monday.
  EXPECT_INSTANT(NextBusinessDayDeadline(*c, Utc(2026, 12, 6, 12, 0)), Utc(2026, 12, 7, 18, 30));
}

TEST(NextBusinessDayDeadlineTest, NoWeekendWhenTheSpecListsNone) {
  absl::StatusOr<BusinessCalendar> c = MakeBusinessCalendar("UTC", {}, {}, "17:00");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_INSTANT(NextBusinessDayDeadline(*c, Utc(2026, 12, 4, 12, 0)), Utc(2026, 12, 5, 17, 0));
}

TEST(NextBusinessDayDeadlineTest, SkipsADayTheZoneSkips) {
  // Samoa skipped Friday 2011-12-30 whole; Thursday's alert is due Monday.
  BusinessCalendar c;
  c.zone = Zone("Pacific/Apia");
  const TimePoint thursday = absl::ToChronoTime(
      absl::FromCivil(absl::CivilSecond(2011, 12, 29, 12, 0, 0), c.zone));
  EXPECT_EQ(LocalDay(c.zone, NextBusinessDayDeadline(c, thursday)), absl::CivilDay(2012, 1, 2));
}

TEST(NextLocalTimeTest, OnePerDayAcrossSpringForward) {
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const std::vector<TimePoint> want = {
      Utc(2026, 3, 27, 8, 0),  // 09:00 CET
      Utc(2026, 3, 28, 8, 0),
      Utc(2026, 3, 29, 7, 0),  // 09:00 CEST
      Utc(2026, 3, 30, 7, 0),
  };
  TimePoint t = Utc(2026, 3, 26, 12, 0);
  for (const TimePoint& w : want) {
    t = NextLocalTime(berlin, 9 * 60, t);
    EXPECT_INSTANT(t, w);
  }
}

TEST(NextLocalTimeTest, OnePerDayAcrossFallBack) {
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const std::vector<TimePoint> want = {
      Utc(2026, 10, 24, 7, 0),  // 09:00 CEST
      Utc(2026, 10, 25, 8, 0),  // 09:00 CET
      Utc(2026, 10, 26, 8, 0),
  };
  TimePoint t = Utc(2026, 10, 23, 12, 0);
  for (const TimePoint& w : want) {
    t = NextLocalTime(berlin, 9 * 60, t);
    EXPECT_INSTANT(t, w);
  }
}

TEST(NextLocalTimeTest, SkippedTimeIsTheEndOfTheGap) {
  // 02:30 does not exist on 2026-03-29 in Berlin: 03:00 CEST, then 02:30 CEST.
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const int t0230 = 2 * 60 + 30;
  const TimePoint gap_day = NextLocalTime(berlin, t0230, Utc(2026, 3, 28, 12, 0));
  EXPECT_INSTANT(gap_day, Utc(2026, 3, 29, 1, 0));
  EXPECT_EQ(LocalDay(berlin, gap_day), absl::CivilDay(2026, 3, 29));
  EXPECT_INSTANT(NextLocalTime(berlin, t0230, gap_day), Utc(2026, 3, 30, 0, 30));
}

TEST(NextLocalTimeTest, RepeatedTimeOnlyItsFirstOccurrence) {
  // 02:30 happens twice on 2026-10-25 in Berlin: 00:30 UTC (CEST) and 01:30 UTC (CET).
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const int t0230 = 2 * 60 + 30;
  const TimePoint first = NextLocalTime(berlin, t0230, Utc(2026, 10, 24, 12, 0));
  EXPECT_INSTANT(first, Utc(2026, 10, 25, 0, 30));
  EXPECT_INSTANT(NextLocalTime(berlin, t0230, first), Utc(2026, 10, 26, 1, 30));
  // Between the two occurrences: the next day's, never the second one.
  EXPECT_INSTANT(NextLocalTime(berlin, t0230, Utc(2026, 10, 25, 0, 45)), Utc(2026, 10, 26, 1, 30));
}

TEST(NextLocalTimeTest, StrictlyAfter) {
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const TimePoint send = Utc(2026, 12, 4, 8, 0);  // 09:00 CET
  EXPECT_INSTANT(NextLocalTime(berlin, 9 * 60, send), Utc(2026, 12, 5, 8, 0));
  EXPECT_INSTANT(NextLocalTime(berlin, 9 * 60, send - std::chrono::milliseconds(1)), send);
  // Midnight, in UTC.
  EXPECT_INSTANT(NextLocalTime(absl::UTCTimeZone(), 0, Utc(2026, 12, 4, 23, 59)),
                 Utc(2026, 12, 5, 0, 0));
}

TEST(LocalDayTest, IsTheZonesDate) {
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  EXPECT_EQ(LocalDay(berlin, Utc(2026, 12, 4, 22, 59)), absl::CivilDay(2026, 12, 4));
  EXPECT_EQ(LocalDay(berlin, Utc(2026, 12, 4, 23, 0)), absl::CivilDay(2026, 12, 5));
  EXPECT_EQ(LocalDay(absl::UTCTimeZone(), Utc(2026, 12, 4, 23, 0)), absl::CivilDay(2026, 12, 4));
}

TEST(ParseTimeOfDayTest, Valid) {
  EXPECT_EQ(*ParseTimeOfDay("00:00"), 0);
  EXPECT_EQ(*ParseTimeOfDay("09:05"), 9 * 60 + 5);
  EXPECT_EQ(*ParseTimeOfDay("17:00"), 17 * 60);
  EXPECT_EQ(*ParseTimeOfDay("23:59"), 23 * 60 + 59);
}

TEST(ParseTimeOfDayTest, InvalidNamesTheValue) {
  for (const std::string bad : {"25:00", "24:00", "12:60", "9:00", "09:5", "0900", "", "09:00 ",
                                "+9:00", "ab:cd", "09-00"}) {
    const absl::StatusOr<int> got = ParseTimeOfDay(bad);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(got.status().message(), HasSubstr("\"" + bad + "\" is not a time of day"));
    EXPECT_THAT(got.status().message(), HasSubstr("expected HH:MM, 00:00 to 23:59"));
  }
}

TEST(MakeBusinessCalendarTest, ReadsEveryField) {
  absl::StatusOr<BusinessCalendar> c = MakeBusinessCalendar(
      "Europe/Berlin", {"sunday", "saturday", "sunday"}, {"2026-12-24", "2026-12-25"}, "16:30");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->zone.name(), "Europe/Berlin");
  EXPECT_EQ(c->weekend, (std::set<absl::Weekday>{absl::Weekday::saturday, absl::Weekday::sunday}));
  EXPECT_EQ(c->holidays,
            (std::set<absl::CivilDay>{absl::CivilDay(2026, 12, 24), absl::CivilDay(2026, 12, 25)}));
  EXPECT_EQ(c->day_ends_minutes, 16 * 60 + 30);
}

TEST(MakeBusinessCalendarTest, DefaultsOfTheStruct) {
  const BusinessCalendar c;
  EXPECT_EQ(c.zone, absl::UTCTimeZone());
  EXPECT_FALSE(c.IsBusinessDay(absl::CivilDay(2026, 12, 5)));  // Saturday
  EXPECT_FALSE(c.IsBusinessDay(absl::CivilDay(2026, 12, 6)));  // Sunday
  EXPECT_TRUE(c.IsBusinessDay(absl::CivilDay(2026, 12, 4)));   // Friday
  EXPECT_EQ(c.day_ends_minutes, 17 * 60);
}

void ExpectInvalid(const absl::StatusOr<BusinessCalendar>& c, const std::string& text) {
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr(text));
}

TEST(MakeBusinessCalendarTest, UnknownTimeZone) {
  for (const std::string bad : {"Europe/Berlinn", "", "berlin", "/etc/localtime",
                                "Europe/../Europe/Berlin", ":Europe/Berlin"}) {
    ExpectInvalid(MakeBusinessCalendar(bad, {}, {}, "17:00"),
                  "unknown time zone \"" + bad +
                      "\" (expected an IANA name such as Europe/Berlin)");
  }
}

TEST(MakeBusinessCalendarTest, BadWeekendDay) {
  for (const std::string bad : {"satday", "Saturday", "sat", ""}) {
    ExpectInvalid(MakeBusinessCalendar("UTC", {"sunday", bad}, {}, "17:00"),
                  "weekend day \"" + bad + "\" is not a day of the week (expected monday, ");
  }
}

TEST(MakeBusinessCalendarTest, EveryDayAWeekendDayIsRefused) {
  ExpectInvalid(MakeBusinessCalendar("UTC",
                                     {"monday", "tuesday", "wednesday", "thursday", "friday",
                                      "saturday", "sunday"},
                                     {}, "17:00"),
                "every day of the week is a weekend day");
}

TEST(MakeBusinessCalendarTest, BadHoliday) {
  for (const std::string bad :
       {"2026-13-01", "2026-02-30", "2026-00-10", "26-12-24", "2026-1-05", "2026/12/24",
        "2026-12-24T00:00", "+2026-12-24", ""}) {
    ExpectInvalid(MakeBusinessCalendar("UTC", {}, {"2026-12-25", bad}, "17:00"),
                  "holiday \"" + bad + "\" is not a date (expected YYYY-MM-DD)");
  }
}

TEST(MakeBusinessCalendarTest, BadEndOfDay) {
  ExpectInvalid(MakeBusinessCalendar("UTC", {}, {}, "25:00"),
                "\"25:00\" is not a time of day (expected HH:MM, 00:00 to 23:59)");
}

}  // namespace
}  // namespace hut::alerting
