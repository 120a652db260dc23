#include "control_channel.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <span>
#include <vector>

#include "unique_fd.hpp"

namespace execkit::worker {
namespace {

struct Datagram {
  std::span<const std::byte> bytes;
  UniqueFd attached_fd;
  bool truncated = false;
};

// nullopt on end of stream.
std::optional<Datagram> receive_datagram(int fd, std::span<std::byte> buffer) {
  Datagram datagram;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t received;
  do {
    received = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (received < 0 && errno == EINTR);
  if (received < 0) throw std::system_error(errno, std::generic_category(), "recvmsg on the control socket");
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int passed = -1;
      std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
      // Keep the first; any extra is closed right here by its UniqueFd.
      UniqueFd owned(passed);
      if (!datagram.attached_fd)
        datagram.attached_fd = std::move(owned);
      else
        datagram.truncated = true;
    }
  }
  if (received == 0 && !datagram.attached_fd) return std::nullopt;
  datagram.truncated = datagram.truncated || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  datagram.bytes = buffer.first(static_cast<std::size_t>(received));
  return datagram;
}

std::variant<Mapping, ProtocolViolation> map_input(UniqueFd fd, std::uint64_t input_size) {
  if (!fd) return ProtocolViolation{"request has input_in_fd set but carries no file descriptor"};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return ProtocolViolation{std::string("fstat of the input fd failed: ") + std::strerror(errno)};
  }
  if (static_cast<std::uint64_t>(st.st_size) < input_size) {
    return ProtocolViolation{"input fd holds " + std::to_string(st.st_size) +
                             " bytes, the request announces " + std::to_string(input_size)};
  }
  try {
    return Mapping::map_readonly(fd.get(), static_cast<std::size_t>(input_size));
  } catch (const std::system_error& e) {
    return ProtocolViolation{std::string("cannot map the input fd: ") + e.what()};
  }
}

}  // namespace

std::variant<RequestMessage, ChannelClosed, ProtocolViolation> ControlChannel::receive() {
  auto datagram = receive_datagram(fd_, buffer_);
  if (!datagram) return ChannelClosed{};
  if (datagram->truncated) return ProtocolViolation{"truncated datagram or more than one attached fd"};
  auto request = wire::decode_request(datagram->bytes);
  if (!request) {
    return ProtocolViolation{"undecodable request of " + std::to_string(datagram->bytes.size()) + " bytes"};
  }
  RequestMessage message{std::move(*request), {}};
  const bool wants_fd = message.request.kind == wire::RequestKind::run && message.request.input_in_fd;
  if (!wants_fd) {
    if (datagram->attached_fd)
      return ProtocolViolation{"request carries a file descriptor it did not announce"};
    return message;
  }
  auto input = map_input(std::move(datagram->attached_fd), message.request.input_size);
  if (auto* violation = std::get_if<ProtocolViolation>(&input)) return std::move(*violation);
  message.input = std::move(std::get<Mapping>(input));
  return message;
}

bool ControlChannel::send(const wire::Response& response) const {
  const auto bytes = wire::encode(response);
  ssize_t sent;
  do {
    sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) return false;
  if (sent < 0) throw std::system_error(errno, std::generic_category(), "send on the control socket");
  return true;
}

}  // namespace execkit::worker
