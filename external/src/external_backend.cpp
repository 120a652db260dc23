#include "execkit/external_backend.hpp"

#include <sys/stat.h>

#include <condition_variable>
#include <future>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "backend_process.hpp"
#include "completion.hpp"
#include "hook_registry.hpp"
#include "line_channel.hpp"
#include "mapping.hpp"
#include "messages.hpp"

namespace execkit {

using external::Json;
using external::ProtocolError;

namespace {

std::function<void(std::string_view)> log_of(const WorkerConfig& config) {
  if (config.log) return config.log;
  return [](std::string_view line) { std::fprintf(stderr, "execkit external backend: %.*s\n", int(line.size()), line.data()); };
}

BackendDeclaration parse_hello(const Json& hello, const std::string& command) {
  const std::string context = "the hello of '" + command + "'";
  if (external::type_of(hello) != "hello") throw ProtocolError(context + ": expected type 'hello', got '" + external::type_of(hello) + "'");
  if (external::integer_member(hello, "protocol", context) != external::protocol_version) {
    throw ProtocolError(context + ": protocol version " + hello.at("protocol").dump() + " is not one the harness speaks (1)");
  }
  BackendDeclaration out;
  out.backend = external::string_member(hello, "backend", context);
  const auto& declared = external::member(hello, "capabilities", context);
  if (!declared.is_object()) throw ProtocolError(context + ": 'capabilities' is not an object");
  const auto flag = [&](const char* name, bool& field) {
    if (declared.contains(name)) field = external::bool_member(declared, name, context);
  };
  flag("has_local_process_workers", out.has_local_process_workers);
  flag("supports_pdeathsig", out.supports_pdeathsig);
  flag("has_named_spill_files", out.has_named_spill_files);
  flag("supports_worker_reuse", out.supports_worker_reuse);
  flag("task_context_from_caller", out.task_context_from_caller);
  if (declared.contains("documented_task_fds")) out.documented_task_fds = external::unsigned_member(declared, "documented_task_fds", context);
  if (declared.contains("task_sigpipe")) out.task_sigpipe = external::string_member(declared, "task_sigpipe", context);
  if (out.task_sigpipe != "unspecified" && out.task_sigpipe != "default" && out.task_sigpipe != "ignored") {
    throw ProtocolError(context + ": task_sigpipe '" + out.task_sigpipe + "' is not unspecified, default or ignored");
  }
  out.task_language = external::string_member(declared, "task_language", context);
  if (out.task_language != "native" && out.task_language != "python") {
    throw ProtocolError(context + ": task_language '" + out.task_language + "' is not native or python");
  }
  return out;
}

}  // namespace

struct ExternalBackend::Impl : std::enable_shared_from_this<Impl> {
  struct PendingCall {
    Call call;
    CompletionHandler on_done;
  };
  struct CancelWait {
    std::optional<bool> answer;
  };

  ExternalBackendOptions options;
  std::function<void(std::string_view)> log;
  HookRegistry hooks;
  std::unique_ptr<external::BackendProcess> process;
  std::mutex process_mutex;
  std::unique_ptr<external::LineChannel> channel;
  BackendDeclaration declaration;
  std::thread reader;
  std::thread::id reader_id;

  // Held from a call's registration to its submit's send, and from the refusal
  // of new calls to the shutdown's send: a call registered before the
  // shutdown reaches the backend before it, so its outcome precedes
  // shutdown_done.
  std::mutex send_order;
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::uint64_t, std::shared_ptr<PendingCall>> calls;
  std::map<std::uint64_t, std::shared_ptr<CancelWait>> cancels;
  std::uint64_t next_id = 1;
  std::string refusal;  // non-empty: calls are refused with BackendClosed(refusal)
  bool shutdown_started = false;
  int shutdowns_sent = 0, shutdowns_done = 0;
  bool connection_over = false;
  bool torn_down = false;

  Impl(ExternalBackendOptions opts, const WorkerConfig& config)
      : options(std::move(opts)), log(log_of(config)), hooks(log) {}

