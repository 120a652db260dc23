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

// XREAD-shaped replies: [[stream, [[id, [field, value, ...]], ...]], ...]
// (nil when the block timed out). Entries deleted while pending show up
// with nil fields and are skipped.
std::vector<StreamEntry> entries_of_read(const redisReply& reply);
// XRANGE-shaped replies: [[id, [field, value, ...]], ...]
std::vector<StreamEntry> entries_of_range(const redisReply& reply);

}  // namespace execkit::redis
