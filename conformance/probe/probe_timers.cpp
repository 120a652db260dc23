// Probe tasks that leave timers armed and signals pending (ISO-4): a later
// call must complete normally and see none of them.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include "probe_support.hpp"

using execkit::probe::input_text;

namespace {

// The task's timers repeat at this distinctive interval, so a later call can
// tell them apart from any timer the backend arms for itself.
constexpr long marker_interval_us = 7000;
// CPU timers expire early in a later call that burns CPU; the wall-clock
// ones only after an hour, so they are seen armed, never fired.
constexpr long cpu_timer_first_us = 20'000;
constexpr long wall_timer_first_s = 3600;

void check(int rc, const char* what) {
  if (rc != 0) throw std::system_error(errno, std::generic_category(), std::string("probe: ") + what);
}

int itimer_named(std::string_view name) {
  if (name == "real") return ITIMER_REAL;
  if (name == "virtual") return ITIMER_VIRTUAL;
  if (name == "prof") return ITIMER_PROF;
  throw std::invalid_argument("probe: unknown interval timer '" + std::string(name) + "'");
}

// The kernel's timer id, through the raw syscall: glibc's timer_t is not
// always the kernel's id, and the id must mean the same in a later call.
int create_posix_timer(clockid_t clock, long first_s, long first_us) {
  sigevent event{};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGALRM;
  int id = -1;
  check(static_cast<int>(::syscall(SYS_timer_create, clock, &event, &id)), "timer_create");
  itimerspec spec{};
  spec.it_value = {first_s, first_us * 1000};
  spec.it_interval = {0, marker_interval_us * 1000};
  check(static_cast<int>(::syscall(SYS_timer_settime, id, 0, &spec, nullptr)), "timer_settime");
  return id;
}

const char* posix_timer_state(int id) {
  itimerspec spec{};
  if (::syscall(SYS_timer_gettime, id, &spec) != 0) return "gone";
  const bool marked = spec.it_interval.tv_sec == 0 && spec.it_interval.tv_nsec == marker_interval_us * 1000;
  return marked && (spec.it_value.tv_sec != 0 || spec.it_value.tv_nsec != 0) ? "armed" : "off";
}

}  // namespace

// Input: real | virtual | prof (an interval timer) or posix_cpu | posix_wall
// (a timer_create timer on the process CPU clock or CLOCK_MONOTONIC, firing
// SIGALRM). Arms it: CPU timers expire after 20 ms of CPU time, wall-clock
// ones after an hour; all repeat every 7 ms. Result: the POSIX timer's
// kernel id, or "-" for an interval timer.
EXECKIT_TASK(arm_timer)(execkit::TaskContext& ctx) {
  const auto kind = input_text(ctx);
  if (kind == "posix_cpu") {
    ctx.write(std::to_string(create_posix_timer(CLOCK_PROCESS_CPUTIME_ID, 0, cpu_timer_first_us)));
    return;
  }
  if (kind == "posix_wall") {
    ctx.write(std::to_string(create_posix_timer(CLOCK_MONOTONIC, wall_timer_first_s, 0)));
    return;
  }
  const int which = itimer_named(kind);
  itimerval value{};
  value.it_value = which == ITIMER_REAL ? timeval{wall_timer_first_s, 0} : timeval{0, cpu_timer_first_us};
  value.it_interval = {0, marker_interval_us};
  check(::setitimer(which, &value, nullptr), "setitimer");
  ctx.write("-");
}

// Input: a POSIX timer id from arm_timer, or "-". Result: lines
// "real|virtual|prof armed|off" (armed: still set with arm_timer's interval)
// and "posix armed|off|gone" for the id ("-": no such line).
EXECKIT_TASK(timer_state)(execkit::TaskContext& ctx) {
  std::string out;
  for (const char* name : {"real", "virtual", "prof"}) {
    itimerval value{};
    check(::getitimer(itimer_named(name), &value), "getitimer");
    const bool armed = value.it_interval.tv_sec == 0 && value.it_interval.tv_usec == marker_interval_us &&
                       (value.it_value.tv_sec != 0 || value.it_value.tv_usec != 0);
    out += std::string(name) + (armed ? " armed\n" : " off\n");
  }
  const auto id = input_text(ctx);
  if (id != "-") out += std::string("posix ") + posix_timer_state(execkit::probe::parse_decimal<int>(id, "timer id")) + "\n";
  ctx.write(out);
}

// Blocks SIGUSR1 and SIGUSR2, raises SIGUSR1 at this thread and sends
// SIGUSR2 to the process, so both are left pending and blocked. Result "ok".
EXECKIT_TASK(leave_pending)(execkit::TaskContext& ctx) {
  sigset_t mask;
  ::sigemptyset(&mask);
  ::sigaddset(&mask, SIGUSR1);
  ::sigaddset(&mask, SIGUSR2);
  check(::sigprocmask(SIG_BLOCK, &mask, nullptr), "sigprocmask");
  check(::raise(SIGUSR1), "raise");
  check(::kill(::getpid(), SIGUSR2), "kill");
  ctx.write("ok");
}

// Result: the numbers of the signals pending for the task (thread or
// process), space-separated; empty when none.
EXECKIT_TASK(pending_signals)(execkit::TaskContext& ctx) {
  sigset_t pending;
  check(::sigpending(&pending), "sigpending");
  std::string out;
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    if (::sigismember(&pending, sig) == 1) out += (out.empty() ? "" : " ") + std::to_string(sig);
  }
  ctx.write(out);
}
