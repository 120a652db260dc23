// execkit: runs one task from the command line (docs/cli.md).
#include <unistd.h>

#include <exception>
#include <string>
#include <type_traits>
#include <vector>

#include "arguments.hpp"
#include "cli_error.hpp"
#include "error_report.hpp"
#include "fd_io.hpp"
#include "run_command.hpp"
#include "usage.hpp"

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
// clang 14 (the coverage and fuzz presets) lacks aggregate deduction.
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

void print(int fd, const std::string& text) {
  try {
    execkit::cli::write_all(fd, std::as_bytes(std::span(text)));
  } catch (const std::exception&) {
    // Nowhere left to report to; the exit code still tells.
  }
}

int dispatch(const std::vector<std::string>& args) {
  using namespace execkit::cli;
  return std::visit(Overloaded{
                        [](const ShowHelp& help) {
                          print(STDOUT_FILENO, usage_text(help.topic));
                          return 0;
                        },
                        [](const ShowVersion&) {
                          print(STDOUT_FILENO, std::string("execkit ") + EXECKIT_VERSION + "\n");
                          return 0;
                        },
                        [](const RunOptions& options) { return run_command(options); },
                    },
                    parse_arguments(args));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace execkit::cli;
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  try {
    return dispatch(args);
  } catch (const CliError& e) {
    print(STDERR_FILENO, error_line(e.what()));
    return static_cast<int>(e.code());
  } catch (const execkit::Error& e) {
    const FailureReport report = describe_failure(e, std::nullopt);
    print(STDERR_FILENO, report.text);
    return static_cast<int>(report.code);
  } catch (const std::exception& e) {
    print(STDERR_FILENO, error_line(e.what()));
    return static_cast<int>(ExitCode::other);
  }
}
