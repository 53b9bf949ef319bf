#pragma once
// Opening whatever container a release names, checking it against an ECU, and turning it into the
// programming plan the UDS sequence runs (util/image.hpp's ImagePlan).
//   - a VBF file (text starting with "vbf_version");
//   - a VBF set: a tar or zip archive holding VBF files only (an SBL and its EXE/DATA parts);
//   - a PDX: a zip holding index.xml and ODX-F documents (pdx.hpp).
#include <filesystem>
#include <string>
#include <vector>

#include "container/container.hpp"
#include "util/image.hpp"
#include "util/result.hpp"

namespace ecuup {

// Whether the file's content starts as a VBF file does ("vbf_version").
bool is_vbf_file(const std::filesystem::path& path);
// Whether the file is a PDX: a zip holding index.xml (fetch keeps it whole rather than unpacking it).
bool is_pdx_file(const std::filesystem::path& path);

// Reads and verifies a container: every VBF block CRC and file checksum, the PDX's XML, references
// and data files. Errc::verify for anything corrupt, with the file and what is wrong; Errc::io /
// not_found when it cannot be read.
Result<Container> load_container(const std::filesystem::path& path);

// Checks a container against the ECU it is for: every block and erase range inside `memory` (when
// given), and an SBL (at most one) with a call address inside its own blocks. Errc::verify naming
// the part. (load_container's parsers already checked that every plain zlib block expands to its
// memory size; an encrypted one cannot be, and is passed through.)
Result<void> check_container(const Container& container, const std::vector<MemoryRange>& memory,
                             const std::string& name);

// The container as a programming plan: SBL segments first, then each part's blocks; its erase
// ranges (a part without any erases its own blocks).
ImagePlan plan_container(Container container, const std::string& name);

// One line per step a flash of the plan takes, for --dry-run: the SBL, each erase range, each segment.
std::vector<std::string> describe_plan(const ImageSource& image, std::uint16_t sbl_routine);

}  // namespace ecuup
