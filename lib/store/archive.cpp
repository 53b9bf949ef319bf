#include "store/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>

#include <fmt/format.h>

#include "util/archive_files.hpp"
#include "util/fs.hpp"
#include "util/sw_image.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t k_read_block_bytes = 64 * 1024;
// Link chains longer than this are treated as loops (Linux gives up after 40 as well).
constexpr int k_max_link_expansions = 40;
constexpr mode_t k_dir_mode = 0755;
constexpr mode_t k_owner_read_write = 0600;
constexpr mode_t k_permission_bits = 0777;
// RFC 1952: a gzip member ends in CRC-32 and ISIZE (the data's length modulo 2^32), little-endian.
constexpr std::size_t k_gzip_trailer_bytes = 8;
constexpr std::uint64_t k_gzip_isize_modulus = std::uint64_t{1} << 32;

// How a file starts: a container (zip local file header or empty-archive record, POSIX ustar magic
// at byte 257) is an archive whatever libarchive makes of it; a compressed stream
// (has_compression_signature) may hold a tar or a raw image.
enum class Sniffed { other, container, compressed };
constexpr std::string_view k_ustar_magic{"ustar", 5};
constexpr std::size_t k_ustar_magic_offset = 257;

using Reader = ArchiveReader;

std::string archive_message(archive* a) { return libarchive_says(a, "unknown libarchive error"); }

std::uint32_t get_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}

Sniffed sniff(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, k_ustar_magic_offset + k_ustar_magic.size()> head{};
  in.read(head.data(), head.size());
  const std::string_view got(head.data(), static_cast<std::size_t>(in.gcount()));
  if (has_compression_signature(got)) return Sniffed::compressed;
  const bool ustar = got.size() >= k_ustar_magic_offset + k_ustar_magic.size() &&
                     got.substr(k_ustar_magic_offset, k_ustar_magic.size()) == k_ustar_magic;
  return starts_as_zip(got) || ustar ? Sniffed::container : Sniffed::other;
}

Error refuse(const std::string& entry, const std::string& why) {
  return make_error(Errc::verify, "entry '" + entry + "': " + why);
}

Error errno_io(const std::string& what, const fs::path& p) {
  return make_error(Errc::io, what + " " + p.string() + ": " + std::strerror(errno));
}

std::vector<std::string> split_components(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t slash = s.find('/', start);
    if (slash == std::string::npos) slash = s.size();
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// An entry name as a path inside the tree: relative, no `..`; "." and empty parts dropped.
Result<fs::path> inside_path(const std::string& name, const std::string& entry) {
  if (name.empty()) return refuse(entry, "empty path");
  if (name.front() == '/') return refuse(entry, "absolute path");
  fs::path rel;
  for (const auto& c : split_components(name)) {
    if (c.empty() || c == ".") continue;
    if (c == "..") return refuse(entry, "path contains '..'");
    rel /= c;
  }
  return rel;
}

Result<void> require_directory(const fs::path& root, const fs::path& rel, const std::string& entry) {
  fs::path p = root / rel;
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) return refuse(entry, "passes through link '" + rel.string() + "'");
    if (!S_ISDIR(st.st_mode)) return refuse(entry, "'" + rel.string() + "' is not a directory");
    return success();
  }
  if (errno != ENOENT) return errno_io("cannot inspect", p);
  if (::mkdir(p.c_str(), k_dir_mode) != 0) return errno_io("cannot create directory", p);
  return success();
}

// Creates the parents of `rel`, refusing to go through a link: nothing is written outside `root`.
Result<void> prepare_parents(const fs::path& root, const fs::path& rel, const std::string& entry) {
  fs::path prefix;
  for (const auto& c : rel.parent_path()) {
    prefix /= c;
    ECUUP_TRY(require_directory(root, prefix, entry));
  }
  return success();
}

// A later entry may replace an earlier file or link of the same name (tar appends updates).
Result<void> remove_existing(const fs::path& root, const fs::path& rel, const std::string& entry) {
  fs::path p = root / rel;
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return success();
  if (S_ISDIR(st.st_mode)) return refuse(entry, "replaces a directory");
  if (::unlink(p.c_str()) != 0) return errno_io("cannot replace", p);
  return success();
}