  // Hello and configure; throws what the backend refused with.
  void start(const WorkerConfig& config) {
    UniqueFd socket;
    process = std::make_unique<external::BackendProcess>(options.command, options.directory, socket);
    channel = std::make_unique<external::LineChannel>(std::move(socket));
    try {
      declaration = handshake();
      // Where tasks run from the caller's context, the base dir is the
      // caller's (its cwd now, when the config leaves it empty), never the
      // backend process's cwd, which options.directory chose. Workers that run
      // elsewhere get the config as it is and choose.
      auto sent = config;
      if (declaration.task_context_from_caller) {
        sent.base_dir = sent.base_dir.empty() ? std::filesystem::current_path() : std::filesystem::absolute(sent.base_dir);
      }
      channel->send(Json{{"type", "configure"}, {"config", external::encode_config(sent)}}.dump());
      const auto reply = expect_message("its answer to configure");
      const auto type = external::type_of(reply);
      if (type == "error") {
        const auto error = external::decode_error(external::member(reply, "error", "the refusal of configure"), "configure");
        stop_process();
        error->raise();
      }
      if (type != "configured") throw ProtocolError("answer to configure: expected 'configured' or 'error', got '" + type + "'");
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      const auto end = stop_process();
      throw std::runtime_error("backend command '" + options.command + "': " + e.what() + (end.empty() ? "" : " (the process " + end + ")"));
    }
    reader = std::thread([self = shared_from_this()] { self->read_loop(); });
    // Before any call exists, so every later reader of reader_id sees it.
    reader_id = reader.get_id();
  }

  BackendDeclaration handshake() {
    channel->send(Json{{"type", "hello"}, {"protocol", Json::array({external::protocol_version})}}.dump());
    return parse_hello(expect_message("its hello"), options.command);
  }

  Json expect_message(const std::string& what) {
    const auto line = channel->receive(options.reply_timeout);
    if (!line) throw ProtocolError("the connection ended before " + what);
    return external::parse_message(*line, what);
  }

  std::string stop_process() {
    channel->close_both();
    return reap_process();
  }

  // Once its connection is closed: the process's end, killed if it does not come in time.
  std::string reap_process() {
    std::lock_guard lock(process_mutex);
    if (auto end = process->wait_for_exit(options.reply_timeout)) return *end;
    log("the backend process did not exit within " + std::to_string(options.reply_timeout.count()) +
        " ms of its connection closing; killed it");
    return process->kill_and_reap();
  }

  void read_loop() {
    std::string fault;
    try {
      while (auto line = channel->receive()) handle(external::parse_message(*line, "a message from the backend"));
    } catch (const ProtocolError& e) {
      fault = std::string("protocol error: ") + e.what();
    } catch (const std::exception& e) {
      fault = std::string("the protocol connection failed: ") + e.what();
    }
    if (!fault.empty()) {
      log(fault);
      channel->close_both();
      std::lock_guard lock(process_mutex);
      process->kill_and_reap();
    }
    end_connection(fault);
  }

  // The connection is over: every call without an outcome ends now.
  void end_connection(std::string fault) {
    std::map<std::uint64_t, std::shared_ptr<PendingCall>> orphans;
    {
      std::unique_lock lock(mutex);
      if (fault.empty() && !calls.empty()) {
        const auto in_flight = calls.size();
        lock.unlock();
        std::string end;
        {
          std::lock_guard process_lock(process_mutex);
          end = process->wait_for_exit(options.reply_timeout).value_or("closed its connection");
        }
        fault = "the backend process " + end + " with " + std::to_string(in_flight) + " calls in flight";
        log(fault);
        lock.lock();
      }
      connection_over = true;
      if (refusal.empty()) refusal = fault.empty() ? "the backend process has ended" : fault;
      orphans.swap(calls);
    }
    changed.notify_all();
    for (auto& [id, call] : orphans) finish(id, *call, Outcome::failure(BackendClosed(refusal)));
  }

  void handle(const Json& message) {
    const auto type = external::type_of(message);
    if (type == "result" || type == "failure") {
      const auto id = external::unsigned_member(message, "id", type);
      const std::string context = type + " for id " + std::to_string(id);
      std::shared_ptr<PendingCall> call;
      {
        std::lock_guard lock(mutex);
        const auto it = calls.find(id);
        if (it == calls.end()) {
          throw ProtocolError(context + ": " + (id < next_id ? "the call already ended" : "no call with this id was submitted"));
        }
        call = it->second;
      }
      Outcome outcome = type == "result" ? result_outcome(message, context)
                                         : Outcome(external::decode_error(external::member(message, "error", context), context));
      {
        std::lock_guard lock(mutex);
        calls.erase(id);
      }
      changed.notify_all();
      finish(id, *call, std::move(outcome));
    } else if (type == "cancelled") {
      const auto id = external::unsigned_member(message, "id", type);
      const bool answer = external::bool_member(message, "cancelled", "cancelled for id " + std::to_string(id));
      std::lock_guard lock(mutex);
      const auto it = cancels.find(id);
      if (it == cancels.end()) throw ProtocolError("cancelled for id " + std::to_string(id) + ": it answers no cancel");
      it->second->answer = answer;
      cancels.erase(it);
      changed.notify_all();
    } else if (type == "shutdown_done") {
      std::lock_guard lock(mutex);
      if (shutdowns_done >= shutdowns_sent) throw ProtocolError("shutdown_done: it answers no shutdown");
      if (!calls.empty()) {
        throw ProtocolError("shutdown_done: " + std::to_string(calls.size()) + " calls still have no outcome (the first is id " +
                            std::to_string(calls.begin()->first) + ")");
      }
      ++shutdowns_done;
      changed.notify_all();
    } else {
      throw ProtocolError("unexpected message type '" + type + "'");
    }
  }

