// RapidCheck generators for text that reaches execkit from outside: names
// and values with the characters parsers trip over (whitespace, '=', '/',
// '.', NUL, signs, high bytes) mixed with well-formed pieces.
#pragma once

#include <rapidcheck.h>

#include <optional>
#include <string>
#include <vector>

namespace execkit::property {

// One character, biased towards those with a meaning to some parser.
inline rc::Gen<char> tricky_char() {
  return rc::gen::weightedOneOf<char>({
      {6, rc::gen::inRange('0', static_cast<char>('9' + 1))},
      {3, rc::gen::inRange('a', static_cast<char>('z' + 1))},
      {2, rc::gen::inRange('A', static_cast<char>('Z' + 1))},
      {4, rc::gen::element(' ', '\t', '\n', '\v', '\f', '\r')},
      {4, rc::gen::element('.', '/', '=', '-', '+', '_', 'e', 'x')},
      {1, rc::gen::element('\0', static_cast<char>(0x80), static_cast<char>(0xff))},
      {1, rc::gen::arbitrary<char>()},
  });
}

inline rc::Gen<std::string> tricky_string() { return rc::gen::container<std::string>(tricky_char()); }

// A string built from `pieces` (whole tokens) and tricky characters.
inline rc::Gen<std::string> string_of(std::vector<std::string> pieces) {
  auto token = rc::gen::weightedOneOf<std::string>({
      {3, rc::gen::elementOf(pieces)},
      {1, rc::gen::map(tricky_char(), [](char c) { return std::string(1, c); })},
  });
  return rc::gen::map(rc::gen::container<std::vector<std::string>>(token), [](const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) out += part;
    return out;
  });
}

// Like rc::gen::maybe, as a std::optional.
template <class T>
rc::Gen<std::optional<T>> optional_of(rc::Gen<T> gen) {
  return rc::gen::oneOf(rc::gen::just(std::optional<T>()),
                        rc::gen::map(std::move(gen), [](T value) { return std::optional<T>(std::move(value)); }));
}

inline std::string to_string(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

inline std::vector<std::byte> to_byte_vector(const std::string& text) {
  const auto* first = reinterpret_cast<const std::byte*>(text.data());
  return {first, first + text.size()};
}

}  // namespace execkit::property
