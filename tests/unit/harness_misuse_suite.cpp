// The conformance suite instantiated for backends that misuse it. Each misuse
// must end in a message that says what is wrong; tests/unit/CMakeLists.txt
// runs single tests of this binary and matches their output.
#include <future>
#include <memory>
#include <stdexcept>

#include "execkit/conformance/suite.hpp"

namespace {

// Never finishes a call: the suite's watchdog must name the clause that hung.
class HangingBackend final : public execkit::ExecutorBackend {
 public:
  execkit::Result execute(const execkit::Call&, execkit::Deadline) override {
    never_.get_future().wait();
    return {};
  }
  execkit::Submission submit(execkit::Call, execkit::Deadline, execkit::CompletionHandler) override { return {}; }
  void shutdown(bool) override {}

 private:
  std::promise<void> never_;
};

execkit::conformance::BackendUnderTest misusing(std::string name,
                                                std::function<std::unique_ptr<execkit::ExecutorBackend>()> make) {
  execkit::conformance::BackendUnderTest backend;
  backend.name = std::move(name);
  backend.make = [make = std::move(make)](const execkit::WorkerConfig&) { return make(); };
  return backend;
}

}  // namespace

EXECKIT_CONFORMANCE_TESTS(Throwing, misusing("Throwing", []() -> std::unique_ptr<execkit::ExecutorBackend> {
                            throw std::runtime_error("no licence for this backend");
                          }));
EXECKIT_CONFORMANCE_TESTS(Null, misusing("Null", [] { return std::unique_ptr<execkit::ExecutorBackend>(); }));
EXECKIT_CONFORMANCE_TESTS(Hanging, misusing("Hanging", [] { return std::make_unique<HangingBackend>(); }));
