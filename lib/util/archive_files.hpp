#pragma once
// Small archives read whole into memory: the containers made of several files (a PDX is a zip, a
// VBF set a tar or zip of VBF files). libarchive reads them; nothing is written to disk. Extracting
// a downloaded package to disk is store/archive.hpp's work.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.hpp"

struct archive;  // libarchive's

namespace ecuup {

enum class ArchiveFormats {
  zip,         // zip only, read through its central directory
  tar_or_zip,  // also tar, plain or compressed with gzip, bzip2, xz or zstd
};

struct ArchiveLimits {
  std::size_t max_entries = 0;       // entries of any kind, directories included
  std::uint64_t max_total_bytes = 0; // the regular files' bytes together
};

// What makes an archive unreadable here, for callers that report their own kinds of defect.
enum class ArchiveDefect {
  unreadable,  // not an archive of the formats asked for, corrupt, or an entry not its declared size
  path,        // an absolute name or a `..` component, no regular file, or a name given twice
  limits,      // more entries or bytes than ArchiveLimits allows
};

struct ArchiveFailure {
  ArchiveDefect defect = ArchiveDefect::unreadable;
  std::string entry;  // the entry's name as the archive gives it, "" for the archive as a whole
  std::string why;    // "absolute name or '..' component", "more than 16 entries", ...
};

struct ArchiveFile {
  std::string name;  // archive_relative_name of the entry's name
  Bytes data;
};

struct ArchiveRead {
  std::vector<ArchiveFile> files;  // the regular files in archive order; directories are skipped
  std::optional<ArchiveFailure> failure;
};

// Reads every regular file of `path`. On the first thing wrong, `failure` says what and `files`
// is empty. An entry must hold exactly the bytes its header declares.
ArchiveRead read_archive_files(const std::filesystem::path& path, ArchiveFormats formats, const ArchiveLimits& limits);

// True when `path` is an archive of `formats` with a regular file or directory named `name`
// (compared as archive_relative_name), reading headers only.
bool archive_has_entry(const std::filesystem::path& path, ArchiveFormats formats, const std::string& name);

struct ArchiveReaderFree {
  void operator()(archive* a) const;
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReaderFree>;

// A libarchive reader of `path` for `formats`, with zip read through its central directory (the
// streaming reader takes the first central directory record for the end, so a zip cut inside it
// would read as whole). Null, with `why` set, when libarchive cannot open it.
ArchiveReader open_archive_reader(const std::filesystem::path& path, ArchiveFormats formats, std::string& why);

// True when `head`, a file's first bytes, starts a compressed stream libarchive reads: gzip with
// deflate (RFC 1952), bzip2 ("BZh" and a block size 1-9), xz or a zstd frame.
bool has_compression_signature(std::string_view head);

// True when `path` is a tar compressed with gzip, bzip2, xz or zstd whose first header reads.
bool is_compressed_tar(const std::filesystem::path& path);

// libarchive's last error on `a`, or `otherwise` when it has none.
std::string libarchive_says(archive* a, const char* otherwise);

// An entry's name as a key: relative, '/'-separated, without empty or "." parts; nullopt when it
// is absolute (also "\\x" or "C:x") or has a ".." part. "" for the root.
std::optional<std::string> archive_relative_name(const std::string& name);

// A zip's first four bytes: a local file header or an empty archive's end record.
bool has_zip_signature(const std::filesystem::path& path);
bool starts_as_zip(std::string_view head);

}  // namespace ecuup
