#include "container/vbf_pack.hpp"

#include <fmt/format.h>

#include "container/vbf.hpp"
#include "util/fs.hpp"
#include "util/image.hpp"

namespace ecuup {

Result<VbfPackSummary> pack_vbf(const VbfPackRequest& request) {
  VbfWriteSpec spec;
  VbfHeader& h = spec.header;
  h.version_major = request.vbf_version_major;
  h.version_minor = request.vbf_version_minor;
  h.sw_part_numbers = {request.part_number};
  if (!request.version.empty()) h.sw_versions = {request.version};
  h.sw_part_type = request.part_type;
  h.data_format_identifier = request.data_format;
  h.ecu_address = request.ecu_address;
  h.erase = request.erase;
  h.call = request.call;
  if (request.part_type == "SBL" && !request.call)
    return make_error(Errc::usage, "an SBL needs --call (the address it starts at once downloaded)");

  VbfPackSummary summary;
  for (const auto& path : request.images) {
    ECUUP_ASSIGN(auto format, detect_image_format(path));
    if (format == ImageFormat::raw && !request.raw_base_address)
      return make_error(Errc::usage, path.string() + " is a raw image: give --base (its address)");
    ECUUP_ASSIGN(FlashImage image, load_image(path, format, request.raw_base_address.value_or(0)));
    for (auto& segment : image.segments) {
      auto block = make_vbf_block(segment.address, segment.data, request.data_format);
      if (!block) return make_error(Errc::usage, block.error().message);
      summary.memory_bytes += block->memory_size;
      spec.blocks.push_back(std::move(block).value());
    }
  }
  summary.blocks = spec.blocks.size();
  auto bytes = write_vbf(spec);
  if (!bytes) return std::move(bytes).error().context(request.out.filename().string());
  ECUUP_TRY(write_file_atomic(request.out, ByteView(*bytes)));
  summary.file_bytes = bytes->size();
  // The checksum as written, read back from the header the writer produced.
  ECUUP_ASSIGN(VbfFile written, parse_vbf(*bytes, request.out.filename().string()));
  summary.file_checksum = written.header.file_checksum;
  return summary;
}

}  // namespace ecuup
