#ifndef HUT_LOCAL_PROCESS_USAGE_H_
#define HUT_LOCAL_PROCESS_USAGE_H_

// What a replica uses of the machine, read from /proc for its whole process
// tree (the workload and every process it started), for replicas whose
// service does not report its own: hut serves it as hut_replica_* on
// /metrics. Linux only.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hut::local {

struct ProcessUsage {
  // utime + stime of the tree, plus the children its processes have waited
  // for (cutime + cstime): what an exited child used still counts.
  double cpu_seconds = 0;
  uint64_t resident_bytes = 0;  // RSS, summed over the tree
  int open_fds = 0;             // -1: not readable (another user's, without root)
  int processes = 0;            // 0: the root pid does not exist
};

// One reading of every process: a scrape reads /proc once for all replicas.
class ProcessTable {
 public:
  // `proc` : where procfs is mounted (tests point it at a copy).
  static ProcessTable Read(const std::string& proc = "/proc");

  // `root` and its descendants; zero usage when `root` is not running.
  ProcessUsage Usage(pid_t root) const;

 private:
  struct Entry {
    pid_t ppid = 0;
    double cpu_seconds = 0;
    uint64_t resident_bytes = 0;
  };
  std::string proc_;
  std::map<pid_t, Entry> entries_;
  std::multimap<pid_t, pid_t> children_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_PROCESS_USAGE_H_