// Lexical check from the link's directory; a link through other links is settled later.
bool lexically_inside(const fs::path& link_rel, const std::string& target) {
  std::vector<std::string> stack;
  for (const auto& c : link_rel.parent_path()) stack.push_back(c.string());
  for (const auto& c : split_components(target)) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (stack.empty()) return false;
      stack.pop_back();
    } else {
      stack.push_back(c);
    }
  }
  return true;
}

fs::path join(const std::vector<std::string>& parts) {
  fs::path p;
  for (const auto& c : parts) p /= c;
  return p;
}

// Follows `target` from directory `stack` through the links in the extracted tree; false when
// the walk leaves the tree, meets an absolute target or loops.
bool resolve_inside(const fs::path& root, std::vector<std::string>& stack, const std::string& target, int& budget) {
  if (!target.empty() && target.front() == '/') return false;
  for (const auto& c : split_components(target)) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (stack.empty()) return false;
      stack.pop_back();
      continue;
    }
    stack.push_back(c);
    fs::path p = root / join(stack);
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (--budget < 0) return false;
      std::error_code ec;
      fs::path next = fs::read_symlink(p, ec);
      if (ec) return false;
      stack.pop_back();
      if (!resolve_inside(root, stack, next.string(), budget)) return false;
    }
  }
  return true;
}

// What an extraction may still write (ExtractLimits, counted down).
struct Budget {
  std::uint64_t bytes_left;
  std::size_t entries_left;
  std::uint64_t max_bytes;
};

Result<void> too_big(const std::string& entry, std::uint64_t max_bytes) {
  return refuse(entry, "the archive expands to more than " + std::to_string(max_bytes) +
                           " bytes (a decompression bomb, or software far larger than an ECU holds)");
}

Result<void> write_regular(archive* a, const fs::path& root, const fs::path& rel, mode_t perm,
                           off_t size_bytes, const std::string& entry, Budget& budget) {
  // Refuse on the declared size first (before writing a byte), then hold the data to it.
  if (size_bytes < 0 || static_cast<std::uint64_t>(size_bytes) > budget.bytes_left)
    return too_big(entry, budget.max_bytes);
  budget.bytes_left -= static_cast<std::uint64_t>(size_bytes);
  fs::path p = root / rel;
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, k_owner_read_write);
  if (fd < 0) return errno_io("cannot create", p);
  const void* buf = nullptr;
  std::size_t size = 0;
  la_int64_t offset = 0;
  Result<void> result = success();
  for (;;) {
    int rc = archive_read_data_block(a, &buf, &size, &offset);
    if (rc == ARCHIVE_EOF) break;
    // A warning here is the entry's own integrity check failing (zip: "ZIP bad CRC", "compressed
    // data is wrong size"), returned with the entry's last block: the entry is corrupt.
    if (rc != ARCHIVE_OK) {
      result = make_error(Errc::verify, "entry '" + entry + "': " + archive_message(a));
      break;
    }
    if (offset < 0 || static_cast<std::uint64_t>(offset) + size > static_cast<std::uint64_t>(size_bytes)) {
      result = refuse(entry, "holds more data than its header declares (" + std::to_string(size_bytes) + " bytes)");
      break;
    }
    const char* data = static_cast<const char*>(buf);
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(offset) + static_cast<off_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        result = errno_io("cannot write", p);
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    if (!result) break;
  }
  // A sparse entry may end in a hole: the size is the entry's, not the last block's end.
  struct stat st {};
  if (result && ::fstat(fd, &st) == 0 && st.st_size < size_bytes && ::ftruncate(fd, size_bytes) != 0)
    result = errno_io("cannot extend", p);
  if (result && ::fchmod(fd, (perm & k_permission_bits & ~static_cast<mode_t>(S_ISUID | S_ISGID | S_ISVTX)) |
                                 k_owner_read_write) != 0)
    result = errno_io("cannot set the mode of", p);
  if (result && ::fsync(fd) != 0) result = errno_io("cannot fsync", p);
  ::close(fd);
  return result;
}

std::string entry_name(archive_entry* e) {
  const char* name = archive_entry_pathname(e);
  if (!name) name = archive_entry_pathname_utf8(e);
  return name ? name : "";
}

