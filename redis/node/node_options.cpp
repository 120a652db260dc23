#include "node_options.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include "execkit/errors.hpp"
#include "host_info.hpp"

namespace execkit::redis {
namespace {

long long positive(const std::string& option, const std::string& value) {
  long long number = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || number <= 0)
    throw ConfigError(option, value, "expected a positive integer");
  return number;
}

std::string read_password(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("--password-file", path, "cannot read the file");
  std::string password;
  std::getline(in, password);
  return password;
}

}  // namespace

std::string node_usage() {
  return "usage: execkit-node --redis ADDRESS [--pool NAME] [--node-id ID] [--user USER] [--password-file FILE]\n"
         "                    [--lease-ms N] [--drain-ms N] [--max-workers N] [--spill-dir DIR]\n"
         "                    [--ready-fd FD]\n"
         "  ADDRESS is unix:/path/redis.sock or host:port. The password may also come from\n"
         "  EXECKIT_REDIS_PASSWORD. Other settings of the local pool come from EXECKIT_* variables.\n";
}

NodeOptions parse_node_options(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  NodeOptions options;
  options.worker = WorkerConfig::from_env(env);
  bool have_address = false;
  if (auto it = env.find("EXECKIT_REDIS_PASSWORD"); it != env.end()) options.credentials.password = it->second;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& option = args[i];
    if (i + 1 >= args.size()) throw ConfigError(option, "", "the option needs a value (or is unknown)\n" + node_usage());
    const std::string& value = args[++i];
    if (option == "--redis") {
      options.address = RedisAddress::parse(value, option);
      have_address = true;
    } else if (option == "--pool") {
      options.pool = value;
    } else if (option == "--node-id") {
      options.node_id = value;
    } else if (option == "--user") {
      options.credentials.user = value;
    } else if (option == "--password-file") {
      options.credentials.password = read_password(value);
    } else if (option == "--lease-ms") {
      options.lease = std::chrono::milliseconds(positive(option, value));
    } else if (option == "--drain-ms") {
      options.drain = std::chrono::milliseconds(positive(option, value));
    } else if (option == "--max-workers") {
      options.worker.max_workers = static_cast<std::size_t>(positive(option, value));
    } else if (option == "--spill-dir") {
      options.worker.spill_dir = value;
    } else if (option == "--ready-fd") {
      options.ready_fd = static_cast<int>(positive(option, value));
    } else {
      throw ConfigError(option, value, "unknown option\n" + node_usage());
    }
  }
  if (!have_address) throw ConfigError("--redis", "", "the redis address is required\n" + node_usage());
  if (options.node_id.empty()) options.node_id = host_info::host_name();
  return options;
}

}  // namespace execkit::redis