  Outcome result_outcome(const Json& message, const std::string& context) {
    try {
      return decode_result(message, context);
    } catch (const ResultError& e) {
      return Outcome(e.clone());
    }
  }

  Result decode_result(const Json& message, const std::string& context) {
    const auto size = external::unsigned_member(message, "size", context);
    const auto metrics = external::decode_metrics(external::member(message, "metrics", context), context);
    if (message.contains("fd") && external::bool_member(message, "fd", context)) {
      UniqueFd fd = channel->take_fd();
      if (!fd) throw ProtocolError(context + ": it says it carries a descriptor but none arrived");
      struct stat info {};
      if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) throw ProtocolError(context + ": its descriptor is not a regular file");
      if (static_cast<std::uint64_t>(info.st_size) != size) {
        throw ResultError(ResultError::Reason::unreadable, context + ": its file has " + std::to_string(info.st_size) +
                                                                 " bytes, the backend declared " + std::to_string(size));
      }
      auto mapping = std::make_shared<Mapping>(Mapping::map_readonly(fd.get(), size));
      const auto bytes = mapping->bytes();
      return Result(std::move(mapping), bytes, metrics);
    }
    if (size > external::max_inline_result_bytes) {
      throw ProtocolError(context + ": an inline result of " + std::to_string(size) + " bytes (at most " +
                          std::to_string(external::max_inline_result_bytes) + " may travel inline)");
    }
    auto data = std::make_shared<std::string>(external::base64_decode(external::string_member(message, "data", context), context));
    if (data->size() != size) {
      throw ProtocolError(context + ": 'data' holds " + std::to_string(data->size()) + " bytes, 'size' says " + std::to_string(size));
    }
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data->data()), data->size());
    return Result(std::move(data), bytes, metrics);
  }

  void finish(std::uint64_t id, const PendingCall& call, Outcome outcome) {
    complete_call(hooks, log, call.call, "#" + std::to_string(id) + " (" + call.call.module + "." + call.call.function + ")",
                  call.on_done, std::move(outcome));
  }

  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) {
    if (external::submit_size_bound(call) > external::max_message_bytes) {
      throw std::invalid_argument("a call's input of " + std::to_string(call.input.size()) +
                                  " bytes does not fit in one protocol message (at most " +
                                  std::to_string(external::max_message_bytes) + " bytes, base64 included)");
    }
    hooks.fire_submit(call);
    auto pending = std::make_shared<PendingCall>(PendingCall{std::move(call), std::move(on_done)});
    std::uint64_t id = 0;
    std::string refused;
    {
      std::lock_guard order(send_order);
      {
        std::lock_guard lock(mutex);
        if (refusal.empty()) {
          id = next_id++;
          calls.emplace(id, pending);
        } else {
          refused = refusal;
        }
      }
      if (refused.empty()) {
        try {
          channel->send(external::encode_submit(id, pending->call, deadline).dump());
        } catch (const std::exception& e) {
          // The reader sees the connection end and ends the call with the others.
          log(std::string("could not send call #") + std::to_string(id) + ": " + e.what());
        }
      }
    }
    if (!refused.empty()) {
      finish(0, *pending, Outcome::failure(BackendClosed(refused)));
      return {};
    }
    return Submission(std::make_shared<CancelHandle>(weak_from_this(), id));
  }

  bool cancel(std::uint64_t id) {
    std::shared_ptr<CancelWait> wait;
    bool send = false;
    {
      std::lock_guard lock(mutex);
      if (calls.count(id) == 0 || connection_over) return false;
      auto& slot = cancels[id];
      if (!slot) {
        slot = std::make_shared<CancelWait>();
        send = true;
      }
      wait = slot;
    }
    if (send) {
      try {
        channel->send(Json{{"type", "cancel"}, {"id", id}}.dump());
      } catch (const std::exception&) {
        return false;
      }
    }
    // The reader cannot wait for its own reading: answer from what we know.
    if (std::this_thread::get_id() == reader_id) return true;
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, options.reply_timeout, [&] { return wait->answer.has_value() || connection_over; })) {
      log("no answer to the cancel of call #" + std::to_string(id) + " within " + std::to_string(options.reply_timeout.count()) + " ms");
      return false;
    }
    return wait->answer.value_or(false);
  }

  void shutdown(bool wait) {
    bool first = false;
    int expected = 0;
    bool sent = true;
    {
      std::lock_guard order(send_order);
      {
        std::lock_guard lock(mutex);
        first = !shutdown_started;
        shutdown_started = true;
        if (refusal.empty()) refusal = "the backend was shut down";
        if (!connection_over) expected = ++shutdowns_sent;
      }
      if (expected > 0) {
        try {
          channel->send(Json{{"type", "shutdown"}, {"wait", wait}}.dump());
        } catch (const std::exception&) {
          sent = false;
        }
      }
    }
    if (first) hooks.fire_shutdown_once();
    if (expected > 0) {
      const auto bound = wait ? options.reply_timeout * 6 : options.reply_timeout;
      std::unique_lock lock(mutex);
      if (sent && !changed.wait_for(lock, bound, [&] { return shutdowns_done >= expected || connection_over; })) {
        lock.unlock();
        log("no shutdown_done within " + std::to_string(bound.count()) + " ms; stopping the backend process");
        channel->close_both();
      }
    }
    if (wait) tear_down();
  }

  // Closes the connection, waits for the process to exit and the reader to end.
  void tear_down() {
    {
      std::lock_guard lock(mutex);
      if (torn_down) return;
      torn_down = true;
    }
    channel->close_sending();
    reap_process();
    channel->close_both();
    if (reader.joinable()) {
      if (std::this_thread::get_id() == reader_id) {
        reader.detach();
      } else {
        reader.join();
      }
    }
  }

  class CancelHandle final : public CancelTarget {
   public:
    CancelHandle(std::weak_ptr<Impl> impl, std::uint64_t id) : impl_(std::move(impl)), id_(id) {}
    bool cancel() override {
      const auto impl = impl_.lock();
      return impl && impl->cancel(id_);
    }

   private:
    std::weak_ptr<Impl> impl_;
    std::uint64_t id_;
  };
};

