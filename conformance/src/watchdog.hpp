// A per-test hard timeout: a hanging backend reports the clause that hung
// instead of hanging CI.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace execkit::conformance {

class Watchdog {
 public:
  // After `limit`, prints `test_name` and the clause it checks to stderr and aborts.
  Watchdog(std::string test_name, std::chrono::milliseconds limit);
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog();

 private:
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

// "ENV_1_SecretsNeverReachTask" -> "ENV-1"; "" when the name carries no clause.
std::string clause_of(const std::string& test_name);

}  // namespace execkit::conformance
