// MODEL: random sequences of calls — success, task error, crash by signal,
// exit, timeout, cancel (queued and running), large results kept and
// released, env updates, chdir, cwd, search paths, concurrent submissions —
// checked against a small model after every step (model_steps.cpp,
// model_harness.cpp). A failing sequence is shrunk by RapidCheck to a
// minimal one and printed step by step.
//
// Default run: 25 sequences of at most 15 steps. RC_PARAMS overrides it,
// e.g. RC_PARAMS="max_success=500 max_size=40" for a long run, or the
// "reproduce=..." string a failure prints.
#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "execkit/conformance/suite.hpp"

#if EXECKIT_CONFORMANCE_HAS_RAPIDCHECK
#include "model_steps.hpp"
#endif

namespace execkit::conformance {
namespace {

#if EXECKIT_CONFORMANCE_HAS_RAPIDCHECK

rc::detail::TestParams model_test_params() {
  const char* from_environment = std::getenv("RC_PARAMS");
  if (from_environment != nullptr && *from_environment != '\0') return rc::detail::configuration().testParams;
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.maxSuccess = 25;
  params.maxSize = 14;  // a sequence has at most maxSize + 1 steps
  return params;
}

// Once a sequence has failed, shrinking re-runs shorter ones; past this budget
// every further candidate is discarded (it counts as not failing), so the
// smallest failing sequence found so far is reported before the suite's
// watchdog would abort the test. That sequence itself still runs when
// RapidCheck re-runs it to print it.
class ShrinkBudget {
 public:
  explicit ShrinkBudget(std::chrono::milliseconds budget) : budget_(budget) {}
  void before(const std::string& sequence) const {
    if (first_failure_ && std::chrono::steady_clock::now() - *first_failure_ > budget_ && sequence != last_failure_)
      RC_DISCARD("shrinking budget spent");
  }
  void failed(const std::string& sequence) {
    if (!first_failure_) first_failure_ = std::chrono::steady_clock::now();
    last_failure_ = sequence;
  }

 private:
  std::chrono::milliseconds budget_;
  std::optional<std::chrono::steady_clock::time_point> first_failure_;
  std::string last_failure_;
};

#endif

}  // namespace

TEST_P(Model, MODEL_RandomCallSequencesMatchTheModel) {
#if EXECKIT_CONFORMANCE_HAS_RAPIDCHECK
  model::Context context;
  context.backend_name = backend_under_test().name;
  context.capabilities = capabilities();
  context.bounds = bounds();
  context.config = config();
  context.spill_dir = spill_dir();
  context.base_dir = config().base_dir;
  context.probe_dir = probe_dir();
  context.make_backend = [this](const WorkerConfig& cfg) { return make_backend(cfg); };
  context.hooks_of = [this](ExecutorBackend& backend) { return hooks_of(backend); };
  context.service_processes = backend_under_test().service_processes;

  int sequence = 0;
  ShrinkBudget budget(bounds().test_timeout / 3);
  const auto property = [&] {
    const auto steps = *rc::state::gen::commands(model::ModelState{}, &model::any_step);
    const auto shown = rc::toString(steps);
    budget.before(shown);
    auto per_sequence = context;
    per_sequence.work_dir = make_dir(temp_dir(), "model-" + std::to_string(++sequence));
    try {
      model::Harness harness(per_sequence);
      rc::state::runAll(steps, model::ModelState{}, harness);
      harness.finish();
    } catch (...) {
      budget.failed(shown);
      throw;
    }
  };

  rc::detail::TestMetadata metadata;
  metadata.id = std::string(::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name()) + "/" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name();
  metadata.description = "random call sequences against backend '" + backend_under_test().name + "'";
  const auto result = rc::detail::checkTestable(property, metadata, model_test_params());
  if (!result.template is<rc::detail::SuccessResult>()) {
    std::ostringstream message;
    rc::detail::printResultMessage(result, message);
    FAIL() << message.str();
  }
  RecordProperty("model_sequences", sequence);
#else
  GTEST_SKIP() << "execkit_conformance was built without RapidCheck (Debian: librapidcheck-dev); "
                  "the model-based test needs it";
#endif
}

}  // namespace execkit::conformance
