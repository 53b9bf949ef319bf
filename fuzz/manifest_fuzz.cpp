// libFuzzer target: state/manifest.yaml through Manifest::parse. What parses must be written back
// (to_yaml, as save does) into text that parses again and then writes the same text: ecuup must
// read every manifest it writes, unknown keys included, and lose nothing on the way.
#include <string>

#include "fuzz_support.hpp"
#include "manifest/manifest.hpp"

using namespace ecuup;
using ecuup::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path file = "/fuzz/manifest.yaml";
  auto manifest = Manifest::parse(std::string(fuzz::as_text(data, size)), file);
  if (!manifest) {
    require(manifest.error().code == Errc::config);
    require(manifest.error().message.rfind(file.string(), 0) == 0);
    return 0;
  }
  for (const auto& [name, state] : manifest->ecus()) {
    require(manifest->find(name) != nullptr);
    if (state.task) require(!state.task->target_version.empty());
    if (state.backup) require(!state.backup->sha256.empty() && !state.backup->path.empty());
  }
  const std::string written = manifest->to_yaml();
  auto reread = Manifest::parse(written, file);
  require(reread.ok());
  require(reread->to_yaml() == written);
  require(reread->ecus().size() <= manifest->ecus().size());
  require(reread->vehicle == manifest->vehicle);
  require(reread->events.size() == manifest->events.size());
  require(reread->feedback_queue.size() == manifest->feedback_queue.size());
  return 0;
}
