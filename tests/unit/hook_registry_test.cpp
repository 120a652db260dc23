#include "hook_registry.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace execkit {
namespace {

struct Logged {
  std::vector<std::string> lines;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};

TEST(HookRegistry, FiresInRegistrationOrder) {
  Logged log;
  HookRegistry hooks(log.sink());
  std::vector<int> order;
  auto a = hooks.add_submit([&](const Call&) { order.push_back(1); });
  auto b = hooks.add_submit([&](const Call&) { order.push_back(2); });
  auto c = hooks.add_submit([&](const Call&) { order.push_back(3); });
  hooks.fire_submit(Call{});
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(HookRegistry, ThrowingHandlerIsLoggedAndIsolated) {
  Logged log;
  HookRegistry hooks(log.sink());
  int after = 0;
  auto a = hooks.add_complete([](const Call&, const ExecutionMetrics*, const Error*) { throw std::runtime_error("boom"); });
  auto b = hooks.add_complete([&](const Call&, const ExecutionMetrics*, const Error*) { ++after; });
  hooks.fire_complete(Call{}, nullptr, nullptr);
  EXPECT_EQ(after, 1);
  ASSERT_EQ(log.lines.size(), 1u);
  EXPECT_NE(log.lines[0].find("boom"), std::string::npos);
  EXPECT_NE(log.lines[0].find("on_complete"), std::string::npos);
}

TEST(HookRegistry, UnsubscribeStopsDelivery) {
  HookRegistry hooks([](std::string_view) {});
  int fired = 0;
  auto sub = hooks.add_submit([&](const Call&) { ++fired; });
  hooks.fire_submit(Call{});
  sub.unsubscribe();
  hooks.fire_submit(Call{});
  EXPECT_EQ(fired, 1);
  {
    auto scoped = hooks.add_submit([&](const Call&) { ++fired; });
  }
  hooks.fire_submit(Call{});
  EXPECT_EQ(fired, 1);
}

TEST(HookRegistry, ShutdownFiresOnce) {
  HookRegistry hooks([](std::string_view) {});
  int fired = 0;
  auto sub = hooks.add_shutdown([&] { ++fired; });
  hooks.fire_shutdown_once();
  hooks.fire_shutdown_once();
  EXPECT_EQ(fired, 1);
}

TEST(HookRegistry, HandlerMaySubscribeDuringFiring) {
  HookRegistry hooks([](std::string_view) {});
  std::vector<Subscription> added;
  int inner = 0;
  auto sub = hooks.add_submit([&](const Call&) { added.push_back(hooks.add_submit([&](const Call&) { ++inner; })); });
  hooks.fire_submit(Call{});
  EXPECT_EQ(inner, 0);
  hooks.fire_submit(Call{});
  EXPECT_EQ(inner, 1);
}

TEST(HookRegistry, SubscriptionOutlivingRegistryIsHarmless) {
  Subscription sub;
  {
    HookRegistry hooks([](std::string_view) {});
    sub = hooks.add_submit([](const Call&) {});
  }
  sub.unsubscribe();
  SUCCEED();
}

}  // namespace
}  // namespace execkit
