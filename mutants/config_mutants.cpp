// Mutants that are the reference backend with one config field ignored or
// misread on its way in: the defect of a backend that does not plumb a
// setting through.
#include <algorithm>

#include "decorators.hpp"
#include "execkit/process_pool.hpp"

namespace execkit::mutants {
namespace {

template <class Tweak>
BackendFactory tweaked(Tweak tweak) {
  return [tweak](WorkerConfig config) -> std::unique_ptr<ExecutorBackend> {
    tweak(config);
    return std::make_unique<ProcessPoolBackend>(std::move(config));
  };
}

}  // namespace

FactoryTable config_mutants() {
  return {
      // ENV-3: the scrub policy is hard-coded; configured names and prefixes are ignored.
      {"hardcoded_env_policy", tweaked([](WorkerConfig& c) {
         c.env_whitelist = default_env_whitelist();
         c.env_prefixes = {"EXECKIT_"};
       })},
      // ENV-6: EXECKIT_NODE_ID is always the host name.
      {"node_id_ignored", tweaked([](WorkerConfig& c) { c.node_id.clear(); })},
      // LIFE-2: an off-by-one in the pool size.
      {"max_workers_off_by_one", tweaked([](WorkerConfig& c) { c.max_workers += 1; })},
      // LIFE-3: idle_timeout read in the wrong unit (as microseconds), so idle workers exit at once.
      {"idle_timeout_unit_confusion", tweaked([](WorkerConfig& c) {
         c.idle_timeout = std::max(std::chrono::milliseconds(1), c.idle_timeout / 1000);
       })},
      // LIFE-4: workers are started without a parent-death signal.
      {"no_pdeathsig", tweaked([](WorkerConfig& c) { c.enable_pdeathsig = false; })},
      // CONFIG-1: max_workers = 0 is silently clamped to 1 instead of refused.
      {"zero_workers_clamped", tweaked([](WorkerConfig& c) { c.max_workers = std::max<std::size_t>(1, c.max_workers); })},
  };
}

}  // namespace execkit::mutants
