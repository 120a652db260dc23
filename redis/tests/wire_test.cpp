// The Redis wire format v1 (docs/distributed.md): what goes in comes out,
// and every malformed entry is a WireError naming what is wrong.
#include <gtest/gtest.h>

#include "wire.hpp"

namespace {

namespace wire = execkit::redis::wire;

wire::CallRequest sample_call() {
  wire::CallRequest request;
  request.call_id = "c0ffee000001-7";
  request.caller_id = "c0ffee000001";
  request.call.module = "execkit_probe";
  request.call.function = "echo";
  request.call.input = execkit::to_bytes(std::string("bytes\0with nul", 14));
  request.call.search_path = {"/opt/a", "/opt/b"};
  request.call.env_updates = {{"SET_ME", "value=with=equals"}, {"UNSET_ME", std::nullopt}, {"EMPTY", ""}};
  request.call.cwd = "/srv/work";
  request.deadline_us = 1'700'000'000'123'456;
  request.max_result_bytes = 1 << 20;
  request.stderr_tail_bytes = 4096;
  return request;
}

std::string field(const wire::Fields& fields, const std::string& name) {
  for (const auto& [key, value] : fields)
    if (key == name) return value;
  return "<absent>";
}

wire::Fields with(wire::Fields fields, const std::string& name, const std::string& value) {
  for (auto& [key, old] : fields)
    if (key == name) old = value;
  return fields;
}

wire::Fields without(wire::Fields fields, const std::string& name) {
  std::erase_if(fields, [&](const auto& f) { return f.first == name; });
  return fields;
}

std::string rejection(const wire::Fields& fields) {
  try {
    wire::decode_call(fields);
  } catch (const wire::WireError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(RedisWire, CallRoundTripsEveryField) {
  const auto request = sample_call();
  const auto decoded = wire::decode_call(wire::encode(request));
  EXPECT_EQ(decoded.call_id, request.call_id);
  EXPECT_EQ(decoded.caller_id, request.caller_id);
  EXPECT_EQ(decoded.call.module, request.call.module);
  EXPECT_EQ(decoded.call.function, request.call.function);
  EXPECT_EQ(decoded.call.input, request.call.input);
  EXPECT_EQ(decoded.call.search_path, request.call.search_path);
  EXPECT_EQ(decoded.call.env_updates, request.call.env_updates);
  EXPECT_EQ(decoded.call.cwd, request.call.cwd);
  EXPECT_EQ(decoded.deadline_us, request.deadline_us);
  EXPECT_EQ(decoded.max_result_bytes, request.max_result_bytes);
  EXPECT_EQ(decoded.stderr_tail_bytes, request.stderr_tail_bytes);
}

TEST(RedisWire, NoCwdAndNoPathStayAbsent) {
  auto request = sample_call();
  request.call.cwd.reset();
  request.call.search_path.clear();
  request.call.env_updates.clear();
  const auto decoded = wire::decode_call(wire::encode(request));
  EXPECT_FALSE(decoded.call.cwd.has_value());
  EXPECT_TRUE(decoded.call.search_path.empty());
  EXPECT_TRUE(decoded.call.env_updates.empty());
}

TEST(RedisWire, MalformedCallsAreRejectedNamingTheProblem) {
  const auto good = wire::encode(sample_call());
  EXPECT_NE(rejection(with(good, "v", "2")).find("unsupported wire version '2'"), std::string::npos);
  EXPECT_NE(rejection(without(good, "v")).find("no version field"), std::string::npos);
  EXPECT_NE(rejection(without(good, "module")).find("'module'"), std::string::npos);
  EXPECT_NE(rejection(with(good, "deadline_us", "soon")).find("'deadline_us' is not an integer: 'soon'"),
            std::string::npos);
  EXPECT_NE(rejection(with(good, "max_result", "-1")).find("'max_result'"), std::string::npos);
  EXPECT_NE(rejection(with(good, "kind", "reply")).find("kind 'reply'"), std::string::npos);
  EXPECT_NE(rejection(with(good, "env", std::string("=v\0B", 4))).find("empty name"), std::string::npos);
  EXPECT_NE(rejection(with(good, "caller", "")).find("empty call or caller id"), std::string::npos);
}

TEST(RedisWire, RepliesRoundTripWithTheirErrorsTyped) {
  wire::Reply ok;
  ok.kind = wire::Reply::Kind::ok;
  ok.call_id = "c-1";
  ok.data = "result";
  ok.size = 6;
  ok.metrics.worker_pid = 42;
  ok.metrics.worker_id = "0123456789ab";
  ok.metrics.node_id = "node-a";
  ok.metrics.started_at_ns = 10;
  ok.metrics.finished_at_ns = 30;
  ok.metrics.wall_time_ns = 20;
  const auto back = wire::decode_reply(wire::encode(ok));
  EXPECT_EQ(back.data, "result");
  EXPECT_EQ(back.metrics.worker_pid, 42);
  EXPECT_EQ(back.metrics.node_id, "node-a");

  wire::Reply failed;
  failed.kind = wire::Reply::Kind::error;
  failed.call_id = "c-2";
  failed.error = std::make_shared<execkit::TaskError>("ValueError", "bad input", "tail\n", ok.metrics);
  const auto task = wire::decode_reply(wire::encode(failed));
  const auto* error = dynamic_cast<const execkit::TaskError*>(task.error.get());
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->type(), "ValueError");
  EXPECT_EQ(error->stderr_tail(), "tail\n");
  EXPECT_EQ(error->metrics().worker_id, "0123456789ab");

  failed.error = std::make_shared<execkit::WorkerCrashed>("node 'a' stopped renewing its lease");
  const auto lost = wire::decode_reply(wire::encode(failed));
  const auto* crashed = dynamic_cast<const execkit::WorkerCrashed*>(lost.error.get());
  ASSERT_NE(crashed, nullptr);
  EXPECT_FALSE(crashed->term_signal().has_value());
  EXPECT_STREQ(crashed->what(), "node 'a' stopped renewing its lease");

  failed.error = std::make_shared<execkit::ResultError>(execkit::ResultError::Reason::too_large, "too big");
  const auto result = wire::decode_reply(wire::encode(failed));
  ASSERT_NE(dynamic_cast<const execkit::ResultError*>(result.error.get()), nullptr);
  EXPECT_EQ(dynamic_cast<const execkit::ResultError*>(result.error.get())->reason(),
            execkit::ResultError::Reason::too_large);
}

TEST(RedisWire, InlineDataMustMatchItsSize) {
  wire::Reply ok;
  ok.kind = wire::Reply::Kind::ok;
  ok.call_id = "c-1";
  ok.data = "abc";
  ok.size = 3;
  auto fields = with(wire::encode(ok), "size", "4");
  EXPECT_THROW(wire::decode_reply(fields), wire::WireError);
}

TEST(RedisWire, ChunkArgumentsMatchTheEncodedChunk) {
  wire::Reply chunk;
  chunk.kind = wire::Reply::Kind::chunk;
  chunk.call_id = "c-1";
  chunk.data = "payload";
  const auto args = wire::chunk_xadd_args("reply-key", "c-1", "payload");
  wire::Fields from_args;
  for (std::size_t i = 3; i + 1 < args.size(); i += 2) from_args.emplace_back(args[i], args[i + 1]);
  const auto decoded = wire::decode_reply(from_args);
  EXPECT_EQ(decoded.kind, wire::Reply::Kind::chunk);
  EXPECT_EQ(decoded.data, "payload");
  EXPECT_EQ(field(wire::encode(chunk), "data"), "payload");
}

TEST(RedisWire, FramingRoundTripsAndRejectsTruncation) {
  const auto fields = wire::encode(sample_call());
  const auto framed = wire::frame(fields);
  EXPECT_EQ(wire::unframe(framed), fields);
  EXPECT_THROW(wire::unframe(framed.substr(0, framed.size() - 1)), wire::WireError);
}

TEST(RedisWire, PoolNamesAreSafeKeyParts) {
  EXPECT_TRUE(wire::valid_pool_name("jobs-1.gpu_a"));
  EXPECT_FALSE(wire::valid_pool_name(""));
  EXPECT_FALSE(wire::valid_pool_name("a:b"));
  EXPECT_FALSE(wire::valid_pool_name("a b"));
  EXPECT_FALSE(wire::valid_pool_name(std::string(65, 'a')));
}

}  // namespace
