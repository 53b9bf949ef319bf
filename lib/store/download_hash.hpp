#pragma once
#include <filesystem>
#include <string>

#include "util/hash.hpp"
#include "util/progress.hpp"
#include "util/result.hpp"

namespace ecuup {

// Hashes a download while it is received, so that verifying a large artifact costs no second
// pass over the file. It follows the file, not the transfer: bytes written at an offset it has not
// reached are filled in from disk (a resumed download), and a write behind it (a restart) rehashes
// the prefix from disk; finish() reconciles with the final file.
class HashingProgress final : public ForwardingProgress {
 public:
  HashingProgress(Progress& inner, std::filesystem::path file) : ForwardingProgress(inner), m_file(std::move(file)) {}
  void on_bytes(std::uint64_t offset, ByteView data) override;
  // The SHA-256 of the whole file as it is now.
  Result<std::string> finish();

 private:
  void sync_to(std::uint64_t offset);

  std::filesystem::path m_file;
  Sha256 m_hash;
  std::uint64_t m_hashed = 0;
  bool m_ok = true;
};


}  // namespace ecuup
