#include "src/common/units.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hut {
namespace {

struct Unit {
  std::string_view name;
  int64_t millis;
};

// Longest names first so that "ms" is not read as "m" followed by "s".
constexpr Unit kUnits[] = {
    {"ms", 1},          {"s", 1000},         {"m", 60'000},
    {"h", 3'600'000},   {"d", 86'400'000},   {"w", 604'800'000},
    {"y", 31'536'000'000},
};

const Unit* FindUnit(std::string_view name) {
  for (const Unit& u : kUnits) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<Duration> ParseDuration(std::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError("empty duration (expected e.g. 500ms, 2m, 30d)");
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t digits_end = i;
    while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') {
      ++digits_end;
    }
    if (digits_end == i) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid duration \"", std::string(text), "\" (expected a whole number and a unit, e.g. 500ms, 2m, 30d)"));
    }
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + digits_end, value);
    if (ec != std::errc()) {
      return absl::InvalidArgumentError(absl::StrCat("duration \"", std::string(text), "\" is too large"));
    }
    size_t unit_end = digits_end;
    while (unit_end < text.size() && !(text[unit_end] >= '0' && text[unit_end] <= '9')) {
      ++unit_end;
    }
    std::string_view unit_name = text.substr(digits_end, unit_end - digits_end);
    if (unit_name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "duration \"", std::string(text), "\" has no unit (expected one of ms, s, m, h, d, w, y)"));
    }
    const Unit* unit = FindUnit(unit_name);
    if (unit == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown unit \"", std::string(unit_name),
                                                     "\" in duration \"", std::string(text),
                                                     "\" (expected one of ms, s, m, h, d, w, y)"));
    }
    if (value > (std::numeric_limits<int64_t>::max() - total) / unit->millis) {
      return absl::InvalidArgumentError(absl::StrCat("duration \"", std::string(text), "\" is too large"));
    }
    total += value * unit->millis;
    i = unit_end;
  }
  return Duration(total);
}

std::string FormatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  // Days are the largest unit shown: "400d" reads better than "1y35d".
  constexpr Unit kShown[] = {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000},
                             {"s", 1000},       {"ms", 1}};
  for (const Unit& u : kShown) {
    if (ms >= u.millis) {
      absl::StrAppend(&out, ms / u.millis, std::string(u.name));
      ms %= u.millis;
    }
  }
  return out;
}

absl::StatusOr<double> ParsePercent(std::string_view text) {
  if (text.empty() || text.back() != '%') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid percentage \"", std::string(text), "\" (expected a number and %, e.g. 5%)"));
  }
  std::string_view number = text.substr(0, text.size() - 1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() ||
      !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid percentage \"", std::string(text), "\" (expected a number and %, e.g. 5%)"));
  }
  if (value < 0 || value > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("percentage \"", std::string(text), "\" is out of range (expected 0% to 100%)"));
  }
  return value / 100.0;
}

std::string FormatPercent(double fraction) {
  std::string s = absl::StrFormat("%.2f", fraction * 100.0);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s + "%";
}

}  // namespace hut
