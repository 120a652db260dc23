// Facts about the machine the caller runs on, used for configuration defaults.
#pragma once

#include <cstddef>
#include <string>

namespace execkit::host_info {

// CPUs this process may run on (its affinity mask), at least 1.
std::size_t available_cpus();

// gethostname(); throws std::system_error if it fails.
std::string host_name();

}  // namespace execkit::host_info
