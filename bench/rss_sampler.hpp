// Watches the caller's RssAnon (anonymous memory: heap, stacks, private
// copies) from a thread, so a transient buffer freed before a call returns
// still shows in the peak. File-backed result mappings are not anonymous.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace execkit::bench {

// RssAnon of this process in KiB, from /proc/self/status; -1 if unreadable.
std::int64_t rss_anon_kib();

class RssSampler {
 public:
  explicit RssSampler(std::chrono::milliseconds period);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // Also counts a reading taken by the caller (e.g. while it holds a result).
  void note(std::int64_t kib);
  std::int64_t peak_kib() const;

 private:
  void run();

  const std::chrono::milliseconds period_;
  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::int64_t peak_kib_ = -1;
  std::thread thread_;
};

}  // namespace execkit::bench
