// How oneshot-worker tells the caller how the task ended: a record
// "<kind>\n<type>\n<message>" in its status file (fd 4), written after the
// task returned and just before the worker exits with status 0. No record
// means the task never returned (it crashed or called exit), so a worker
// that exits 0 without one has crashed too.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace oneshot {

// The fds a task sees besides 0, 1 and 2 (documented to the suite).
inline constexpr int result_fd = 3;
inline constexpr int status_fd = 4;

enum class StatusKind { ok, task_error, too_large, write_failed };

struct Status {
  StatusKind kind = StatusKind::ok;
  std::string type;     // the error type of a task_error
  std::string message;  // empty for ok
};

inline constexpr std::string_view kind_words[] = {"ok", "task_error", "too_large", "write_failed"};

inline std::string encode(const Status& status) {
  return std::string(kind_words[static_cast<int>(status.kind)]) + "\n" + status.type + "\n" + status.message;
}

inline std::optional<Status> decode(std::string_view record) {
  const auto first = record.find('\n');
  const auto second = first == std::string_view::npos ? first : record.find('\n', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  const auto word = record.substr(0, first);
  for (int i = 0; i < 4; ++i) {
    if (word == kind_words[i]) {
      return Status{static_cast<StatusKind>(i), std::string(record.substr(first + 1, second - first - 1)),
                    std::string(record.substr(second + 1))};
    }
  }
  return std::nullopt;
}

}  // namespace oneshot
