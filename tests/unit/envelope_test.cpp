#include "envelope.hpp"

#include <gtest/gtest.h>

namespace execkit::wire {
namespace {

TEST(Envelope, RequestRoundTrips) {
  Request r;
  r.call_id = 42;
  r.module = "probe";
  r.function = "echo";
  r.search_path = {"/a", "/b"};
  r.env_updates = {{"A", "1"}, {"B", std::nullopt}};
  r.cwd = "/tmp";
  r.spill_path = "/tmp/x.spill";
  r.max_result_bytes = 99;
  r.inline_input = {std::byte{1}, std::byte{2}};
  r.input_size = 2;
  auto decoded = decode_request(encode(r));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, r);
}

TEST(Envelope, ResponseRoundTrips) {
  Response r;
  r.call_id = 7;
  r.location = ResultLocation::spill_file;
  r.result_size = 1 << 20;
  r.metrics = {1, 2, 3, 4, 5};
  r.retire = true;
  r.retire_reason = "threads";
  auto decoded = decode_response(encode(r));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, r);
}

TEST(Envelope, EveryTruncationIsRejected) {
  Response r;
  r.location = ResultLocation::inline_bytes;
  r.inline_result = {std::byte{9}, std::byte{8}, std::byte{7}};
  r.result_size = 3;
  r.error_type = "t";
  auto bytes = encode(r);
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(decode_response(std::span(bytes.data(), n))) << "prefix of " << n << " bytes";
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(decode_response(bytes)) << "trailing byte";
}

TEST(Envelope, InconsistentInlineSizeIsRejected) {
  Response r;
  r.location = ResultLocation::inline_bytes;
  r.inline_result = {std::byte{1}};
  r.result_size = 2;
  EXPECT_FALSE(decode_response(encode(r)));
}

TEST(Envelope, ErrorWithResultIsRejected) {
  Response r;
  r.kind = ResponseKind::task_error;
  r.location = ResultLocation::spill_file;
  EXPECT_FALSE(decode_response(encode(r)));
}

}  // namespace
}  // namespace execkit::wire
