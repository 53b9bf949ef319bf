#pragma once
// Flash images: raw binary, Intel HEX and Motorola S-record. HEX and S-record files are parsed
// into segments (contiguous records merge); a raw binary is one segment at a configured base
// address and is read from the file on demand, so a 256 MiB image never sits in memory.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

// vbf and pdx are OEM containers: detected here, read by container/ (the ECU drivers open them).
enum class ImageFormat { auto_detect, raw, ihex, srec, vbf, pdx };

const char* image_format_name(ImageFormat format);
inline bool is_container_format(ImageFormat format) { return format == ImageFormat::vbf || format == ImageFormat::pdx; }
// "auto" | "raw" | "bin" | "ihex" | "hex" | "srec" | "s19" | "s28" | "s37" | "vbf" | "pdx"; Errc::config otherwise.
Result<ImageFormat> parse_image_format(std::string_view name);

struct ImageSegment {
  std::uint32_t address = 0;
  Bytes data;
};

struct FlashImage {
  std::vector<ImageSegment> segments;
  std::uint64_t total_size() const;
};

// A range of ECU memory: erase ranges, where an ECU accepts software.
struct MemoryRange {
  std::uint32_t address = 0;
  std::uint64_t size = 0;
  bool operator==(const MemoryRange&) const = default;
};

// What an OEM container (container/container.hpp) asks of a programming run, ready to send: the
// secondary boot loader's segments and where it starts, the ranges to erase, and every segment's
// bytes as TransferData carries them with their dataFormatIdentifier.
struct PlannedSegment {
  std::uint32_t address = 0;
  std::uint64_t memory_size = 0;  // bytes it fills in the ECU's memory (RequestDownload's memorySize)
  std::uint8_t data_format = 0x00;
  Bytes data;  // as sent: compressed and/or encrypted as data_format says
  bool sbl = false;
  std::string part;  // the container part it belongs to, for messages
};
struct ImagePlan {
  std::vector<PlannedSegment> segments;  // SBL segments first
  std::vector<MemoryRange> erase;        // empty: each non-SBL segment's own range
  std::optional<std::uint32_t> sbl_call_address;
  std::string sbl_name;
  std::string description;  // "VBF set (2 files)", "PDX (ODX-F session PROG)"
};

// What is wrong with a HEX or S-record file (or an image as a whole), for callers and tests that
// act on the kind rather than the wording.
enum class ImageDefect {
  none,
  syntax,          // a line that is no record: no ':' (HEX) or 'S' and a type digit (S-record)
  hex_digit,       // a character that is not a hex digit, in any field including the checksum
  byte_count,      // the record's length/count byte disagrees with the digits on the line
  checksum,        // the record's checksum does not match its bytes
  record_type,     // an unknown or reserved record type (HEX 06-FF, S4)
  record_field,    // a field the record type fixes has another value (EOF with data, 04 with 3 bytes)
  record_count,    // an S5/S6 count that is not the number of data records before it
  record_order,    // a record where the format does not allow it (S0 after the first record)
  missing_end,     // no end-of-file (HEX 01) or termination (S7/S8/S9) record
  after_end,       // a record after the end-of-file or termination record
  overlap,         // two records place data at the same address
  address_range,   // data past 4 GiB, or wrapping around its 64 KiB segment (HEX type 02), or outside the ECU's memory
  no_data,         // no data at all
  sw_header,       // an ecuup image header (util/sw_image.hpp) that is malformed or overruns its data
};

// Where the first defect is: 1-based line and column (0 when the defect has no place, e.g. no_data).
struct ImageDiagnostic {
  ImageDefect defect = ImageDefect::none;
  std::size_t line = 0;
  std::size_t column = 0;
};

// Loads a whole image into memory (HEX, S-record, or raw at `raw_base_address`). Errc::config
// names file:line:col and what was expected (and fills `diagnostic`); Errc::io / not_found when
// the file cannot be read.
Result<FlashImage> load_image(const std::filesystem::path& path, ImageFormat format_or_auto,
                              std::uint32_t raw_base_address, ImageDiagnostic* diagnostic = nullptr);
// Parses HEX or S-record text strictly: every record's hex digits, byte count and checksum, known
// record types only, the end record present and last, no two records at one address, nothing past
// 4 GiB. `name` appears in error messages.
Result<FlashImage> parse_ihex(std::string_view text, const std::string& name, ImageDiagnostic* diagnostic = nullptr);
Result<FlashImage> parse_srec(std::string_view text, const std::string& name, ImageDiagnostic* diagnostic = nullptr);
// Sniffs the content: ':' = HEX, 'S' + digit = S-record (first non-blank character), "vbf_version"
// = VBF, a zip = pdx (a PDX, or a set of VBF files), a tar, plain or compressed, = vbf (a set of VBF
// files); else raw.
Result<ImageFormat> detect_image_format(const std::filesystem::path& path);

// How a driver takes an image file: the format it reads it as, where a raw file goes, and where
// the ECU insists on an ecuup image header (the image driver: at its version_offset).
struct ImageSpec {
  ImageFormat format = ImageFormat::auto_detect;
  std::uint32_t raw_base_address = 0;
  // Offset of a required ecuup image header from the start of the image's first segment.
  std::optional<std::uint64_t> required_header_offset;
  // Where the ECU accepts downloads (its flash, and the RAM a boot loader goes to); empty: anywhere.
  std::vector<MemoryRange> memory;
};

