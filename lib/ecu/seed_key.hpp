#pragma once
// SecurityAccess seed -> key, never a hard-coded secret: either an external command
// (`key_command: "tool {seed} {level}"`) or a shared library exporting ecuup_seed_to_key().
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "util/bytes.hpp"
#include "util/result.hpp"

extern "C" {
// The C function a `key_library` exports under the name "ecuup_seed_to_key":
//   level      the requestSeed sub-function (odd, e.g. 1)
//   seed       the seed bytes as the ECU sent them, seed_len of them
//   key        a buffer of key_capacity bytes for the key
//   key_len    receives the number of key bytes written
// Returns 0 on success, anything else on failure. Must be thread-safe and must not keep pointers.
typedef int (*ecuup_seed_to_key_fn)(unsigned int level, const unsigned char* seed, size_t seed_len,
                                    unsigned char* key, size_t key_capacity, size_t* key_len);
}

namespace ecuup {

inline constexpr const char* k_seed_to_key_symbol = "ecuup_seed_to_key";
inline constexpr std::size_t k_max_key_size = 512;

// Expands {seed} (hex, lower case, no separators), {level} (decimal), {level_hex} (two hex
// digits) and {ecu} in `command_template`.
std::string expand_key_command(const std::string& command_template, ByteView seed, std::uint8_t level,
                               const std::string& ecu);

// Runs the expanded command with /bin/sh -c and reads the key as hex from its stdout (spaces and a
// 0x prefix allowed). Errc::ecu on a non-zero exit or unparsable output, Errc::timeout past
// `timeout`. `while_waiting` runs about every 100 ms meanwhile (TesterPresent).
Result<Bytes> run_key_command(const std::string& expanded_command, std::chrono::milliseconds timeout,
                              const std::function<void()>& while_waiting = {});

// A dlopen()ed key library.
class KeyLibrary {
 public:
  // Errc::config when the file cannot be loaded or lacks ecuup_seed_to_key.
  static Result<std::unique_ptr<KeyLibrary>> open(const std::filesystem::path& path);
  ~KeyLibrary();
  KeyLibrary(const KeyLibrary&) = delete;
  KeyLibrary& operator=(const KeyLibrary&) = delete;

  Result<Bytes> compute_key(ByteView seed, std::uint8_t level) const;

 private:
  KeyLibrary(void* handle, ecuup_seed_to_key_fn fn, std::filesystem::path path)
      : m_handle(handle), m_fn(fn), m_path(std::move(path)) {}
  void* m_handle;
  ecuup_seed_to_key_fn m_fn;
  std::filesystem::path m_path;
};

}  // namespace ecuup
