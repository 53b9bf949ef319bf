#pragma once
// SHA-256 and SHA-1 (FIPS 180-4), streaming. SHA-1 only exists because hawkBit may omit sha256.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

// SHA-256 uses the x86 SHA extensions when the CPU has them (checked once, at run time) and
// portable C++ otherwise; both give the same digest.
enum class Sha256Engine { automatic, portable };

class Sha256 {
 public:
  explicit Sha256(Sha256Engine engine = Sha256Engine::automatic);
  void update(ByteView data);
  void update(std::string_view data);
  std::array<std::uint8_t, 32> finish();
  std::string hex_digest();  // finish() as lower-case hex
  // "sha-ni" or "portable": what Sha256Engine::automatic runs on this machine.
  static const char* automatic_engine_name();

 private:
  using Blocks = void (*)(std::uint32_t* state, const std::uint8_t* p, std::size_t blocks);
  Blocks m_blocks;
  std::array<std::uint32_t, 8> m_h;
  std::array<std::uint8_t, 64> m_buf{};
  std::size_t m_buf_len = 0;
  std::uint64_t m_total = 0;
};

class Sha1 {
 public:
  Sha1();
  void update(ByteView data);
  void update(std::string_view data);
  std::array<std::uint8_t, 20> finish();
  std::string hex_digest();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 5> m_h;
  std::array<std::uint8_t, 64> m_buf{};
  std::size_t m_buf_len = 0;
  std::uint64_t m_total = 0;
};

std::string sha256_hex(ByteView data);
std::string sha256_hex(std::string_view data);
// Hash a whole file with constant memory.
Result<std::string> sha256_file(const std::filesystem::path& path);
Result<std::string> sha1_file(const std::filesystem::path& path);

}  // namespace ecuup
