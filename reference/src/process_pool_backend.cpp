#include "execkit/process_pool.hpp"

#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <future>
#include <iostream>
#include <system_error>

#include "call_state.hpp"
#include "completion.hpp"
#include "dispatcher.hpp"
#include "env_scrub.hpp"
#include "hook_registry.hpp"
#include "pool_engine.hpp"
#include "random_id.hpp"
#include "spill_dir.hpp"
#include "worker_locator.hpp"

namespace execkit {
namespace {

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  return buf.data();
}

WorkerConfig completed(WorkerConfig config) {
  if (config.max_workers == 0)
    throw ConfigError("max_workers", "0", "max_workers must be at least 1");
  if (config.idle_timeout.count() <= 0)
    throw ConfigError("idle_timeout", std::to_string(config.idle_timeout.count()) + "ms",
                      "idle_timeout must be positive");
  if (config.pool_id.empty()) config.pool_id = random_hex_id();
  if (config.node_id.empty()) config.node_id = host_name();
  if (config.base_dir.empty()) config.base_dir = std::filesystem::current_path();
  if (!config.log) config.log = [](std::string_view line) { std::cerr << "execkit: " << line << '\n'; };
  return config;
}

}  // namespace

class ProcessPoolBackend::Impl {
 public:
  explicit Impl(WorkerConfig config)
      : config_(completed(std::move(config))), hooks_(std::make_shared<HookRegistry>(config_.log)) {
    auto caller_env = snapshot_environment();
    auto env_worker = caller_env.find("EXECKIT_WORKER_PATH");
    EngineSettings settings{config_,
                            locate_worker(config_.worker_path,
                                          env_worker == caller_env.end() ? nullptr : env_worker->second.c_str()),
                            std::move(caller_env)};
    auto spill_dir = resolve_spill_dir(config_.spill_dir, settings.caller_environment);
    config_.spill_dir = spill_dir;
    settings.config.spill_dir = spill_dir;
    engine_ = PoolEngine::start(std::move(settings), SpillDir::open(spill_dir, config_.pool_id));
  }

  ~Impl() { shutdown(true); }

  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) {
    auto hooks = hooks_;
    auto dispatcher = dispatcher_;
    auto sink = [hooks, dispatcher, log = config_.log, on_done = std::move(on_done)](
                    const std::shared_ptr<CallState>& state, Outcome outcome) {
      dispatcher->post([hooks, state, log, on_done, outcome = std::move(outcome)]() mutable {
        complete_call(*hooks, log, state->call(), std::to_string(state->id()), on_done, std::move(outcome));
      });
    };
    auto state = std::make_shared<CallState>(next_call_id_++, std::move(call), deadline, std::move(sink), engine_);
    hooks_->fire_submit(state->call());
    if (!engine_->enqueue(state)) state->finish(closed_error());
    return Submission(state);
  }

  Result execute(const Call& call, Deadline deadline) {
    auto promise = std::make_shared<std::promise<Outcome>>();
    auto future = promise->get_future();
    auto sink = [promise](const std::shared_ptr<CallState>&, Outcome outcome) { promise->set_value(std::move(outcome)); };
    auto state = std::make_shared<CallState>(next_call_id_++, call, deadline, std::move(sink), engine_);
    hooks_->fire_submit(state->call());
    if (!engine_->run_on_caller_thread(state) && !engine_->enqueue(state)) state->finish(closed_error());
    Outcome outcome = future.get();
    hooks_->fire_complete(state->call(), metrics_of(outcome), outcome.error());
    return std::move(outcome).value();
  }

  void shutdown(bool wait) {
    if (!shut_down_.exchange(true)) {
      engine_->close();
      hooks_->fire_shutdown_once();
    }
    if (wait) engine_->wait_closed();
  }

  const WorkerConfig& config() const noexcept { return config_; }
  HookRegistry& hooks() { return *hooks_; }

 private:
  Outcome closed_error() const {
    if (auto failure = engine_->failure())
      return Outcome::failure(BackendClosed("backend stopped: " + *failure + "; call rejected"));
    return Outcome::failure(BackendClosed("backend is shut down; call rejected"));
  }

  WorkerConfig config_;
  std::shared_ptr<HookRegistry> hooks_;
  std::shared_ptr<Dispatcher> dispatcher_ = std::make_shared<Dispatcher>();
  std::shared_ptr<PoolEngine> engine_;
  std::atomic<std::uint64_t> next_call_id_{1};
  std::atomic<bool> shut_down_{false};
};

ProcessPoolBackend::ProcessPoolBackend(WorkerConfig config) : impl_(std::make_shared<Impl>(std::move(config))) {}
ProcessPoolBackend::~ProcessPoolBackend() = default;

Result ProcessPoolBackend::execute(const Call& call, Deadline deadline) { return impl_->execute(call, deadline); }
Submission ProcessPoolBackend::submit(Call call, Deadline deadline, CompletionHandler on_done) {
  return impl_->submit(std::move(call), deadline, std::move(on_done));
}
void ProcessPoolBackend::shutdown(bool wait) { impl_->shutdown(wait); }

Subscription ProcessPoolBackend::on_submit(SubmitHandler handler) { return impl_->hooks().add_submit(std::move(handler)); }
Subscription ProcessPoolBackend::on_complete(CompleteHandler handler) {
  return impl_->hooks().add_complete(std::move(handler));
}
Subscription ProcessPoolBackend::on_shutdown(ShutdownHandler handler) {
  return impl_->hooks().add_shutdown(std::move(handler));
}

const std::string& ProcessPoolBackend::pool_id() const noexcept { return impl_->config().pool_id; }
const WorkerConfig& ProcessPoolBackend::config() const noexcept { return impl_->config(); }

}  // namespace execkit