struct Extraction {
  std::vector<fs::path> files;
  std::vector<fs::path> links;  // symlinks, checked once the whole tree exists
  std::set<fs::path> dirs;
};

Result<void> extract_entry(archive* a, archive_entry* e, const fs::path& root, Extraction& x, Budget& budget) {
  std::string name = entry_name(e);
  if (budget.entries_left == 0) return refuse(name, "the archive has more entries than the limit allows");
  --budget.entries_left;
  ECUUP_ASSIGN(fs::path rel, inside_path(name, name));
  if (rel.empty()) return success();  // "./": the root itself
  mode_t type = archive_entry_filetype(e);
  const char* hardlink = archive_entry_hardlink(e);
  if (!hardlink) hardlink = archive_entry_hardlink_utf8(e);

  if (hardlink) {
    auto checked = inside_path(hardlink, name);
    if (!checked) return refuse(name, "hard link target '" + std::string(hardlink) + "' leaves the archive");
    fs::path target = *checked;
    if (target.empty()) return refuse(name, "hard link to the root directory");
    ECUUP_TRY(prepare_parents(root, target, name));
    struct stat st {};
    if (::lstat((root / target).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      return refuse(name, "hard link target '" + std::string(hardlink) + "' is not a regular file in the archive");
    ECUUP_TRY(prepare_parents(root, rel, name));
    ECUUP_TRY(remove_existing(root, rel, name));
    if (::link((root / target).c_str(), (root / rel).c_str()) != 0) return errno_io("cannot link", root / rel);
    x.files.push_back(rel);
    return success();
  }
  switch (type) {
    case AE_IFDIR:
      ECUUP_TRY(prepare_parents(root, rel, name));
      ECUUP_TRY(require_directory(root, rel, name));
      x.dirs.insert(rel);
      return success();
    case AE_IFREG:
      ECUUP_TRY(prepare_parents(root, rel, name));
      ECUUP_TRY(remove_existing(root, rel, name));
      ECUUP_TRY(write_regular(a, root, rel, archive_entry_perm(e), static_cast<off_t>(archive_entry_size(e)), name,
                              budget));
      x.files.push_back(rel);
      return success();
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (!target) target = archive_entry_symlink_utf8(e);
      std::string t = target ? target : "";
      if (t.empty()) return refuse(name, "symbolic link without a target");
      if (t.front() == '/') return refuse(name, "symbolic link to absolute path '" + t + "'");
      if (!lexically_inside(rel, t)) return refuse(name, "symbolic link '" + t + "' leaves the archive");
      ECUUP_TRY(prepare_parents(root, rel, name));
      ECUUP_TRY(remove_existing(root, rel, name));
      if (::symlink(t.c_str(), (root / rel).c_str()) != 0) return errno_io("cannot create link", root / rel);
      x.links.push_back(rel);
      return success();
    }
    case AE_IFCHR:
    case AE_IFBLK:
      return refuse(name, "device node");
    case AE_IFIFO:
      return refuse(name, "fifo");
    case AE_IFSOCK:
      return refuse(name, "socket");
    default:
      return refuse(name, "unknown entry type");
  }
}

Result<void> check_links(const fs::path& root, const Extraction& x) {
  for (const auto& rel : x.links) {
    std::error_code ec;
    fs::path target = fs::read_symlink(root / rel, ec);
    if (ec) continue;  // replaced by a later entry
    std::vector<std::string> stack;
    for (const auto& c : rel.parent_path()) stack.push_back(c.string());
    int budget = k_max_link_expansions;
    if (!resolve_inside(root, stack, target.string(), budget))
      return refuse(rel.string(), "symbolic link '" + target.string() + "' leaves the archive");
  }
  return success();
}

// libarchive reads what it can open; a file we can open ourselves that it cannot read is corrupt.
Result<Reader> open_checked(const fs::path& archive_path) {
  std::string why;
  Reader a = open_archive_reader(archive_path, ArchiveFormats::tar_or_zip, why);
  if (!a) {
    return make_error(Errc::verify, "archive " + archive_path.string() + " is corrupt or truncated" +
                                        (why.empty() || why == "cannot open" ? "" : ": " + why));
  }
  return a;
}

// A compressed archive's stream is checked to its very end before anything is extracted: the tar
// reader stops at the end-of-archive blocks and never reaches the compressor's own check. libarchive
// (3.6) does not verify the gzip trailer itself, so its CRC-32 and ISIZE are compared here; bzip2,
// xz and zstd check their streams in their libraries as the data is drained.
Result<void> check_compressed_stream(const fs::path& archive_path) {
  Reader a(archive_read_new());
  if (!a) return make_error(Errc::io, "out of memory");
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_raw(a.get());
  const std::string what = "archive " + archive_path.string();
  if (archive_read_open_filename(a.get(), archive_path.c_str(), k_read_block_bytes) != ARCHIVE_OK) {
    return make_error(Errc::verify, what + ": compressed stream is corrupt or truncated");
  }
  archive_entry* e = nullptr;
  int rc = archive_read_next_header(a.get(), &e);
  if (rc != ARCHIVE_OK) return make_error(Errc::verify, what + ": " + archive_message(a.get()));
  // Filters are numbered from the format's side; the last is the file itself ("none").
  const int filters = archive_filter_count(a.get());
  if (filters < 2) return success();  // not compressed: the format reader checks the rest
  const bool gzip = filters == 2 && archive_filter_code(a.get(), 0) == ARCHIVE_FILTER_GZIP;
  std::uint32_t crc = 0;
  std::uint64_t size = 0;
  const void* buf = nullptr;
  std::size_t n = 0;
  la_int64_t offset = 0;
  while ((rc = archive_read_data_block(a.get(), &buf, &n, &offset)) == ARCHIVE_OK) {
    if (gzip) crc = crc32(ByteView(static_cast<const std::uint8_t*>(buf), n), crc);
    size += n;
  }
  if (rc != ARCHIVE_EOF) {
    const char* msg = archive_error_string(a.get());
    return make_error(Errc::verify, what + ": compressed stream " + (msg ? msg : "is truncated"));
  }
  if (!gzip) return success();
  // One gzip member, as tar -z writes it: its trailer is the file's last 8 bytes. A second member
  // or anything appended makes them differ, and is refused with the rest.
  std::ifstream in(archive_path, std::ios::binary | std::ios::ate);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  std::array<std::uint8_t, k_gzip_trailer_bytes> trailer{};
  if (!in || file_size < trailer.size()) return make_error(Errc::verify, what + ": gzip trailer missing");
  in.seekg(static_cast<std::streamoff>(file_size - trailer.size()));
  in.read(reinterpret_cast<char*>(trailer.data()), trailer.size());
  if (!in) return errno_io("cannot read", archive_path);
  const std::uint32_t want_crc = get_le32(trailer.data());
  const std::uint32_t want_size = get_le32(trailer.data() + 4);
  if (want_crc != crc) {
    return make_error(Errc::verify, what + fmt::format(": gzip trailer says CRC-32 0x{:08x}, the data has 0x{:08x}",
                                                       want_crc, crc));
  }
  if (want_size != size % k_gzip_isize_modulus) {
    return make_error(Errc::verify, what + fmt::format(": gzip trailer says {} bytes (ISIZE), the data has {}",
                                                       want_size, size));
  }
  return success();
}

Result<void> extract_all(const fs::path& archive_path, const fs::path& root, Extraction& x,
                         const ExtractLimits& limits) {
  Budget budget{limits.max_total_bytes, limits.max_entries, limits.max_total_bytes};
  {
    std::ifstream probe(archive_path, std::ios::binary);
    if (!probe) return errno_io("cannot read archive", archive_path);
  }
  ECUUP_TRY(check_compressed_stream(archive_path));
  ECUUP_ASSIGN(Reader a, open_checked(archive_path));
  archive_entry* e = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    // Warnings (a header checksum or field libarchive had to guess) and RETRY (a damaged tar
    // header skipped) all mean the archive is not what was written: refuse rather than extract.
    if (rc != ARCHIVE_OK)
      return make_error(Errc::verify, "archive " + archive_path.string() + ": " + archive_message(a.get()));
    ECUUP_TRY(extract_entry(a.get(), e, root, x, budget));
  }
  // A tar cut at an entry boundary reads like one without its end: libarchive stops on the missing
  // header with nothing consumed. POSIX ends an archive with two zero blocks; their absence is a
  // truncation (GNU tar also accepts a lone zero block, and so does this).
  if ((archive_format(a.get()) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR &&
      archive_filter_bytes(a.get(), 0) <= archive_read_header_position(a.get())) {
    return make_error(Errc::verify, "archive " + archive_path.string() +
                                        ": ends without the tar end-of-archive blocks (truncated)");
  }
  return check_links(root, x);
}

Result<void> fsync_tree_dirs(const fs::path& root, const Extraction& x) {
  for (const auto& d : x.dirs) ECUUP_TRY(fsync_directory(root / d));
  std::set<fs::path> parents;
  for (const auto& f : x.files) parents.insert(f.parent_path());
  for (const auto& d : parents)
    if (!x.dirs.count(d)) ECUUP_TRY(fsync_directory(root / d));
  return success();
}

// Moves the finished tree to `dest`, replacing what was there in one step where the kernel can.
Result<void> install_tree(const fs::path& tmp, const fs::path& dest) {
  struct stat st {};
  if (::lstat(dest.c_str(), &st) != 0) {
    if (errno != ENOENT) return errno_io("cannot inspect", dest);
    if (::rename(tmp.c_str(), dest.c_str()) != 0) return errno_io("cannot rename onto", dest);
    return success();
  }
  if (!S_ISDIR(st.st_mode)) return make_error(Errc::io, "cannot extract onto " + dest.string() + ": not a directory");
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // now holds the old tree
    return success();
  }
  fs::path old = tmp;
  old += ".old";
  if (::rename(dest.c_str(), old.c_str()) != 0) return errno_io("cannot move aside", dest);
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    auto err = errno_io("cannot rename onto", dest);
    ::rename(old.c_str(), dest.c_str());
    return err;
  }
  std::error_code ec;
  fs::remove_all(old, ec);
  return success();
}

}  // namespace

