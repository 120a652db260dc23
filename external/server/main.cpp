// execkit-backend-server: the reference backend (ProcessPoolBackend) served
// over the backend protocol (docs/protocol.md). Started by the harness with
// the protocol socket in $EXECKIT_PROTOCOL_FD; it is how CI shows that the
// protocol adds no false failures to the in-process suite's verdicts.
#include <fcntl.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "execkit/process_pool.hpp"
#include "server_session.hpp"

namespace {

int protocol_fd(const char* text) {
  int fd = -1;
  const std::string_view value = text == nullptr ? "" : text;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), fd);
  if (value.empty() || error != std::errc{} || end != value.data() + value.size() || fd < 0) return -1;
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::puts("usage: execkit-backend-server\n"
              "Serves execkit's ProcessPoolBackend over the backend protocol on the socket whose\n"
              "descriptor is in EXECKIT_PROTOCOL_FD (docs/protocol.md). Run it through\n"
              "execkit-conformance --backend-cmd execkit-backend-server.");
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr, "execkit-backend-server: unexpected argument '%s' (see --help)\n", argv[1]);
    return 64;
  }
  const char* variable = std::getenv("EXECKIT_PROTOCOL_FD");
  const int fd = protocol_fd(variable);
  if (fd < 0) {
    std::fprintf(stderr, "execkit-backend-server: EXECKIT_PROTOCOL_FD='%s' is not a descriptor number; "
                 "start it through execkit-conformance --backend-cmd\n", variable == nullptr ? "" : variable);
    return 64;
  }
  // Not the tasks': workers must not inherit the protocol socket or its number (ENV-7).
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::unsetenv("EXECKIT_PROTOCOL_FD");
  execkit::external::ServedBackend served;
  served.name = "ProcessPool";
  served.capabilities = {{"has_local_process_workers", true}, {"supports_pdeathsig", true},
                         {"has_named_spill_files", true},     {"supports_worker_reuse", true},
                         {"task_context_from_caller", true},  {"documented_task_fds", 3},
                         {"task_sigpipe", "unspecified"},     {"task_language", "native"}};
  served.make = [](const execkit::WorkerConfig& config) { return std::make_unique<execkit::ProcessPoolBackend>(config); };
  return execkit::external::ServerSession(execkit::UniqueFd(fd), std::move(served)).run();
}
