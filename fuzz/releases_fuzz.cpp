// libFuzzer target: a dir repository's releases.yaml through parse_releases, as ecuup reads it from
// a repository directory it may not control (a mounted medium, a synced folder). What parses names
// versions a vehicle may take, http(s) links only, and files inside the repository.
#include <string>

#include "fuzz_support.hpp"
#include "repository/dir_repository.hpp"
#include "trust/statement.hpp"
#include "util/version.hpp"

using namespace ecuup;
using ecuup::fuzz::require;
namespace fs = std::filesystem;

namespace {

bool inside(const fs::path& root, const fs::path& p) {
  const fs::path normal = p.lexically_normal();
  auto r = root.begin();
  auto q = normal.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == normal.end() || *r != *q) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path root = "/fuzz/repository";
  const fs::path file = root / "releases.yaml";
  auto releases = parse_releases(std::string(fuzz::as_text(data, size)), file, root);
  fuzz::say("releases: %s", releases ? "ok" : releases.error().message.c_str());
  if (!releases) {
    require(releases.error().code == Errc::config || releases.error().code == Errc::verify);
    require(releases.error().message.rfind(file.string(), 0) == 0);
    return 0;
  }
  for (const auto& [part, release] : *releases) {
    require(check_version_text(release.version).ok());
    require(inside(root, release.artifact));
    require(release.url.empty() || release.url.starts_with("http://") || release.url.starts_with("https://"));
    if (!release.statement.empty()) {
      require(inside(root, release.statement));
      require(release.statement.string().ends_with(k_statement_suffix));
    }
  }
  return 0;
}
