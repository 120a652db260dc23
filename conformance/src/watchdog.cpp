#include "watchdog.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <regex>

namespace execkit::conformance {

std::string clause_of(const std::string& test_name) {
  static const std::regex clause(R"((ENV|ISO|RUN|SPILL|CANCEL|LIFE|HOOK|LOOP|METRIC|CONFIG)_([0-9]+)_)");
  std::smatch match;
  if (!std::regex_search(test_name, match, clause)) return {};
  return match[1].str() + "-" + match[2].str();
}

Watchdog::Watchdog(std::string test_name, std::chrono::milliseconds limit) {
  thread_ = std::thread([this, name = std::move(test_name), limit] {
    std::unique_lock lock(mutex_);
    if (stop_cv_.wait_for(lock, limit, [this] { return stop_; })) return;
    const auto clause = clause_of(name);
    std::fprintf(stderr,
                 "\n[conformance watchdog] %s%s%s is still running after %lld ms: the backend hung. Aborting.\n",
                 name.c_str(), clause.empty() ? "" : " (clause ", clause.empty() ? "" : (clause + ")").c_str(),
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::abort();
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_one();
  thread_.join();
}

}  // namespace execkit::conformance
