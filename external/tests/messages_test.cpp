// The protocol's codecs: what one side encodes, the other decodes unchanged;
// what is malformed is refused naming the member.
#include <gtest/gtest.h>

#include <limits>

#include "messages.hpp"

namespace execkit::external {
namespace {

ExecutionMetrics sample_metrics() {
  ExecutionMetrics m;
  m.peak_rss_kib = 1024;
  m.user_time_us = 5;
  m.system_time_us = 6;
  m.started_at_ns = 100;
  m.finished_at_ns = 350;
  m.wall_time_ns = 250;
  m.worker_pid = 4242;
  m.worker_id = "0a1b2c3d4e5f";
  m.node_id = "node-7";
  return m;
}

std::shared_ptr<const Error> round_trip(const Error& error) {
  return decode_error(Json::parse(encode_error(error).dump()), "a test");
}

TEST(ProtocolMessages, EveryErrorKindRoundTripsWithItsMembersAndText) {
  const TaskError task("ValueError", "bad input", "the tail\n", sample_metrics());
  const auto task_back = round_trip(task);
  const auto* task_copy = dynamic_cast<const TaskError*>(task_back.get());
  ASSERT_NE(task_copy, nullptr);
  EXPECT_EQ(task_copy->type(), "ValueError");
  EXPECT_EQ(task_copy->message(), "bad input");
  EXPECT_EQ(task_copy->stderr_tail(), "the tail\n");
  EXPECT_EQ(task_copy->metrics().worker_pid, 4242);
  EXPECT_STREQ(task_copy->what(), task.what());

  const WorkerCrashed crash(9, std::nullopt, "dying words");
  const auto crash_back = round_trip(crash);
  const auto* crash_copy = dynamic_cast<const WorkerCrashed*>(crash_back.get());
  ASSERT_NE(crash_copy, nullptr);
  EXPECT_EQ(crash_copy->term_signal(), 9);
  EXPECT_FALSE(crash_copy->exit_status().has_value());
  EXPECT_STREQ(crash_copy->what(), crash.what());
  EXPECT_STREQ(round_trip(WorkerCrashed("node n-1 stopped renewing its lease"))->what(), "node n-1 stopped renewing its lease");

  const ConfigError config("max_workers", "0", "must be at least 1");
  const auto config_back = round_trip(config);
  const auto* config_copy = dynamic_cast<const ConfigError*>(config_back.get());
  ASSERT_NE(config_copy, nullptr);
  EXPECT_EQ(config_copy->setting(), "max_workers");
  EXPECT_EQ(config_copy->value(), "0");
  EXPECT_STREQ(config_copy->what(), config.what());
  // A value that holds the '": ' which ends the quoted value (found by fuzz.protocol_message).
  const ConfigError tricky("max_workers", ": \\\": x\"", "must be at least 1");
  EXPECT_STREQ(round_trip(tricky)->what(), tricky.what());

  const ResultError result(ResultError::Reason::too_large, "result of 9 bytes over the cap of 8");
  const auto result_back = round_trip(result);
  const auto* result_copy = dynamic_cast<const ResultError*>(result_back.get());
  ASSERT_NE(result_copy, nullptr);
  EXPECT_EQ(result_copy->reason(), ResultError::Reason::too_large);

  for (const auto& error : std::vector<std::shared_ptr<const Error>>{
           std::make_shared<TimeoutError>("late"), std::make_shared<CancelledError>("cancelled"),
           std::make_shared<SpillError>("a symlink"), std::make_shared<BackendClosed>("closed")}) {
    const auto back = round_trip(*error);
    EXPECT_EQ(back->kind(), error->kind());
    EXPECT_STREQ(back->what(), error->what());
  }
}

TEST(ProtocolMessages, SubmitCarriesEveryPartOfTheCall) {
  Call call;
  call.module = "execkit_probe";
  call.function = "echo";
  call.input = {std::byte{0}, std::byte{0xff}, std::byte{'\n'}};
  call.search_path = {"/a", "/b c"};
  call.env_updates = {{"SET", "value"}, {"UNSET", std::nullopt}};
  call.cwd = "/work dir";
  const auto wire = decode_submit(Json::parse(encode_submit(12, call, Deadline::after(std::chrono::seconds(30))).dump()));
  EXPECT_EQ(wire.id, 12u);
  EXPECT_EQ(wire.call.module, call.module);
  EXPECT_EQ(wire.call.function, call.function);
  EXPECT_EQ(wire.call.input, call.input);
  EXPECT_EQ(wire.call.search_path, call.search_path);
  EXPECT_EQ(wire.call.env_updates, call.env_updates);
  EXPECT_EQ(wire.call.cwd, call.cwd);
  ASSERT_TRUE(wire.timeout_ns.has_value());
  EXPECT_GT(*wire.timeout_ns, 29'000'000'000);
  EXPECT_FALSE(decode_submit(Json::parse(encode_submit(1, call, Deadline::never()).dump())).timeout_ns.has_value());
}

TEST(ProtocolMessages, SubmitSizeBoundIsNeverBelowTheEncodedSize) {
  Call call;
  call.module = std::string("m\x01\"\\\n", 6);
  call.function = "f";
  for (int length : {0, 1, 2, 3, 1000}) {
    call.input.assign(static_cast<std::size_t>(length), std::byte{0xff});
    call.search_path = {std::string(40, '\x02'), "/plain"};
    call.env_updates = {{"A\x03", std::string(10, '"')}, {"UNSET", std::nullopt}};
    call.cwd = std::string(7, '\x1f');
    for (const auto deadline : {Deadline::never(), Deadline::after(std::chrono::hours(1000))}) {
      const auto encoded = encode_submit(std::numeric_limits<std::uint64_t>::max(), call, deadline).dump();
      EXPECT_GE(submit_size_bound(call), encoded.size()) << "input of " << length << " bytes";
    }
  }
}

TEST(ProtocolMessages, ConfigurationRoundTrips) {
  WorkerConfig config;
  config.max_workers = 3;
  config.idle_timeout = std::chrono::milliseconds(1500);
  config.spill_dir = "/spill";
  config.env_whitelist = {"A", "B"};
  config.env_prefixes = {"X_", "Y_"};
  config.enable_pdeathsig = false;
  config.pool_id = "pool";
  config.node_id = "node";
  config.base_dir = "/base";
  config.max_result_bytes = 77;
  config.stderr_tail_bytes = 99;
  const auto back = decode_config(Json::parse(encode_config(config).dump()), {});
  EXPECT_EQ(back.max_workers, 3u);
  EXPECT_EQ(back.idle_timeout, config.idle_timeout);
  EXPECT_EQ(back.spill_dir, config.spill_dir);
  EXPECT_EQ(back.env_whitelist, config.env_whitelist);
  EXPECT_EQ(back.env_prefixes, config.env_prefixes);
  EXPECT_FALSE(back.enable_pdeathsig);
  EXPECT_EQ(back.pool_id, "pool");
  EXPECT_EQ(back.node_id, "node");
  EXPECT_EQ(back.base_dir, config.base_dir);
  EXPECT_EQ(back.max_result_bytes, 77u);
  EXPECT_EQ(back.stderr_tail_bytes, 99u);
}

TEST(ProtocolMessages, MalformedMessagesNameTheirFault) {
  const auto refusal = [](const std::function<void()>& body) {
    try {
      body();
    } catch (const ProtocolError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(refusal([] { parse_message("[1,2]", "a line"); }), "a line is not a JSON object: [1,2]");
  EXPECT_NE(refusal([] { parse_message("{\"type\":", "a line"); }).find("is not valid JSON"), std::string::npos);
  EXPECT_EQ(refusal([] { type_of(Json::parse("{}")); }), "member 'type' is missing in a message");
  EXPECT_EQ(refusal([] { decode_submit(Json::parse(R"({"id":-1})")); }), "member 'id' in submit is not an unsigned integer");
  EXPECT_EQ(refusal([] { decode_error(Json::parse(R"({"kind":"boom","message":""})"), "failure for id 3"); }),
            "unknown error kind 'boom' in the error of failure for id 3");
  EXPECT_NE(refusal([] { base64_decode("abc", "input"); }).find("not a multiple of 4"), std::string::npos);
  EXPECT_NE(refusal([] { base64_decode("ab!d", "input"); }).find("bad character at offset 2"), std::string::npos);
}

TEST(ProtocolMessages, Base64RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(base64_decode(base64_encode(bytes.data(), bytes.size()), "t"), bytes) << "length " << i;
    bytes += static_cast<char>(i * 37);
  }
  EXPECT_EQ(base64_encode("hello", 5), "aGVsbG8=");
}

}  // namespace
}  // namespace execkit::external
