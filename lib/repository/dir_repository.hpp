#pragma once
// `dir`: the embedded default update server, a local directory:
//   releases.yaml   releases: { <part>: { version, artifact, sha256, size } }
//   <artifacts>     the files releases.yaml names, relative to the directory
// report() compares versions; reports and feedback are recorded under reports/ and feedback/
// when the directory is writable, as a server would record them.
#include "repository/repository.hpp"

namespace ecuup {

// One entry of releases.yaml.
struct DirRelease {
  std::string version;
  std::filesystem::path artifact;
  std::string url;  // overrides the file:// URL of `artifact` (a mirror, an HTTP server)
  std::string sha256;
  std::uint64_t size = 0;
  std::filesystem::path statement;  // the signed release statement beside releases.yaml; empty: unsigned
};

// releases.yaml's text, read strictly (file:line:col errors); paths resolve under `root_dir`.
// A version or url no vehicle may take is Errc::verify; anything else malformed is Errc::config.
Result<std::map<std::string, DirRelease>> parse_releases(const std::string& text, const std::filesystem::path& file,
                                                          const std::filesystem::path& root_dir);

Result<std::unique_ptr<Repository>> make_dir_repository(const Config& config);

}  // namespace ecuup
