#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "store/archive.hpp"
#include "support/archive_writer.hpp"
#include "support/temp_dir.hpp"

using namespace ecuup;
using ecuup::test::TempDir;
namespace fs = std::filesystem;

namespace {

using Format = test::ArchiveFormat;
using Kind = test::EntryKind;
using Item = test::ArchiveItem;
using test::write_archive;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

void write_bytes(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

// Flips the bits of the byte at `offset` (from the end when negative).
void flip_byte(const fs::path& p, long long offset) {
  std::string bytes = read_file(p);
  const auto at = static_cast<std::size_t>(offset < 0 ? static_cast<long long>(bytes.size()) + offset : offset);
  REQUIRE(at < bytes.size());
  bytes[at] = static_cast<char>(~bytes[at]);
  write_bytes(p, bytes);
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(e.path().lexically_relative(dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::tar: return "tar";
    case Format::tar_gz: return "tar.gz";
    case Format::zip: return "zip";
    case Format::zip_stored: return "zip (stored)";
  }
  return "?";
}

}  // namespace

TEST_CASE("a good archive extracts byte-exact", "[archive]") {
  for (Format format : {Format::tar, Format::tar_gz, Format::zip}) {
    DYNAMIC_SECTION(format_name(format)) {
      TempDir tmp;
      std::string image = random_bytes(300000, 1);
      std::vector<Item> items = {
          {"pkg/", Kind::dir, "", 0755},
          {"pkg/image.bin", Kind::file, image, 0644},
          {"pkg/flash.sh", Kind::file, "#!/bin/sh\necho flash\n", 0755},
          {"./pkg/sub/empty.txt", Kind::file, "", 0644},
          {"pkg/sub/link", Kind::symlink, "../image.bin", 0777},
          {"top.txt", Kind::file, "top\n", 0644},
      };
      write_archive(tmp / "pkg.archive", format, items);
      CHECK(looks_like_archive(tmp / "pkg.archive"));
      auto r = extract_archive(tmp / "pkg.archive", tmp / "out/dest");
      REQUIRE(r.ok());
      std::vector<fs::path> expected = {"pkg/image.bin", "pkg/flash.sh", "pkg/sub/empty.txt", "top.txt"};
      CHECK(*r == expected);
      CHECK(read_file(tmp / "out/dest/pkg/image.bin") == image);
      CHECK(read_file(tmp / "out/dest/pkg/sub/empty.txt").empty());
      CHECK(read_file(tmp / "out/dest/top.txt") == "top\n");
      CHECK((fs::status(tmp / "out/dest/pkg/flash.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
      CHECK(fs::is_symlink(tmp / "out/dest/pkg/sub/link"));
      CHECK(read_file(tmp / "out/dest/pkg/sub/link") == image);
      CHECK(listing(tmp / "out") == std::vector<std::string>{"dest", "dest/pkg", "dest/pkg/flash.sh", "dest/pkg/image.bin",
                                                           "dest/pkg/sub", "dest/pkg/sub/empty.txt", "dest/pkg/sub/link",
                                                           "dest/top.txt"});
    }
  }
}

TEST_CASE("hard links inside the archive are extracted", "[archive]") {
  TempDir tmp;
  write_archive(tmp / "a.tar", Format::tar,
                {{"a/data.bin", Kind::file, "content", 0644}, {"b/alias.bin", Kind::hardlink, "a/data.bin", 0644}});
  auto r = extract_archive(tmp / "a.tar", tmp / "dest");
  REQUIRE(r.ok());
  CHECK(r->size() == 2);
  CHECK(read_file(tmp / "dest/b/alias.bin") == "content");
}

TEST_CASE("extraction replaces an existing destination", "[archive]") {
  TempDir tmp;
  fs::create_directories(tmp / "dest");
  std::ofstream(tmp / "dest/stale.txt") << "old";
  write_archive(tmp / "a.tar.gz", Format::tar_gz, {{"new.txt", Kind::file, "new", 0644}});
  auto r = extract_archive(tmp / "a.tar.gz", tmp / "dest");
  REQUIRE(r.ok());
  CHECK(listing(tmp / "dest") == std::vector<std::string>{"new.txt"});
  CHECK(listing(tmp.path()) == std::vector<std::string>{"a.tar.gz", "dest", "dest/new.txt"});
}

TEST_CASE("evil archives are refused and leave nothing behind", "[archive]") {
  struct Case {
    const char* what;
    Format format;
    std::vector<Item> items;
  };
  std::vector<Case> cases = {
      {"absolute path", Format::tar, {{"ok.txt", Kind::file, "x"}, {"/tmp/ecuup-evil-absolute", Kind::file, "x"}}},
      {"dot-dot escape", Format::tar, {{"ok.txt", Kind::file, "x"}, {"../escape.txt", Kind::file, "x"}}},
      {"dot-dot inside", Format::tar_gz, {{"a/../../escape.txt", Kind::file, "x"}}},
      {"dot-dot in zip", Format::zip, {{"ok.txt", Kind::file, "x"}, {"../escape.txt", Kind::file, "x"}}},
      {"absolute in zip", Format::zip, {{"/tmp/ecuup-evil-zip", Kind::file, "x"}}},
      {"symlink to absolute", Format::tar, {{"etc", Kind::symlink, "/etc"}}},
      {"symlink escape", Format::tar, {{"a/up", Kind::symlink, "../../outside"}}},
      {"symlink escape in zip", Format::zip, {{"up", Kind::symlink, "../outside"}}},
      {"symlink chain escape", Format::tar, {{"p", Kind::symlink, "."}, {"q", Kind::symlink, "p/../outside"}}},
      {"symlink late chain escape",
       Format::tar,
       {{"d/", Kind::dir, ""}, {"q", Kind::symlink, "d/x/../../outside"}, {"d/x", Kind::symlink, "."}}},
      {"write through symlink", Format::tar, {{"sub/", Kind::dir, ""}, {"s", Kind::symlink, "sub"}, {"s/f", Kind::file, "x"}}},
      {"hardlink escape", Format::tar, {{"h", Kind::hardlink, "../../etc/passwd"}}},
      {"hardlink absolute", Format::tar, {{"h", Kind::hardlink, "/etc/passwd"}}},
      {"fifo", Format::tar, {{"ok.txt", Kind::file, "x"}, {"pipe", Kind::fifo, ""}}},
      {"device", Format::tar, {{"dev", Kind::chardev, ""}}},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      TempDir tmp;
      fs::create_directories(tmp / "in");
      write_archive(tmp / "in/evil", c.format, c.items);
      auto r = extract_archive(tmp / "in/evil", tmp / "out/dest");
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == Errc::verify);
      CHECK(listing(tmp / "out").empty());
      CHECK(listing(tmp / "in") == std::vector<std::string>{"evil"});
      CHECK_FALSE(fs::exists(tmp / "outside"));
      CHECK_FALSE(fs::exists("/tmp/ecuup-evil-absolute"));
      CHECK_FALSE(fs::exists("/tmp/ecuup-evil-zip"));
    }
  }
}

TEST_CASE("a refused archive leaves an existing destination untouched", "[archive]") {
  TempDir tmp;
  fs::create_directories(tmp / "dest");
  std::ofstream(tmp / "dest/keep.txt") << "keep";
  write_archive(tmp / "evil.tar", Format::tar, {{"ok.txt", Kind::file, "x"}, {"../x", Kind::file, "x"}});
  auto r = extract_archive(tmp / "evil.tar", tmp / "dest");
  REQUIRE_FALSE(r.ok());
  CHECK(listing(tmp.path()) == std::vector<std::string>{"dest", "dest/keep.txt", "evil.tar"});
}

TEST_CASE("a corrupt archive is refused", "[archive]") {
  TempDir tmp;
  write_archive(tmp / "a.tar.gz", Format::tar_gz, {{"big.bin", Kind::file, random_bytes(200000, 2)}});
  fs::resize_file(tmp / "a.tar.gz", fs::file_size(tmp / "a.tar.gz") / 2);
  auto r = extract_archive(tmp / "a.tar.gz", tmp / "out/dest");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::verify);
  CHECK(listing(tmp / "out").empty());
}

// The archive is refused (Errc::verify), nothing is extracted, and fetch would see an archive (not
// an image to flash as it is).
void check_refused(const fs::path& archive, const fs::path& out) {
  CHECK(looks_like_archive(archive));
  auto r = extract_archive(archive, out / "dest");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::verify);
  CHECK(listing(out).empty());
}

TEST_CASE("an archive failing its own integrity check is refused and leaves nothing behind", "[archive]") {
  TempDir tmp;
  const std::string image = random_bytes(300000, 5);
  const std::vector<Item> items = {{"package.yaml", Kind::file, "image: app.bin\nversion: 1.0.0\n"},
                                   {"app.bin", Kind::file, image}};
  const fs::path a = tmp / "artifact";
  SECTION("a zip entry whose data fails its CRC-32") {
    write_archive(a, Format::zip_stored, items);
    const auto at = read_file(a).find(image.substr(1000, 64));
    REQUIRE(at != std::string::npos);
    flip_byte(a, static_cast<long long>(at));
    check_refused(a, tmp / "out");
  }
  SECTION("a zip entry whose deflated data is damaged") {
    write_archive(a, Format::zip, items);
    flip_byte(a, static_cast<long long>(fs::file_size(a) / 2));
    check_refused(a, tmp / "out");
  }
  SECTION("a tar.gz whose trailer CRC-32 is wrong") {
    write_archive(a, Format::tar_gz, items);
    flip_byte(a, -8);
    check_refused(a, tmp / "out");
  }
  SECTION("a tar.gz whose trailer length (ISIZE) is wrong") {
    write_archive(a, Format::tar_gz, items);
    flip_byte(a, -2);
    check_refused(a, tmp / "out");
  }
  SECTION("a tar.gz with bytes after its trailer") {
    write_archive(a, Format::tar_gz, items);
    write_bytes(a, read_file(a) + "appended");
    auto r = extract_archive(a, tmp / "out/dest");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::verify);
  }
  SECTION("a tar.gz whose deflate data is damaged") {
    write_archive(a, Format::tar_gz, items);
    flip_byte(a, static_cast<long long>(fs::file_size(a) / 2));
    check_refused(a, tmp / "out");
  }
  SECTION("a tar whose second header fails its checksum") {
    write_archive(a, Format::tar, items);
    flip_byte(a, 1024 + 1);  // package.yaml takes blocks 0-1; app.bin's header is block 2
    check_refused(a, tmp / "out");
  }
}

