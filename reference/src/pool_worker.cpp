// What the owner of a worker does with it, whichever thread that is:
// register its channels, send a request, read and interpret the reply.
#include "pool_worker.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "envelope.hpp"
#include "mapping.hpp"
#include "spill_file.hpp"

namespace execkit {
namespace {

UniqueFd input_memfd(std::span<const std::byte> input) {
  UniqueFd fd(::memfd_create("execkit-input", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw std::system_error(errno, std::generic_category(), "memfd_create");
  std::size_t done = 0;
  while (done < input.size()) {
    ssize_t n = ::write(fd.get(), input.data() + done, input.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), "write input memfd");
    done += static_cast<std::size_t>(n);
  }
  // The worker maps it: it must not be able to shrink under the mapping.
  ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}

bool send_datagram(int fd, std::span<const std::byte> bytes, int pass_fd) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  if (pass_fd >= 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  while (true) {
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n) == bytes.size();
    if (errno != EINTR) return false;
  }
}

template <class E, class... Args>
Outcome fail(Args&&... args) {
  return Outcome::failure(E(std::forward<Args>(args)...));
}

}  // namespace

PoolEngine::Worker::Worker(WorkerProcess p, std::string worker_id, std::size_t tail_bytes)
    : process(std::move(p)),
      id(std::move(worker_id)),
      interrupt(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      err_tail(tail_bytes),
      out_tail(tail_bytes),
      receive_buffer(wire::max_message_bytes + 1) {
  if (!interrupt) throw std::system_error(errno, std::generic_category(), "eventfd");
}

int PoolEngine::Worker::channel_fd(std::size_t channel) const noexcept {
  switch (channel) {
    case control:
      return process.control_fd();
    case out:
      return process.stdout_fd();
    default:
      return process.stderr_fd();
  }
}

void PoolEngine::set_watched(Worker& w, std::size_t channel, bool want) {
  want = want && w.open[channel] && w.channel_fd(channel) >= 0;
  if (w.watched[channel] == want) return;
  const int fd = w.channel_fd(channel);
  if (want) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &w.watches[channel];
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      throw std::system_error(errno, std::generic_category(), "epoll_ctl worker channel");
  } else {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  }
  w.watched[channel] = want;
}

void PoolEngine::arm_exit_watch(Worker& w, int op) {
  // One-shot: a worker that dies while lent out is reported once, and the
  // I/O thread re-arms it when it takes the worker back.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.ptr = &w.watches[3];
  if (::epoll_ctl(epoll_.get(), op, w.process.pidfd(), &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl worker pidfd");
}

void PoolEngine::unwatch_all(Worker& w) {
  // Explicitly: a forked child of the caller may hold copies of these fds,
  // and a registration lives as long as the open file does.
  for (std::size_t channel = 0; channel < 3; ++channel) set_watched(w, channel, false);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w.process.pidfd(), nullptr);
}

void PoolEngine::drain_output(Worker& w, bool is_stderr) {
  const std::size_t channel = is_stderr ? Worker::err : Worker::out;
  const int fd = w.channel_fd(channel);
  if (fd < 0 || !w.open[channel]) return;
  std::array<char, 65536> buf;
  // Bounded per event so one flooding task cannot starve the others (RUN-6).
  for (int round = 0; round < 16; ++round) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      (is_stderr ? w.err_tail : w.out_tail).append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      set_watched(w, channel, false);
      w.open[channel] = false;
    }
    return;
  }
}

Outcome PoolEngine::timeout_outcome(const CallState& call) const {
  return fail<TimeoutError>("call " + std::to_string(call.id()) + " (" + call.call().module + "." +
                            call.call().function + ") passed its deadline; the task was killed");
}

PoolEngine::SendStatus PoolEngine::send_request(Worker& w, const CallState& call, std::optional<Outcome>& failure) {
  const Call& c = call.call();
  std::vector<std::byte> encoded;
  UniqueFd memfd;
  try {
    wire::Request r;
    r.call_id = call.id();
    r.module = c.module;
    r.function = c.function;
    for (const auto& p : c.search_path) r.search_path.push_back(p.string());
    for (const auto& [name, value] : c.env_updates) r.env_updates.push_back({name, value});
    if (c.cwd) r.cwd = c.cwd->string();
    r.spill_path = spill_->file_path(call.id()).string();
    r.max_result_bytes = settings_.config.max_result_bytes;
    r.input_size = c.input.size();
    if (c.input.size() > wire::max_inline_input) {
      memfd = input_memfd(c.input);
      r.input_in_fd = true;
    } else {
      r.inline_input = c.input;
    }
    encoded = wire::encode(r);
  } catch (const std::exception& e) {
    failure = fail<ResultError>(ResultError::Reason::unreadable, "call " + std::to_string(call.id()) +
                                                                     " could not be passed to a worker: " + e.what());
    return SendStatus::unsendable;
  }
  w.err_tail.clear();
  w.out_tail.clear();
  return send_datagram(w.process.control_fd(), encoded, memfd.get()) ? SendStatus::delivered : SendStatus::worker_gone;
}

