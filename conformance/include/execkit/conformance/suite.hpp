// The executor-backend conformance suite (CONTRACT.md), written once against
// execkit::ExecutorBackend. A backend author writes one line in a test source
// linked with execkit_add_conformance():
//
//   EXECKIT_CONFORMANCE_TESTS(MyBackend, (execkit::conformance::BackendUnderTest{
//       "mine", [](const execkit::WorkerConfig& c) { return std::make_unique<Mine>(c); },
//       {.has_local_process_workers = true}, {}}));
//
// Test names read <Name>/<Area>.<CLAUSE_ID>_<Behaviour>/<backend name>, e.g.
// MyBackend/Spill.SPILL_4_RefusesSymlinkSwap/mine: filter by area
// (--gtest_filter='*/Spill.*') or by clause (--gtest_filter='*SPILL_4*').
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "execkit/conformance/backend_under_test.hpp"
#include "execkit/conformance/fixture.hpp"

namespace execkit::conformance {

// One suite per contract area; the test bodies live in the execkit_conformance library.
class Env : public ConformanceTest {};
class Iso : public ConformanceTest {};
class Run : public ConformanceTest {};
class Spill : public ConformanceTest {};
class Cancel : public ConformanceTest {};
class Life : public ConformanceTest {};
class Hook : public ConformanceTest {};
class Loop : public ConformanceTest {};
class Metric : public ConformanceTest {};
class Config : public ConformanceTest {};
// Not a clause area: random call sequences checked against a model (MODEL).
class Model : public ConformanceTest {};

// ENV-1 is checked once per named secret and pattern of the clause.
struct SecretCase {
  std::string label;     // test-name suffix, e.g. "AWS_prefix"
  std::string variable;  // the variable set in the caller, e.g. "AWS_SECRET_ACCESS_KEY"
};
std::vector<SecretCase> secret_cases();
void PrintTo(const SecretCase& secret, std::ostream* out);

class EnvSecret : public ConformanceFixture,
                  public ::testing::WithParamInterface<std::tuple<BackendUnderTest, SecretCase>> {
 protected:
  const BackendUnderTest& backend_under_test() const override { return std::get<0>(GetParam()); }
  const SecretCase& secret() const { return std::get<1>(GetParam()); }
};

std::string backend_param_name(const ::testing::TestParamInfo<BackendUnderTest>& info);
std::string secret_param_name(const ::testing::TestParamInfo<std::tuple<BackendUnderTest, SecretCase>>& info);

// The suite's own check that every one of its tests registered under
// `instantiation` (a library linked without --whole-archive silently loses
// tests) and that every contract clause has a test.
void check_registration(std::string_view instantiation);

}  // namespace execkit::conformance

#define EXECKIT_CONFORMANCE_AREA_(Name, Area)                                                             \
  INSTANTIATE_TEST_SUITE_P(Name, Area, ::testing::Values(::execkit_conformance_backend_##Name()),         \
                           ::execkit::conformance::backend_param_name);

// Instantiates every area suite for the backend `backend_under_test_expr`
// (an expression of type execkit::conformance::BackendUnderTest).
#define EXECKIT_CONFORMANCE_TESTS(Name, backend_under_test_expr)                                          \
  static ::execkit::conformance::BackendUnderTest execkit_conformance_backend_##Name() {                  \
    return (backend_under_test_expr);                                                                     \
  }                                                                                                       \
  namespace execkit::conformance {                                                                        \
  EXECKIT_CONFORMANCE_AREA_(Name, Env)                                                                    \
  INSTANTIATE_TEST_SUITE_P(Name, EnvSecret,                                                               \
                           ::testing::Combine(::testing::Values(::execkit_conformance_backend_##Name()),  \
                                              ::testing::ValuesIn(::execkit::conformance::secret_cases())), \
                           ::execkit::conformance::secret_param_name);                                    \
  EXECKIT_CONFORMANCE_AREA_(Name, Iso)                                                                    \
  EXECKIT_CONFORMANCE_AREA_(Name, Run)                                                                    \
  EXECKIT_CONFORMANCE_AREA_(Name, Spill)                                                                  \
  EXECKIT_CONFORMANCE_AREA_(Name, Cancel)                                                                 \
  EXECKIT_CONFORMANCE_AREA_(Name, Life)                                                                   \
  EXECKIT_CONFORMANCE_AREA_(Name, Hook)                                                                   \
  EXECKIT_CONFORMANCE_AREA_(Name, Loop)                                                                   \
  EXECKIT_CONFORMANCE_AREA_(Name, Metric)                                                                 \
  EXECKIT_CONFORMANCE_AREA_(Name, Config)                                                                 \
  EXECKIT_CONFORMANCE_AREA_(Name, Model)                                                                  \
  }                                                                                                       \
  TEST(Name##_SelfCheck, AllConformanceTestsRegistered) { ::execkit::conformance::check_registration(#Name); } \
  static_assert(true, "EXECKIT_CONFORMANCE_TESTS ends with a semicolon")
