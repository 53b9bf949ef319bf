#pragma once
// ODX-F flash data (ASAM MCD-2D ODX 2.2 / ISO 22901-1, the FLASH category) in a PDX container,
// read into the format-independent Container (container.hpp), and written for tests and tools.
//
// What ecuup relies on (sources: the ODX 2.2 data model as mercedes-benz/odxtools reads and writes
// it -- odxtools/{flash,ecumem,mem,session,datablock,segment,flashdata,security,...}.py and its
// templates index.xml.jinja2, flash.odx-f.xml.jinja2, macros/print{Datablock,Segment,Flashdata,
// Security,Session}.xml.jinja2):
// - A PDX is a zip. `index.xml` at its root is the catalog: CATALOG/ABLOCKS/ABLOCK/FILES/FILE, each
//   FILE's text the name of a zip entry. The ODX documents (.odx-f, .odx) have the root element ODX
//   (MODEL-VERSION="2.2.0"); a flash document has a FLASH child.
// - FLASH/ECU-MEMS/ECU-MEM/MEM holds SESSIONS/SESSION, DATABLOCKS/DATABLOCK and FLASHDATAS/FLASHDATA.
//   Elements carry an ID attribute; references are <X-REF ID-REF="..."/> (DOCREF across documents is
//   not followed: a reference must resolve inside the same document).
// - SESSION: SHORT-NAME, EXPECTED-IDENTS/EXPECTED-IDENT (SHORT-NAME, IDENT-VALUES/IDENT-VALUE),
//   CHECKSUMS/CHECKSUM, SECURITYS/SECURITY, DATABLOCK-REFS/DATABLOCK-REF (programming order).
// - DATABLOCK (attribute TYPE, free text; "BOOT", "CODE", "DATA" by convention): SHORT-NAME,
//   FLASHDATA-REF, SEGMENTS/SEGMENT, TARGET-ADDR-OFFSET (xsi:type POS-OFFSET with POSITIVE-OFFSET, or
//   NEG-OFFSET with NEGATIVE-OFFSET; hex), OWN-IDENTS/OWN-IDENT (SHORT-NAME, IDENT-VALUE), SECURITYS.
// - SEGMENT: SOURCE-START-ADDRESS (hex), then COMPRESSED-SIZE (decimal, optional) and exactly one of
//   UNCOMPRESSED-SIZE (decimal) or SOURCE-END-ADDRESS (hex, inclusive: size = end - start + 1);
//   ENCRYPT-COMPRESS-METHOD may sit here as well as on the FLASHDATA.
// - FLASHDATA, xsi:type INTERN-FLASHDATA (inline DATA) or EXTERN-FLASHDATA (DATAFILE, attribute
//   LATEBOUND-DATAFILE): DATAFORMAT SELECTION = BINARY | INTEL-HEX | MOTOROLA-S | USER-DEFINED, and
//   ENCRYPT-COMPRESS-METHOD with TYPE A_BYTEFIELD (hex) or A_UINT32 (decimal).
// - SECURITY: SECURITY-METHOD, FW-SIGNATURE, FW-CHECKSUM, VALIDITY-FOR, each with TYPE A_UINT32,
//   A_BYTEFIELD or A_ASCIISTRING.
//
// How ecuup maps it (its own reading where ODX leaves room):
// - The SESSION programmed is the first of the chosen ECU-MEM (PdxOptions), or the one named. Its
//   DATABLOCKs become one ContainerPart each, in DATABLOCK-REF order; TYPE decides the kind (BOOT or
//   containing "SBL" -> sbl, CODE -> exe, DATA -> data, else other); erase = the SEGMENTs' ranges.
// - A SEGMENT is a ContainerBlock. Its source range addresses the FLASHDATA's content: byte offsets
//   of BINARY data (inline DATA is hex digits), record addresses of INTEL-HEX / MOTOROLA-S text. The
//   bytes taken are COMPRESSED-SIZE long when given, else the source range. The ECU address is the
//   source start plus (minus) TARGET-ADDR-OFFSET; memory_size is UNCOMPRESSED-SIZE when given.
// - data_format (ISO 14229-1 dataFormatIdentifier) is the ENCRYPT-COMPRESS-METHOD byte, the
//   SEGMENT's over the FLASHDATA's, 0 without one. ecuup's compression method 1 is zlib (RFC 1950):
//   such a segment must inflate to exactly its UNCOMPRESSED-SIZE.
// - OWN-IDENT of a DATABLOCK: one whose SHORT-NAME contains "PART" is the part number, any other the
//   version. Container::version is the first CODE part's version (else the first part's that has one).
// - FW-CHECKSUM of a DATABLOCK's SECURITY covers its segments' bytes as carried (in order); of the
//   SESSION's, all its DATABLOCKs'. SECURITY-METHOD CRC32 (zlib), SHA256 or SHA1 (util/hash.hpp) are
//   verified; other methods, FW-SIGNATUREs and SESSION CHECKSUMs are kept unverified and reported.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "container/container.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

