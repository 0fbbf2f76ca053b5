#include "src/spec/load.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/alerting/calendar.h"
#include "src/common/resources.h"
#include "src/common/units.h"
#include "src/objectstore/s3_url.h"
#include "src/spec/yaml_limits.h"
#include "yaml-cpp/yaml.h"

namespace hut::spec {

std::string Problem::ToString() const {
  std::string out = file;
  if (line > 0) absl::StrAppend(&out, ":", line, ":", column);
  absl::StrAppend(&out, ": ");
  if (!path.empty()) absl::StrAppend(&out, path, ": ");
  absl::StrAppend(&out, message);
  return out;
}

namespace {

// ---------------------------------------------------------------- helpers

// Debian's abseil has its own string_view; absl::StrCat over std::string_view too.
template <typename T>
decltype(auto) ToAlphaNum(const T& v) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return absl::string_view(v.data(), v.size());
  } else {
    return (v);
  }
}
template <typename... T>
std::string Cat(const T&... args) {
  return absl::StrCat(ToAlphaNum(args)...);
}

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : Cat(path, ".", key);
}

std::string Quote(std::string_view s) { return Cat("\"", s, "\""); }

// Optimal string alignment distance (Levenshtein plus adjacent transpositions),
// case-insensitive.
int EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const bool same = absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 1]);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same ? 0 : 1)});
      if (i > 1 && j > 1 && absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 2]) &&
          absl::ascii_tolower(a[i - 2]) == absl::ascii_tolower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// The closest of `candidates` to `word`, if close enough to be a likely typo.
std::optional<std::string> Suggest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  const int limit = std::clamp(static_cast<int>(word.size()) / 3, 1, 3);
  std::optional<std::string> best;
  int best_distance = limit + 1;
  for (const std::string& c : candidates) {
    const int d = EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

// A DNS label, as Kubernetes wants for names: [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63.
bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// A Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsMetricName(std::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_' || c == ':'; });
}

bool IsEnvVarName(std::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

constexpr std::string_view kPlaceholders[] = {"version", "port", "replica", "service",
                                              "environment"};

// Checks the {{name}} placeholders of `s`; returns an error message or "". Adds
// the NAME of each {{backing.NAME.url}} and {{backing.NAME.password_file}} to
// `*backing`.
std::string CheckPlaceholders(std::string_view s, std::set<std::string>* backing) {
  size_t pos = 0;
  while ((pos = s.find("{{", pos)) != std::string_view::npos) {
    const size_t end = s.find("}}", pos + 2);
    if (end == std::string_view::npos) {
      return Cat("unterminated placeholder in ", Quote(s), " (expected {{name}})");
    }
    std::string_view inner = s.substr(pos + 2, end - pos - 2);
    absl::string_view stripped =
        absl::StripAsciiWhitespace(absl::string_view(inner.data(), inner.size()));
    std::string_view name(stripped.data(), stripped.size());
    constexpr std::string_view kBackingPrefix = "backing.", kBackingSuffix = ".url";
    constexpr std::string_view kPasswordSuffix = ".password_file";
    constexpr std::string_view kSecretPrefix = "secrets.", kSecretSuffix = ".file";  // pragma: allowlist secret (placeholder syntax)
    if (name.starts_with(kSecretPrefix) && name.ends_with(kSecretSuffix) &&
        name.size() > kSecretPrefix.size() + kSecretSuffix.size()) {
      std::string_view secret = name.substr(
          kSecretPrefix.size(), name.size() - kSecretPrefix.size() - kSecretSuffix.size());
      if (std::find(std::begin(kSecretFiles), std::end(kSecretFiles), secret) ==
          std::end(kSecretFiles)) {
        return Cat("unknown secret \"", secret, "\" in \"{{", name,
                   "}}\" (secret files: {{secrets.database.file}}, {{secrets.jwt.file}})");
      }
    } else if (name.size() > kBackingPrefix.size() + kBackingSuffix.size() &&
        name.starts_with(kBackingPrefix) && name.ends_with(kBackingSuffix)) {
      backing->insert(std::string(name.substr(
          kBackingPrefix.size(), name.size() - kBackingPrefix.size() - kBackingSuffix.size())));
    } else if (name.size() > kBackingPrefix.size() + kPasswordSuffix.size() &&
               name.starts_with(kBackingPrefix) && name.ends_with(kPasswordSuffix)) {
      backing->insert(std::string(name.substr(
          kBackingPrefix.size(), name.size() - kBackingPrefix.size() - kPasswordSuffix.size())));
    } else if (std::find(std::begin(kPlaceholders), std::end(kPlaceholders), name) ==
               std::end(kPlaceholders)) {
      return Cat("unknown placeholder \"{{", name,
                 "}}\" (expected one of {{version}}, {{port}}, {{replica}}, {{service}}, "
                 "{{environment}}, {{backing.NAME.url}}, {{backing.NAME.password_file}}, "
                 "{{secrets.database.file}}, {{secrets.jwt.file}})");
    }
    pos = end + 2;
  }
  return "";
}

const char* KindOf(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "nothing";
  }
}

template <typename E>
std::string AllowedNames(std::initializer_list<E> values) {
  std::vector<std::string> names;
  for (E v : values) names.emplace_back(Name(v));
  return absl::StrJoin(names, ", ");
}

constexpr std::initializer_list<Runtime> kRuntimes = {Runtime::kLocal, Runtime::kKubernetes};
constexpr std::initializer_list<RouterKind> kRouterKinds = {
    RouterKind::kGatewayApi, RouterKind::kAlb, RouterKind::kReplicas};
constexpr std::initializer_list<Strategy> kStrategies = {Strategy::kReplace, Strategy::kRolling,
                                                         Strategy::kCanary};
constexpr std::initializer_list<TriggerEvent> kTriggerEvents = {
    TriggerEvent::kManual, TriggerEvent::kPush, TriggerEvent::kTag};
constexpr std::initializer_list<InconclusiveAction> kInconclusiveActions = {
    InconclusiveAction::kExtend, InconclusiveAction::kPause, InconclusiveAction::kFail};
constexpr std::initializer_list<BackingKind> kBackingKinds = {BackingKind::kPostgresql,
                                                              BackingKind::kRedis};
constexpr std::initializer_list<Severity> kSeverities = {Severity::kCritical, Severity::kHigh,
                                                         Severity::kMedium,   Severity::kLow,
                                                         Severity::kWarning,  Severity::kInfo};
constexpr std::initializer_list<AlertChannel> kAlertChannels = {
    AlertChannel::kPage, AlertChannel::kChat, AlertChannel::kDigest};
constexpr std::initializer_list<LogFormat> kLogFormats = {LogFormat::kJson};
constexpr std::initializer_list<SecretBackendKind> kSecretBackends = {
    SecretBackendKind::kLocal, SecretBackendKind::kAwsSecretsManager};

// Bounds for a percentage, as fractions.
struct PercentRange {
  double min = 0;
  bool min_open = false;  // true: strictly above min
  double max = 1;
  bool max_open = false;  // true: strictly below max
  std::string Describe() const {
    return Cat(min_open ? "above " : "from ", FormatPercent(min),
               min_open || max_open ? " and " : " to ",
               max_open ? "below " : (min_open ? "at most " : ""), FormatPercent(max));
  }
  bool Contains(double v) const {
    return (min_open ? v > min : v >= min) && (max_open ? v < max : v <= max);
  }
};

