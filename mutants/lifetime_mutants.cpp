// Mutants about what outlives what: result memory released at shutdown,
// worker pids remembered past their worker, one executor shared by every
// backend instance.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "forwarding_backend.hpp"

namespace execkit::mutants {
namespace {

// Results at most this large come back inline (heap memory); larger ones are
// mapped spill files (see reference/src/envelope.hpp).
constexpr std::size_t largest_inline_result = 32 * 1024;

// The mapped results a backend still considers its own.
class ResultRegistry {
 public:
  std::uint64_t add(std::span<const std::byte> bytes) {
    std::lock_guard lock(mutex_);
    regions_.emplace(next_id_, bytes);
    return next_id_++;
  }
  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    regions_.erase(id);
  }
  // The defect simulated: the mappings are released under results that are
  // still alive. A real munmap would make the next read SIGSEGV; mapping zero
  // pages over them shows the same use-after-unmap as a reused range instead,
  // so the suite reports it as a wrong result rather than crashing.
  void release_all() {
    std::lock_guard lock(mutex_);
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    for (const auto& [id, bytes] : regions_) {
      auto* start = const_cast<std::byte*>(bytes.data());
      if (reinterpret_cast<std::uintptr_t>(start) % page != 0) continue;
      ::mmap(start, bytes.size(), PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    regions_.clear();
  }

 private:
  std::mutex mutex_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::span<const std::byte>> regions_;
};

// Keeps the original result (and its mapping) alive and registered while the caller holds it.
struct RegisteredResult {
  Result original;
  std::shared_ptr<ResultRegistry> registry;
  std::uint64_t id;
  ~RegisteredResult() { registry->remove(id); }
};

Result registered(Result result, const std::shared_ptr<ResultRegistry>& registry) {
  if (result.bytes().size() <= largest_inline_result) return result;
  const auto bytes = result.bytes();
  auto metrics = result.metrics();
  const auto id = registry->add(bytes);
  auto held = std::make_shared<RegisteredResult>(std::move(result), registry, id);
  return Result(std::move(held), bytes, std::move(metrics));
}

// SPILL-7: the backend owns the result mappings and unmaps them at shutdown.
class UnmapOnShutdown final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Result execute(const Call& call, Deadline deadline) override {
    return registered(ForwardingBackend::execute(call, deadline), registry_);
  }
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    return ForwardingBackend::submit(std::move(call), deadline,
                                     [registry = registry_, on_done = std::move(on_done)](Outcome outcome) {
                                       on_done(outcome.ok() ? Outcome(registered(outcome.value(), registry)) : outcome);
                                     });
  }
  void shutdown(bool wait) override {
    ForwardingBackend::shutdown(wait);
    registry_->release_all();
  }

 private:
  std::shared_ptr<ResultRegistry> registry_ = std::make_shared<ResultRegistry>();
};

// The parent pid in /proc/<pid>/stat, or 0.
pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text, '\0');  // a failed read (ESRCH) must not throw
  const auto name_end = text.rfind(')');
  if (name_end == std::string::npos) return 0;
  std::istringstream fields(text.substr(name_end + 1));
  char state = 0;
  pid_t parent = 0;
  fields >> state >> parent;
  return parent;
}

struct PidMemory {
  std::mutex mutex;
  std::set<pid_t> pids;

  void remember(const Outcome& outcome) {
    const ExecutionMetrics* metrics = nullptr;
    if (outcome.ok()) metrics = &outcome.value().metrics();
    if (const auto* task = outcome.error_as<TaskError>()) metrics = &task->metrics();
    if (metrics == nullptr || metrics->worker_pid <= 0) return;
    std::lock_guard lock(mutex);
    pids.insert(metrics->worker_pid);
  }
};

// LIFE-8: "to be sure", shutdown also SIGKILLs every worker pid the backend
// has seen, by plain pid: one that exited earlier may now name another
// process. (Only children of the caller are signalled, so the mutant can hit
// the suite's pid squatters but never an unrelated process on the machine.)
class KillsRememberedPids final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Result execute(const Call& call, Deadline deadline) override {
    auto outcome = outcome_of([&] { return ForwardingBackend::execute(call, deadline); });
    memory_->remember(outcome);
    return std::move(outcome).value();
  }
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    return ForwardingBackend::submit(std::move(call), deadline, [memory = memory_, on_done = std::move(on_done)](Outcome outcome) {
      memory->remember(outcome);
      on_done(std::move(outcome));
    });
  }
  void shutdown(bool wait) override {
    ForwardingBackend::shutdown(wait);
    std::lock_guard lock(memory_->mutex);
    for (const pid_t pid : memory_->pids)
      if (parent_of(pid) == ::getpid()) ::kill(pid, SIGKILL);
  }

 private:
  std::shared_ptr<PidMemory> memory_ = std::make_shared<PidMemory>();
};

// LIFE-6: like a "reusable executor", every backend instance created while
// one is alive gets that one, whatever its own config says.
std::shared_ptr<ProcessPoolBackend> reusable_executor(WorkerConfig config) {
  // The defect itself: process-wide state shared by all instances.
  static std::mutex mutex;
  static std::weak_ptr<ProcessPoolBackend> current;
  std::lock_guard lock(mutex);
  if (auto alive = current.lock()) return alive;
  auto made = std::make_shared<ProcessPoolBackend>(std::move(config));
  current = made;
  return made;
}

}  // namespace

FactoryTable lifetime_mutants() {
  return {
      {"unmap_on_shutdown", decorated<UnmapOnShutdown>()},
      {"kill_by_stale_pid", decorated<KillsRememberedPids>()},
      {"global_executor", [](WorkerConfig config) -> std::unique_ptr<ExecutorBackend> {
         return std::make_unique<ForwardingBackend>(reusable_executor(std::move(config)));
       }},
  };
}

}  // namespace execkit::mutants