// What is wrong with a PDX or ODX-F document, for callers and tests that act on the kind.
enum class PdxDefect {
  none,
  not_zip,        // the file is no zip archive (or libarchive cannot read it as one)
  path,           // a zip entry with an absolute name, a `..` component, no regular file, or twice
  limits,         // more entries or more bytes than PdxOptions allows
  no_index,       // no index.xml at the zip's root
  xml,            // malformed XML (line given), a DOCTYPE, or a root element other than expected
  no_flash,       // no ODX-F document, ECU-MEM or SESSION (as named) to program
  missing_element,// a required element or attribute is absent
  value,          // an element's value is malformed (hex address, size, method byte, ...)
  missing_file,   // index.xml or a DATAFILE names a file the PDX does not hold
  bad_reference,  // an ID-REF that names no element of the right kind
  data,           // FLASHDATA content that is not what its DATAFORMAT says (hex digits, HEX, S-record)
  segment_range,  // a SEGMENT outside its FLASHDATA's data, or outside the 32-bit address space
  overlap,        // two SEGMENTs of the session write the same ECU memory
  compression,    // a zlib segment that does not inflate to its UNCOMPRESSED-SIZE
  checksum,       // an FW-CHECKSUM that does not match
};
const char* pdx_defect_name(PdxDefect defect);

struct PdxChecksumCheck {
  std::string where;   // "DATABLOCK app" / "SESSION main"
  std::string method;  // SECURITY-METHOD (or CHECKSUM-ALG) as written
  bool verified = false;
};

// The first defect (file, element, line when known), and what was or could not be checked.
struct PdxDiagnostic {
  PdxDefect defect = PdxDefect::none;
  std::string file;     // zip entry or document name
  std::string element;  // e.g. "SEGMENT seg1"
  std::size_t line = 0; // XML line, 0 when unknown
  std::string document; // the ODX-F document read
  std::string ecu_mem;  // the ECU-MEM SHORT-NAME read
  std::string session;  // the SESSION SHORT-NAME programmed
  std::vector<PdxChecksumCheck> checks;
};

struct PdxOptions {
  std::string ecu_mem;  // empty: the first ECU-MEM of the first ODX-F document
  std::string session;  // empty: the ECU-MEM's first SESSION
  // Bounds on the zip: a PDX is read into memory whole.
  std::size_t max_entries = 4096;
  std::uint64_t max_total_bytes = std::uint64_t{1} << 30;
};

// Hands over a data file a DATAFILE names (a zip entry); Errc::not_found when there is none.
using PdxFileOpener = std::function<Result<Bytes>(const std::string& file)>;

// Reads a PDX: the zip (limits, entry names), index.xml, the ODX-F document, the session's data.
// Errc::verify naming the file and element (and `diagnostic` filled) for every defect above;
// Errc::io / not_found when the file cannot be read.
Result<Container> load_pdx(const std::filesystem::path& pdx, const PdxOptions& options = {},
                           PdxDiagnostic* diagnostic = nullptr);

// The pure part: one ODX-F document's text (`name` in messages) and its data files by name.
Result<Container> parse_odx_f(std::string_view xml, const std::string& name, const PdxFileOpener& open_file,
                              const PdxOptions& options = {}, PdxDiagnostic* diagnostic = nullptr);

// A zip whose entries include index.xml at its root (fetch hands it over whole, never unpacks it).
bool looks_like_pdx(const std::filesystem::path& path);

// What write_pdx writes: index.xml and one ODX-F document (FLASH, one ECU-MEM, one SESSION), with
// one DATABLOCK and one FLASHDATA per block spec.
enum class PdxDataFormat { binary, ihex, srec };

struct PdxSegmentSpec {
  std::uint32_t address = 0;
  Bytes data;  // plain; compressed by the writer when the block's data_format says zlib
};

struct PdxBlockSpec {
  std::string name;         // DATABLOCK SHORT-NAME (also the base of IDs and file names)
  std::string type = "CODE";// DATABLOCK TYPE
  std::string version;      // OWN-IDENT VERSION when not empty
  std::string part_number;  // OWN-IDENT PART-NUMBER when not empty
  std::vector<PdxSegmentSpec> segments;
  PdxDataFormat format = PdxDataFormat::binary;
  bool extern_file = false;        // EXTERN-FLASHDATA with a data file in the zip, else inline DATA
  std::uint8_t data_format = 0x00; // ENCRYPT-COMPRESS-METHOD; high nibble 1: the writer compresses (zlib)
  bool crc32 = false;              // a SECURITY with SECURITY-METHOD CRC32 and its FW-CHECKSUM
};

struct PdxWriteSpec {
  std::string ecu = "ECU";          // ECU-MEM SHORT-NAME
  std::string session = "Session"; // SESSION SHORT-NAME
  std::vector<ExpectedIdent> expected_idents;
  std::vector<PdxBlockSpec> blocks;  // in programming order
};

// Writes `out` (atomically). Data formats other than zlib (0x10) are written as given: the caller
// hands over data already encrypted. Errc::usage for a spec that cannot be written (no name, no
// segments, overlapping segments, compressed segments that no longer fit before the next one,
// zlib together with encryption).
Result<void> write_pdx(const std::filesystem::path& out, const PdxWriteSpec& spec);

}  // namespace ecuup
