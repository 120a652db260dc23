#include <stdexcept>

#include "decorators.hpp"
#include "execkit/process_pool.hpp"

namespace execkit::mutants {

std::unique_ptr<ExecutorBackend> plain_reference(WorkerConfig config) {
  return std::make_unique<ProcessPoolBackend>(std::move(config));
}

BackendFactory decorator_factory(const std::string& name) {
  if (name.empty()) return plain_reference;
  FactoryTable all;
  for (auto table : {config_mutants, outcome_mutants, lifetime_mutants, cancel_mutants, hook_mutants, loop_mutants})
    all.merge(table());
  if (auto found = all.find(name); found != all.end()) return found->second;
  std::string known;
  for (const auto& [known_name, factory] : all) known += (known.empty() ? "" : ", ") + known_name;
  throw std::invalid_argument("unknown decorator mutant '" + name + "' (known: " + known + ")");
}

}  // namespace execkit::mutants
