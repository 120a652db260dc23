#include "dispatcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace execkit {
namespace {

TEST(Dispatcher, RunsWorkInOrderOffTheCallingThread) {
  std::vector<int> order;
  std::promise<std::thread::id> ran_on;
  {
    Dispatcher d;
    for (int i = 0; i < 100; ++i) d.post([&order, i] { order.push_back(i); });
    d.post([&] { ran_on.set_value(std::this_thread::get_id()); });
  }  // destructor drains the queue
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_NE(ran_on.get_future().get(), std::this_thread::get_id());
}

TEST(Dispatcher, MayBeDestroyedFromItsOwnThread) {
  auto d = std::make_shared<Dispatcher>();
  std::promise<void> done;
  auto f = done.get_future();
  std::weak_ptr<Dispatcher> weak = d;
  d->post([d = std::move(d), &done]() mutable {
    d.reset();  // drops the last owner on the dispatcher thread
    done.set_value();
  });
  ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace execkit
