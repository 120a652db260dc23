#include "stream_entries.hpp"

namespace execkit::redis {

std::vector<StreamEntry> entries_of_range(const redisReply& reply) {
  std::vector<StreamEntry> entries;
  if (reply.type != REDIS_REPLY_ARRAY) return entries;
  for (std::size_t i = 0; i < reply.elements; ++i) {
    const redisReply& entry = *reply.element[i];
    if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2) continue;
    const redisReply& pairs = *entry.element[1];
    if (pairs.type != REDIS_REPLY_ARRAY) continue;
    StreamEntry out{std::string(text_of(*entry.element[0])), {}};
    out.fields.reserve(pairs.elements / 2);
    for (std::size_t f = 0; f + 1 < pairs.elements; f += 2)
      out.fields.emplace_back(std::string(text_of(*pairs.element[f])), std::string(text_of(*pairs.element[f + 1])));
    entries.push_back(std::move(out));
  }
  return entries;
}

std::string_view StreamEntryView::field(std::string_view name) const {
  for (const auto& [key, value] : fields)
    if (key == name) return value;
  return {};
}

wire::Fields StreamEntryView::copy_fields() const {
  wire::Fields out;
  out.reserve(fields.size());
  for (const auto& [key, value] : fields) out.emplace_back(std::string(key), std::string(value));
  return out;
}

std::vector<StreamEntryView> entry_views_of_read(const redisReply& reply) {
  std::vector<StreamEntryView> views;
  if (reply.type != REDIS_REPLY_ARRAY) return views;
  for (std::size_t s = 0; s < reply.elements; ++s) {
    const redisReply& stream = *reply.element[s];
    if (stream.type != REDIS_REPLY_ARRAY || stream.elements != 2 || stream.element[1]->type != REDIS_REPLY_ARRAY) continue;
    const redisReply& entries = *stream.element[1];
    for (std::size_t i = 0; i < entries.elements; ++i) {
      const redisReply& entry = *entries.element[i];
      if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2 || entry.element[1]->type != REDIS_REPLY_ARRAY) continue;
      const redisReply& pairs = *entry.element[1];
      StreamEntryView view{text_of(*entry.element[0]), {}};
      for (std::size_t f = 0; f + 1 < pairs.elements; f += 2)
        view.fields.emplace_back(text_of(*pairs.element[f]), text_of(*pairs.element[f + 1]));
      views.push_back(std::move(view));
    }
  }
  return views;
}

std::vector<StreamEntry> entries_of_read(const redisReply& reply) {
  std::vector<StreamEntry> entries;
  if (reply.type != REDIS_REPLY_ARRAY) return entries;
  for (std::size_t s = 0; s < reply.elements; ++s) {
    const redisReply& stream = *reply.element[s];
    if (stream.type != REDIS_REPLY_ARRAY || stream.elements != 2) continue;
    auto more = entries_of_range(*stream.element[1]);
    for (auto& entry : more) entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace execkit::redis