constexpr PercentRange kShare{0, true, 1, true};      // (0%, 100%)
constexpr PercentRange kPositive{0, true, 1, false};  // (0%, 100%]

// A value in the file: its node, where to point at it, and its key path.
struct Value {
  YAML::Node node;
  YAML::Mark mark;
  std::string path;
};

// ---------------------------------------------------------------- the loader

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  void Error(const YAML::Mark& mark, std::string_view path, std::string message) {
    Problem p;
    p.file = file_;
    if (!mark.is_null()) {
      p.line = mark.line + 1;
      p.column = mark.column + 1;
    }
    p.path = std::string(path);
    p.message = std::move(message);
    problems_.push_back(std::move(p));
  }
  void Error(const Value& v, std::string message) { Error(v.mark, v.path, std::move(message)); }
  void Warn(const Value& v, std::string message) {
    Error(v, std::move(message));
    warnings_.push_back(std::move(problems_.back()));
    problems_.pop_back();
  }
  std::vector<Problem> TakeWarnings() { return std::move(warnings_); }

  std::vector<Problem> TakeProblems() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return std::move(problems_);
  }

  // The scalar text of `v`, or nullopt after reporting why it is not one.
  std::optional<std::string> Scalar(const Value& v, std::string_view expected) {
    if (v.node.IsScalar()) return v.node.Scalar();
    if (v.node.IsNull()) {
      Error(v, Cat("missing value (expected ", expected, ")"));
    } else {
      Error(v, Cat("expected ", expected, ", got ", KindOf(v.node)));
    }
    return std::nullopt;
  }

  std::optional<std::string> String(const Value& v) {
    auto s = Scalar(v, "a string");
    if (s && s->empty()) {
      Error(v, "empty string (expected a non-empty string)");
      return std::nullopt;
    }
    return s;
  }

  std::optional<int> Int(const Value& v, int min, int max = std::numeric_limits<int>::max()) {
    const std::string expected = max == std::numeric_limits<int>::max()
                                     ? Cat("a whole number >= ", min)
                                     : Cat("a whole number from ", min, " to ", max);
    auto s = Scalar(v, expected);
    if (!s) return std::nullopt;
    int64_t n = 0;
    if (!absl::SimpleAtoi(*s, &n)) {
      Error(v, Cat("invalid number ", Quote(*s), " (expected ", expected, ")"));
      return std::nullopt;
    }
    if (n < min || n > max) {
      Error(v, Cat(n, " is out of range (expected ", expected, ")"));
      return std::nullopt;
    }
    return static_cast<int>(n);
  }

  std::optional<bool> Bool(const Value& v) {
    auto s = Scalar(v, "true or false");
    if (!s) return std::nullopt;
    if (*s == "true") return true;
    if (*s == "false") return false;
    Error(v, Cat("invalid boolean ", Quote(*s), " (expected true or false)"));
    return std::nullopt;
  }

  std::optional<Duration> Dur(const Value& v, bool positive) {
    auto s = Scalar(v, "a duration, e.g. 500ms, 2m, 30d");
    if (!s) return std::nullopt;
    absl::StatusOr<Duration> d = ParseDuration(*s);
    if (!d.ok()) {
      Error(v, std::string(d.status().message()));
      return std::nullopt;
    }
    if (positive && d->count() == 0) {
      Error(v, Cat(Quote(*s), " is out of range (expected a duration above 0)"));
      return std::nullopt;
    }
    return *d;
  }

  std::optional<double> Percent(const Value& v, PercentRange range) {
    auto s = Scalar(v, "a percentage, e.g. 5%");
    if (!s) return std::nullopt;
    absl::StatusOr<double> p = ParsePercent(*s);
    if (!p.ok()) {
      Error(v, std::string(p.status().message()));
      return std::nullopt;
    }
    if (!range.Contains(*p)) {
      Error(v, Cat(Quote(*s), " is out of range (expected ", range.Describe(), ")"));
      return std::nullopt;
    }
    return *p;
  }

  template <typename E>
  std::optional<E> Enum(const Value& v, std::string_view what, std::initializer_list<E> values) {
    const std::string allowed = AllowedNames(values);
    auto s = Scalar(v, Cat("one of ", allowed));
    if (!s) return std::nullopt;
    for (E e : values) {
      if (Name(e) == *s) return e;
    }
    Error(v, Cat("unknown ", what, " ", Quote(*s), " (expected one of ", allowed, ")"));
    return std::nullopt;
  }

  // A list of `what` (plural, for the message), each item read by
  // `read_item` (nullopt: bad, reported); returns only when all are good.
  template <typename T, typename F>
  std::optional<std::vector<T>> ListOf(const Value& v, std::string_view what, F read_item) {
    if (!v.node.IsSequence()) {
      Error(v, Cat("expected a list of ", what, ", got ", KindOf(v.node)));
      return std::nullopt;
    }
    std::vector<T> out;
    bool good = true;
    for (size_t i = 0; i < v.node.size(); ++i) {
      const YAML::Node item = v.node[i];
      std::optional<T> one = read_item(Value{item, item.Mark(), Cat(v.path, "[", i, "]")});
      if (one) {
        out.push_back(std::move(*one));
      } else {
        good = false;
      }
    }
    if (!good) return std::nullopt;
    return out;
  }

  // A list of strings; reports bad items and returns only when all are good.
  std::optional<std::vector<std::string>> StringList(const Value& v) {
    return ListOf<std::string>(v, "strings", [this](const Value& item) { return String(item); });
  }

 private:
  std::string file_;
  std::vector<Problem> problems_;
  std::vector<Problem> warnings_;
};

// The entries of a mapping, each key once. Reports a node that is not a mapping,
// non-scalar keys and duplicate keys (the first occurrence wins).
struct Entry {
  std::string key;
  YAML::Mark key_mark;
  Value value;
};

std::optional<std::vector<Entry>> Entries(Loader& loader, const Value& v,
                                          std::string_view expected) {
  if (!v.node.IsMap()) {
    if (v.node.IsNull()) {
      loader.Error(v, Cat("missing value (expected ", expected, ")"));
    } else {
      loader.Error(v, Cat("expected ", expected, ", got ", KindOf(v.node)));
    }
    return std::nullopt;
  }
  std::vector<Entry> out;
  std::set<std::string> seen;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      loader.Error(key.Mark(), v.path, "a key must be a plain name (got a complex key)");
      continue;
    }
    const std::string name = key.Scalar();
    const std::string path = Join(v.path, name);
    if (!seen.insert(name).second) {
      loader.Error(key.Mark(), path, "duplicate key (each key may appear once)");
      continue;
    }
    YAML::Mark mark = value.Mark();
    if (mark.is_null() || value.IsNull()) mark = key.Mark();
    out.push_back(Entry{name, key.Mark(), Value{value, mark, path}});
  }
  return out;
}

