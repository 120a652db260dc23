#include "execkit/redis_stream.hpp"

#include <future>
#include <iostream>

#include "caller_engine.hpp"
#include "completion.hpp"
#include "dispatcher.hpp"
#include "env_scrub.hpp"
#include "hook_registry.hpp"
#include "random_id.hpp"
#include "spill_dir.hpp"

namespace execkit {
namespace {

using redis::RemoteCall;

RedisStreamConfig completed(RedisStreamConfig config) {
  auto& worker = config.worker;
  if (worker.max_workers == 0) throw ConfigError("max_workers", "0", "max_workers must be at least 1");
  if (!redis::wire::valid_pool_name(config.pool))
    throw ConfigError("pool", config.pool, "a pool name has 1 to 64 letters, digits, '_', '-' or '.'");
  if (config.lease < std::chrono::milliseconds(100))
    throw ConfigError("lease", std::to_string(config.lease.count()) + "ms", "the lease must be at least 100 ms");
  if (worker.pool_id.empty()) worker.pool_id = random_hex_id();
  if (!worker.log) worker.log = [](std::string_view line) { std::cerr << "execkit: " << line << '\n'; };
  return config;
}

}  // namespace

class RedisStreamBackend::Impl {
 public:
  explicit Impl(RedisStreamConfig config) : config_(completed(std::move(config))) {
    hooks_ = std::make_shared<HookRegistry>(config_.worker.log);
    redis::CallerSettings settings;
    settings.address = redis::RedisAddress::parse(config_.address, "address");
    settings.credentials = {config_.user, config_.password};
    settings.pool = config_.pool;
    settings.caller_id = random_hex_id();
    settings.lease = config_.lease;
    auto spill_path = resolve_spill_dir(config_.worker.spill_dir, snapshot_environment());
    config_.worker.spill_dir = spill_path;
    settings.worker = config_.worker;
    caller_id_ = settings.caller_id;
    try {
      engine_ = redis::CallerEngine::start(std::move(settings), SpillDir::open(spill_path, config_.worker.pool_id));
    } catch (const redis::RedisError& e) {
      // The message names the address and, for AUTH, the user; never the password.
      throw ConfigError("address", config_.address, e.what());
    }
  }

  ~Impl() { shutdown(true); }

  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) {
    auto sink = [hooks = hooks_, dispatcher = dispatcher_, log = config_.worker.log, on_done = std::move(on_done)](
                    const std::shared_ptr<RemoteCall>& state, Outcome outcome) {
      dispatcher->post([hooks, state, log, on_done, outcome = std::move(outcome)]() mutable {
        complete_call(*hooks, log, state->call, state->id, on_done, std::move(outcome));
      });
    };
    auto state = std::make_shared<RemoteCall>(engine_->next_call_id(), std::move(call), deadline, std::move(sink), engine_);
    hooks_->fire_submit(state->call);
    engine_->submit(state);
    return Submission(state);
  }

  Result execute(const Call& call, Deadline deadline) {
    auto promise = std::make_shared<std::promise<Outcome>>();
    auto future = promise->get_future();
    auto sink = [promise](const std::shared_ptr<RemoteCall>&, Outcome outcome) { promise->set_value(std::move(outcome)); };
    auto state = std::make_shared<RemoteCall>(engine_->next_call_id(), call, deadline, std::move(sink), engine_);
    hooks_->fire_submit(state->call);
    engine_->submit(state);
    Outcome outcome = future.get();
    hooks_->fire_complete(state->call, metrics_of(outcome), outcome.error());
    return std::move(outcome).value();
  }

  void shutdown(bool wait) {
    if (!shut_down_.exchange(true)) {
      engine_->close();
      hooks_->fire_shutdown_once();
    }
    if (wait) engine_->wait_closed();
  }

  HookRegistry& hooks() { return *hooks_; }
  const std::string& caller_id() const noexcept { return caller_id_; }

 private:
  RedisStreamConfig config_;
  std::string caller_id_;
  std::shared_ptr<HookRegistry> hooks_;
  std::shared_ptr<Dispatcher> dispatcher_ = std::make_shared<Dispatcher>();
  std::shared_ptr<redis::CallerEngine> engine_;
  std::atomic<bool> shut_down_{false};
};

RedisStreamBackend::RedisStreamBackend(RedisStreamConfig config) : impl_(std::make_shared<Impl>(std::move(config))) {}
RedisStreamBackend::~RedisStreamBackend() = default;

Result RedisStreamBackend::execute(const Call& call, Deadline deadline) { return impl_->execute(call, deadline); }
Submission RedisStreamBackend::submit(Call call, Deadline deadline, CompletionHandler on_done) {
  return impl_->submit(std::move(call), deadline, std::move(on_done));
}
void RedisStreamBackend::shutdown(bool wait) { impl_->shutdown(wait); }
Subscription RedisStreamBackend::on_submit(SubmitHandler handler) { return impl_->hooks().add_submit(std::move(handler)); }
Subscription RedisStreamBackend::on_complete(CompleteHandler handler) {
  return impl_->hooks().add_complete(std::move(handler));
}
Subscription RedisStreamBackend::on_shutdown(ShutdownHandler handler) {
  return impl_->hooks().add_shutdown(std::move(handler));
}
const std::string& RedisStreamBackend::caller_id() const noexcept { return impl_->caller_id(); }

}  // namespace execkit