TEST_CASE("a truncated archive is refused and leaves nothing behind", "[archive]") {
  const std::string first(3000, 'a');
  const std::string second = random_bytes(100000, 6);
  const std::vector<Item> items = {{"first.bin", Kind::file, first}, {"second.bin", Kind::file, second}};
  // In a ustar archive: header, data padded to 512, header, data: the second entry ends here.
  constexpr std::size_t k_block = 512;
  const std::size_t tar_entries_end =
      k_block + (first.size() + k_block - 1) / k_block * k_block + k_block + (second.size() + k_block - 1) / k_block * k_block;
  struct Cut {
    Format format;
    const char* where;
    long long keep;  // bytes kept; negative: all but that many
  };
  auto cut = GENERATE_COPY(Cut{Format::tar, "in the middle", 50000}, Cut{Format::tar, "inside its end blocks", static_cast<long long>(tar_entries_end) + 100},
                           Cut{Format::tar, "at an entry boundary, before the end blocks",
                               static_cast<long long>(tar_entries_end)},
                           Cut{Format::tar, "in a header", 3584 + 100}, Cut{Format::tar_gz, "in the middle", 50000},
                           Cut{Format::tar_gz, "without its trailer", -8}, Cut{Format::tar_gz, "in its trailer", -3},
                           Cut{Format::tar_gz, "right after its header", 40}, Cut{Format::zip, "in the middle", 50000},
                           Cut{Format::zip, "one byte short", -1}, Cut{Format::zip_stored, "in the central directory", -60},
                           Cut{Format::zip_stored, "before the central directory", 0});
  INFO(format_name(cut.format) << " cut " << cut.where);
  TempDir tmp;
  const fs::path a = tmp / "artifact";
  write_archive(a, cut.format, items);
  std::string bytes = read_file(a);
  std::size_t keep = cut.keep < 0 ? bytes.size() - static_cast<std::size_t>(-cut.keep) : static_cast<std::size_t>(cut.keep);
  if (cut.format == Format::zip_stored && cut.keep == 0) keep = bytes.find("PK\x01\x02");
  REQUIRE(keep < bytes.size());
  if (cut.format == Format::tar && keep == tar_entries_end) {
    REQUIRE(bytes.size() > keep);
    REQUIRE(bytes.find_first_not_of('\0', keep) == std::string::npos);  // only the end blocks cut off
  }
  write_bytes(a, bytes.substr(0, keep));
  check_refused(a, tmp / "out");
}

