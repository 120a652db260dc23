#include "envelope.hpp"

#include <cstring>

namespace execkit::wire {
namespace {

constexpr std::uint32_t request_magic = 0x454b5251;   // "EKRQ"
constexpr std::uint32_t response_magic = 0x454b5253;  // "EKRS"
constexpr std::uint32_t max_list_items = 4096;

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(std::byte{v}); }
  void u32(std::uint32_t v) { raw(&v, sizeof v); }
  void u64(std::uint64_t v) { raw(&v, sizeof v); }
  void i64(std::int64_t v) { raw(&v, sizeof v); }
  void flag(bool v) { u8(v ? 1 : 0); }
  void bytes(std::span<const std::byte> b) {
    u32(static_cast<std::uint32_t>(b.size()));
    raw(b.data(), b.size());
  }
  void str(const std::string& s) { bytes(std::as_bytes(std::span(s.data(), s.size()))); }
  void opt_str(const std::optional<std::string>& s) {
    flag(s.has_value());
    if (s) str(*s);
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<std::byte> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && pos_ == in_.size(); }

  std::uint8_t u8() {
    std::uint8_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  std::int64_t i64() {
    std::int64_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  bool flag() {
    auto v = u8();
    if (v > 1) ok_ = false;
    return v == 1;
  }
  std::vector<std::byte> bytes() {
    auto n = u32();
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::vector<std::byte> out(in_.begin() + pos_, in_.begin() + pos_ + n);
    pos_ += n;
    return out;
  }
  std::string str() {
    auto b = bytes();
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  std::optional<std::string> opt_str() {
    if (!flag()) return std::nullopt;
    return str();
  }
  std::uint32_t count() {
    auto n = u32();
    if (n > max_list_items) ok_ = false;
    return ok_ ? n : 0;
  }

 private:
  void raw(void* p, std::size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return;
    }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

template <class Enum>
bool in_range(std::uint8_t v, Enum lo, Enum hi) {
  return v >= static_cast<std::uint8_t>(lo) && v <= static_cast<std::uint8_t>(hi);
}

}  // namespace

std::vector<std::byte> encode(const Request& r) {
  Writer w;
  w.u32(request_magic);
  w.u8(static_cast<std::uint8_t>(r.kind));
  w.u64(r.call_id);
  w.str(r.module);
  w.str(r.function);
  w.u32(static_cast<std::uint32_t>(r.search_path.size()));
  for (const auto& p : r.search_path) w.str(p);
  w.u32(static_cast<std::uint32_t>(r.env_updates.size()));
  for (const auto& u : r.env_updates) {
    w.str(u.name);
    w.opt_str(u.value);
  }
  w.opt_str(r.cwd);
  w.str(r.spill_path);
  w.u64(r.max_result_bytes);
  w.flag(r.input_in_fd);
  w.u64(r.input_size);
  w.bytes(r.inline_input);
  return w.take();
}

std::optional<Request> decode_request(std::span<const std::byte> bytes) {
  Reader rd(bytes);
  if (rd.u32() != request_magic) return std::nullopt;
  Request r;
  auto kind = rd.u8();
  if (!in_range(kind, RequestKind::run, RequestKind::exit)) return std::nullopt;
  r.kind = static_cast<RequestKind>(kind);
  r.call_id = rd.u64();
  r.module = rd.str();
  r.function = rd.str();
  for (auto n = rd.count(); n > 0 && rd.ok(); --n) r.search_path.push_back(rd.str());
  for (auto n = rd.count(); n > 0 && rd.ok(); --n) {
    EnvUpdate u;
    u.name = rd.str();
    u.value = rd.opt_str();
    r.env_updates.push_back(std::move(u));
  }
  r.cwd = rd.opt_str();
  r.spill_path = rd.str();
  r.max_result_bytes = rd.u64();
  r.input_in_fd = rd.flag();
  r.input_size = rd.u64();
  r.inline_input = rd.bytes();
  if (!rd.at_end()) return std::nullopt;
  if (!r.input_in_fd && r.input_size != r.inline_input.size()) return std::nullopt;
  if (r.input_in_fd && !r.inline_input.empty()) return std::nullopt;
  return r;
}

std::vector<std::byte> encode(const Response& r) {
  Writer w;
  w.u32(response_magic);
  w.u8(static_cast<std::uint8_t>(r.kind));
  w.u64(r.call_id);
  w.u8(static_cast<std::uint8_t>(r.location));
  w.u64(r.result_size);
  w.bytes(r.inline_result);
  w.u8(static_cast<std::uint8_t>(r.result_error_reason));
  w.str(r.error_type);
  w.str(r.error_message);
  w.i64(r.metrics.peak_rss_kib);
  w.i64(r.metrics.user_time_us);
  w.i64(r.metrics.system_time_us);
  w.i64(r.metrics.started_at_ns);
  w.i64(r.metrics.finished_at_ns);
  w.flag(r.retire);
  w.str(r.retire_reason);
  return w.take();
}

std::optional<Response> decode_response(std::span<const std::byte> bytes) {
  Reader rd(bytes);
  if (rd.u32() != response_magic) return std::nullopt;
  Response r;
  auto kind = rd.u8();
  if (!in_range(kind, ResponseKind::ok, ResponseKind::not_started)) return std::nullopt;
  r.kind = static_cast<ResponseKind>(kind);
  r.call_id = rd.u64();
  auto location = rd.u8();
  if (!in_range(location, ResultLocation::none, ResultLocation::spill_file)) return std::nullopt;
  r.location = static_cast<ResultLocation>(location);
  r.result_size = rd.u64();
  r.inline_result = rd.bytes();
  auto reason = rd.u8();
  if (!in_range(reason, ResultErrorReason::too_large, ResultErrorReason::write_failed)) return std::nullopt;
  r.result_error_reason = static_cast<ResultErrorReason>(reason);
  r.error_type = rd.str();
  r.error_message = rd.str();
  r.metrics.peak_rss_kib = rd.i64();
  r.metrics.user_time_us = rd.i64();
  r.metrics.system_time_us = rd.i64();
  r.metrics.started_at_ns = rd.i64();
  r.metrics.finished_at_ns = rd.i64();
  r.retire = rd.flag();
  r.retire_reason = rd.str();
  if (!rd.at_end()) return std::nullopt;
  // Cross-field consistency: what the caller acts on must agree.
  const bool is_ok = r.kind == ResponseKind::ok;
  if (is_ok && r.location == ResultLocation::none) return std::nullopt;
  if (!is_ok && r.location != ResultLocation::none) return std::nullopt;
  if (r.location == ResultLocation::inline_bytes && r.inline_result.size() != r.result_size) return std::nullopt;
  if (r.location != ResultLocation::inline_bytes && !r.inline_result.empty()) return std::nullopt;
  if (r.metrics.finished_at_ns < r.metrics.started_at_ns) return std::nullopt;
  return r;
}

}  // namespace execkit::wire
