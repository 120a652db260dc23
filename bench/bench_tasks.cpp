// Tasks for the benchmarks. `fill` writes its result exactly the way the
// write-then-map floor's peer writes its file, so the two differ only by what
// execkit adds.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "bench_layout.hpp"
#include "execkit/task.hpp"

namespace {

std::string_view input_text(const execkit::TaskContext& ctx) {
  const auto in = ctx.input();
  return {reinterpret_cast<const char*>(in.data()), in.size()};
}

std::uint64_t parse_count(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    throw std::invalid_argument("bench: " + std::string(what) + ": expected a decimal number, got '" +
                                std::string(text) + "'");
  return value;
}

}  // namespace

// Input "N": a result of N bytes, each execkit::bench::fill_byte.
EXECKIT_TASK(fill)(execkit::TaskContext& ctx) {
  const auto count = parse_count(input_text(ctx), "fill size");
  const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(count, execkit::bench::write_piece_bytes));
  // Page-aligned like the floor peer's buffer (see floor_peer.cpp); the size
  // is a whole number of pages, never zero, as aligned_alloc wants.
  constexpr std::size_t page = 4096;
  const std::unique_ptr<std::byte, decltype(&std::free)> bytes(
      static_cast<std::byte*>(std::aligned_alloc(page, (piece / page + 1) * page)), &std::free);
  if (!bytes) throw std::bad_alloc();
  std::memset(bytes.get(), execkit::bench::fill_byte, piece);
  for (std::uint64_t left = count; left > 0;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, piece));
    ctx.write(std::span(bytes.get(), n));
    left -= n;
  }
}

// Input "FIFO,MS": writes one byte to the FIFO (the benchmark's sign that the
// task is running), then sleeps MS milliseconds. Result "ok".
EXECKIT_TASK(announce_then_sleep)(execkit::TaskContext& ctx) {
  const auto text = input_text(ctx);
  const auto comma = text.rfind(',');
  if (comma == std::string_view::npos) throw std::invalid_argument("bench: expected FIFO,MS, got '" + std::string(text) + "'");
  const std::string fifo(text.substr(0, comma));
  const auto ms = parse_count(text.substr(comma + 1), "announce_then_sleep milliseconds");
  const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "bench: open " + fifo);
  const char one = '1';
  const auto written = ::write(fd, &one, 1);
  ::close(fd);
  if (written != 1) throw std::system_error(errno, std::generic_category(), "bench: write " + fifo);
  timespec left{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000};
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
  ctx.write("ok");
}
