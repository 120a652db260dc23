// Serves one ExecutorBackend over the protocol (docs/protocol.md), from the
// backend's side: the loop behind execkit-backend-server.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "execkit/backend.hpp"
#include "execkit/config.hpp"
#include "line_channel.hpp"
#include "messages.hpp"

namespace execkit::external {

struct ServedBackend {
  std::string name;
  // The "capabilities" object of the hello.
  Json capabilities;
  // Builds the backend from the harness's configuration; may throw its Error.
  std::function<std::unique_ptr<ExecutorBackend>(const WorkerConfig&)> make;
};

class ServerSession {
 public:
  ServerSession(UniqueFd socket, ServedBackend served);
  // Serves until the connection ends; returns the process exit status.
  int run();

 private:
  bool handshake();
  bool configure();
  void serve();
  void submit(const Json& message);
  void cancel(const Json& message);
  void shutdown(const Json& message);
  void send_outcome(std::uint64_t id, const Outcome& outcome);
  void wait_for_outcomes();
  void log(const std::string& line) const;

  LineChannel channel_;
  ServedBackend served_;
  std::mutex mutex_;
  std::condition_variable outcomes_sent_;
  // Calls whose outcome is not sent yet; a Submission once submit returned.
  std::map<std::uint64_t, Submission> in_flight_;
  // Last, so it goes first: its threads, which send outcomes, end before
  // anything they touch is destroyed.
  std::unique_ptr<ExecutorBackend> backend_;
};

}  // namespace execkit::external
