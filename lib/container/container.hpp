#pragma once
// OEM software containers (VBF files, ODX-F in a PDX) as a flasher sees them, whatever the format:
// parts programmed in order (a secondary boot loader first), the memory each part erases, and its
// blocks as TransferData carries them. The parsers (vbf.hpp, pdx.hpp) fill this; the UDS driver
// turns it into its programming sequence (util/image.hpp's ProgramPlan).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/bytes.hpp"
#include "util/image.hpp"

namespace ecuup {

enum class ContainerFormat { vbf, pdx };

// One block of memory content: where it goes, how many bytes it fills there once written, and the
// bytes TransferData carries, compressed and/or encrypted as `data_format` says.
struct ContainerBlock {
  std::uint32_t address = 0;
  // Bytes the block fills in the ECU's memory (RequestDownload's memorySize). Equal to data.size()
  // for plain data; for compressed data the uncompressed size, when the container gives it or the
  // data can be decompressed; data.size() otherwise (the container then says nothing more).
  std::uint64_t memory_size = 0;
  // ISO 14229-1 dataFormatIdentifier: compression method in the high nibble, encryption method in
  // the low one; 0x00 = plain.
  std::uint8_t data_format = 0x00;
  Bytes data;
};

enum class ContainerPartKind {
  sbl,    // secondary boot loader: downloaded to RAM, started at call_address, before any erase
  exe,    // application software
  data,   // calibration / data
  other,  // anything else the container names (e.g. VBF SIGCFG, CARCFG): programmed like data
};
const char* container_part_kind_name(ContainerPartKind kind);  // "sbl", "exe", "data", "other"

// One VBF file, or one ODX-F DATABLOCK: programmed as a unit.
struct ContainerPart {
  std::string name;  // the VBF's file name, the DATABLOCK's SHORT-NAME
  ContainerPartKind kind = ContainerPartKind::exe;
  std::string part_number;  // VBF sw_part_number; ODX-F: the DATABLOCK's or SESSION's ident, if any
  std::string version;      // VBF sw_version; empty when the container gives none
  // Ranges erased before the part's blocks are written (VBF `erase`, ODX-F SEGMENTs of the
  // DATABLOCK); empty: each block's own range is erased (none for an SBL).
  std::vector<MemoryRange> erase;
  std::optional<std::uint32_t> call_address;  // SBL: where it starts once downloaded (VBF `call`)
  std::vector<ContainerBlock> blocks;
};

// An ident the container requires of the ECU before it may be programmed (ODX-F EXPECTED-IDENT):
// the ECU's value must be one of `values`. Which DID holds it is the ECU config's `idents:` map
// (ODX-F names the ident, the diagnostic description says how to read it).
struct ExpectedIdent {
  std::string name;  // SHORT-NAME
  std::vector<std::string> values;
};

struct Container {
  ContainerFormat format = ContainerFormat::vbf;
  std::string version;  // the software version it carries (the EXE part's), empty when it says none
  std::vector<ContainerPart> parts;  // in programming order: SBLs first
  std::vector<ExpectedIdent> expected_idents;
};

}  // namespace ecuup
