#include "store/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "util/fs.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t k_read_block_bytes = 64 * 1024;
// Link chains longer than this are treated as loops (Linux gives up after 40 as well).
constexpr int k_max_link_expansions = 40;
constexpr mode_t k_dir_mode = 0755;
constexpr mode_t k_owner_read_write = 0600;
constexpr mode_t k_permission_bits = 0777;

struct ReaderDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using Reader = std::unique_ptr<archive, ReaderDeleter>;

Reader open_reader(const fs::path& path, std::string* why = nullptr) {
  Reader a(archive_read_new());
  if (!a) {
    if (why) *why = "out of memory";
    return a;
  }
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_zip(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), k_read_block_bytes) != ARCHIVE_OK) {
    if (why) *why = archive_error_string(a.get()) ? archive_error_string(a.get()) : "cannot open";
    a.reset();
  }
  return a;
}

std::string archive_message(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
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
    if (rc < ARCHIVE_WARN) {
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

Result<void> extract_all(const fs::path& archive_path, const fs::path& root, Extraction& x,
                         const ExtractLimits& limits) {
  Budget budget{limits.max_total_bytes, limits.max_entries, limits.max_total_bytes};
  std::string why;
  Reader a = open_reader(archive_path, &why);
  if (!a) return make_error(Errc::io, "cannot read archive " + archive_path.string() + ": " + why);
  archive_entry* e = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      return make_error(Errc::verify, "archive " + archive_path.string() + ": " + archive_message(a.get()));
    ECUUP_TRY(extract_entry(a.get(), e, root, x, budget));
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
  Reader a = open_reader(path);
  if (!a) return false;
  archive_entry* e = nullptr;
  int rc = archive_read_next_header(a.get(), &e);
  return rc == ARCHIVE_OK || rc == ARCHIVE_WARN;
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
