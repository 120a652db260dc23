// Event-loop integration: run a call from any Asio executor (LOOP-1..3).
//
//   co_await execkit::async_execute(backend, call, deadline, asio::use_awaitable);
//
// The completion is delivered through the handler's associated executor, so
// it runs on the loop (io_context) that started the call. Works with
// callbacks, asio::use_future and C++20 coroutines. Header-only; needs
// standalone Asio (Debian: libasio-dev).
#pragma once

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <memory>
#include <utility>

#include "execkit/backend.hpp"

namespace execkit {

template <class CompletionToken>
auto async_execute(ExecutorBackend& backend, Call call, Deadline deadline, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(Outcome)>(
      [&backend](auto handler, Call c, Deadline d) {
        using Handler = decltype(handler);
        auto executor = asio::get_associated_executor(handler);
        // Keeps the loop alive until the completion has been posted to it.
        auto work = asio::make_work_guard(executor);
        // The backend's CompletionHandler is copyable; Asio handlers may not be.
        auto shared = std::make_shared<std::pair<Handler, decltype(work)>>(std::move(handler), std::move(work));
        backend.submit(std::move(c), d, [shared](Outcome outcome) {
          // The guard must outlive asio::post on this thread: if the loop
          // could stop while post is still signalling it, the io_context
          // might be destroyed under post's feet.
          auto guard = std::move(shared->second);
          asio::post(guard.get_executor(), [shared, outcome = std::move(outcome)]() mutable {
            auto h = std::move(shared->first);
            std::move(h)(std::move(outcome));
          });
          guard.reset();
        });
      },
      token, std::move(call), deadline);
}

}  // namespace execkit
