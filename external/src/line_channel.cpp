#include "line_channel.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace execkit::external {

LineChannel::LineChannel(UniqueFd socket) : socket_(std::move(socket)) {}

void LineChannel::send(const std::string& message, int fd) {
  if (message.size() + 1 > max_message_bytes) {
    throw ProtocolError("message of " + std::to_string(message.size()) + " bytes exceeds the limit of " +
                        std::to_string(max_message_bytes));
  }
  std::lock_guard lock(send_mutex_);
  const char newline = '\n';
  std::array<iovec, 2> parts{iovec{const_cast<char*>(message.data()), message.size()},
                             iovec{const_cast<char*>(&newline), 1}};
  std::size_t first = 0;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  bool attach = fd >= 0;
  while (first < parts.size()) {
    msghdr header{};
    header.msg_iov = parts.data() + first;
    header.msg_iovlen = parts.size() - first;
    if (attach) {
      header.msg_control = control.data();
      header.msg_controllen = control.size();
      cmsghdr* cmsg = CMSG_FIRSTHDR(&header);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    const ssize_t sent = ::sendmsg(socket_.get(), &header, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "sending a protocol message");
    }
    attach = false;  // the descriptor went with the first bytes
    auto left = static_cast<std::size_t>(sent);
    while (first < parts.size() && left >= parts[first].iov_len) left -= parts[first++].iov_len;
    if (first < parts.size()) {
      parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
      parts[first].iov_len -= left;
    }
  }
}

std::optional<std::string> LineChannel::receive(std::optional<std::chrono::milliseconds> timeout) {
  std::optional<std::chrono::steady_clock::time_point> until;
  if (timeout) until = std::chrono::steady_clock::now() + *timeout;
  for (;;) {
    const auto end = buffer_.find('\n', scanned_);
    if (end != std::string::npos) {
      std::string message = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      scanned_ = 0;
      return message;
    }
    scanned_ = buffer_.size();
    if (buffer_.size() >= max_message_bytes) {
      throw ProtocolError("a message longer than " + std::to_string(max_message_bytes) + " bytes (no newline in the first " +
                          std::to_string(buffer_.size()) + ")");
    }
    if (!fill(until)) {
      if (!buffer_.empty()) throw ProtocolError("the connection ended inside a message (" + std::to_string(buffer_.size()) + " bytes without a newline)");
      return std::nullopt;
    }
  }
}

bool LineChannel::fill(std::optional<std::chrono::steady_clock::time_point> until) {
  if (until) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*until - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw ProtocolError("no complete message within the time allowed");
      pollfd ready{socket_.get(), POLLIN, 0};
      const int rc = ::poll(&ready, 1, static_cast<int>(left.count()));
      if (rc > 0) break;
      if (rc < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll on the protocol socket");
    }
  }
  std::array<char, 65536> chunk;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 16)> control{};
  iovec part{chunk.data(), chunk.size()};
  msghdr header{};
  header.msg_iov = &part;
  header.msg_iovlen = 1;
  header.msg_control = control.data();
  header.msg_controllen = control.size();
  ssize_t got;
  do {
    got = ::recvmsg(socket_.get(), &header, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == ECONNRESET || errno == EBADF || errno == ENOTCONN) return false;
    throw std::system_error(errno, std::generic_category(), "receiving a protocol message");
  }
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    std::lock_guard lock(fds_mutex_);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      fds_.emplace_back(fd);
    }
  }
  if ((header.msg_flags & MSG_CTRUNC) != 0) throw ProtocolError("more descriptors in one message than the protocol allows");
  if (got == 0) return false;
  buffer_.append(chunk.data(), static_cast<std::size_t>(got));
  return true;
}

UniqueFd LineChannel::take_fd() {
  std::lock_guard lock(fds_mutex_);
  if (fds_.empty()) return {};
  UniqueFd fd = std::move(fds_.front());
  fds_.pop_front();
  return fd;
}

void LineChannel::close_both() noexcept { ::shutdown(socket_.get(), SHUT_RDWR); }

void LineChannel::close_sending() noexcept { ::shutdown(socket_.get(), SHUT_WR); }

}  // namespace execkit::external