// A mapping checked against the keys its schema allows: unknown keys are
// reported, with a suggestion when one is close.
class MapReader {
 public:
  MapReader(Loader& loader, const Value& v, std::string_view expected,
            std::initializer_list<std::string_view> known)
      : loader_(loader), self_(v) {
    auto entries = Entries(loader, v, expected);
    if (!entries) return;
    ok_ = true;
    std::vector<std::string> known_names(known.begin(), known.end());
    for (Entry& e : *entries) {
      if (std::find(known.begin(), known.end(), e.key) == known.end()) {
        std::optional<std::string> near = Suggest(e.key, known_names);
        loader.Error(
            e.key_mark, e.value.path,
            near ? Cat("unknown key (did you mean ", Quote(*near), "?)")
                 : Cat("unknown key (expected one of ", absl::StrJoin(known_names, ", "), ")"));
        continue;
      }
      entries_.push_back(std::move(e));
    }
  }

  bool ok() const { return ok_; }
  Loader& loader() { return loader_; }

  const Value* Get(std::string_view key) const {
    for (const Entry& e : entries_) {
      if (e.key == key) return &e.value;
    }
    return nullptr;
  }
  bool Has(std::string_view key) const { return Get(key) != nullptr; }

  // Reports `key` as missing, at this map.
  void Missing(std::string_view key, std::string_view expected) {
    loader_.Error(self_.mark, Join(self_.path, key),
                  Cat("missing required key (expected ", expected, ")"));
  }

  // Typed fields: nullopt when absent or bad (bad ones are reported).
  std::optional<std::string> String(std::string_view key) {
    const Value* v = Get(key);
    return v ? loader_.String(*v) : std::nullopt;
  }
  std::optional<int> Int(std::string_view key, int min, int max = std::numeric_limits<int>::max()) {
    const Value* v = Get(key);
    return v ? loader_.Int(*v, min, max) : std::nullopt;
  }
  std::optional<bool> Bool(std::string_view key) {
    const Value* v = Get(key);
    return v ? loader_.Bool(*v) : std::nullopt;
  }
  std::optional<Duration> Dur(std::string_view key, bool positive) {
    const Value* v = Get(key);
    return v ? loader_.Dur(*v, positive) : std::nullopt;
  }
  std::optional<double> Percent(std::string_view key, PercentRange range) {
    const Value* v = Get(key);
    return v ? loader_.Percent(*v, range) : std::nullopt;
  }
  template <typename E>
  std::optional<E> Enum(std::string_view key, std::string_view what,
                        std::initializer_list<E> values) {
    const Value* v = Get(key);
    return v ? loader_.Enum(*v, what, values) : std::nullopt;
  }

 private:
  Loader& loader_;
  Value self_;
  bool ok_ = false;
  std::vector<Entry> entries_;
};

// Assigns a present, good field to `*out`; leaves it alone otherwise. This is
// how an environment's policies merge over the top-level ones.
template <typename T>
void Set(std::optional<T> v, T* out) {
  if (v) *out = std::move(*v);
}

// Reports a violated relation between fields of `m` (e.g. min > max) at the
// first of `keys` present in this map. When none is present the relation was
// inherited and has been reported where it was set.
void ReportRelation(MapReader& m, std::initializer_list<std::string_view> keys,
                    std::string message) {
  for (std::string_view k : keys) {
    if (const Value* v = m.Get(k)) {
      m.loader().Error(*v, std::move(message));
      return;
    }
  }
}

// ---------------------------------------------------------------- policies
// Each Read* function reads the keys present in a map over `*out`, so that
// reading defaults, then top-level policies, then an environment's policies
// yields the merged result.

void ReadCanary(Loader& l, const Value& v, CanaryPolicy* out) {
  MapReader m(l, v, "a map of canary settings",
              {"weight", "analysis", "steps", "rollback_window", "inconclusive",
               "max_false_rollback_rate"});
  if (!m.ok()) return;
  Set(m.Percent("weight", kShare), &out->weight);
  Set(m.Dur("analysis", true), &out->analysis);
  Set(m.Dur("rollback_window", false), &out->rollback_window);
  Set(m.Enum("inconclusive", "inconclusive action", kInconclusiveActions), &out->inconclusive);
  Set(m.Percent("max_false_rollback_rate", PercentRange{0, true, 0.5, false}),
      &out->max_false_rollback_rate);
  if (const Value* steps = m.Get("steps")) {
    if (!steps->node.IsSequence()) {
      l.Error(*steps, Cat("expected a list of {weight, hold} steps, got ", KindOf(steps->node)));
      return;
    }
    if (steps->node.size() == 0) {
      l.Error(*steps, "empty list (expected at least one {weight, hold} step, or no steps key)");
      return;
    }
    std::vector<CanaryStep> parsed;
    bool good = true;
    double previous = -1;  // the previous good step's weight; -1: none
    for (size_t i = 0; i < steps->node.size(); ++i) {
      const YAML::Node item = steps->node[i];
      Value iv{item, item.Mark(), Cat(steps->path, "[", i, "]")};
      MapReader s(l, iv, "a map with weight and hold", {"weight", "hold"});
      if (!s.ok()) {
        good = false;
        continue;
      }
      CanaryStep step;
      auto weight = s.Percent("weight", kShare);
      auto hold = s.Dur("hold", true);
      if (!s.Has("weight")) s.Missing("weight", "a percentage, e.g. 10%");
      if (!s.Has("hold")) s.Missing("hold", "a duration, e.g. 5m");
      if (!weight || !hold) {
        good = false;
        previous = -1;
        continue;
      }
      if (previous >= 0 && *weight <= previous) {
        l.Error(*s.Get("weight"), Cat(FormatPercent(*weight), " is not above the previous step's ",
                                      FormatPercent(previous), " (expected increasing weights)"));
        good = false;
      }
      previous = *weight;
      step.weight = *weight;
      step.hold = *hold;
      parsed.push_back(step);
    }
    if (good) out->steps = std::move(parsed);
  }
}

void ReadRolling(Loader& l, const Value& v, RollingPolicy* out) {
  MapReader m(l, v, "a map of rolling-update settings",
              {"max_surge", "max_unavailable", "progress_deadline"});
  if (!m.ok()) return;
  Set(m.Int("max_surge", 0), &out->max_surge);
  Set(m.Int("max_unavailable", 0), &out->max_unavailable);
  Set(m.Dur("progress_deadline", true), &out->progress_deadline);
  if (out->max_surge == 0 && out->max_unavailable == 0) {
    ReportRelation(m, {"max_surge", "max_unavailable"},
                   "max_surge and max_unavailable are both 0, so no replica can ever be "
                   "replaced (expected at least one of them above 0)");
  }
}

// A list of severity names.
std::optional<std::vector<Severity>> ReadSeverities(Loader& l, const Value& v) {
  return l.ListOf<Severity>(v, "severities", [&l](const Value& item) {
    return l.Enum(item, "severity", kSeverities);
  });
}

