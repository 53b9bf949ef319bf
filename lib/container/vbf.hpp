#pragma once
// VBF (Versatile Binary Format, Volvo Cars), versions 2.x and 3.x: read into the container model
// (container.hpp), and written for tests, examples and benches.
//
// The format as ecuup reads it. Sources: Volvo's public odtb2pilot test scripts (support_SBL.py,
// which cites Volvo document 31808832 ch. 6.3.3 "Data section structure", and the REQPROD 404693
// notes on the verification block header identifiers), vbftool (Python; its writer and its CRC
// test vectors), qvbf (Qt reader/writer), and headers of real files quoted in public repositories.
// - An ASCII part: `vbf_version = X.Y;` then `header { key = value; ... }`. `//` and `/* */`
//   comments may stand between tokens. A value is a quoted string, a word (hex `0x...`, a decimal,
//   or a name like SBL, CAN_HS, 16BIT_STANDARD), or a brace list of values (nested for `erase`).
//   Seen keys: description (string list), sw_part_number and sw_version (a string or a list of
//   them, e.g. WERS and ENOVIA numbers), sw_part_type (SBL, EXE, DATA, CARCFG, CUSTOM, GBL,
//   SIGCFG, TEST), data_format_identifier (ISO 14229-1 dataFormatIdentifier; absent = 0x00),
//   network (CAN_HS, CAN_MS, FLEXRAY, DOIP, SUB_...), ecu_address, frame_format (older files:
//   can_frame_format), erase = { {start, length}, ... }, call (the SBL's entry point),
//   verification_block_start / _length / _root_hash and sw_signature(_dev) (3.x and signed 2.6+
//   files: hex numbers of any length), file_checksum. Keys come in any order (file_checksum is
//   not always last).
// - The binary part starts right after the header's closing brace and runs to the end of the
//   file: blocks of a 4-byte big-endian start address, a 4-byte big-endian length (1 to
//   0xFFFFFFFF bytes: the bytes stored, compressed when the data format says so), the data, and a
//   2-byte big-endian CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, check value
//   0x29B1) over the block's data, uncompressed (vbftool: "always calculated from uncompressed
//   data"; qvbf decompresses before checking).
// - file_checksum is CRC-32 (zlib's crc32) over the whole binary part: every block's address,
//   length, data and CRC-16, i.e. every byte after the header's closing brace.
// - Compression method 1 (data_format_identifier 0x1X) is LZSS in Volvo's and qvbf's tools;
//   ecuup reads and writes method 1 as a zlib stream (RFC 1950), as ecuup-sim does. A block of
//   another compression or of an encryption method (low nibble) is passed through unchecked:
//   its CRC-16 cannot be recomputed and its memory_size is data.size() (the format gives no
//   uncompressed size); the file checksum still covers it.
// - ecuup's rules where the sources leave room: vbf_version major 2 or 3; sw_part_number,
//   sw_part_type, ecu_address and file_checksum are required, and call for an SBL; a key given
//   twice is refused; unknown keys are kept (VbfHeader::other, written back by write_vbf); at
//   least one block; blocks may come in any order but must not overlap or pass 4 GiB.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "container/container.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

struct VbfHeader {
  int version_major = 2;
  int version_minor = 6;
  std::vector<std::string> description;
  std::vector<std::string> sw_part_numbers;  // the first is the part number
  std::vector<std::string> sw_versions;      // the first is the version; may be empty
  std::string sw_part_type;                  // as written: "SBL", "EXE", "DATA", ...
  std::uint8_t data_format_identifier = 0x00;
  std::string network;       // e.g. CAN_HS; empty when absent
  std::uint32_t ecu_address = 0;  // the first value when the file gives a list
  std::string frame_format;  // e.g. CAN_STANDARD; from frame_format or can_frame_format
  std::vector<MemoryRange> erase;
  std::optional<std::uint32_t> call;
  std::optional<std::uint32_t> verification_block_start;
  std::optional<std::uint32_t> verification_block_length;
  Bytes verification_block_root_hash;
  Bytes sw_signature;
  Bytes sw_signature_dev;
  std::uint32_t file_checksum = 0;  // as the file says (parse); computed (write)
  // Keys ecuup does not interpret, with their values in canonical text ("0x10", "\"a\"", "{1, 2}").
  std::vector<std::pair<std::string, std::string>> other;
  bool operator==(const VbfHeader&) const = default;
};

