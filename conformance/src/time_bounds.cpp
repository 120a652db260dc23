#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "execkit/conformance/backend_under_test.hpp"

namespace execkit::conformance {
namespace {

std::chrono::milliseconds times(std::chrono::milliseconds value, double factor) {
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(static_cast<double>(value.count()) * factor)));
}

}  // namespace

TimeBounds TimeBounds::scaled(double factor) const {
  TimeBounds out = *this;
  out.deadline_grace = times(deadline_grace, factor);
  out.pdeathsig = times(pdeathsig, factor);
  out.shutdown_nowait = times(shutdown_nowait, factor);
  out.condition_wait = times(condition_wait, factor);
  out.call_timeout = times(call_timeout, factor);
  out.test_timeout = times(test_timeout, factor);
  return out;
}

double TimeBounds::scale_from_env() {
  const char* text = std::getenv("EXECKIT_CONFORMANCE_TIME_SCALE");
  if (text == nullptr || *text == '\0') return 1.0;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(value) || value <= 0 || value > 1000) {
    throw std::invalid_argument(std::string("invalid EXECKIT_CONFORMANCE_TIME_SCALE=\"") + text +
                                "\": expected a positive number up to 1000");
  }
  return value;
}

void PrintTo(const BackendUnderTest& backend, std::ostream* out) { *out << "backend '" << backend.name << "'"; }

}  // namespace execkit::conformance
