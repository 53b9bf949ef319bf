#include "store/download_hash.hpp"

#include <fstream>
#include <vector>

namespace ecuup {

void HashingProgress::on_bytes(std::uint64_t offset, ByteView data) {
  if (!m_ok) return;
  sync_to(offset);
  m_hash.update(data);
  m_hashed = offset + data.size();
}

Result<std::string> HashingProgress::finish() {
  std::error_code ec;
  std::uint64_t size = std::filesystem::file_size(m_file, ec);
  if (ec) return make_error(Errc::io, "cannot stat " + m_file.string());
  sync_to(size);
  if (!m_ok) return sha256_file(m_file);
  return m_hash.hex_digest();
}

void HashingProgress::sync_to(std::uint64_t offset) {
  if (offset < m_hashed) {  // the file was truncated and is being rewritten
    m_hash = Sha256();
    m_hashed = 0;
  }
  if (offset == m_hashed) return;
  std::ifstream in(m_file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(m_hashed));
  std::vector<char> buf(1 << 16);
  while (m_hashed < offset) {
    auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(buf.size(), offset - m_hashed));
    if (!in.read(buf.data(), want)) {
      m_ok = false;  // fall back to hashing the whole file in finish()
      return;
    }
    m_hash.update(std::string_view(buf.data(), static_cast<std::size_t>(want)));
    m_hashed += static_cast<std::uint64_t>(want);
  }
}

}  // namespace ecuup
