#pragma once
// Archives for tests, written with libarchive exactly as given: no path sanitizing, so tests can
// make the hostile ones (absolute names, "..", links out of the tree, devices).
#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

namespace ecuup::test {

enum class ArchiveFormat { tar, tar_gz, zip, zip_stored };
enum class EntryKind { file, dir, symlink, hardlink, fifo, chardev };

struct ArchiveItem {
  std::string name;
  EntryKind kind = EntryKind::file;
  std::string data;  // file content, or link target
  mode_t perm = 0644;
};

// Writes an archive with libarchive's writer, exactly as given: no path sanitizing.
inline void write_archive(const std::filesystem::path& path, ArchiveFormat format, const std::vector<ArchiveItem>& items) {
  archive* a = archive_write_new();
  if (format == ArchiveFormat::zip || format == ArchiveFormat::zip_stored) {
    archive_write_set_format_zip(a);
    if (format == ArchiveFormat::zip_stored) archive_write_zip_set_compression_store(a);
  } else {
    archive_write_set_format_pax_restricted(a);
    if (format == ArchiveFormat::tar_gz) archive_write_add_filter_gzip(a);
  }
  REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const auto& it : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.name.c_str());
    archive_entry_set_perm(e, it.perm);
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (it.kind) {
      case EntryKind::file:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(it.data.size()));
        break;
      case EntryKind::dir:
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        break;
      case EntryKind::symlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, it.data.c_str());
        break;
      case EntryKind::hardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, it.data.c_str());
        archive_entry_set_size(e, 0);
        break;
      case EntryKind::fifo:
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
      case EntryKind::chardev:
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdev(e, 0x0103);
        break;
    }
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (it.kind == EntryKind::file && !it.data.empty())
      REQUIRE(archive_write_data(a, it.data.data(), it.data.size()) == static_cast<la_ssize_t>(it.data.size()));
    archive_entry_free(e);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
}

}  // namespace ecuup::test
