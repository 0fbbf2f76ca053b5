#ifndef HUT_TESTING_ANALYSIS_TESTDATA_RUNS_H_
#define HUT_TESTING_ANALYSIS_TESTDATA_RUNS_H_

// The recorded runs shipped in src/analysis/testdata/, as generated: written
// by analysis_testdata, replayed by record_test.cc.

#include <string>
#include <vector>

#include "src/analysis/analysis.h"
#include "src/analysis/record.h"

namespace hut::analysis {

struct TestdataRun {
  std::string name;  // file name without ".json"
  std::string what;  // one line on the scenario
  RecordedRun run;
  Decision expected;  // the final verdict of a replay
  Rule expected_rule;
};

// healthy, bad_errors, bad_latency, low_traffic: 5 s scrapes, ADR policy.
std::vector<TestdataRun> MakeTestdataRuns();

}  // namespace hut::analysis

#endif  // HUT_TESTING_ANALYSIS_TESTDATA_RUNS_H_
