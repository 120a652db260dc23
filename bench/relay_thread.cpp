#include "relay_thread.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <system_error>

namespace execkit::bench {

RelayThread::RelayThread(int socket)
    : socket_(socket), epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_ || !wake_) throw std::system_error(errno, std::generic_category(), "epoll/eventfd");
  for (int fd : {wake_.get(), socket_}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
  thread_ = std::thread([this] { run(); });
}

RelayThread::~RelayThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void RelayThread::round_trip() {
  const std::uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof one) != sizeof one)
    throw std::system_error(errno, std::generic_category(), "write eventfd");
  std::unique_lock lock(mutex_);
  answered_.wait(lock, [this] { return answer_ready_ || failed_; });
  if (failed_) throw std::runtime_error("the relay thread lost its peer");
  answer_ready_ = false;
}

void RelayThread::run() {
  epoll_event events[4];
  while (true) {
    const int n = ::epoll_wait(epoll_.get(), events, 4, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_.get()) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(wake_.get(), &count, sizeof count);
        {
          std::lock_guard lock(mutex_);
          if (stopping_) return;
        }
        const char byte = 'x';
        if (::send(socket_, &byte, 1, MSG_NOSIGNAL) == 1) continue;
      } else {
        char byte;
        if (::recv(socket_, &byte, 1, MSG_DONTWAIT) == 1) {
          std::lock_guard lock(mutex_);
          answer_ready_ = true;
          answered_.notify_one();
          continue;
        }
      }
      std::lock_guard lock(mutex_);
      failed_ = true;
      answered_.notify_one();
      return;
    }
  }
}

}  // namespace execkit::bench
