// The task-module API: what a module author includes to export tasks.
//
//   EXECKIT_TASK(echo)(execkit::TaskContext& ctx) {
//     ctx.write(ctx.input());
//   }
//
// A task fails by throwing: the exception's type and what() become the
// TaskError's type and message.
#pragma once

#include <cstddef>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>

#include <cstdlib>

#include <cxxabi.h>

namespace execkit {

// Implemented by the worker. Only virtual calls cross the module boundary.
class TaskContext {
 public:
  virtual std::span<const std::byte> input() const = 0;
  // Appends to the result; large results stream to a spill file. Throws if
  // the result exceeds the configured cap or cannot be written.
  virtual void write(std::span<const std::byte> bytes) = 0;
  void write(std::string_view text) {
    write(std::span(reinterpret_cast<const std::byte*>(text.data()), text.size()));
  }
  // Marks the call failed with this error type and message.
  virtual void fail(std::string_view type, std::string_view message) = 0;

 protected:
  ~TaskContext() = default;
};

namespace detail {
inline std::string demangled_type(const std::type_info& info) {
  int status = 0;
  char* name = abi::__cxa_demangle(info.name(), nullptr, nullptr, &status);
  std::string out = (status == 0 && name) ? name : info.name();
  std::free(name);
  return out;
}

inline int run_task_body(TaskContext& ctx, void (*body)(TaskContext&)) noexcept {
  try {
    body(ctx);
    return 0;
  } catch (const std::exception& e) {
    ctx.fail(demangled_type(typeid(e)), e.what());
  } catch (...) {
    ctx.fail("unknown", "a non-standard exception was thrown");
  }
  return 1;
}
}  // namespace detail

// Version of the entry-point ABI; the worker refuses modules built for another.
inline constexpr int task_abi_version = 1;

}  // namespace execkit

#define EXECKIT_TASK_SYMBOL_PREFIX "execkit_task_v1_"

#define EXECKIT_TASK(name)                                                                  \
  static void execkit_task_body_##name(::execkit::TaskContext&);                            \
  extern "C" __attribute__((visibility("default"))) int execkit_task_v1_##name(             \
      ::execkit::TaskContext* ctx) noexcept {                                               \
    return ::execkit::detail::run_task_body(*ctx, &execkit_task_body_##name);               \
  }                                                                                         \
  static void execkit_task_body_##name
