// libFuzzer target: a downloaded package (tar, tar.gz and friends, zip) through looks_like_archive
// and extract_archive with its strict checks, in a directory of its own. Whatever the archive
// holds, nothing may appear outside the destination, a refused archive leaves nothing behind, and
// an accepted one holds only directories, regular files and links that stay inside it.
// The same file through read_archive_files, as a VBF set or a PDX is read into memory: what it
// accepts are regular files with clean, distinct names, within the limits.
#include <algorithm>
#include <fstream>
#include <set>
#include <string>

#include "fuzz_support.hpp"
#include "store/archive.hpp"
#include "util/archive_files.hpp"

using namespace ecuup;
using ecuup::fuzz::require;
namespace fs = std::filesystem;

namespace {

bool inside(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == p.end() || *r != *q) return false;
  }
  return true;
}

void check_tree(const fs::path& dest) {
  const fs::path root = fs::canonical(dest);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dest, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto status = it->symlink_status();
    require(fs::is_directory(status) || fs::is_regular_file(status) || fs::is_symlink(status));
    if (!fs::is_symlink(status)) continue;
    // Where the link leads, through any other links: inside the tree, or nowhere (a loop).
    std::error_code resolve_error;
    const fs::path target = fs::weakly_canonical(it->path(), resolve_error);
    if (!resolve_error) require(inside(root, target));
  }
  require(!ec);
}

// The work dir holds the input and at most the destination: no temp dirs, nothing beside.
void check_work_dir(const fs::path& work, bool dest_expected) {
  std::size_t entries = 0;
  for (const auto& entry : fs::directory_iterator(work)) {
    const auto name = entry.path().filename();
    require(name == "download" || (dest_expected && name == "unpacked"));
    ++entries;
  }
  require(entries == (dest_expected ? 2u : 1u));
}

void check_read_into_memory(const fs::path& input) {
  const ArchiveLimits limits{.max_entries = 64, .max_total_bytes = 1u << 20};
  const ArchiveRead read = read_archive_files(input, ArchiveFormats::tar_or_zip, limits);
  fuzz::say("read into memory: %s", read.failure ? read.failure->why.c_str() : "ok");
  if (read.failure) {
    require(read.files.empty() && !read.failure->why.empty());
    return;
  }
  require(read.files.size() <= limits.max_entries);
  std::set<std::string> names;
  std::uint64_t total = 0;
  for (const auto& file : read.files) {
    require(!file.name.empty() && archive_relative_name(file.name) == file.name);
    require(names.insert(file.name).second);
    total += file.data.size();
  }
  require(total <= limits.max_total_bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path work = [] {
    fs::path dir = fuzz::process_dir() / "archive";
    fs::create_directories(dir);
    return dir;
  }();
  const fs::path input = work / "download";
  const fs::path dest = work / "unpacked";
  {
    std::ofstream out(input, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    require(out.good());
  }

  (void)looks_like_archive(input);
  (void)is_compressed_tar(input);
  check_read_into_memory(input);
  // Small limits, so that a bomb is found cheaply; ecuup's own are gigabytes.
  const ExtractLimits limits{.max_total_bytes = 1u << 20, .max_entries = 256};
  auto files = extract_archive(input, dest, limits);
  fuzz::say("extract: %s", files ? std::to_string(files->size()).append(" files").c_str() : files.error().message.c_str());
  if (!files) {
    require(files.error().code == Errc::verify || files.error().code == Errc::io);
    check_work_dir(work, false);
    return 0;
  }
  check_work_dir(work, true);
  for (const auto& file : *files) {
    require(file.is_relative() && !file.empty());
    require(std::none_of(file.begin(), file.end(), [](const fs::path& c) { return c == ".." || c == "."; }));
    require(fs::is_regular_file(fs::symlink_status(dest / file)));
  }
  auto sorted = *files;
  std::sort(sorted.begin(), sorted.end());
  require(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  check_tree(dest);
  fs::remove_all(dest);
  return 0;
}