std::optional<PoolEngine::Reply> PoolEngine::read_reply(Worker& w, bool expecting) {
  ssize_t n;
  do {
    n = ::recv(w.process.control_fd(), w.receive_buffer.data(), w.receive_buffer.size(), MSG_DONTWAIT | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n == 0) {
    // The worker closed its end: its exit watch reports the death.
    set_watched(w, Worker::control, false);
    w.open[Worker::control] = false;
  }
  if (n <= 0) return std::nullopt;
  if (!expecting) return Reply{Reply::Kind::out_of_turn, std::nullopt};
  auto response = static_cast<std::size_t>(n) <= wire::max_message_bytes
                      ? wire::decode_response(std::span(w.receive_buffer.data(), static_cast<std::size_t>(n)))
                      : std::nullopt;
  // A worker replies before it restores its state; one that then cannot
  // restore says so in a notice about the call it answered last, and starts
  // nothing after it. The call sent meanwhile never ran: not an attempt.
  const bool retirement_notice = response && response->kind == wire::ResponseKind::not_started &&
                                 w.last_call_id != 0 && response->call_id == w.last_call_id;
  if (!response || (response->call_id != w.call->id() && !retirement_notice)) {
    return Reply{Reply::Kind::malformed, fail<ResultError>(ResultError::Reason::unreadable,
                                                           "worker " + w.id + " sent a malformed response; it was killed")};
  }
  if (response->kind == wire::ResponseKind::not_started) return Reply{Reply::Kind::not_started, std::nullopt};
  drain_output(w, true);

  const auto& m = response->metrics;
  ExecutionMetrics metrics{m.peak_rss_kib,
                           m.user_time_us,
                           m.system_time_us,
                           m.started_at_ns,
                           m.finished_at_ns,
                           m.finished_at_ns - m.started_at_ns,
                           w.process.pid(),
                           w.id,
                           settings_.config.node_id};
  const auto call_id = w.call->id();
  w.last_call_id = call_id;
  std::optional<Outcome> outcome;
  switch (response->kind) {
    case wire::ResponseKind::ok:
      if (response->location == wire::ResultLocation::inline_bytes) {
        auto owned = std::make_shared<const std::vector<std::byte>>(std::move(response->inline_result));
        std::span<const std::byte> bytes(*owned);
        outcome.emplace(Result(std::move(owned), bytes, std::move(metrics)));
      } else if (response->result_size > settings_.config.max_result_bytes) {
        spill_->remove(call_id);
        outcome = fail<ResultError>(ResultError::Reason::too_large, "worker reported a result above the cap");
      } else if (response->retire) {
        // SPILL-8: what the task left behind could still truncate or rewrite
        // the file under the caller's mapping; the worker is killed instead.
        spill_->remove(call_id);
        outcome = fail<SpillError>("the result of call " + std::to_string(call_id) +
                                   " was refused: its task left something that could still change its spill file (" +
                                   response->retire_reason + ")");
      } else {
        try {
          auto mapping = std::make_shared<Mapping>(
              take_spill_file(spill_->dir_fd(), spill_->file_name(call_id), response->result_size));
          auto bytes = mapping->bytes();
          outcome.emplace(Result(std::move(mapping), bytes, std::move(metrics)));
        } catch (const SpillError& e) {
          outcome = Outcome::failure(e);
        } catch (const std::exception& e) {
          spill_->remove(call_id);
          outcome = fail<ResultError>(ResultError::Reason::unreadable, std::string("result unreadable: ") + e.what());
        }
      }
      break;
    case wire::ResponseKind::task_error:
      outcome = fail<TaskError>(response->error_type, response->error_message, w.err_tail.tail(), std::move(metrics));
      break;
    case wire::ResponseKind::result_error:
      spill_->remove(call_id);
      outcome = fail<ResultError>(response->result_error_reason == wire::ResultErrorReason::too_large
                                      ? ResultError::Reason::too_large
                                      : ResultError::Reason::write_failed,
                                  response->error_message);
      break;
    case wire::ResponseKind::not_started:
      break;
  }
  return Reply{Reply::Kind::finished, std::move(outcome), response->retire};
}

}  // namespace execkit
