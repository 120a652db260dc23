#include "model_harness.hpp"

#include <rapidcheck.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <sstream>

#include "probe_locator.hpp"

namespace execkit::conformance::model {
namespace {

// Per worker: a control channel, two output pipes and a process handle, with room to spare.
constexpr std::size_t fds_per_worker = 8;
constexpr std::size_t fds_for_the_backend = 16;

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "\n  " + line;
  return out;
}


std::string describe_env_difference(const std::map<std::string, std::string>& expected,
                                    const std::map<std::string, std::string>& actual) {
  std::ostringstream out;
  for (const auto& [name, value] : actual) {
    const auto it = expected.find(name);
    if (it == expected.end()) out << " +" << name << "=" << value;
    else if (it->second != value) out << " ~" << name << "=" << value << " (expected " << it->second << ")";
  }
  for (const auto& [name, value] : expected)
    if (actual.count(name) == 0) out << " -" << name;
  return out.str();
}

bool is_abort(const std::string& kind) {
  return kind == to_string(ErrorKind::timeout) || kind == to_string(ErrorKind::cancelled) ||
         kind == to_string(ErrorKind::worker_crashed);
}

}  // namespace

std::map<std::string, std::string> without_identity(std::map<std::string, std::string> env) {
  // Differ per worker and per node by design (ENV-6, checked there).
  env.erase("EXECKIT_WORKER_ID");
  env.erase("EXECKIT_NODE_ID");
  return env;
}

std::chrono::milliseconds Harness::prompt_end() const { return context_.bounds.deadline_grace * 8; }

std::string kind_of(const Outcome& outcome) { return outcome.ok() ? "ok" : to_string(outcome.error()->kind()); }

Harness::Harness(Context context) : context_(std::move(context)), gates_(context_.work_dir / "gates") {
  for (const char* name : {"dir-a", "dir-b"}) directories_.push_back(make_dir(context_.work_dir, name));
  directories_.push_back("/");
  directories_.push_back(context_.probe_dir);
  for (const auto& process : descendants_of(::getpid())) preexisting_.insert({process.pid, process.start_time});
  fds_before_ = list_own_fds().size();

  backend_ = context_.make_backend(context_.config);
  RC_ASSERT(backend_ != nullptr);
  if (auto* hooks = context_.hooks_of(*backend_)) {
    subscriptions_.push_back(hooks->on_submit([log = hook_log_](const Call&) {
      std::lock_guard lock(log->mutex);
      ++log->submits;
    }));
    subscriptions_.push_back(hooks->on_complete([log = hook_log_](const Call&, const ExecutionMetrics* metrics,
                                                                  const Error* error) {
      const std::string kind = error ? to_string(error->kind()) : "ok";
      std::lock_guard lock(log->mutex);
      ++log->completions[kind];
      if (metrics != nullptr && is_abort(kind)) ++log->completions_with_metrics_on_abort;
      if (metrics == nullptr && !error) ++log->successes_without_metrics;
    }));
  }

  // The base every later call must see again.
  const auto env = run(probe("env"));
  if (!env.ok()) RC_FAIL("the first call (probe env) failed: " + describe(env));
  base_env_ = without_identity(parse_env_lines(env.value().text()));
  if (context_.capabilities.task_context_from_caller) {
    base_cwd_ = std::filesystem::weakly_canonical(context_.base_dir).string();
  } else {
    const auto cwd = run(probe("cwd"));
    if (!cwd.ok()) RC_FAIL("the first call (probe cwd) failed: " + describe(cwd));
    base_cwd_ = std::string(cwd.value().text());
  }
  if (context_.capabilities.has_named_spill_files) spill_baseline_ = list_dir(context_.spill_dir);
}

Harness::~Harness() {
  try {
    gates_.release_all();
  } catch (...) {
  }
  held_.clear();
  subscriptions_.clear();
  if (backend_) {
    try {
      backend_->shutdown(true);
    } catch (...) {
    }
    backend_.reset();
  }
  std::error_code ec;
  std::filesystem::remove_all(context_.work_dir, ec);
}

Call Harness::probe(std::string function, std::string_view input) const {
  Call call;
  call.module = probe_module_name;
  call.function = std::move(function);
  call.input = to_bytes(input);
  call.search_path = {context_.probe_dir};
  return call;
}