ExternalBackend::ExternalBackend(ExternalBackendOptions options, WorkerConfig config)
    : impl_(std::make_shared<Impl>(std::move(options), config)) {
  impl_->start(config);
}

ExternalBackend::~ExternalBackend() { impl_->shutdown(true); }

Result ExternalBackend::execute(const Call& call, Deadline deadline) {
  std::promise<Outcome> done;
  auto future = done.get_future();
  impl_->submit(call, deadline, [&done](Outcome outcome) { done.set_value(std::move(outcome)); });
  return future.get().value();
}

Submission ExternalBackend::submit(Call call, Deadline deadline, CompletionHandler on_done) {
  return impl_->submit(std::move(call), deadline, std::move(on_done));
}

void ExternalBackend::shutdown(bool wait) { impl_->shutdown(wait); }

Subscription ExternalBackend::on_submit(SubmitHandler handler) { return impl_->hooks.add_submit(std::move(handler)); }
Subscription ExternalBackend::on_complete(CompleteHandler handler) { return impl_->hooks.add_complete(std::move(handler)); }
Subscription ExternalBackend::on_shutdown(ShutdownHandler handler) { return impl_->hooks.add_shutdown(std::move(handler)); }

const BackendDeclaration& ExternalBackend::declaration() const noexcept { return impl_->declaration; }

pid_t ExternalBackend::process_id() const noexcept {
  std::lock_guard lock(impl_->process_mutex);
  return impl_->process->pid();
}

BackendDeclaration ExternalBackend::probe_declaration(const ExternalBackendOptions& options) {
  auto impl = std::make_shared<Impl>(options, WorkerConfig{});
  UniqueFd socket;
  impl->process = std::make_unique<external::BackendProcess>(options.command, options.directory, socket);
  impl->channel = std::make_unique<external::LineChannel>(std::move(socket));
  try {
    auto declaration = impl->handshake();
    impl->stop_process();
    return declaration;
  } catch (const std::exception& e) {
    const auto end = impl->stop_process();
    throw std::runtime_error("backend command '" + options.command + "': " + e.what() + (end.empty() ? "" : " (the process " + end + ")"));
  }
}

}  // namespace execkit
