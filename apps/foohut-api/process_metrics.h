#ifndef HUT_APPS_FOOHUT_API_PROCESS_METRICS_H_
#define HUT_APPS_FOOHUT_API_PROCESS_METRICS_H_

// The process's own resource use, read from /proc/self at each scrape and
// named as Prometheus' client libraries name it:
//   process_cpu_seconds_total       user and system CPU time
//   process_resident_memory_bytes   resident set size
//   process_open_fds, process_max_fds
//   process_start_time_seconds      since the Unix epoch
// A replica is one process, so these are the replica's (the local platform
// runs each in a sandbox of its own). What cannot be read is left out.

#include <vector>

#include "prometheus/metric_family.h"

namespace hut::foohut {

std::vector<prometheus::MetricFamily> ProcessMetricFamilies();

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_PROCESS_METRICS_H_
