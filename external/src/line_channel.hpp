// One protocol connection (docs/protocol.md "Framing"): JSON messages, one per
// line, over a Unix stream socket, with descriptors passed as SCM_RIGHTS.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "unique_fd.hpp"

namespace execkit::external {

// A peer broke the protocol; what() names the message and the fault.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::size_t max_message_bytes = std::size_t{4} << 20;

class LineChannel {
 public:
  explicit LineChannel(UniqueFd socket);
  LineChannel(const LineChannel&) = delete;
  LineChannel& operator=(const LineChannel&) = delete;

  // Sends `message` plus '\n' in one sendmsg, with `fd` attached when >= 0.
  // Safe from several threads. Throws ProtocolError when the message is too
  // long, std::system_error when the peer is gone.
  void send(const std::string& message, int fd = -1);

  // The next message without its '\n'; nullopt at end of file. With a
  // timeout, throws ProtocolError when nothing complete arrives in time.
  // Throws ProtocolError on a message over max_message_bytes. One reader.
  std::optional<std::string> receive(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  // The oldest descriptor received and not yet taken; empty when none.
  UniqueFd take_fd();

  // Ends both directions: the peer reads end of file, a blocked receive returns.
  void close_both() noexcept;
  // Ends our sending direction only.
  void close_sending() noexcept;

 private:
  bool fill(std::optional<std::chrono::steady_clock::time_point> until);

  UniqueFd socket_;
  std::mutex send_mutex_;
  std::string buffer_;
  std::size_t scanned_ = 0;
  std::mutex fds_mutex_;
  std::deque<UniqueFd> fds_;
};

}  // namespace execkit::external
