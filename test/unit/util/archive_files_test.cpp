#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/archive_writer.hpp"
#include "support/temp_dir.hpp"
#include "util/archive_files.hpp"

using namespace ecuup;
using ecuup::test::ArchiveFormat;
using ecuup::test::ArchiveItem;
using ecuup::test::EntryKind;
using ecuup::test::TempDir;
using ecuup::test::write_archive;
namespace fs = std::filesystem;

namespace {

constexpr ArchiveLimits k_roomy{.max_entries = 16, .max_total_bytes = 1 << 20};

std::string text(const Bytes& b) { return {b.begin(), b.end()}; }

}  // namespace

TEST_CASE("the regular files of a tar, tar.gz or zip come back in order, names cleaned", "[archive_files]") {
  TempDir tmp;
  const auto format = GENERATE(ArchiveFormat::tar, ArchiveFormat::tar_gz, ArchiveFormat::zip);
  const fs::path path = tmp.path() / "set";
  write_archive(path, format,
                {{"dir/", EntryKind::dir, ""}, {"./dir/b.vbf", EntryKind::file, "second"}, {"a.vbf", EntryKind::file, "first"}});
  const ArchiveRead read = read_archive_files(path, ArchiveFormats::tar_or_zip, k_roomy);
  REQUIRE_FALSE(read.failure);
  REQUIRE(read.files.size() == 2);
  CHECK(read.files[0].name == "dir/b.vbf");
  CHECK(text(read.files[0].data) == "second");
  CHECK(read.files[1].name == "a.vbf");
  CHECK(text(read.files[1].data) == "first");
  CHECK(archive_has_entry(path, ArchiveFormats::tar_or_zip, "dir/b.vbf"));
  CHECK_FALSE(archive_has_entry(path, ArchiveFormats::tar_or_zip, "b.vbf"));
  CHECK(is_compressed_tar(path) == (format == ArchiveFormat::tar_gz));
}

TEST_CASE("zip only refuses a tar, and nothing reads a file that is no archive", "[archive_files]") {
  TempDir tmp;
  write_archive(tmp.path() / "set.tar", ArchiveFormat::tar, {{"a.vbf", EntryKind::file, "x"}});
  auto read = read_archive_files(tmp.path() / "set.tar", ArchiveFormats::zip, k_roomy);
  REQUIRE(read.failure);
  CHECK(read.failure->defect == ArchiveDefect::unreadable);
  CHECK(read.failure->why == "not a zip archive");
  CHECK_FALSE(archive_has_entry(tmp.path() / "set.tar", ArchiveFormats::zip, "a.vbf"));

  std::ofstream(tmp.path() / "plain.bin", std::ios::binary) << std::string(2000, 'A');
  read = read_archive_files(tmp.path() / "plain.bin", ArchiveFormats::tar_or_zip, k_roomy);
  REQUIRE(read.failure);
  CHECK(read.failure->defect == ArchiveDefect::unreadable);
  CHECK(read.files.empty());
  CHECK_FALSE(is_compressed_tar(tmp.path() / "plain.bin"));
}

TEST_CASE("unsafe names, other entry kinds, duplicates and limits are refused with the entry named", "[archive_files]") {
  TempDir tmp;
  const fs::path path = tmp.path() / "a.tar";
  struct Case {
    std::vector<ArchiveItem> items;
    ArchiveLimits limits;
    ArchiveDefect defect;
    std::string entry;
  };
  const std::vector<Case> cases = {
      {{{"../up.vbf", EntryKind::file, "x"}}, k_roomy, ArchiveDefect::path, "../up.vbf"},
      {{{"/abs.vbf", EntryKind::file, "x"}}, k_roomy, ArchiveDefect::path, "/abs.vbf"},
      {{{"link", EntryKind::symlink, "a.vbf"}}, k_roomy, ArchiveDefect::path, "link"},
      {{{"a.vbf", EntryKind::file, "1"}, {"./a.vbf", EntryKind::file, "2"}}, k_roomy, ArchiveDefect::path, "./a.vbf"},
      {{{"a", EntryKind::file, "1"}, {"b", EntryKind::file, "2"}, {"c", EntryKind::file, "3"}},
       {.max_entries = 2, .max_total_bytes = 100}, ArchiveDefect::limits, ""},
      {{{"a", EntryKind::file, std::string(60, 'a')}, {"b", EntryKind::file, std::string(60, 'b')}},
       {.max_entries = 8, .max_total_bytes = 100}, ArchiveDefect::limits, "b"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.items.back().name);
    write_archive(path, ArchiveFormat::tar, c.items);
    const ArchiveRead read = read_archive_files(path, ArchiveFormats::tar_or_zip, c.limits);
    REQUIRE(read.failure);
    CHECK(read.failure->defect == c.defect);
    CHECK(read.failure->entry == c.entry);
    CHECK(read.files.empty());
  }
}

TEST_CASE("a tar cut short is unreadable, not a shorter file", "[archive_files]") {
  TempDir tmp;
  const fs::path path = tmp.path() / "cut.tar";
  write_archive(path, ArchiveFormat::tar, {{"a.vbf", EntryKind::file, std::string(5000, 'v')}});
  fs::resize_file(path, 512 + 2048);
  const ArchiveRead read = read_archive_files(path, ArchiveFormats::tar_or_zip, k_roomy);
  REQUIRE(read.failure);
  CHECK(read.failure->defect == ArchiveDefect::unreadable);
  CHECK(read.failure->entry == "a.vbf");
}

TEST_CASE("archive_relative_name keeps names inside the archive", "[archive_files]") {
  CHECK(archive_relative_name("a/./b//c.vbf") == "a/b/c.vbf");
  CHECK(archive_relative_name("a\\b.vbf") == "a/b.vbf");
  CHECK(archive_relative_name("./") == "");
  CHECK_FALSE(archive_relative_name("/etc/passwd"));
  CHECK_FALSE(archive_relative_name("\\x"));
  CHECK_FALSE(archive_relative_name("C:x"));
  CHECK_FALSE(archive_relative_name("a/../../b"));
}

TEST_CASE("a file's first bytes tell a compressed stream and a zip from anything else", "[archive_files]") {
  using namespace std::string_view_literals;
  CHECK(has_compression_signature("\x1f\x8b\x08\x00"sv));
  CHECK_FALSE(has_compression_signature("\x1f\x8b\x07\x00"sv));  // gzip, but not deflate
  CHECK(has_compression_signature("BZh9"sv));
  CHECK_FALSE(has_compression_signature("BZh0"sv));
  CHECK_FALSE(has_compression_signature("BZh"sv));
  CHECK(has_compression_signature("\xfd" "7zXZ\x00\x00"sv));
  CHECK_FALSE(has_compression_signature("\xfd" "7zXZ"sv));  // cut short
  CHECK(has_compression_signature("\x28\xb5\x2f\xfd"sv));
  CHECK_FALSE(has_compression_signature(""sv));
  CHECK(starts_as_zip("PK\x03\x04rest"sv));
  CHECK(starts_as_zip("PK\x05\x06"sv));
  CHECK_FALSE(starts_as_zip("PK\x01\x02"sv));
  CHECK_FALSE(starts_as_zip("PK"sv));
}
