// Writes the recorded runs of analysis_testdata_runs.h as JSON files:
//   analysis_testdata OUTPUT_DIR     (src/analysis/testdata in the tree)
// Deterministic: the same build writes the same files.

#include <fstream>
#include <iostream>
#include <string>

#include "src/analysis/record.h"
#include "testing/analysis_testdata_runs.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: analysis_testdata OUTPUT_DIR\n";
    return 2;
  }
  for (const hut::analysis::TestdataRun& t : hut::analysis::MakeTestdataRuns()) {
    std::string path = std::string(argv[1]) + "/" + t.name + ".json";
    std::ofstream out(path);
    out << hut::analysis::RunToJson(t.run).dump(1) << "\n";
    if (!out) {
      std::cerr << "cannot write " << path << "\n";
      return 1;
    }
    std::cout << path << ": " << t.what << "\n";
  }
  return 0;
}
