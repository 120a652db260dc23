// The entries of an XREAD / XREADGROUP / XRANGE reply.
#pragma once

#include <string>
#include <vector>

#include "redis_connection.hpp"
#include "wire.hpp"

namespace execkit::redis {

struct StreamEntry {
  std::string id;
  wire::Fields fields;
};

// An entry as views into the reply it came from (valid while the reply lives):
// chunks are written to their file from here without a copy.
struct StreamEntryView {
  std::string_view id;
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  std::string_view field(std::string_view name) const;
  wire::Fields copy_fields() const;
};
std::vector<StreamEntryView> entry_views_of_read(const redisReply& reply);

// XREAD-shaped replies: [[stream, [[id, [field, value, ...]], ...]], ...]
// (nil when the block timed out). Entries deleted while pending show up
// with nil fields and are skipped.
std::vector<StreamEntry> entries_of_read(const redisReply& reply);
// XRANGE-shaped replies: [[id, [field, value, ...]], ...]
std::vector<StreamEntry> entries_of_range(const redisReply& reply);

}  // namespace execkit::redis
