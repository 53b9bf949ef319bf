// libFuzzer target: VBF files through the strict parser (fuzz/README.md). What parses keeps the
// promises of container/vbf.hpp, and writes back into the same bytes.
#include <cstdint>

#include "container/vbf.hpp"
#include "fuzz_support.hpp"
#include "util/sw_image.hpp"

using ecuup::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ecuup::ByteView bytes(data, size);
  ecuup::VbfDiagnostic diagnostic;
  auto parsed = ecuup::parse_vbf(bytes, "fuzz.vbf", &diagnostic);
  if (!parsed) {
    require(parsed.error().code == ecuup::Errc::verify);
    require(parsed.error().message.rfind("fuzz.vbf", 0) == 0);
    require(diagnostic.defect != ecuup::VbfDefect::none);
    ecuup::fuzz::say("refused (%s): %s", ecuup::vbf_defect_name(diagnostic.defect), parsed.error().message.c_str());
    return 0;
  }
  require(diagnostic.defect == ecuup::VbfDefect::none);
  const ecuup::VbfFile& file = *parsed;
  require(!file.part.blocks.empty() && file.block_crcs.size() == file.part.blocks.size());
  require(!file.part.part_number.empty() || !file.header.sw_part_numbers.empty());
  require((file.part.kind == ecuup::ContainerPartKind::sbl) == file.part.call_address.has_value());
  std::uint64_t stored = 0;
  for (std::size_t i = 0; i < file.part.blocks.size(); ++i) {
    const auto& block = file.part.blocks[i];
    require(!block.data.empty() && block.memory_size > 0);
    require(block.address + block.memory_size <= (std::uint64_t{1} << 32));
    require(block.data_format == file.header.data_format_identifier);
    if (block.data_format == 0x00) {
      require(block.memory_size == block.data.size());
      require(ecuup::vbf_crc16(block.data) == file.block_crcs[i]);  // recomputed, it matches
    }
    for (std::size_t j = 0; j < i; ++j) {
      const auto& other = file.part.blocks[j];
      require(block.address >= other.address + other.memory_size || other.address >= block.address + block.memory_size);
    }
    stored += 10 + block.data.size();
  }
  // The blocks account for the whole binary part, and the file checksum is its CRC-32.
  require(stored < size);
  require(ecuup::crc32(bytes.subspan(size - stored)) == file.header.file_checksum);

  auto rewritten = ecuup::write_vbf(ecuup::vbf_write_spec(file));
  require(rewritten.ok());
  auto again = ecuup::parse_vbf(*rewritten, "fuzz.vbf");
  require(again.ok());
  require(again->header == file.header);
  require(again->block_crcs == file.block_crcs);
  require(again->crcs_checked == file.crcs_checked);
  require(again->part.blocks.size() == file.part.blocks.size());
  for (std::size_t i = 0; i < file.part.blocks.size(); ++i) {
    require(again->part.blocks[i].address == file.part.blocks[i].address);
    require(again->part.blocks[i].memory_size == file.part.blocks[i].memory_size);
    require(again->part.blocks[i].data == file.part.blocks[i].data);
  }
  // Written once more, the bytes are the same: the writer's output is canonical.
  auto third = ecuup::write_vbf(ecuup::vbf_write_spec(*again));
  require(third.ok() && *third == *rewritten);
  ecuup::fuzz::say("accepted: %zu block(s)", file.part.blocks.size());
  return 0;
}