TEST_CASE("looks_like_archive judges by content", "[archive]") {
  TempDir tmp;
  write_archive(tmp / "a.bin", Format::tar, {{"f", Kind::file, "x"}});
  write_archive(tmp / "b.bin", Format::tar_gz, {{"f", Kind::file, "x"}});
  write_archive(tmp / "c.bin", Format::zip, {{"f", Kind::file, "x"}});
  CHECK(looks_like_archive(tmp / "a.bin"));
  CHECK(looks_like_archive(tmp / "b.bin"));
  CHECK(looks_like_archive(tmp / "c.bin"));
  std::ofstream(tmp / "image.tar", std::ios::binary) << random_bytes(5000, 3);
  CHECK_FALSE(looks_like_archive(tmp / "image.tar"));
  std::ofstream(tmp / "zeros.bin", std::ios::binary) << std::string(64 * 1024, '\0');
  CHECK_FALSE(looks_like_archive(tmp / "zeros.bin"));  // erased flash dumps are all zeros or 0xff
  std::ofstream(tmp / "ff.bin", std::ios::binary) << std::string(64 * 1024, '\xff');
  CHECK_FALSE(looks_like_archive(tmp / "ff.bin"));
  std::ofstream(tmp / "empty.tar", std::ios::binary).close();
  CHECK_FALSE(looks_like_archive(tmp / "empty.tar"));
  CHECK_FALSE(looks_like_archive(tmp / "missing.tar"));
  {
    // gzip of a raw image is not an archive
    archive* a = archive_write_new();
    archive_write_set_format_raw(a);
    archive_write_add_filter_gzip(a);
    REQUIRE(archive_write_open_filename(a, (tmp / "image.bin.gz").c_str()) == ARCHIVE_OK);
    archive_entry* e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_pathname(e, "image.bin");
    std::string data = random_bytes(4000, 4);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
  }
  CHECK_FALSE(looks_like_archive(tmp / "image.bin.gz"));
}

