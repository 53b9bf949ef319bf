#include "util/archive_files.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <memory>
#include <set>
#include <string_view>

#include <fmt/format.h>

namespace ecuup {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t k_block_bytes = 64 * 1024;

std::string entry_name(archive_entry* e) {
  const char* name = archive_entry_pathname_utf8(e);
  if (!name) name = archive_entry_pathname(e);
  return name ? name : "";
}

// The entry's data, exactly its declared size when the header declares one; nullopt with
// `failure` set otherwise. `budget` is what the limits leave, and shrinks by what is read.
std::optional<Bytes> read_data(archive* a, archive_entry* e, const std::string& raw, std::uint64_t& budget,
                               const ArchiveLimits& limits, ArchiveFailure& failure) {
  auto fail = [&](ArchiveDefect defect, std::string why) {
    failure = {defect, raw, std::move(why)};
    return std::nullopt;
  };
  const std::string too_large = fmt::format("the archive holds more than {} bytes", limits.max_total_bytes);
  const bool declared = archive_entry_size_is_set(e) != 0;
  const la_int64_t size = archive_entry_size(e);
  if (declared && (size < 0 || static_cast<std::uint64_t>(size) > budget)) return fail(ArchiveDefect::limits, too_large);
  Bytes data;
  // What the header declares is only a claim: memory grows with the data that really comes.
  constexpr std::uint64_t k_max_reserve = std::uint64_t{16} << 20;
  if (declared) data.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(static_cast<std::uint64_t>(size), k_max_reserve)));
  std::array<std::uint8_t, k_block_bytes> block{};
  for (;;) {
    const la_ssize_t n = archive_read_data(a, block.data(), block.size());
    if (n < 0) return fail(ArchiveDefect::unreadable, "corrupt: " + libarchive_says(a, "unreadable data"));
    if (n == 0) break;
    const auto got = static_cast<std::uint64_t>(n);
    if (declared && data.size() + got > static_cast<std::uint64_t>(size))
      return fail(ArchiveDefect::unreadable, "more data than its header declares");
    if (got > budget) return fail(ArchiveDefect::limits, too_large);
    budget -= got;
    data.insert(data.end(), block.begin(), block.begin() + n);
  }
  if (declared && data.size() != static_cast<std::uint64_t>(size))
    return fail(ArchiveDefect::unreadable, "shorter than its header declares");
  return data;
}

}  // namespace

std::string libarchive_says(archive* a, const char* otherwise) {
  const char* why = archive_error_string(a);
  return why ? why : otherwise;
}

void ArchiveReaderFree::operator()(archive* a) const { archive_read_free(a); }

ArchiveReader open_archive_reader(const fs::path& path, ArchiveFormats formats, std::string& why) {
  ArchiveReader a(archive_read_new());
  if (!a) {
    why = "out of memory";
    return a;
  }
  if (formats == ArchiveFormats::tar_or_zip) {
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_bzip2(a.get());
    archive_read_support_filter_xz(a.get());
    archive_read_support_filter_zstd(a.get());
    archive_read_support_format_tar(a.get());
  }
  archive_read_support_format_zip_seekable(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), k_block_bytes) != ARCHIVE_OK) {
    why = libarchive_says(a.get(), "cannot open");
    a.reset();
  }
  return a;
}

std::optional<std::string> archive_relative_name(const std::string& name) {
  if (!name.empty() && (name.front() == '/' || name.front() == '\\')) return std::nullopt;
  if (name.size() >= 2 && name[1] == ':') return std::nullopt;  // a drive letter
  std::string out;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t sep = name.find_first_of("/\\", start);
    if (sep == std::string::npos) sep = name.size();
    const std::string_view part = std::string_view(name).substr(start, sep - start);
    start = sep + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return std::nullopt;
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

bool has_zip_signature(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 4> head{};
  in.read(head.data(), head.size());
  return starts_as_zip(std::string_view(head.data(), static_cast<std::size_t>(in.gcount())));
}

bool starts_as_zip(std::string_view head) {
  return head.starts_with(std::string_view("PK\x03\x04", 4)) || head.starts_with(std::string_view("PK\x05\x06", 4));
}

ArchiveRead read_archive_files(const fs::path& path, ArchiveFormats formats, const ArchiveLimits& limits) {
  ArchiveRead result;
  auto fail = [&](ArchiveDefect defect, std::string entry, std::string why) {
    result.files.clear();
    result.failure = ArchiveFailure{defect, std::move(entry), std::move(why)};
    return std::move(result);
  };
  if (formats == ArchiveFormats::zip && !has_zip_signature(path))
    return fail(ArchiveDefect::unreadable, "", "not a zip archive");
  std::string why;
  ArchiveReader a = open_archive_reader(path, formats, why);
  if (!a) return fail(ArchiveDefect::unreadable, "", "not a readable archive: " + why);
  std::set<std::string> names;
  std::size_t entries = 0;
  std::uint64_t budget = limits.max_total_bytes;
  for (;;) {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) return fail(ArchiveDefect::unreadable, "", "corrupt archive: " + libarchive_says(a.get(), "unreadable header"));
    const std::string raw = entry_name(e);
    if (++entries > limits.max_entries)
      return fail(ArchiveDefect::limits, "", fmt::format("more than {} entries", limits.max_entries));
    auto name = archive_relative_name(raw);
    if (!name) return fail(ArchiveDefect::path, raw, "absolute name or '..' component");
    const auto type = archive_entry_filetype(e);
    if (type == AE_IFDIR) continue;
    if (type != AE_IFREG || name->empty()) return fail(ArchiveDefect::path, raw, "not a regular file");
    ArchiveFailure failure;
    auto data = read_data(a.get(), e, raw, budget, limits, failure);
    if (!data) return fail(failure.defect, failure.entry, failure.why);
    if (!names.insert(*name).second) return fail(ArchiveDefect::path, raw, "named twice");
    result.files.push_back({std::move(*name), std::move(*data)});
  }
  return result;
}

bool archive_has_entry(const fs::path& path, ArchiveFormats formats, const std::string& name) {
  if (formats == ArchiveFormats::zip && !has_zip_signature(path)) return false;
  std::string why;
  ArchiveReader a = open_archive_reader(path, formats, why);
  if (!a) return false;
  archive_entry* e = nullptr;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    auto entry = archive_relative_name(entry_name(e));
    if (entry && *entry == name) return true;
  }
  return false;
}

bool has_compression_signature(std::string_view head) {
  const bool bzip2 = head.size() >= 4 && head.starts_with("BZh") && head[3] >= '1' && head[3] <= '9';
  return bzip2 || head.starts_with(std::string_view("\x1f\x8b\x08", 3)) ||
         head.starts_with(std::string_view("\xfd" "7zXZ\x00", 6)) ||
         head.starts_with(std::string_view("\x28\xb5\x2f\xfd", 4));
}

bool is_compressed_tar(const fs::path& path) {
  // Only a file that starts like a compressed stream is worth opening libarchive on: image format
  // detection asks this of every raw image.
  std::ifstream in(path, std::ios::binary);
  std::array<char, 6> head{};
  in.read(head.data(), head.size());
  if (!has_compression_signature(std::string_view(head.data(), static_cast<std::size_t>(in.gcount())))) return false;
  std::string why;
  ArchiveReader a = open_archive_reader(path, ArchiveFormats::tar_or_zip, why);
  if (!a) return false;
  archive_entry* e = nullptr;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK) return false;
  return (archive_format(a.get()) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR &&
         archive_filter_code(a.get(), 0) != ARCHIVE_FILTER_NONE;
}

}  // namespace ecuup
