#pragma once
// `dir`: the embedded default update server, a local directory:
//   releases.yaml   releases: { <part>: { version, artifact, sha256, size } }
//   <artifacts>     the files releases.yaml names, relative to the directory
// report() compares versions; reports and feedback are recorded under reports/ and feedback/
// when the directory is writable, as a server would record them.
#include "repository/repository.hpp"

namespace ecuup {

Result<std::unique_ptr<Repository>> make_dir_repository(const Config& config);

}  // namespace ecuup
