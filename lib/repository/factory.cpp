#include <fmt/format.h>

#include "repository/ddi.hpp"
#include "repository/dir_repository.hpp"
#include "repository/repository.hpp"

namespace ecuup {

Result<std::unique_ptr<Repository>> make_repository(const Config& config) {
  if (config.server.kind == "dir") return make_dir_repository(config);
  if (config.server.kind == "ddi") return make_ddi_repository(config);
  return make_error(Errc::config, fmt::format("{}: server kind '{}' is not available in this build",
                                              config.file.string(), config.server.kind));
}

}  // namespace ecuup
