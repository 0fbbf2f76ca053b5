#include "apps/foohut-api/faults.h"

#include <cstdlib>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "apps/foohut-api/strings.h"
#include "src/common/units.h"

namespace hut::foohut {
namespace {

absl::StatusOr<double> ParseFraction(absl::string_view value) {
  if (!value.empty() && value.back() == '%') {
    absl::StatusOr<double> percent = ParsePercent(Std(value));
    if (!percent.ok()) return percent.status();
    return *percent;
  }
  std::string copy(value);
  char* end = nullptr;
  double d = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !(d >= 0.0 && d <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", value, "\" is not a fraction in [0, 1] or a percentage"));
  }
  return d;
}

}  // namespace

std::string Faults::ToString() const {
  std::vector<std::string> parts;
  if (errors > 0) parts.push_back(absl::StrCat("errors=", errors));
  if (latency.count() > 0) parts.push_back(absl::StrCat("latency=", FormatDuration(latency)));
  if (crash_after) parts.push_back(absl::StrCat("crash_after=", FormatDuration(*crash_after)));
  if (unready) parts.push_back("unready");
  if (ready_after) parts.push_back(absl::StrCat("ready_after=", FormatDuration(*ready_after)));
  return parts.empty() ? "none" : absl::StrJoin(parts, ",");
}

absl::StatusOr<Faults> ParseFaults(std::string_view text_in) {
  Faults faults;
  absl::string_view text = absl::StripAsciiWhitespace(Absl(text_in));
  if (text.empty()) return faults;
  std::set<std::string> seen;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("empty item in \"", text, "\""));
    }
    absl::string_view name = item;
    std::optional<absl::string_view> value;
    if (size_t eq = item.find('='); eq != absl::string_view::npos) {
      name = absl::StripAsciiWhitespace(item.substr(0, eq));
      value = absl::StripAsciiWhitespace(item.substr(eq + 1));
    }
    if (!seen.insert(std::string(name)).second) {
      return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" given twice"));
    }
    auto need_value = [&]() -> absl::Status {
      if (!value || value->empty()) {
        return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" needs a value"));
      }
      return absl::OkStatus();
    };
    auto bad = [&](const absl::Status& s) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", s.message()));
    };
    if (name == "errors") {
      if (absl::Status s = need_value(); !s.ok()) return s;
      absl::StatusOr<double> f = ParseFraction(*value);
      if (!f.ok()) return bad(f.status());
      faults.errors = *f;
    } else if (name == "latency" || name == "crash_after" || name == "ready_after") {
      if (absl::Status s = need_value(); !s.ok()) return s;
      absl::StatusOr<Duration> d = ParseDuration(Std(*value));
      if (!d.ok()) return bad(d.status());
      if (name == "latency") {
        faults.latency = *d;
      } else if (name == "ready_after") {
        faults.ready_after = *d;
      } else {
        faults.crash_after = *d;
      }
    } else if (name == "unready") {
      if (value && *value != "true" && *value != "1") {
        return absl::InvalidArgumentError("unready takes no value (or \"true\")");
      }
      faults.unready = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown fault \"", name,
          "\" (expected errors, latency, crash_after, unready, ready_after)"));
    }
  }
  return faults;
}

}  // namespace hut::foohut