void ReadRollback(Loader& l, const Value& v, RollbackPolicy* out) {
  MapReader m(l, v, "a map of rollback triggers",
              {"automatic", "health_check_failures", "error_rate", "p99_latency", "on_alerts",
               "pause_on_alerts"});
  if (!m.ok()) return;
  if (const Value* a = m.Get("on_alerts")) Set(ReadSeverities(l, *a), &out->on_alerts);
  if (const Value* a = m.Get("pause_on_alerts")) Set(ReadSeverities(l, *a), &out->pause_on_alerts);
  Set(m.Bool("automatic"), &out->automatic);
  Set(m.Int("health_check_failures", 1), &out->health_check_failures);
  if (const Value* e = m.Get("error_rate")) {
    MapReader t(l, *e, "a map with threshold and for", {"threshold", "for"});
    if (t.ok()) {
      Set(t.Percent("threshold", kPositive), &out->error_rate.threshold);
      Set(t.Dur("for", false), &out->error_rate.for_);
    }
  }
  if (const Value* p = m.Get("p99_latency")) {
    MapReader t(l, *p, "a map with threshold and for", {"threshold", "for"});
    if (t.ok()) {
      Set(t.Dur("threshold", true), &out->p99_latency.threshold);
      Set(t.Dur("for", false), &out->p99_latency.for_);
    }
  }
}

void ReadAutoscaling(Loader& l, const Value& v, AutoscalingPolicy* out) {
  MapReader m(l, v, "a map of autoscaling settings",
              {"enabled", "min_replicas", "max_replicas", "target_cpu", "target_memory"});
  if (!m.ok()) return;
  Set(m.Bool("enabled"), &out->enabled);
  Set(m.Int("min_replicas", 1), &out->min_replicas);
  Set(m.Int("max_replicas", 1), &out->max_replicas);
  Set(m.Percent("target_cpu", kPositive), &out->target_cpu);
  Set(m.Percent("target_memory", kPositive), &out->target_memory);
  if (out->min_replicas > out->max_replicas) {
    ReportRelation(m, {"min_replicas", "max_replicas"},
                   Cat("min_replicas ", out->min_replicas, " is above max_replicas ",
                       out->max_replicas, " (expected min_replicas <= max_replicas)"));
  }
}

void ReadClusterAutoscaling(Loader& l, const Value& v, ClusterAutoscalingPolicy* out) {
  MapReader m(l, v, "a map of cluster autoscaling settings",
              {"min_nodes", "max_nodes", "scale_down_delay"});
  if (!m.ok()) return;
  Set(m.Int("min_nodes", 1), &out->min_nodes);
  Set(m.Int("max_nodes", 1), &out->max_nodes);
  Set(m.Dur("scale_down_delay", false), &out->scale_down_delay);
  if (out->min_nodes > out->max_nodes) {
    ReportRelation(m, {"min_nodes", "max_nodes"},
                   Cat("min_nodes ", out->min_nodes, " is above max_nodes ", out->max_nodes,
                       " (expected min_nodes <= max_nodes)"));
  }
}

void ReadSecret(Loader& l, const Value& v, SecretPolicy* out) {
  MapReader m(l, v, "a map with rotation and overlap", {"rotation", "overlap"});
  if (!m.ok()) return;
  Set(m.Dur("overlap", true), &out->overlap);
  const Value* r = m.Get("rotation");
  if (r == nullptr) return;
  if (r->node.IsScalar() && r->node.Scalar() == "on-demand") {
    out->rotation.reset();
    return;
  }
  auto s = l.Scalar(*r, "a duration such as 30d, or on-demand");
  if (!s) return;
  absl::StatusOr<Duration> d = ParseDuration(*s);
  if (!d.ok()) {
    l.Error(*r, Cat("invalid rotation period ", Quote(*s),
                    " (expected a duration such as 30d, or on-demand)"));
  } else if (d->count() == 0) {
    l.Error(*r, Cat(Quote(*s),
                    " is out of range (expected a duration above 0, "
                    "or on-demand)"));
  } else {
    out->rotation = *d;
  }
}

void ReadSecrets(Loader& l, const Value& v, SecretsPolicy* out) {
  MapReader m(l, v, "a map of secrets", {"backend", "database", "jwt", "api_keys"});
  if (!m.ok()) return;
  Set(m.Enum("backend", "secret backend", kSecretBackends), &out->backend);
  if (const Value* s = m.Get("database")) ReadSecret(l, *s, &out->database);
  if (const Value* s = m.Get("jwt")) ReadSecret(l, *s, &out->jwt);
  if (const Value* s = m.Get("api_keys")) ReadSecret(l, *s, &out->api_keys);
}

void ReadSeverity(Loader& l, const Value& v, SeverityPolicy* out) {
  MapReader m(l, v,
              "a map with notify, response_time, group_wait, group_interval and repeat_interval",
              {"notify", "response_time", "group_wait", "group_interval", "repeat_interval"});
  if (!m.ok()) return;
  Set(m.Enum("notify", "channel", kAlertChannels), &out->notify);
  Set(m.Dur("group_wait", true), &out->group_wait);
  Set(m.Dur("group_interval", true), &out->group_interval);
  Set(m.Dur("repeat_interval", true), &out->repeat_interval);
  const Value* r = m.Get("response_time");
  if (r == nullptr) return;
  if (r->node.IsScalar() && r->node.Scalar() == "next-business-day") {
    out->next_business_day = true;
    out->response_time.reset();
    return;
  }
  if (r->node.IsScalar() && r->node.Scalar() == "none") {
    out->next_business_day = false;
    out->response_time.reset();
    return;
  }
  auto s = l.Scalar(*r, "a duration, next-business-day or none");
  if (!s) return;
  absl::StatusOr<Duration> d = ParseDuration(*s);
  if (!d.ok() || d->count() == 0) {
    l.Error(*r, Cat("invalid response time ", Quote(*s),
                    " (expected a duration above 0 such as 30m, next-business-day "
                    "or none)"));
    return;
  }
  out->next_business_day = false;
  out->response_time = *d;
}

void ReadRateAlert(Loader& l, const Value& v, RateAlert* out) {
  MapReader m(l, v, "a map with threshold and for", {"threshold", "for"});
  if (!m.ok()) return;
  Set(m.Percent("threshold", kShare), &out->threshold);  // above 100% would never fire
  Set(m.Dur("for", false), &out->for_);
}

void ReadLatencyAlert(Loader& l, const Value& v, LatencyAlert* out) {
  MapReader m(l, v, "a map with p99 and for", {"p99", "for"});
  if (!m.ok()) return;
  Set(m.Dur("p99", true), &out->p99);
  Set(m.Dur("for", false), &out->for_);
}

void ReadAlertRules(Loader& l, const Value& v, AlertRules* out) {
  MapReader m(l, v, "a map of alerting rules",
              {"service_down", "error_rate", "elevated_error_rate", "high_latency",
               "performance_degradation", "low_disk"});
  if (!m.ok()) return;
  if (const Value* d = m.Get("service_down")) {
    MapReader t(l, *d, "a map with for", {"for"});
    if (t.ok()) Set(t.Dur("for", false), &out->service_down_for);
  }
  if (const Value* r = m.Get("error_rate")) ReadRateAlert(l, *r, &out->error_rate);
  if (const Value* r = m.Get("elevated_error_rate")) {
    ReadRateAlert(l, *r, &out->elevated_error_rate);
  }
  if (const Value* r = m.Get("high_latency")) ReadLatencyAlert(l, *r, &out->high_latency);
  if (const Value* r = m.Get("performance_degradation")) {
    ReadLatencyAlert(l, *r, &out->performance_degradation);
  }
  if (const Value* r = m.Get("low_disk")) ReadRateAlert(l, *r, &out->low_disk);
  if (out->elevated_error_rate.threshold >= out->error_rate.threshold) {
    ReportRelation(m, {"elevated_error_rate", "error_rate"},
                   Cat("elevated_error_rate's threshold ",
                       FormatPercent(out->elevated_error_rate.threshold),
                       " is not below error_rate's ", FormatPercent(out->error_rate.threshold),
                       " (expected the medium alert below the critical one)"));
  }
  if (out->performance_degradation.p99 >= out->high_latency.p99) {
    ReportRelation(m, {"performance_degradation", "high_latency"},
                   Cat("performance_degradation's p99 ",
                       FormatDuration(out->performance_degradation.p99),
                       " is not below high_latency's ", FormatDuration(out->high_latency.p99),
                       " (expected the low alert below the high one)"));
  }
}

