#include "src/metrics/prometheus_text.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hut::metrics {
namespace {

bool NameStart(char c) { return absl::ascii_isalpha(c) || c == '_' || c == ':'; }
bool NameChar(char c) { return NameStart(c) || absl::ascii_isdigit(c); }

// A cursor over one line; every reader returns false on malformed input.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : s_(line) {}

  void SkipSpaces() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  bool AtEnd() const { return pos_ >= s_.size(); }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }

  bool Name(std::string* out, bool label) {
    if (AtEnd() || !(label ? absl::ascii_isalpha(s_[pos_]) || s_[pos_] == '_' : NameStart(s_[pos_]))) {
      return false;
    }
    size_t start = pos_;
    while (pos_ < s_.size() && NameChar(s_[pos_]) && !(label && s_[pos_] == ':')) ++pos_;
    *out = std::string(s_.substr(start, pos_ - start));
    return true;
  }

  // "..." with \\, \" and \n escapes.
  bool Quoted(std::string* out) {
    if (!Eat('"')) return false;
    out->clear();
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (pos_ >= s_.size()) return false;
        char e = s_[pos_++];
        out->push_back(e == 'n' ? '\n' : e);
      } else {
        out->push_back(c);
      }
    }
    return false;
  }

  bool Number(double* out) {
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '\t') ++pos_;
    std::string token(s_.substr(start, pos_ - start));
    if (token == "+Inf" || token == "Inf") {
      *out = std::numeric_limits<double>::infinity();
    } else if (token == "-Inf") {
      *out = -std::numeric_limits<double>::infinity();
    } else if (token == "NaN") {
      *out = std::numeric_limits<double>::quiet_NaN();
    } else {
      if (token.empty()) return false;
      char* end = nullptr;
      *out = std::strtod(token.c_str(), &end);
      if (end != token.c_str() + token.size()) return false;
    }
    return true;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

absl::StatusOr<Sample> ParseLine(std::string_view line) {
  LineReader r(line);
  Sample sample;
  if (!r.Name(&sample.name, /*label=*/false)) return absl::InvalidArgumentError("expected a metric name");
  if (r.Eat('{')) {
    r.SkipSpaces();
    while (!r.Eat('}')) {
      std::string label, value;
      if (!r.Name(&label, /*label=*/true)) return absl::InvalidArgumentError("expected a label name");
      r.SkipSpaces();
      if (!r.Eat('=')) return absl::InvalidArgumentError(absl::StrCat("expected = after ", label));
      r.SkipSpaces();
      if (!r.Quoted(&value)) {
        return absl::InvalidArgumentError(absl::StrCat("expected a quoted value for ", label));
      }
      sample.labels[label] = value;
      r.SkipSpaces();
      if (!r.Eat(',') && !r.Peek('}')) return absl::InvalidArgumentError("expected , or }");
      r.SkipSpaces();
    }
  }
  r.SkipSpaces();
  if (!r.Number(&sample.value)) return absl::InvalidArgumentError("expected a value");
  r.SkipSpaces();
  double timestamp = 0;
  if (!r.AtEnd() && !r.Number(&timestamp)) return absl::InvalidArgumentError("bad timestamp");
  r.SkipSpaces();
  if (!r.AtEnd()) return absl::InvalidArgumentError("unexpected text after the value");
  return sample;
}

bool Selected(const Sample& s, const SeriesFilter& filter) {
  for (const auto& [k, v] : filter.match) {
    auto it = s.labels.find(k);
    if (it == s.labels.end() || it->second != v) return false;
  }
  for (const auto& [k, values] : filter.exclude) {
    auto it = s.labels.find(k);
    if (it != s.labels.end() &&
        std::find(values.begin(), values.end(), it->second) != values.end()) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<Sample>> ParseText(std::string_view text) {
  std::vector<Sample> out;
  int number = 0;
  while (!text.empty()) {
    ++number;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    absl::string_view trimmed =
        absl::StripAsciiWhitespace(absl::string_view(line.data(), line.size()));
    if (trimmed.empty() || trimmed.front() == '#') continue;
    absl::StatusOr<Sample> sample = ParseLine(std::string_view(trimmed.data(), trimmed.size()));
    if (!sample.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("metrics line ", number, ": ",
                                                     sample.status().message(), ": \"",
                                                     std::string(trimmed), "\""));
    }
    out.push_back(std::move(*sample));
  }
  return out;
}

absl::StatusOr<Histogram> SumHistogram(const std::vector<Sample>& samples, std::string_view name,
                                       const SeriesFilter& filter) {
  const std::string bucket = absl::StrCat(std::string(name), "_bucket");
  const std::string sum = absl::StrCat(std::string(name), "_sum");
  const std::string count = absl::StrCat(std::string(name), "_count");
  // Series (label set without "le") -> le -> cumulative count.
  std::map<std::map<std::string, std::string>, std::map<double, double>> series;
  Histogram h;
  for (const Sample& s : samples) {
    if (!Selected(s, filter)) continue;
    if (s.name == bucket) {
      auto le = s.labels.find("le");
      if (le == s.labels.end()) {
        return absl::InvalidArgumentError(absl::StrCat(bucket, " sample without an le label"));
      }
      LineReader r(le->second);
      double bound = 0;
      if (!r.Number(&bound) || std::isnan(bound)) {
        return absl::InvalidArgumentError(absl::StrCat(bucket, ": bad le \"", le->second, "\""));
      }
      std::map<std::string, std::string> key = s.labels;
      key.erase("le");
      series[key][bound] += s.value;
    } else if (s.name == sum) {
      h.sum += s.value;
    } else if (s.name == count) {
      h.count += s.value;
    }
  }
  if (series.empty()) {
    return absl::NotFoundError(absl::StrCat("no ", bucket, " series in the metrics"));
  }
  const std::map<double, double>* first = &series.begin()->second;
  std::map<double, double> total;
  for (const auto& [labels, buckets] : series) {
    if (buckets.size() != first->size() ||
        !std::equal(buckets.begin(), buckets.end(), first->begin(),
                    [](const auto& a, const auto& b) { return a.first == b.first; })) {
      return absl::InvalidArgumentError(
          absl::StrCat(bucket, ": series have different bucket bounds; cannot add them"));
    }
    for (const auto& [bound, value] : buckets) total[bound] += value;
  }
  if (total.rbegin()->first != std::numeric_limits<double>::infinity()) {
    return absl::InvalidArgumentError(absl::StrCat(bucket, ": no le=\"+Inf\" bucket"));
  }
  for (const auto& [bound, value] : total) {
    h.upper_bounds.push_back(bound);
    h.cumulative_counts.push_back(value);
  }
  return h;
}

}  // namespace hut::metrics