Deadline Harness::deadline() const { return Deadline::after(context_.bounds.call_timeout); }

Outcome Harness::run(const Call& call, Deadline deadline) {
  ++calls_;
  auto outcome = outcome_of([&] { return backend_->execute(call, deadline); });
  ++outcomes_[kind_of(outcome)];
  return outcome;
}

std::shared_ptr<PendingCall> Harness::submit(const Call& call, Deadline deadline) {
  ++calls_;
  auto pending = std::make_shared<PendingCall>(*backend_, call, deadline);
  submitted_.push_back(pending);
  return pending;
}

void Harness::adopt(std::shared_ptr<PendingCall> call) {
  ++calls_;
  submitted_.push_back(std::move(call));
}

Outcome Harness::await(const PendingCall& call) {
  return await_within(call, context_.bounds.call_timeout + context_.bounds.condition_wait);
}

Outcome Harness::await_prompt(const PendingCall& call) { return await_within(call, prompt_end()); }

Outcome Harness::await_within(const PendingCall& call, std::chrono::milliseconds timeout) {
  const auto outcome = call.wait(timeout);
  if (!outcome) RC_FAIL("a submitted call did not complete within " + std::to_string(timeout.count()) + " ms");
  RC_ASSERT(call.completions() == 1);
  ++outcomes_[kind_of(*outcome)];
  return *outcome;
}

void Harness::hold(Result result, HeldResult spec) { held_.emplace_back(std::move(result), spec); }

void Harness::release(std::size_t index) {
  RC_ASSERT(index < held_.size());
  const auto& [result, spec] = held_[index];
  RC_ASSERT(result.bytes().size() == spec.size);
  const auto mismatch = first_stream_mismatch(result.bytes(), spec.seed);
  if (mismatch) RC_FAIL("a held result changed at byte " + std::to_string(*mismatch) + " before its release");
  held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(index));
}

void Harness::after_step(const ModelState& model) {
  RC_ASSERT(model.held.size() == held_.size());
  check_search_path_clean();
  check_clean_environment_and_cwd();
  check_hooks();
  check_fds(fds_per_worker * context_.config.max_workers + fds_for_the_backend);
  check_workers();
  check_spill_dir(model);
}

// First after a step, before any other call could mask a leak: a module
// found only through an earlier call's search path must not be found now.
void Harness::check_search_path_clean() {
  Call call;
  call.module = "shadow";
  call.function = "variant";
  call.search_path = {directories_.at(0)};
  const auto outcome = run(call);
  if (outcome.ok()) RC_FAIL("module 'shadow' was found along a search path without it: " + describe(outcome));
}

void Harness::check_clean_environment_and_cwd() {
  const auto env = run(probe("env"));
  if (!env.ok()) RC_FAIL("probe env failed: " + describe(env));
  const auto seen = without_identity(parse_env_lines(env.value().text()));
  if (seen != base_env_)
    RC_FAIL("the next call did not see the base environment:" + describe_env_difference(base_env_, seen));
  const auto cwd = run(probe("cwd"));
  if (!cwd.ok()) RC_FAIL("probe cwd failed: " + describe(cwd));
  if (cwd.value().text() != base_cwd_)
    RC_FAIL("the next call ran in " + std::string(cwd.value().text()) + ", not the base dir " + base_cwd_);
}

void Harness::check_hooks() {
  if (subscriptions_.empty()) return;
  const auto settled = [&] {
    std::lock_guard lock(hook_log_->mutex);
    int completed = 0;
    for (const auto& [kind, count] : hook_log_->completions) completed += count;
    // Settled: every on_submit so far has its on_complete (a backend that
    // submits more than the caller asked is caught below, without waiting).
    return hook_log_->submits >= calls_ && completed >= hook_log_->submits;
  };
  wait_until(settled, context_.bounds.condition_wait);
  std::lock_guard lock(hook_log_->mutex);
  RC_ASSERT(hook_log_->submits == calls_);
  // Every on_submit has exactly one on_complete, with the outcome the caller saw.
  RC_ASSERT(hook_log_->completions == outcomes_);
  RC_ASSERT(hook_log_->completions_with_metrics_on_abort == 0);
  RC_ASSERT(hook_log_->successes_without_metrics == 0);
}