// Reports `status` (a calendar check) at `v` unless OK.
bool CheckCalendarPart(Loader& l, const Value& v, const absl::Status& status) {
  if (status.ok()) return true;
  l.Error(v, std::string(status.message()));
  return false;
}

void ReadTimeZone(Loader& l, const Value& v, std::string* out) {
  auto s = l.Scalar(v, "an IANA time zone name such as Europe/Berlin");
  if (!s) return;
  if (CheckCalendarPart(l, v, alerting::MakeBusinessCalendar(*s, {"sunday"}, {}, "17:00").status())) {
    *out = *s;
  }
}

void ReadTimeOfDay(Loader& l, const Value& v, int* out) {
  auto s = l.Scalar(v, "a time of day, HH:MM");
  if (!s) return;
  absl::StatusOr<int> minutes = alerting::ParseTimeOfDay(*s);
  if (CheckCalendarPart(l, v, minutes.status())) *out = *minutes;
}

void ReadCalendar(Loader& l, const Value& v, CalendarSettings* out) {
  MapReader m(l, v, "a map with time_zone, weekend, holidays and day_ends",
              {"time_zone", "weekend", "holidays", "day_ends"});
  if (!m.ok()) return;
  if (const Value* z = m.Get("time_zone")) ReadTimeZone(l, *z, &out->time_zone);
  if (const Value* d = m.Get("day_ends")) ReadTimeOfDay(l, *d, &out->day_ends_minutes);
  if (const Value* w = m.Get("weekend")) {
    if (auto days = l.StringList(*w)) {
      if (CheckCalendarPart(l, *w, alerting::MakeBusinessCalendar("UTC", *days, {}, "17:00").status())) {
        out->weekend = *days;
      }
    }
  }
  if (const Value* h = m.Get("holidays")) {
    if (auto days = l.StringList(*h)) {
      bool good = true;
      for (size_t i = 0; i < days->size(); ++i) {
        const YAML::Node item = h->node[i];
        good &= CheckCalendarPart(
            l, Value{item, item.Mark(), Cat(h->path, "[", i, "]")},
            alerting::MakeBusinessCalendar("UTC", {"sunday"}, {(*days)[i]}, "17:00").status());
      }
      if (good) out->holidays = *days;
    }
  }
}

void ReadAlertChannels(Loader& l, MapReader& m, AlertingPolicy* out) {
  if (const Value* p = m.Get("pagerduty")) {
    MapReader pd(l, *p, "a map with events_url and routing_key_file",
                 {"events_url", "routing_key_file"});
    if (pd.ok()) {
      if (const Value* u = pd.Get("events_url")) {
        if (auto url = l.Scalar(*u, "an http(s) URL")) {
          if (url->starts_with("https://") || url->starts_with("http://")) {
            out->pagerduty.events_url = *url;
          } else {
            l.Error(*u, Cat(Quote(*url), " is not an http(s) URL (expected e.g. "
                                         "https://events.pagerduty.com/v2/enqueue)"));
          }
        }
      }
      Set(pd.String("routing_key_file"), &out->pagerduty.routing_key_file);
    }
  }
  if (const Value* sl = m.Get("slack")) {
    MapReader sm(l, *sl, "a map with webhook_url or webhook_url_file",
                 {"webhook_url", "webhook_url_file"});
    if (sm.ok()) {
      Set(sm.String("webhook_url"), &out->slack.webhook_url);
      Set(sm.String("webhook_url_file"), &out->slack.webhook_url_file);
      if (sm.Has("webhook_url") && sm.Has("webhook_url_file")) {
        ReportRelation(sm, {"webhook_url_file"},
                       "webhook_url and webhook_url_file both given (expected one: the file "
                       "for a real webhook, whose URL is a secret)");
      } else if (sm.Has("webhook_url")) {
        out->slack.webhook_url_file.clear();
      } else if (sm.Has("webhook_url_file")) {
        out->slack.webhook_url.clear();
      }
      const std::string& url = out->slack.webhook_url;
      if (!url.empty() && !url.starts_with("https://") && !url.starts_with("http://")) {
        l.Error(*sm.Get("webhook_url"), "not an http(s) URL");
      }
    }
  }
  if (const Value* e = m.Get("escalation")) Set(l.StringList(*e), &out->escalation);
  if (const Value* d = m.Get("digest")) {
    MapReader dm(l, *d, "a map with at and time_zone", {"at", "time_zone"});
    if (dm.ok()) {
      if (const Value* a = dm.Get("at")) ReadTimeOfDay(l, *a, &out->digest.at_minutes);
      if (const Value* z = dm.Get("time_zone")) ReadTimeZone(l, *z, &out->digest.time_zone);
    }
  }
  if (const Value* c = m.Get("calendar")) ReadCalendar(l, *c, &out->calendar);
}

void ReadAlerting(Loader& l, const Value& v, AlertingPolicy* out) {
  MapReader m(l, v,
              "a map with severities, rules, runbooks, pagerduty, slack, escalation, digest and "
              "calendar",
              {"severities", "rules", "runbooks", "pagerduty", "slack", "escalation", "digest",
               "calendar"});
  if (!m.ok()) return;
  ReadAlertChannels(l, m, out);
  if (const Value* r = m.Get("rules")) ReadAlertRules(l, *r, &out->rules);
  if (const Value* r = m.Get("runbooks")) {
    if (auto s = l.Scalar(*r, "where the runbooks are: a URL or path ending in /")) {
      if (s->empty() || s->back() != '/') {
        l.Error(*r, Cat("runbooks ", Quote(*s),
                        " does not end in / (expected the folder of the runbook pages, such as "
                        "https://git.example.com/foohut/hut/blob/main/docs/runbooks/)"));
      } else {
        out->runbooks = *s;
      }
    }
  }
  const Value* sev = m.Get("severities");
  if (sev == nullptr) return;
  MapReader s(l, *sev, "a map from severity to its routing",
              {"critical", "high", "medium", "low", "warning", "info"});
  if (!s.ok()) return;
  for (Severity severity : kSeverities) {
    if (const Value* one = s.Get(Name(severity))) ReadSeverity(l, *one, &out->For(severity));
  }
}