bool looks_like_archive(const fs::path& path) {
  const Sniffed kind = sniff(path);
  if (kind == Sniffed::container) return true;
  {
    std::string why;
    Reader a = open_archive_reader(path, ArchiveFormats::tar_or_zip, why);
    archive_entry* e = nullptr;
    if (a) {
      int rc = archive_read_next_header(a.get(), &e);
      if (rc == ARCHIVE_OK || rc == ARCHIVE_WARN) return true;
    }
  }
  // A compressed file whose stream is broken (cut short, a bad trailer) is no image either way:
  // count it as an archive, which extract_archive then refuses.
  return kind == Sniffed::compressed && !check_compressed_stream(path);
}

Result<std::vector<fs::path>> extract_archive(const fs::path& archive_path, const fs::path& dest_dir,
                                              const ExtractLimits& limits) {
  fs::path dest = dest_dir.lexically_normal();
  if (dest.has_filename() == false) dest = dest.parent_path();
  fs::path parent = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
  const std::string what = "extract " + archive_path.string();
  auto ensured = ensure_directory(parent);
  if (!ensured) return std::move(ensured).error().context(what);

  std::string tmpl = (parent / ("." + dest.filename().string() + ".extract-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) return errno_io("cannot create a temp directory in", parent).context(what);
  fs::path tmp = tmpl;

  Extraction x;
  Result<void> done = extract_all(archive_path, tmp, x, limits);
  if (done) done = fsync_tree_dirs(tmp, x);
  if (done && ::chmod(tmp.c_str(), k_dir_mode) != 0) done = errno_io("cannot set the mode of", tmp);
  if (done) done = fsync_directory(tmp);
  if (done) done = install_tree(tmp, dest);
  if (done) done = fsync_directory(parent);
  if (!done) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    return std::move(done).error().context(what);
  }
  std::vector<fs::path> files;
  std::set<fs::path> seen;
  for (const auto& f : x.files) {
    if (!seen.insert(f).second) continue;
    struct stat st {};
    if (::lstat((dest / f).c_str(), &st) == 0 && S_ISREG(st.st_mode)) files.push_back(f);
  }
  return files;
}

}  // namespace ecuup