TEST_CASE("an archive that expands beyond the limits is refused and leaves nothing behind", "[archive]") {
  test::TempDir tmp;
  const fs::path dest = tmp / "out";
  ExtractLimits limits;
  limits.max_total_bytes = 1 << 20;
  limits.max_entries = 4;

  SECTION("one entry far larger than the download (a decompression bomb)") {
    write_archive(tmp / "bomb.tar.gz", Format::tar_gz, {{"image.bin", Kind::file, std::string(32u << 20, '\0')}});
    CHECK(fs::file_size(tmp / "bomb.tar.gz") < (1u << 20));  // the download itself is small
    auto r = extract_archive(tmp / "bomb.tar.gz", dest, limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::verify);
    CHECK_THAT(r.error().message, Catch::Contains("image.bin") && Catch::Contains("1048576 bytes"));
  }
  SECTION("entries that only together exceed the byte limit") {
    std::string part(600 * 1024, 'x');
    write_archive(tmp / "sum.zip", Format::zip, {{"a.bin", Kind::file, part}, {"b.bin", Kind::file, part}});
    auto r = extract_archive(tmp / "sum.zip", dest, limits);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("b.bin"));
  }
  SECTION("more entries than allowed") {
    std::vector<Item> items;
    for (int i = 0; i < 5; ++i) items.push_back({"f" + std::to_string(i), Kind::file, "x"});
    write_archive(tmp / "many.tar", Format::tar, items);
    auto r = extract_archive(tmp / "many.tar", dest, limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::verify);
    CHECK_THAT(r.error().message, Catch::Contains("f4") && Catch::Contains("entries"));
  }
  CHECK_FALSE(fs::exists(dest));
  CHECK(listing(tmp.path()).size() == 1);  // only the archive: no temp dir left over
}

TEST_CASE("an archive exactly at the limits extracts", "[archive]") {
  test::TempDir tmp;
  ExtractLimits limits;
  limits.max_total_bytes = 2000;
  limits.max_entries = 2;
  write_archive(tmp / "ok.tar.gz", Format::tar_gz, {{"a", Kind::file, std::string(1000, 'a')}, {"b", Kind::file, std::string(1000, 'b')}});
  auto r = extract_archive(tmp / "ok.tar.gz", tmp / "out", limits);
  REQUIRE(r);
  CHECK(r->size() == 2);
  CHECK(read_file(tmp / "out" / "b") == std::string(1000, 'b'));
}
