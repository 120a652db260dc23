// ExecutionMetrics as one line of JSON, for --metrics.
#pragma once

#include <string>

#include "execkit/metrics.hpp"

namespace execkit::cli {

// {"peak_rss_kib":...,"user_time_us":...,...,"node_id":"..."} without a newline.
std::string metrics_to_json(const ExecutionMetrics& metrics);

}  // namespace execkit::cli
