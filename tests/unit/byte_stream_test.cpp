// probe::ByteStream against its definition (docs/probe.md "Byte stream"):
// other languages' probes generate the same bytes from that text alone.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

#include "probe_support.hpp"

namespace execkit::probe {
namespace {

constexpr std::size_t block = ByteStream::block_bytes;

std::vector<std::byte> stream(std::size_t size, std::uint64_t seed) {
  std::vector<std::byte> bytes(size);
  ByteStream(seed).fill(bytes);
  return bytes;
}

std::uint64_t word_at(const std::vector<std::byte>& bytes, std::size_t offset) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value |= static_cast<std::uint64_t>(bytes[offset + i]) << (8 * i);
  return value;
}

TEST(ByteStream, KnownAnswers) {
  // The same values are in docs/probe.md; SplitMix64 from state 0 starts
  // 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F.
  const auto zero = stream(2 * block, 0);
  EXPECT_EQ(word_at(zero, 0), 0u) << "block 0's header is the seed";
  EXPECT_EQ(word_at(zero, 8), 0x6E789E6AA1B965F4u);
  EXPECT_EQ(word_at(zero, 16), 0x06C45D188009454Fu);
  EXPECT_EQ(word_at(zero, block), 0x9E3779B97F4A7C15u) << "block 1's header";
  EXPECT_EQ(word_at(zero, block + 8), 0x6E789E6AA1B965F4u ^ 0x0101010101010101u) << "block 1 is XORed with 1";
  const auto seeded = stream(258 * block, 42);
  EXPECT_EQ(word_at(seeded, 0), 42u);
  EXPECT_EQ(word_at(seeded, 8), 0x28EFE333B266F103u);
  EXPECT_EQ(word_at(seeded, 257 * block), 257u * 0x9E3779B97F4A7C15u + 42u);
  EXPECT_EQ(word_at(seeded, 257 * block + 8), 0x29EEE232B367F002u) << "block 257 is XORed with 257 & 0xFF";
}

TEST(ByteStream, WordsAreTheBytes) {
  const auto bytes = stream(3 * block + 24, 9);
  const ByteStream words(9);
  for (std::size_t offset = 0; offset + 8 <= bytes.size(); offset += 8) {
    ASSERT_EQ(words.word(offset / 8), word_at(bytes, offset)) << "at byte " << offset;
  }
}

TEST(ByteStream, PiecesContinueTheStream) {
  // Pieces of every alignment, across block boundaries.
  const std::vector<std::size_t> sizes{1, 7, 8, 13, 65521, 65536, 3, 143, 60};
  ByteStream pieces(5);
  std::vector<std::byte> joined;
  for (const std::size_t size : sizes) {
    std::vector<std::byte> piece(size);
    pieces.fill(piece);
    joined.insert(joined.end(), piece.begin(), piece.end());
  }
  EXPECT_TRUE(joined == stream(joined.size(), 5));
}

TEST(ByteStream, EveryBlockIsDistinct) {
  const auto bytes = stream(300 * block, 3);
  std::set<std::vector<std::byte>> blocks;
  for (std::size_t k = 0; k < 300; ++k) {
    blocks.emplace(bytes.begin() + static_cast<std::ptrdiff_t>(k * block),
                   bytes.begin() + static_cast<std::ptrdiff_t>((k + 1) * block));
  }
  EXPECT_EQ(blocks.size(), 300u);
}

}  // namespace
}  // namespace execkit::probe