// Why [address, address + size) lies in none of `memory` ("0x...-0x... lies outside the ECU's
// memory (...)"); nullopt when it lies in one, or `memory` is empty (anything is accepted).
std::optional<std::string> outside_memory(const std::vector<MemoryRange>& memory, std::uint32_t address,
                                          std::uint64_t size);
// Errc::verify "`what`: <outside_memory>" when it does not fit.
Result<void> check_in_memory(const std::vector<MemoryRange>& memory, std::uint32_t address, std::uint64_t size,
                             const std::string& what);

struct ImageSummary {
  ImageFormat format = ImageFormat::raw;  // as read (auto_detect resolved)
  std::size_t segments = 0;
  std::uint64_t data_bytes = 0;  // what programming the ECU sends
  std::string version;           // from the ecuup image header at the image's start, if it has one
};

// Reads `path` completely the way flashing will (the same parser, strict): every HEX/S-record
// record, a raw file's extent within the 32-bit address space, and every ecuup image header at
// the start of a segment (well-formed, payload inside the segment); the header at
// `required_header_offset` must exist. The payload CRC is left to the ECU's own check.
// Errc::verify for malformed content (file:line:col, `diagnostic` filled); Errc::io / not_found
// when the file cannot be read. fetch runs it on every download; flash again before touching an ECU.
Result<ImageSummary> check_image_file(const std::filesystem::path& path, const ImageSpec& spec,
                                      ImageDiagnostic* diagnostic = nullptr);

// Random access to an image's segments without holding a raw binary in memory.
class ImageSource {
 public:
  struct Segment {
    std::uint32_t address = 0;
    std::uint64_t size = 0;           // bytes it fills in the ECU's memory
    std::uint64_t transfer_size = 0;  // bytes TransferData carries: `size` unless compressed
    // The segment's own dataFormatIdentifier (a container's, or set by encode()); unset: the ECU
    // config's memory.data_format goes with plain data.
    std::optional<std::uint8_t> data_format;
    bool sbl = false;  // the secondary boot loader's: to RAM, before any erase
    std::string part;  // the container part it belongs to, empty for a plain image
  };

  static Result<ImageSource> open(const std::filesystem::path& path, ImageFormat format_or_auto,
                                  std::uint32_t raw_base_address);
  static ImageSource from_memory(FlashImage image);
  static ImageSource from_plan(ImagePlan plan);

  ImageFormat format() const { return m_format; }
  const std::vector<Segment>& segments() const { return m_segments; }
  // Explicit erase ranges (a container's); empty: erase each non-SBL segment's own range.
  const std::vector<MemoryRange>& erase_ranges() const { return m_erase; }
  // What a flash erases: the explicit ranges, else each non-SBL segment's own range.
  std::vector<MemoryRange> ranges_to_erase() const;
  // Where the secondary boot loader starts, when the image has one.
  std::optional<std::uint32_t> sbl_call_address() const { return m_sbl_call; }
  const std::string& sbl_name() const { return m_sbl_name; }
  const std::string& description() const { return m_description; }
  // Memory bytes of the segments that are not the SBL's (what progress counts).
  std::uint64_t total_size() const;
  // Compresses every plain segment (no data format of its own) with the compression method of
  // `data_format` in memory and gives it that data format; Errc::config for a method ecuup cannot apply.
  Result<void> encode(std::uint8_t data_format);
  // Copies out.size() bytes of segment `index` as sent (transfer bytes), starting at `offset`.
  Result<void> read(std::size_t index, std::uint64_t offset, std::span<std::uint8_t> out);

 private:
  static Segment plain_segment(std::uint32_t address, std::uint64_t size);
  struct FileCloser {
    void operator()(std::FILE* f) const { if (f) std::fclose(f); }
  };
  ImageFormat m_format = ImageFormat::raw;
  std::filesystem::path m_path;
  std::vector<Segment> m_segments;
  FlashImage m_memory;                            // HEX / S-record
  std::unique_ptr<std::FILE, FileCloser> m_file;  // raw
  std::uint64_t m_file_pos = 0;
  std::vector<MemoryRange> m_erase;
  std::optional<std::uint32_t> m_sbl_call;
  std::string m_sbl_name;
  std::string m_description;
};

// Writes an image file piece by piece (read-out of an ECU): raw needs one contiguous range;
// HEX and S-record take any addresses. The file appears atomically at finish().
class ImageWriter {
 public:
  static Result<ImageWriter> create(const std::filesystem::path& path, ImageFormat format);
  ImageWriter(ImageWriter&&) noexcept;
  ImageWriter& operator=(ImageWriter&&) noexcept;
  ~ImageWriter();

  Result<void> write(std::uint32_t address, ByteView data);
  Result<void> finish();

 private:
  ImageWriter() = default;
  Result<void> put(std::string_view text);
  ImageFormat m_format = ImageFormat::raw;
  std::filesystem::path m_path;
  std::filesystem::path m_tmp;
  std::FILE* m_file = nullptr;
  bool m_started = false;
  std::uint32_t m_next_address = 0;
  std::uint32_t m_ihex_upper = 0;  // current extended linear address (upper 16 bits)
  bool m_ihex_upper_set = false;
};

// Convenience for tests and tools: the whole image at once.
Result<void> write_image(const std::filesystem::path& path, const FlashImage& image, ImageFormat format);

}  // namespace ecuup