void ReadLogging(Loader& l, const Value& v, LoggingPolicy* out) {
  MapReader m(l, v, "a map of logging settings",
              {"format", "level", "hot_retention", "cold_retention", "cold_store"});
  if (!m.ok()) return;
  Set(m.Enum("format", "log format", kLogFormats), &out->format);
  if (const Value* level = m.Get("level")) {
    if (auto s = l.Scalar(*level, "one of ERROR, WARN, INFO, DEBUG")) {
      std::optional<LogLevel> parsed = ParseLogLevel(*s);
      if (parsed) {
        out->level = *parsed;
      } else {
        l.Error(*level, Cat("unknown log level ", Quote(*s),
                            " (expected one of ERROR, WARN, INFO, DEBUG)"));
      }
    }
  }
  Set(m.Dur("hot_retention", true), &out->hot_retention);
  Set(m.Dur("cold_retention", true), &out->cold_retention);
  if (const Value* store = m.Get("cold_store")) {
    if (auto s = l.Scalar(*store, "s3://BUCKET[/PREFIX] or a folder")) {
      if (objectstore::IsS3Url(*s)) {
        if (auto parsed = objectstore::ParseS3Url(*s); !parsed.ok()) {
          l.Error(*store, std::string(parsed.status().message()));
        }
      } else if (absl::StrContains(*s, "://")) {
        l.Error(*store, Cat(Quote(*s), " is neither s3://BUCKET[/PREFIX] nor a folder"));
      }
      out->cold_store = *s;
    }
  }
  if (out->cold_retention < out->hot_retention) {
    ReportRelation(m, {"cold_retention", "hot_retention"},
                   Cat("cold_retention ", FormatDuration(out->cold_retention),
                       " is shorter than hot_retention ", FormatDuration(out->hot_retention),
                       " (expected cold_retention >= hot_retention)"));
  }
}

void ReadDatabase(Loader& l, const Value& v, DatabasePolicy* out) {
  MapReader m(l, v, "a map of database settings",
              {"reversible_migrations", "backup_before_deploy", "point_in_time_recovery"});
  if (!m.ok()) return;
  Set(m.Bool("reversible_migrations"), &out->reversible_migrations);
  Set(m.Bool("backup_before_deploy"), &out->backup_before_deploy);
  Set(m.Dur("point_in_time_recovery", false), &out->point_in_time_recovery);
}

void ReadPolicies(Loader& l, const Value& v, Policies* out) {
  MapReader m(l, v, "a map of policies",
              {"canary", "rolling", "rollback", "autoscaling", "cluster_autoscaling", "secrets",
               "alerting", "logging", "database"});
  if (!m.ok()) return;
  if (const Value* p = m.Get("canary")) ReadCanary(l, *p, &out->canary);
  if (const Value* p = m.Get("rolling")) ReadRolling(l, *p, &out->rolling);
  if (const Value* p = m.Get("rollback")) ReadRollback(l, *p, &out->rollback);
  if (const Value* p = m.Get("autoscaling")) ReadAutoscaling(l, *p, &out->autoscaling);
  if (const Value* p = m.Get("cluster_autoscaling")) {
    ReadClusterAutoscaling(l, *p, &out->cluster_autoscaling);
  }
  if (const Value* p = m.Get("secrets")) ReadSecrets(l, *p, &out->secrets);
  if (const Value* p = m.Get("alerting")) ReadAlerting(l, *p, &out->alerting);
  if (const Value* p = m.Get("logging")) ReadLogging(l, *p, &out->logging);
  if (const Value* p = m.Get("database")) ReadDatabase(l, *p, &out->database);
}

// ---------------------------------------------------------------- services

void CheckTemplated(Loader& l, const Value& v, const std::string& text,
                    std::set<std::string>* backing) {
  std::string problem = CheckPlaceholders(text, backing);
  if (!problem.empty()) l.Error(v, problem);
}

// What the loader knows of a service beyond its value: what environments must
// check against.
struct ServiceNotes {
  std::set<std::string> backing;  // names used in {{backing.NAME.url}}
  std::optional<Value> replicas;  // the service-level replicas key, if given
};

void ReadRelease(Loader& l, const Value& v, Release* out, ServiceNotes* notes) {
  MapReader m(l, v, "a map with command and env", {"command", "env", "image"});
  if (!m.ok()) return;
  if (const Value* c = m.Get("command")) {
    if (auto argv = l.StringList(*c)) {
      if (argv->empty()) {
        l.Error(*c, "empty command (expected the program and its arguments, e.g. [app, serve])");
      }
      for (size_t i = 0; i < argv->size(); ++i) {
        CheckTemplated(l, Value{c->node[i], c->node[i].Mark(), Cat(c->path, "[", i, "]")},
                       (*argv)[i], &notes->backing);
      }
      out->command = std::move(*argv);
    }
  } else {
    m.Missing("command", "the program and its arguments, e.g. [build/bin/foohut-api, serve]");
  }
  if (const Value* e = m.Get("env")) {
    if (auto entries = Entries(l, *e, "a map of environment variables")) {
      for (const Entry& entry : *entries) {
        if (!IsEnvVarName(entry.key)) {
          l.Error(entry.key_mark, entry.value.path,
                  Cat("invalid variable name ", Quote(entry.key),
                      " (expected letters, digits and _, not starting with a digit)"));
          continue;
        }
        auto value = l.Scalar(entry.value, "a string");
        if (!value) continue;
        CheckTemplated(l, entry.value, *value, &notes->backing);
        out->env[entry.key] = *value;
      }
    }
  }
  if (auto image = m.String("image")) {
    CheckTemplated(l, *m.Get("image"), *image, &notes->backing);
    out->image = *image;
  }
}

void ReadHealth(Loader& l, const Value& v, HealthCheck* out) {
  MapReader m(l, v, "a map of health-check settings",
              {"liveness_path", "readiness_path", "interval", "timeout", "failure_threshold",
               "start_period"});
  if (!m.ok()) return;
  for (auto [key, field] : {std::pair{"liveness_path", &out->liveness_path},
                            std::pair{"readiness_path", &out->readiness_path}}) {
    if (auto path = m.String(key)) {
      if (path->front() != '/') {
        l.Error(*m.Get(key), Cat("invalid path ", Quote(*path),
                                 " (expected an absolute URL path such as /healthz)"));
      } else {
        *field = *path;
      }
    }
  }
  Set(m.Dur("interval", true), &out->interval);
  Set(m.Dur("timeout", true), &out->timeout);
  if (std::optional<int> threshold = m.Int("failure_threshold", 1)) {
    out->failure_threshold = *threshold;
    l.Warn(*m.Get("failure_threshold"),
           "deprecated: hut judges replica health by policies.rollback.health_check_failures "
           "(3 by default); this value still overrides it for this service");
  }
  Set(m.Dur("start_period", false), &out->start_period);
  if (out->timeout > out->interval) {
    ReportRelation(m, {"timeout", "interval"},
                   Cat("timeout ", FormatDuration(out->timeout), " is longer than interval ",
                       FormatDuration(out->interval), " (expected timeout <= interval)"));
  }
}

void ReadMetricQueries(Loader& l, const Value& v, MetricQueries* out) {
  MapReader m(l, v, "a map of the Prometheus series the canary analysis reads",
              {"requests", "latency", "error_codes", "exclude_routes"});
  if (!m.ok()) return;
  for (auto [key, field] : {std::pair{"requests", &out->requests},
                            std::pair{"latency", &out->latency}}) {
    if (auto name = m.String(key)) {
      if (!IsMetricName(*name)) {
        l.Error(*m.Get(key), Cat("invalid metric name ", Quote(*name),
                                 " (expected letters, digits, _ and :, not starting with a digit)"));
      } else {
        *field = *name;
      }
    }
  }
  if (const Value* codes = m.Get("error_codes")) {
    if (auto regex = l.Scalar(*codes, "a regex over the code label")) {
      if (regex->empty()) {
        l.Error(*codes, "empty (expected a regex over the code label, such as 5..)");
      } else {
        out->error_codes = *regex;
      }
    }
  }
  // "" is allowed: no route is left out.
  if (const Value* routes = m.Get("exclude_routes")) {
    if (auto regex = l.Scalar(*routes, "a regex over the route label, or \"\"")) {
      out->exclude_routes = *regex;
    }
  }
}

