#pragma once
// Safe extraction of downloaded packages (tar, tar.gz, zip) with libarchive. Nothing reaches the
// destination unless every entry passed the checks.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "util/result.hpp"

namespace ecuup {

// Bounds on what one archive may expand to: a small download must not fill the disk or the
// inode table (a "zip bomb"). Generous for ECU software, which is images and a few files.
struct ExtractLimits {
  std::uint64_t max_total_bytes = std::uint64_t{16} << 30;  // sum of all regular files
  std::size_t max_entries = 10000;
};

// True when the content (not the name) is a tar (plain or compressed) or zip archive, including a
// corrupt one: a zip or ustar signature, or a compressed stream that is cut short or fails its
// check. A sound gzip/xz/... stream of anything but a tar (a compressed raw image) is no archive.
bool looks_like_archive(const std::filesystem::path& path);

// Extracts `archive` into a temp dir beside `dest_dir`, then renames it to `dest_dir` (replacing
// an existing one). Refuses (Errc::verify, `dest_dir` untouched, temp dir removed) absolute paths,
// `..` components, links whose target leaves the tree, writing through a link, and device, fifo
// or socket entries. Returns the regular files extracted, relative to `dest_dir`.
// An archive beyond `limits`, or an entry holding more data than its header declares, is
// Errc::verify as well. So is any archive that fails its own integrity checks, before anything is
// extracted or while it is: a zip entry's CRC-32 or sizes, a gzip trailer's CRC-32 or ISIZE (one
// member, as tar -z writes), a bzip2/xz/zstd stream check, a tar header checksum or missing
// end-of-archive blocks, any truncation, any libarchive warning. Errc::io for local file system failures.
Result<std::vector<std::filesystem::path>> extract_archive(const std::filesystem::path& archive,
                                                           const std::filesystem::path& dest_dir,
                                                           const ExtractLimits& limits = {});

}  // namespace ecuup
