#include "src/store/store.h"

#include <ostream>

namespace hut::store {
namespace {

constexpr RolloutPhase kPhases[] = {
    RolloutPhase::kProgressing, RolloutPhase::kStarting,    RolloutPhase::kAnalysing,
    RolloutPhase::kPaused,      RolloutPhase::kPromoting,   RolloutPhase::kSucceeded,
    RolloutPhase::kRollingBack, RolloutPhase::kRolledBack,  RolloutPhase::kFailed,
};

}  // namespace

std::string_view PhaseName(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::kProgressing:
      return "progressing";
    case RolloutPhase::kStarting:
      return "starting";
    case RolloutPhase::kAnalysing:
      return "analysing";
    case RolloutPhase::kPaused:
      return "paused";
    case RolloutPhase::kPromoting:
      return "promoting";
    case RolloutPhase::kSucceeded:
      return "succeeded";
    case RolloutPhase::kRollingBack:
      return "rolling-back";
    case RolloutPhase::kRolledBack:
      return "rolled-back";
    case RolloutPhase::kFailed:
      return "failed";
  }
  return "unknown";
}

std::optional<RolloutPhase> ParsePhase(std::string_view name) {
  for (RolloutPhase p : kPhases) {
    if (PhaseName(p) == name) return p;
  }
  return std::nullopt;
}

std::optional<spec::Strategy> ParseStrategy(std::string_view name) {
  for (spec::Strategy s : {spec::Strategy::kRolling, spec::Strategy::kReplace,
                           spec::Strategy::kCanary}) {
    if (spec::Name(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view AlertStateName(AlertState state) {
  switch (state) {
    case AlertState::kFiring:
      return "firing";
    case AlertState::kAcked:
      return "acked";
    case AlertState::kResolved:
      return "resolved";
  }
  return "unknown";
}

std::optional<AlertState> ParseAlertState(std::string_view name) {
  for (AlertState s : {AlertState::kFiring, AlertState::kAcked, AlertState::kResolved}) {
    if (AlertStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& out, RolloutPhase phase) { return out << PhaseName(phase); }

}  // namespace hut::store
