// libFuzzer target: the ecuup image header (util/sw_image.hpp), alone and as check_image_file
// finds it at the start of a raw image (fuzz/README.md).
#include <algorithm>

#include "fuzz_image.hpp"
#include "util/sw_image.hpp"

using namespace ecuup;
using ecuup::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto header = parse_sw_image_header(ByteView(data, size));
  if (header) {
    require(size >= k_sw_image_header_size);
    require(!header->version.empty() && header->version.size() <= k_sw_image_version_max);
    require(std::all_of(header->version.begin(), header->version.end(), [](char c) { return c > 0x20 && c < 0x7f; }));
  } else {
    require(header.error().code == Errc::verify);
  }
  const std::string path = fuzz::as_file(data, size);
  for (bool required : {false, true}) {
    ImageSpec spec;
    spec.format = ImageFormat::raw;
    if (required) spec.required_header_offset = 0;
    ImageDiagnostic where;
    auto checked = check_image_file(path, spec, &where);
    if (checked) {
      require(checked->format == ImageFormat::raw && checked->data_bytes == size);
      // A version comes only from a sound header whose payload fits in the file.
      if (!checked->version.empty()) {
        require(header.ok() && checked->version == header->version);
        require(k_sw_image_header_size + std::uint64_t{header->payload_size} <= size);
      }
      if (required) require(!checked->version.empty());
    } else {
      require(checked.error().code == Errc::verify);
      require(where.defect == ImageDefect::sw_header || where.defect == ImageDefect::no_data);
    }
  }
  return 0;
}
