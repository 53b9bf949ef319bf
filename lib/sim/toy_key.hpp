#pragma once
// The simulator's documented toy seed/key algorithm (SecurityAccess 0x27). Not a secret and not
// secure: it only makes ecuup's key_command path testable.
//   key[i] = ((seed[i] XOR 0x5A) + level + i) mod 256, seed 4 bytes, level = requestSeed sub-function.
#include <cstdint>

#include "util/bytes.hpp"

namespace ecuup::sim {

inline constexpr std::uint8_t k_toy_key_xor = 0x5A;
inline constexpr std::size_t k_seed_size = 4;

inline Bytes toy_key(std::uint8_t level, ByteView seed) {
  Bytes key(seed.size());
  for (std::size_t i = 0; i < seed.size(); ++i)
    key[i] = static_cast<std::uint8_t>((seed[i] ^ k_toy_key_xor) + level + i);
  return key;
}

}  // namespace ecuup::sim