void Harness::check_fds(std::size_t allowance) {
  const auto fds = list_own_fds();
  if (fds.size() > fds_before_ + allowance)
    RC_FAIL("the caller holds " + std::to_string(fds.size()) + " fds, more than " + std::to_string(fds_before_) +
            " before the backend plus " + std::to_string(allowance) + ":" + joined(fds));
}

std::vector<ProcStat> Harness::new_processes() const {
  std::vector<pid_t> service;
  if (context_.service_processes && backend_) service = context_.service_processes(*backend_);
  return new_descendants_of(::getpid(), preexisting_, service);
}

void Harness::check_workers() {
  if (!context_.capabilities.has_local_process_workers) return;
  const auto bounded = [&] {
    const auto processes = new_processes();
    const auto zombies = std::count_if(processes.begin(), processes.end(), [](const ProcStat& p) { return p.state == 'Z'; });
    return zombies == 0 && processes.size() <= context_.config.max_workers;
  };
  if (wait_until(bounded, context_.bounds.condition_wait)) return;
  std::vector<std::string> lines;
  for (const auto& process : new_processes()) lines.push_back(describe_process(process));
  RC_FAIL("more than max_workers = " + std::to_string(context_.config.max_workers) +
          " worker processes, or an unreaped one:" + joined(lines));
}

void Harness::check_spill_dir(const ModelState& model) {
  if (!context_.capabilities.has_named_spill_files) return;
  // SPILL-5: no spill file once a result is released; a held one may keep its file.
  const auto clean = [&] {
    const auto names = list_dir(context_.spill_dir);
    return model.held.empty() ? names == spill_baseline_ : names.size() <= spill_baseline_.size() + model.held.size();
  };
  if (!wait_until(clean, context_.bounds.deadline_grace))
    RC_FAIL("spill dir holds" + joined(list_dir(context_.spill_dir)) + "\nwith " + std::to_string(model.held.size()) +
            " results held; before the first step it held" + joined(spill_baseline_));
}

void Harness::check_held_results(const char* when) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  for (const auto& [result, spec] : held_) {
    // Reading an unmapped result would crash the test instead of failing it.
    const auto first = reinterpret_cast<std::uintptr_t>(result.bytes().data()) & ~(page - 1);
    const auto length = reinterpret_cast<std::uintptr_t>(result.bytes().data()) + result.bytes().size() - first;
    std::vector<unsigned char> resident((length + page - 1) / page);
    if (!result.bytes().empty() && ::mincore(reinterpret_cast<void*>(first), length, resident.data()) != 0 && errno == ENOMEM)
      RC_FAIL(std::string("a held result of ") + std::to_string(spec.size) + " bytes is no longer mapped " + when);
    const auto mismatch = first_stream_mismatch(result.bytes(), spec.seed);
    if (result.bytes().size() != spec.size || mismatch)
      RC_FAIL(std::string("a held result of ") + std::to_string(spec.size) + " bytes changed " + when);
  }
}

void Harness::finish() {
  check_held_results("before shutdown");
  for (const auto& call : submitted_) RC_ASSERT(call->completions() == 1);
  backend_->shutdown(true);
  // SPILL-7: results outlive the backend and their spill files.
  check_held_results("after shutdown");
  for (const auto& call : submitted_) RC_ASSERT(call->completions() == 1);
  check_hooks();
  subscriptions_.clear();
  backend_.reset();
  check_held_results("after the backend was destroyed");
  held_.clear();

  if (context_.capabilities.has_local_process_workers) {
    std::vector<std::string> lines;
    for (const auto& process : new_processes()) lines.push_back(describe_process(process));
    if (!lines.empty()) RC_FAIL("processes left after shutdown(wait=true):" + joined(lines));
  }
  const auto fds_back = [&] { return list_own_fds().size() <= fds_before_; };
  if (!wait_until(fds_back, context_.bounds.condition_wait))
    RC_FAIL("fds left open in the caller after the backend was destroyed:" + joined(list_own_fds()));
  if (context_.capabilities.has_named_spill_files && !list_dir(context_.spill_dir).empty())
    RC_FAIL("spill dir not empty after shutdown:" + joined(list_dir(context_.spill_dir)));
  finished_ = true;
}

}  // namespace execkit::conformance::model
