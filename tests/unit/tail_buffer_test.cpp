#include "tail_buffer.hpp"

#include <gtest/gtest.h>

namespace execkit {
namespace {

TEST(TailBuffer, KeepsOnlyTheLastBytes) {
  TailBuffer t(5);
  t.append("abc");
  EXPECT_EQ(t.tail(), "abc");
  t.append("defgh");
  EXPECT_EQ(t.tail(), "defgh");
  for (int i = 0; i < 1000; ++i) t.append("xy");
  EXPECT_EQ(t.tail(), "yxyxy");
  t.append("0123456789");
  EXPECT_EQ(t.tail(), "56789");
  t.clear();
  EXPECT_EQ(t.tail(), "");
}

}  // namespace
}  // namespace execkit
