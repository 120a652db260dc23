// What a backend author hands the conformance suite: a factory, the
// capabilities that differ from the conservative defaults, and time bounds.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <sys/types.h>

#include "execkit/backend.hpp"
#include "execkit/config.hpp"

namespace execkit::conformance {

// Each default is the conservative choice: what a backend does not declare is
// not assumed. A capability that is off changes a test's expectation where the
// contract allows, and otherwise skips the test with the reason.
struct Capabilities {
  // Workers are child processes of the caller on this machine: the suite may
  // read their pids and /proc entries and kill them from outside.
  bool has_local_process_workers = false;
  // Workers die with the caller (LIFE-4) unless WorkerConfig::enable_pdeathsig is off.
  bool supports_pdeathsig = false;
  // Large results are written, while the task runs, to files in
  // WorkerConfig::spill_dir that the caller opens by name.
  bool has_named_spill_files = false;
  // The backend is also an execkit::LifecycleObservable (detected with
  // dynamic_cast; a mismatch with this declaration fails the HOOK tests).
  bool supports_lifecycle_hooks = false;
  // Sequential calls on an idle pool of one run on the same worker (LIFE-1).
  bool supports_worker_reuse = false;
  // The task's context is the caller's: its base environment is built from
  // the caller's environment (ENV-3 values reach it), its node id is
  // WorkerConfig::node_id (ENV-6) and a call without a cwd runs in
  // WorkerConfig::base_dir (ISO-1). Off for backends whose workers run on
  // other machines under their node's own configuration (a remote task never
  // sees the caller's environment); the suite then learns the base context
  // from a first call and checks that every call gets it back.
  bool task_context_from_caller = false;
  // Open file descriptors a task may see besides 0, 1 and 2 (ENV-7), as the
  // backend documents them (e.g. its control channel).
  std::size_t documented_task_fds = 0;
  // The SIGPIPE disposition a task starts with (ISO-4 leaves it to the backend
  // to document). Unspecified: only checked to be the same for every call.
  enum class Sigpipe { unspecified, default_action, ignored };
  Sigpipe task_sigpipe = Sigpipe::unspecified;
  // The language of the task modules the backend runs (docs/probe.md): which
  // implementation of the probe the suite's calls reach, how module files are
  // named (lib<name>.so or <name>.py) and how a task's error types read.
  enum class TaskLanguage { native, python };
  TaskLanguage task_language = TaskLanguage::native;
};

// Bounds the contract states (RUN-2, LIFE-4, LIFE-5) and the suite's own
// patience. The fixture multiplies all of them by the factor in the
// environment variable EXECKIT_CONFORMANCE_TIME_SCALE (default 1) so that
// sanitizer builds and remote backends can widen them without recompiling.
struct TimeBounds {
  // RUN-2: a call past its deadline ends within this.
  std::chrono::milliseconds deadline_grace{250};
  // LIFE-4: workers are gone this long after their caller was SIGKILLed.
  std::chrono::milliseconds pdeathsig{1000};
  // LIFE-5: shutdown(wait=false) returns within this.
  std::chrono::milliseconds shutdown_nowait{100};
  // How long the suite waits for something that must happen (a file to
  // appear, a process to exit). Passing tests never wait this long.
  std::chrono::milliseconds condition_wait{10000};
  // Deadline given to calls that must finish: a hang becomes a TimeoutError.
  std::chrono::milliseconds call_timeout{30000};
  // A test still running after this is reported with its clause and aborted.
  std::chrono::milliseconds test_timeout{90000};

  TimeBounds scaled(double factor) const;
  // EXECKIT_CONFORMANCE_TIME_SCALE as a positive number, 1 when unset.
  // Throws std::invalid_argument naming the variable and the value otherwise.
  static double scale_from_env();
};

struct BackendUnderTest {
  // Shown in test names: letters, digits and '_' only.
  std::string name;
  // Builds a fresh backend for one test. It may throw (the suite reports it).
  std::function<std::unique_ptr<ExecutorBackend>(const WorkerConfig&)> make;
  Capabilities capabilities;
  TimeBounds bounds;
  // The backend's own processes that are not workers (an external backend's
  // process, say), left out where the suite counts workers. Unset: none.
  std::function<std::vector<pid_t>(ExecutorBackend&)> service_processes;
};

// Keeps GoogleTest from dumping the struct's bytes in messages.
void PrintTo(const BackendUnderTest& backend, std::ostream* out);

}  // namespace execkit::conformance
