#include "task_context_impl.hpp"

namespace execkit::worker {

void TaskContextImpl::fail(std::string_view type, std::string_view message) {
  if (!failure_) failure_ = TaskFailure{std::string(type), std::string(message)};
}

}  // namespace execkit::worker