struct VbfFile {
  VbfHeader header;
  ContainerPart part;                // name = the file name given to the parser
  std::vector<std::uint16_t> block_crcs;  // the CRC-16 each block carries, in file order
  bool crcs_checked = true;          // false for data formats ecuup cannot decode (see above)
};

// What is wrong with a VBF file, for callers and tests that act on the kind, not the wording.
enum class VbfDefect {
  none,
  syntax,          // not `vbf_version = X.Y; header { ... }`: a stray token, unterminated string/comment
  version,         // a vbf_version ecuup does not read (not 2.x or 3.x)
  missing_field,   // a required key is absent (or call for an SBL)
  duplicate_field, // a key given twice
  field_value,     // a value of the wrong kind or range (a string for a number, erase length 0, ...)
  truncated,       // a block runs past the end of the file
  trailing_data,   // 1 to 9 bytes after the last block: not even a block's address and length
  empty_block,     // a block of length 0
  no_blocks,       // nothing after the header
  address_range,   // a block past 4 GiB
  overlap,         // two blocks at the same memory
  decompress,      // compression method 1 whose data is no zlib stream
  block_crc,       // a block's CRC-16 does not match its data
  file_checksum,   // file_checksum does not match the binary part
};
const char* vbf_defect_name(VbfDefect defect);

struct VbfDiagnostic {
  VbfDefect defect = VbfDefect::none;
  std::size_t line = 0;          // 1-based line in the ASCII part, 0 when not there
  std::size_t block_index = 0;   // 1-based block the defect is in, 0 when none
};

// Parses and checks a whole VBF file (every rule above). Errc::verify naming `name` and what is
// wrong ("sbl.vbf: block 2 at 0x00020000: CRC-16 0x1234, header says 0xABCD"); `diagnostic` gets
// the kind.
Result<VbfFile> parse_vbf(ByteView bytes, const std::string& name, VbfDiagnostic* diagnostic = nullptr);
// Reads and parses `path` (the part's name is the file name). Errc::io / not_found when unreadable.
Result<VbfFile> load_vbf(const std::filesystem::path& path, VbfDiagnostic* diagnostic = nullptr);
// A software delivery of several VBF files: SBL first, then the others in the order given. Refuses
// (Errc::verify) two SBLs and a set without a non-SBL part. Container::version is the EXE part's
// sw_version (the only part's when there is one non-SBL part; empty otherwise).
Result<Container> load_vbf_set(const std::vector<std::filesystem::path>& files);
// The same for files already parsed (a VBF set read from an archive), in the order given.
Result<Container> assemble_vbf_set(std::vector<VbfFile> files);

ContainerPartKind vbf_part_kind(const std::string& sw_part_type);

// CRC-16/CCITT-FALSE, incremental: vbf_crc16(b, vbf_crc16(a)) == vbf_crc16(a + b).
std::uint16_t vbf_crc16(ByteView data, std::uint16_t previous = 0xFFFF);

// What write_vbf writes: the header (file_checksum is computed, the given one ignored) and blocks
// whose data is as stored in the file (compressed when the data format says so).
struct VbfWriteSpec {
  VbfHeader header;
  std::vector<ContainerBlock> blocks;
  // The CRC-16 of each block; empty: computed (over the data inflated for compression method 1).
  // Needed for data formats ecuup cannot decode.
  std::vector<std::uint16_t> block_crcs;
};

// A block from plain bytes in `data_format`: 0x00 as they are, 0x10 (compression method 1, no
// encryption) as one zlib stream (compress2, level 9); memory_size is the plain size.
// Errc::unsupported for formats ecuup cannot produce (other compression, any encryption).
Result<ContainerBlock> make_vbf_block(std::uint32_t address, ByteView plain, std::uint8_t data_format);

// Writes a VBF file: header text (CRLF line ends, as Volvo's tools write), then the blocks with
// their CRC-16s; file_checksum over them. What it writes is parsed back before it is returned:
// a spec parse_vbf would refuse (no blocks, an SBL without call, overlapping blocks, ...) is
// Errc::usage with parse_vbf's message.
Result<Bytes> write_vbf(const VbfWriteSpec& spec);

// The write spec that writes `file` again (header, blocks as stored, their CRCs).
VbfWriteSpec vbf_write_spec(const VbfFile& file);

}  // namespace ecuup