std::optional<Service> ReadService(Loader& l, const Entry& e, ServiceNotes* notes) {
  Service s;
  s.name = e.key;
  if (!IsDnsLabel(e.key)) {
    l.Error(e.key_mark, e.value.path,
            Cat("invalid service name ", Quote(e.key),
                " (expected lowercase letters, digits and -, at most 63 characters)"));
  }
  MapReader m(l, e.value, "a map describing the service",
              {"release", "port", "replicas", "health", "metrics", "termination_grace_period"});
  if (!m.ok()) return std::nullopt;
  if (const Value* r = m.Get("release")) {
    ReadRelease(l, *r, &s.release, notes);
  } else {
    m.Missing("release", "a map with command, how to start a replica");
  }
  if (e.key == "backend") s.port = 8080;
  if (e.key == "frontend") s.port = 8081;
  if (m.Has("port")) {
    Set(m.Int("port", 1, 65535), &s.port);
  } else if (s.port == 0) {
    m.Missing("port",
              "the load balancer port, 1 to 65535; only backend and frontend have "
              "defaults");
  }
  if (const Value* h = m.Get("health")) ReadHealth(l, *h, &s.health);
  if (const Value* q = m.Get("metrics")) ReadMetricQueries(l, *q, &s.metrics);
  Set(m.Dur("termination_grace_period", false), &s.termination_grace_period);
  if (auto r = m.Int("replicas", 1)) {
    s.replicas = *r;
    notes->replicas = *m.Get("replicas");
  }
  return s;
}

// ---------------------------------------------------------------- environments

void ReadTrigger(Loader& l, const Value& v, Trigger* out) {
  auto defaults = [](Trigger* t) {
    if (t->event == TriggerEvent::kPush && t->branch.empty()) t->branch = "main";
    if (t->event == TriggerEvent::kTag && t->tag_pattern.empty()) t->tag_pattern = "v*";
  };
  if (v.node.IsScalar()) {
    Set(l.Enum(v, "trigger event", kTriggerEvents), &out->event);
    defaults(out);
    return;
  }
  MapReader m(l, v, "a trigger event (manual, push, tag) or a map with event",
              {"event", "branch", "tag"});
  if (!m.ok()) return;
  if (!m.Has("event")) {
    m.Missing("event", Cat("one of ", AllowedNames(kTriggerEvents)));
    return;
  }
  auto event = m.Enum("event", "trigger event", kTriggerEvents);
  if (!event) return;
  out->event = *event;
  if (auto branch = m.String("branch")) {
    if (*event != TriggerEvent::kPush) {
      l.Error(*m.Get("branch"), "branch applies only to event push (expected no branch here)");
    }
    out->branch = *branch;
  }
  if (auto tag = m.String("tag")) {
    if (*event != TriggerEvent::kTag) {
      l.Error(*m.Get("tag"), "tag applies only to event tag (expected no tag here)");
    }
    out->tag_pattern = *tag;
  }
  defaults(out);
}

void ReadBackingServices(Loader& l, const Value& v, std::vector<BackingService>* out) {
  auto entries = Entries(l, v, "a map from name to backing service");
  if (!entries) return;
  for (const Entry& e : *entries) {
    BackingService b;
    b.name = e.key;
    if (!IsDnsLabel(e.key)) {
      l.Error(e.key_mark, e.value.path,
              Cat("invalid name ", Quote(e.key),
                  " (expected lowercase letters, digits and -, at most 63 characters)"));
    }
    MapReader m(l, e.value, "a map with kind and version", {"kind", "version", "extensions"});
    if (!m.ok()) continue;
    if (m.Has("kind")) {
      Set(m.Enum("kind", "backing service kind", kBackingKinds), &b.kind);
    } else {
      m.Missing("kind", Cat("one of ", AllowedNames(kBackingKinds)));
    }
    if (m.Has("version")) {
      Set(m.String("version"), &b.version);
    } else {
      m.Missing("version", "the server's major version, e.g. \"15\"");
    }
    if (const Value* x = m.Get("extensions")) {
      if (b.kind != BackingKind::kPostgresql) {
        l.Error(*x, "extensions apply only to kind postgresql (expected no extensions here)");
      } else {
        Set(l.StringList(*x), &b.extensions);
      }
    }
    out->push_back(std::move(b));
  }
}

