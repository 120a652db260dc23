// Probe tasks that change per-process state a reused worker must not carry
// into the next call: signal state (ISO-4), umask and resource limits
// (ISO-5), credentials (ISO-5), the environment (ENV-5).
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <system_error>

#include "probe_support.hpp"

using execkit::probe::input_text;
using execkit::probe::parse_decimal;

namespace {

void ignore_signal(int) {}

int resource_named(std::string_view name) {
  static const std::map<std::string_view, int> resources{{"NOFILE", RLIMIT_NOFILE}, {"CORE", RLIMIT_CORE},
                                                         {"STACK", RLIMIT_STACK},   {"FSIZE", RLIMIT_FSIZE},
                                                         {"NPROC", RLIMIT_NPROC},   {"AS", RLIMIT_AS},
                                                         {"DATA", RLIMIT_DATA},     {"CPU", RLIMIT_CPU}};
  auto it = resources.find(name);
  if (it == resources.end()) throw std::invalid_argument("probe: unknown resource limit '" + std::string(name) + "'");
  return it->second;
}

// "NAME,value" -> (resource, value)
std::pair<int, rlim_t> limit_input(std::string_view text) {
  const auto comma = text.find(',');
  if (comma == std::string_view::npos) throw std::invalid_argument("probe: expected NAME,value, got '" + std::string(text) + "'");
  return {resource_named(text.substr(0, comma)), static_cast<rlim_t>(parse_decimal(text.substr(comma + 1), "limit"))};
}

void set_limit(int resource, const rlimit& value) {
  if (::setrlimit(resource, &value) != 0) throw std::system_error(errno, std::generic_category(), "probe: setrlimit");
}

}  // namespace

// Ignores SIGINT, SIGQUIT, SIGUSR2; installs handlers for SIGTERM, SIGHUP,
// SIGUSR1, SIGCHLD; flips SIGPIPE between default and ignored; blocks all of
// them in the signal mask. Result "ok".
EXECKIT_TASK(disturb_signals)(execkit::TaskContext& ctx) {
  struct sigaction ignored {};
  ignored.sa_handler = SIG_IGN;
  struct sigaction handled {};
  handled.sa_handler = &ignore_signal;
  for (int number : {SIGINT, SIGQUIT, SIGUSR2}) ::sigaction(number, &ignored, nullptr);
  for (int number : {SIGTERM, SIGHUP, SIGUSR1, SIGCHLD}) ::sigaction(number, &handled, nullptr);
  struct sigaction pipe_action {};
  ::sigaction(SIGPIPE, nullptr, &pipe_action);
  pipe_action.sa_handler = pipe_action.sa_handler == SIG_IGN ? SIG_DFL : SIG_IGN;
  ::sigaction(SIGPIPE, &pipe_action, nullptr);
  sigset_t mask;
  ::sigemptyset(&mask);
  for (int number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE}) ::sigaddset(&mask, number);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  ctx.write("ok");
}

// Input: an octal umask. Result: the previous one in octal.
EXECKIT_TASK(set_umask)(execkit::TaskContext& ctx) {
  const std::string text(input_text(ctx));
  char* end = nullptr;
  const unsigned long value = std::strtoul(text.c_str(), &end, 8);
  if (text.empty() || *end != '\0' || value > 0777) throw std::invalid_argument("probe: set_umask: bad octal '" + text + "'");
  std::ostringstream previous;
  previous << std::oct << ::umask(static_cast<mode_t>(value));
  ctx.write(previous.str());
}

// Input: an fd number. Closes it, whatever it is (a task that tidies up
// more than it opened). Result "ok", or "not open".
EXECKIT_TASK(close_fd)(execkit::TaskContext& ctx) {
  const int fd = std::stoi(std::string(input_text(ctx)));
  ctx.write(::close(fd) == 0 ? "ok" : "not open");
}

// Input "NAME,value": sets that soft limit (hard unchanged). Result "ok".
EXECKIT_TASK(set_soft_rlimit)(execkit::TaskContext& ctx) {
  const auto [resource, value] = limit_input(input_text(ctx));
  rlimit current{};
  ::getrlimit(resource, &current);
  current.rlim_cur = value;
  set_limit(resource, current);
  ctx.write("ok");
}

// Input "NAME,value": lowers the hard limit (and the soft one with it) to
// value, which an unprivileged process cannot undo. Result "ok".
EXECKIT_TASK(lower_hard_rlimit)(execkit::TaskContext& ctx) {
  const auto [resource, value] = limit_input(input_text(ctx));
  rlimit current{};
  ::getrlimit(resource, &current);
  current.rlim_max = value;
  if (current.rlim_cur == RLIM_INFINITY || current.rlim_cur > value) current.rlim_cur = value;
  set_limit(resource, current);
  ctx.write("ok");
}

// Input: what to change, each irreversible for the process or invisible to a
// check of the real uid alone (needs privilege):
//   groups     supplementary groups only (setgroups to {65534})
//   gid        real, effective and saved gid only (setresgid to 65534)
//   euid       the effective uid only (setresuid(-1, 65534, -1)), saved uid kept
//   all        groups, gid and every uid
// Result "ok".
EXECKIT_TASK(change_credentials)(execkit::TaskContext& ctx) {
  const auto kind = input_text(ctx);
  const gid_t nobody_group = 65534;
  const uid_t nobody = 65534;
  int rc = 0;
  if (kind == "groups") {
    rc = ::setgroups(1, &nobody_group);
  } else if (kind == "gid") {
    rc = ::setresgid(nobody_group, nobody_group, nobody_group);
  } else if (kind == "euid") {
    rc = ::setresuid(static_cast<uid_t>(-1), nobody, static_cast<uid_t>(-1));
  } else if (kind == "all") {
    rc = ::setgroups(0, nullptr) != 0 || ::setresgid(nobody_group, nobody_group, nobody_group) != 0 ||
                 ::setresuid(nobody, nobody, nobody) != 0
             ? -1
             : 0;
  } else {
    throw std::invalid_argument("probe: change_credentials: unknown kind '" + std::string(kind) + "'");
  }
  if (rc != 0) throw std::system_error(errno, std::generic_category(), "probe: change_credentials " + std::string(kind));
  ctx.write("ok");
}

// Input: lines "NAME=VALUE" (setenv) or "-NAME" (unsetenv). Result "ok".
EXECKIT_TASK(mutate_env)(execkit::TaskContext& ctx) {
  std::istringstream lines{std::string(input_text(ctx))};
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (line[0] == '-') {
      ::unsetenv(line.c_str() + 1);
      continue;
    }
    const auto equals = line.find('=');
    if (equals == std::string::npos || equals == 0) throw std::invalid_argument("probe: mutate_env: bad line '" + line + "'");
    ::setenv(line.substr(0, equals).c_str(), line.c_str() + equals + 1, 1);
  }
  ctx.write("ok");
}
