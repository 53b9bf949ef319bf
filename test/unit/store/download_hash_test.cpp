#include <catch2/catch.hpp>

#include <fstream>

#include "store/download_hash.hpp"
#include "support/temp_dir.hpp"
#include "util/hash.hpp"

using namespace ecuup;

namespace {

ByteView view(const std::string& s) { return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

// Appends `data` to the file and tells the observer, as HttpClient::download does.
void write_at_end(HashingProgress& h, const std::filesystem::path& file, const std::string& data) {
  std::uint64_t offset = std::filesystem::exists(file) ? std::filesystem::file_size(file) : 0;
  std::ofstream(file, std::ios::binary | std::ios::app) << data;
  h.on_bytes(offset, view(data));
}

}  // namespace

TEST_CASE("hashing while receiving equals hashing the file", "[store][download_hash]") {
  test::TempDir dir;
  auto file = dir / "a.part";
  std::string whole;
  for (int i = 0; i < 5000; ++i) whole += static_cast<char>('a' + i % 23);

  SECTION("a fresh download in chunks") {
    HashingProgress h(null_progress(), file);
    for (std::size_t at = 0; at < whole.size(); at += 777) write_at_end(h, file, whole.substr(at, 777));
    CHECK(*h.finish() == sha256_hex(std::string_view(whole)));
  }
  SECTION("a resumed download: the prefix already on disk is read back") {
    std::ofstream(file, std::ios::binary) << whole.substr(0, 1234);
    HashingProgress h(null_progress(), file);
    write_at_end(h, file, whole.substr(1234));
    CHECK(*h.finish() == sha256_hex(std::string_view(whole)));
  }
  SECTION("a restart: the file is truncated and rewritten with other content") {
    HashingProgress h(null_progress(), file);
    write_at_end(h, file, std::string(3000, 'x'));
    std::filesystem::resize_file(file, 0);
    write_at_end(h, file, whole);
    CHECK(*h.finish() == sha256_hex(std::string_view(whole)));
  }
  SECTION("bytes written without telling the observer are picked up at the end") {
    HashingProgress h(null_progress(), file);
    write_at_end(h, file, whole.substr(0, 100));
    std::ofstream(file, std::ios::binary | std::ios::app) << whole.substr(100);
    CHECK(*h.finish() == sha256_hex(std::string_view(whole)));
  }
  SECTION("a file that shrank below what was hashed") {
    HashingProgress h(null_progress(), file);
    write_at_end(h, file, whole);
    std::filesystem::resize_file(file, 10);
    CHECK(*h.finish() == sha256_hex(std::string_view(whole).substr(0, 10)));
  }
}
