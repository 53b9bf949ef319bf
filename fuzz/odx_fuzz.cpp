// libFuzzer target: an ODX-F document to parse_odx_f (container/pdx.hpp), the pure part of reading a
// PDX. Input layout: the document's text up to the first NUL byte; what follows is the content of
// every DATAFILE it names, except names starting with "missing" (not in the PDX). What parses is a
// Container the UDS driver may program; everything else is Errc::verify with its defect named.
#include <algorithm>
#include <string>
#include <vector>

#include "container/pdx.hpp"
#include "fuzz_support.hpp"

using namespace ecuup;
using ecuup::fuzz::require;

namespace {

constexpr std::uint64_t k_address_space = std::uint64_t{1} << 32;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  const std::size_t nul = input.find('\0');
  const std::string_view xml = input.substr(0, nul);
  const std::string_view file = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  PdxFileOpener open = [&](const std::string& name) -> Result<Bytes> {
    if (name.rfind("missing", 0) == 0) return make_error(Errc::not_found, name + ": not in the PDX");
    return Bytes(file.begin(), file.end());
  };
  // Small bounds: a claimed UNCOMPRESSED-SIZE is inflated only up to them.
  const PdxOptions options{.max_entries = 16, .max_total_bytes = std::uint64_t{1} << 20};
  PdxDiagnostic diag;
  auto container = parse_odx_f(xml, "fuzz.odx-f", open, options, &diag);
  if (!container) {
    require(container.error().code == Errc::verify);
    require(diag.defect != PdxDefect::none);
    require(container.error().message.rfind("fuzz.odx-f", 0) == 0);
    fuzz::say("refused (%s): %s", pdx_defect_name(diag.defect), container.error().message.c_str());
    return 0;
  }
  require(diag.defect == PdxDefect::none);
  require(container->format == ContainerFormat::pdx);
  require(!container->parts.empty());
  struct Range {
    std::uint64_t begin, end;
  };
  std::vector<Range> ranges;
  for (const auto& part : container->parts) {
    require(!part.name.empty());
    require(!part.blocks.empty());
    // The part erases exactly what its segments fill.
    require(part.erase.size() == part.blocks.size());
    for (std::size_t i = 0; i < part.blocks.size(); ++i) {
      const auto& b = part.blocks[i];
      require(!b.data.empty() && b.memory_size > 0);
      require(b.address + b.memory_size <= k_address_space);
      require(part.erase[i].address == b.address && part.erase[i].size == b.memory_size);
      // A zlib block was inflated to its size, which the bounds cap.
      if (b.data_format == 0x10) require(b.memory_size <= options.max_total_bytes);
      ranges.push_back({b.address, b.address + b.memory_size});
    }
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& x, const Range& y) { return x.begin < y.begin; });
  for (std::size_t i = 1; i < ranges.size(); ++i) require(ranges[i].begin >= ranges[i - 1].end);
  for (const auto& ident : container->expected_idents) require(!ident.name.empty() && !ident.values.empty());
  fuzz::say("accepted: %zu parts, version '%s'", container->parts.size(), container->version.c_str());
  return 0;
}
