// libFuzzer target: state/manifest.yaml through Manifest::parse. What parses must be written back
// (to_yaml, as save does) into text that parses again and then writes the same text: ecuup must
// read every manifest it writes, unknown keys included, and lose nothing on the way.
#include <string>

#include "fuzz_support.hpp"
#include "manifest/manifest.hpp"

using namespace ecuup;
using ecuup::fuzz::require;

namespace {

// YAML is Unicode: yaml-cpp reads other bytes as they are but writes U+FFFD for them, so only a
// UTF-8 input can come back unchanged. Nor can control characters YAML does not allow in a stream
// (C0 but tab and line breaks, DEL): yaml-cpp reads a NUL as another character, so a key holding
// one comes back as U+FFFD, written escaped the first time and as itself the next
// (fuzz/regressions/manifest/nul-in-key.yaml).
bool valid_utf8(std::string_view s) {
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = at(i);
    std::size_t n = 0;
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c >= 0xE0 && c <= 0xEF) n = 2;
    else if (c >= 0xF0 && c <= 0xF4) n = 3;
    else if (c >= 0x80) return false;
    else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return false;
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k)
      if ((at(i + k) & 0xC0) != 0x80) return false;
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((c == 0xE0 && at(i + 1) < 0xA0) || (c == 0xED && at(i + 1) >= 0xA0) || (c == 0xF0 && at(i + 1) < 0x90) ||
        (c == 0xF4 && at(i + 1) >= 0x90)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// A lone CR (old Mac line ends) yaml-cpp reads as a line break in some places and as part of a plain
// key in others, and writes such a key back raw; ecuup's values are quoted with \r escaped.
bool lone_cr(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
  return false;
}

}  // namespace

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
  fuzz::say("written:\n%s\nread back: %s", written.c_str(), reread ? "ok" : reread.error().message.c_str());
  // Other bytes come back changed (a key may grow past the limit), and save() refuses to write
  // what it cannot read back: only whether the writing survives is checked for them.
  if (!valid_utf8(fuzz::as_text(data, size)) || lone_cr(fuzz::as_text(data, size))) return 0;
  require(reread.ok());
  require(reread->ecus().size() == manifest->ecus().size());
  require(reread->to_yaml() == written);
  require(reread->vehicle == manifest->vehicle);
  require(reread->events.size() == manifest->events.size());
  require(reread->feedback_queue.size() == manifest->feedback_queue.size());
  return 0;
}
