#include "random_id.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <system_error>

namespace execkit {

std::string random_hex_id() {
  std::array<unsigned char, 6> raw{};
  if (::getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size()))
    throw std::system_error(errno, std::generic_category(), "getrandom");
  constexpr char digits[] = "0123456789abcdef";
  std::string id;
  for (auto b : raw) {
    id += digits[b >> 4];
    id += digits[b & 0xf];
  }
  return id;
}

}  // namespace execkit
