#include "src/spec/yaml_limits.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/exceptions.h"
#include "yaml-cpp/mark.h"
#include "yaml-cpp/parser.h"

namespace hut::spec {
namespace {

// Thrown from the handler to stop the parser at once; yaml-cpp unwinds it.
struct Exceeded {
  YamlLimitError error;
};

class LimitHandler final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Open(mark);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Open(mark);
  }
  void OnMapEnd() override { --depth_; }

 private:
  static YamlLimitError At(const YAML::Mark& mark, std::string message) {
    return {mark.line + 1, mark.column + 1, std::move(message)};
  }
  void Count(const YAML::Mark& mark) {
    if (++nodes_ > kMaxYamlNodes) {
      throw Exceeded{At(mark, absl::StrCat("more than ", kMaxYamlNodes,
                                           " YAML nodes (a spec is far smaller)"))};
    }
  }
  void Open(const YAML::Mark& mark) {
    Count(mark);
    if (++depth_ > kMaxYamlDepth) {
      throw Exceeded{At(mark, absl::StrCat("YAML nested deeper than ", kMaxYamlDepth,
                                           " levels (a spec is far shallower)"))};
    }
  }

  int depth_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

std::optional<YamlLimitError> CheckYamlLimits(std::string_view yaml) {
  std::istringstream in{std::string(yaml)};
  LimitHandler handler;
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(handler)) {
    }
  } catch (const Exceeded& e) {
    return e.error;
  } catch (const std::exception&) {
    // A syntax error: the full parse reports it.
  }
  return std::nullopt;
}

}  // namespace hut::spec
