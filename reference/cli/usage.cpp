#include "usage.hpp"

namespace execkit::cli {
namespace {

constexpr std::string_view exit_codes = R"(Exit codes:
  0      success
  1      other failure (cannot write standard output, call cancelled, ...)
  2      usage error: unknown option, missing or bad argument, module,
         --cwd directory or --input file not found
  3      the task failed (threw, or reported failure)
  4      the deadline passed
  5      the worker crashed (killed by a signal, or exited)
  6      the result could not be delivered (too large, write failed,
         spill file refused)
  7      configuration error (a bad EXECKIT_* environment variable)
  128+N  interrupted by signal N (SIGINT, SIGTERM, SIGHUP); the call is
         cancelled first
)";

constexpr std::string_view general_help = R"(Usage: execkit run [options] <module> <function>
       execkit --help | --version

Runs one task of a task module in an execkit worker process and writes the
task's result bytes to standard output.

Commands:
  run            run one task (see 'execkit run --help')

Options:
  -h, --help     show this help
  -V, --version  show the version

)";

constexpr std::string_view run_help = R"(Usage: execkit run [options] [--] <module> <function>

Runs the task <function> of <module> once, in a fresh single-worker pool,
and writes its result bytes unchanged to standard output.

<module> is a name looked up along the search path as lib<module>.so, then
<module>.so, or a path to the module file if it contains '/'.

Options (anywhere before '--'; VALUE may also be attached as --opt=VALUE):
  --input FILE           input bytes from FILE; '-' reads standard input
                         (default: empty input)
  --env NAME=VALUE       set NAME for this call (repeatable)
  --unset NAME           unset NAME for this call (repeatable; the last
                         --env/--unset of a name wins)
  --cwd DIR              run the task in DIR (default: the current directory)
  -L DIR, --search-path DIR
                         add DIR to the module search path (repeatable,
                         searched in order)
  --deadline SECONDS     fail with a timeout after SECONDS (a positive
                         decimal, e.g. 1.5), worker start-up included
  --metrics              print the call's metrics as one JSON object on
                         standard error
  -h, --help             show this help

Relative paths are taken from the current directory. The worker pool is
configured from EXECKIT_* variables (EXECKIT_SPILL_DIR, EXECKIT_NODE_ID,
...); it always runs one worker. The task sees only whitelisted variables
of this environment, plus --env.

)";

}  // namespace

std::string usage_text(HelpTopic topic) {
  std::string text(topic == HelpTopic::run ? run_help : general_help);
  text += exit_codes;
  return text;
}

}  // namespace execkit::cli
