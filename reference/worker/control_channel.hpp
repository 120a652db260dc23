// The worker's end of the control socket (AF_UNIX SOCK_SEQPACKET): one
// request or response per datagram, a request's input optionally in a memfd
// passed with SCM_RIGHTS.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "envelope.hpp"
#include "mapping.hpp"

namespace execkit::worker {

struct RequestMessage {
  wire::Request request;
  // The memfd input of a request with input_in_fd, mapped read-only.
  Mapping input;
};

struct ChannelClosed {};

struct ProtocolViolation {
  std::string message;
};

class ControlChannel {
 public:
  explicit ControlChannel(int fd) : fd_(fd), buffer_(wire::max_message_bytes) {}

  // Blocks for the next request. The fd stays owned by the process: the
  // worker exits when the channel ends.
  std::variant<RequestMessage, ChannelClosed, ProtocolViolation> receive();

  // False when the caller has gone (the peer closed the socket).
  // Throws std::system_error on any other failure.
  bool send(const wire::Response& response) const;

  int fd() const noexcept { return fd_; }

 private:
  int fd_;
  // Allocated once: a request is decoded out of it, and zeroing 192 KiB per
  // call was a tenth of the worker's time.
  std::vector<std::byte> buffer_;
};

}  // namespace execkit::worker