std::optional<Environment> ReadEnvironment(Loader& l, const Entry& e, const Spec& spec,
                                           const std::map<std::string, ServiceNotes>& notes) {
  Environment env;
  env.name = e.key;
  if (!IsDnsLabel(e.key)) {
    l.Error(e.key_mark, e.value.path,
            Cat("invalid environment name ", Quote(e.key),
                " (expected lowercase letters, digits and -, at most 63 characters)"));
  }
  MapReader m(l, e.value, "a map describing the environment",
              {"runtime", "strategy", "trigger", "domain", "namespace", "multi_az", "hot_reload",
               "debug_ports", "backing_services", "services", "policies", "router"});
  if (!m.ok()) return std::nullopt;
  if (m.Has("runtime")) {
    Set(m.Enum("runtime", "runtime", kRuntimes), &env.runtime);
  } else {
    m.Missing("runtime", Cat("one of ", AllowedNames(kRuntimes)));
  }
  Set(m.Enum("strategy", "strategy", kStrategies), &env.strategy);
  if (const Value* t = m.Get("trigger")) ReadTrigger(l, *t, &env.trigger);
  Set(m.String("domain"), &env.domain);
  env.namespace_ = Cat(spec.project, "-", env.name);
  if (auto ns = m.String("namespace")) {
    if (IsDnsLabel(*ns)) {
      env.namespace_ = *ns;
    } else {
      l.Error(*m.Get("namespace"),
              Cat("invalid namespace ", Quote(*ns),
                  " (expected lowercase letters, digits and -, at most 63 characters)"));
    }
  }
  env.router.name = spec.project;
  if (const Value* r = m.Get("router")) {
    MapReader router(l, *r, "a map with kind and name", {"kind", "name"});
    if (router.ok()) {
      Set(router.Enum("kind", "router kind", kRouterKinds), &env.router.kind);
      if (auto name = router.String("name")) {
        if (IsDnsLabel(*name)) {
          env.router.name = *name;
        } else {
          l.Error(*router.Get("name"), Cat("invalid router name ", Quote(*name),
                                           " (expected a DNS label)"));
        }
      }
    }
  }
  Set(m.Bool("multi_az"), &env.multi_az);
  Set(m.Bool("hot_reload"), &env.hot_reload);
  Set(m.Bool("debug_ports"), &env.debug_ports);
  if (const Value* b = m.Get("backing_services")) {
    ReadBackingServices(l, *b, &env.backing_services);
  }

  env.policies = spec.policies;
  if (const Value* p = m.Get("policies")) ReadPolicies(l, *p, &env.policies);
  const AutoscalingPolicy& as = env.policies.autoscaling;

  // Every service runs in every environment; `services` adjusts its settings.
  std::map<std::string, Entry> given;
  if (const Value* s = m.Get("services")) {
    if (auto entries = Entries(l, *s, "a map from service name to its settings")) {
      std::vector<std::string> names;
      for (const Service& svc : spec.services) names.push_back(svc.name);
      for (Entry& entry : *entries) {
        if (spec.FindService(entry.key) == nullptr) {
          std::optional<std::string> near = Suggest(entry.key, names);
          l.Error(entry.key_mark, entry.value.path,
                  Cat("unknown service ", Quote(entry.key),
                      near ? Cat(" (did you mean ", Quote(*near), "?)")
                           : Cat(" (expected one of ", absl::StrJoin(names, ", "), ")")));
          continue;
        }
        given.emplace(entry.key, std::move(entry));
      }
    }
  }
  for (const Service& svc : spec.services) {
    const ServiceNotes& note = notes.at(svc.name);
    ServiceDeployment d;
    d.service = svc.name;
    d.replicas = as.enabled ? as.min_replicas : 1;
    // The replicas key that decides, if any: this environment's, else the service's.
    std::optional<Value> replicas_key;
    std::optional<int> replicas;
    auto it = given.find(svc.name);
    if (it != given.end()) {
      MapReader sm(l, it->second.value, "a map with replicas", {"replicas"});
      if (sm.ok() && sm.Has("replicas")) {
        replicas = sm.Int("replicas", 1);
        replicas_key = *sm.Get("replicas");
      }
    }
    if (!replicas_key && svc.replicas) {
      replicas = svc.replicas;
      replicas_key = note.replicas;
    }
    if (replicas) {
      if (as.enabled && (*replicas < as.min_replicas || *replicas > as.max_replicas)) {
        l.Error(*replicas_key,
                Cat(*replicas, " is outside environment ", env.name, "'s autoscaling range ",
                    as.min_replicas, " to ", as.max_replicas,
                    " (expected a count in that range, or autoscaling disabled)"));
      } else {
        d.replicas = *replicas;
      }
    }
    for (const std::string& name : note.backing) {
      const bool found = std::any_of(env.backing_services.begin(), env.backing_services.end(),
                                     [&](const BackingService& b) { return b.name == name; });
      if (!found) {
        l.Error(e.key_mark, e.value.path,
                Cat("service ", Quote(svc.name), " uses {{backing.", name,
                    ".url}} but this environment has no backing service ", Quote(name),
                    " (expected it under backing_services)"));
      }
    }
    env.services.push_back(d);
  }
  return env;
}

// ---------------------------------------------------------------- the document

void ReadSpec(Loader& l, const YAML::Node& root, Spec* spec) {
  Value rv{root, root.Mark(), ""};
  if (rv.mark.is_null()) rv.mark = YAML::Mark();  // 0:0 -> reported as 1:1
  if (root.IsNull()) {
    l.Error(YAML::Mark(), "", "spec is empty (expected a map with services and environments)");
    return;
  }
  MapReader m(l, rv, "a map with services and environments at the top level",
              {"version", "project", "services", "policies", "environments"});
  if (!m.ok()) return;
  if (m.Has("version")) Set(m.Int("version", 1, 1), &spec->version);
  if (auto project = m.String("project")) {
    if (IsDnsLabel(*project)) {
      spec->project = *project;
    } else {
      l.Error(*m.Get("project"),
              Cat("invalid project name ", Quote(*project),
                  " (expected lowercase letters, digits and -, at most 63 characters)"));
    }
  }

  std::map<std::string, ServiceNotes> notes;
  if (const Value* s = m.Get("services")) {
    if (auto entries = Entries(l, *s, "a map from service name to service")) {
      if (entries->empty()) l.Error(*s, "no services (expected at least one)");
      std::map<int, std::string> ports;
      for (const Entry& e : *entries) {
        ServiceNotes note;
        std::optional<Service> svc = ReadService(l, e, &note);
        if (svc) notes.emplace(svc->name, std::move(note));
        if (!svc) continue;
        if (svc->port != 0) {
          auto [it, inserted] = ports.emplace(svc->port, svc->name);
          if (!inserted) {
            l.Error(e.value.mark, Join(e.value.path, "port"),
                    Cat("port ", svc->port, " is already used by service ", Quote(it->second),
                        " (expected a port of its own)"));
          }
        }
        spec->services.push_back(std::move(*svc));
      }
    }
  } else {
    m.Missing("services", "a map from service name to service, e.g. backend");
  }

  if (const Value* p = m.Get("policies")) ReadPolicies(l, *p, &spec->policies);

  if (const Value* e = m.Get("environments")) {
    if (auto entries = Entries(l, *e, "a map from environment name to environment")) {
      if (entries->empty()) l.Error(*e, "no environments (expected at least one)");
      for (const Entry& entry : *entries) {
        std::optional<Environment> env = ReadEnvironment(l, entry, *spec, notes);
        if (env) spec->environments.push_back(std::move(*env));
      }
    }
  } else {
    m.Missing("environments", "a map from environment name to environment, e.g. production");
  }
}

}  // namespace

LoadResult ParseSpec(std::string_view yaml, std::string_view file_name) {
  Loader loader{std::string(file_name)};
  Spec spec;
  if (yaml.size() > kMaxSpecBytes) {
    LoadResult result;
    result.problems.push_back(Problem{std::string(file_name), 0, 0, "",
                                      Cat("spec is larger than ", ByteSize(kMaxSpecBytes))});
    return result;
  }
  if (std::optional<YamlLimitError> e = CheckYamlLimits(yaml)) {
    LoadResult result;
    result.problems.push_back(Problem{std::string(file_name), e->line, e->column, "", e->message});
    return result;
  }
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(yaml));
    if (docs.empty()) {
      loader.Error(YAML::Mark(), "",
                   "spec is empty (expected a map with services and environments)");
    } else {
      if (docs.size() > 1) {
        loader.Error(docs[1].Mark(), "",
                     "more than one YAML document (expected a single spec per file)");
      }
      ReadSpec(loader, docs[0], &spec);
    }
  } catch (const YAML::Exception& e) {
    // Syntax errors come from LoadAll; yaml-cpp's mark is 0-based.
    loader.Error(e.mark, "", Cat("invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    loader.Error(YAML::Mark(), "", Cat("cannot read the spec: ", e.what()));
  }
  LoadResult result;
  result.problems = loader.TakeProblems();
  result.warnings = loader.TakeWarnings();
  if (result.problems.empty()) result.spec = std::move(spec);
  return result;
}

LoadResult LoadSpecFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileCapped(path, kMaxSpecBytes);
  if (!text.ok()) {
    // ReadFileCapped's message starts with the path; Problem adds it again.
    std::string message(text.status().message());
    if (message.starts_with(path + ": ")) message.erase(0, path.size() + 2);
    LoadResult result;
    result.problems.push_back(Problem{path, 0, 0, "", message});
    return result;
  }
  return ParseSpec(*text, path);
}

}  // namespace hut::spec
