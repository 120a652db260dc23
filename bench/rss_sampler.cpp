#include "rss_sampler.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

#include "unique_fd.hpp"

namespace execkit::bench {

std::int64_t rss_anon_kib() {
  UniqueFd fd(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  std::array<char, 8192> buffer;
  std::size_t size = 0;
  while (size < buffer.size()) {
    const ssize_t n = ::read(fd.get(), buffer.data() + size, buffer.size() - size);
    if (n <= 0) break;
    size += static_cast<std::size_t>(n);
  }
  const std::string_view text(buffer.data(), size);
  constexpr std::string_view key = "RssAnon:";
  const auto at = text.find(key);
  if (at == std::string_view::npos) return -1;
  auto value = text.substr(at + key.size());
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  std::int64_t kib = -1;
  std::from_chars(value.data(), value.data() + value.size(), kib);
  return kib;
}

RssSampler::RssSampler(std::chrono::milliseconds period) : period_(period), thread_([this] { run(); }) {}

RssSampler::~RssSampler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void RssSampler::note(std::int64_t kib) {
  std::lock_guard lock(mutex_);
  peak_kib_ = std::max(peak_kib_, kib);
}

std::int64_t RssSampler::peak_kib() const {
  std::lock_guard lock(mutex_);
  return peak_kib_;
}

void RssSampler::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const auto kib = rss_anon_kib();
    lock.lock();
    peak_kib_ = std::max(peak_kib_, kib);
    stop_cv_.wait_for(lock, period_, [this] { return stopping_; });
  }
}

}  // namespace execkit::bench
