// execkit-node: the agent a worker machine runs for a RedisStreamBackend pool.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "env_scrub.hpp"
#include "node_options.hpp"

int main(int argc, char** argv) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // Blocked before any thread starts, so only the waiter below receives them.
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    auto options = execkit::redis::parse_node_options({argv + 1, argv + argc}, execkit::snapshot_environment());
    execkit::redis::NodeAgent agent(std::move(options));
    std::atomic<bool> stop{false};
    std::thread waiter([&] {
      int signal = 0;
      sigwait(&stop_signals, &signal);
      stop = true;
    });
    waiter.detach();
    agent.serve(stop);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "execkit-node: " << e.what() << '\n';
    return 2;
  }
}
