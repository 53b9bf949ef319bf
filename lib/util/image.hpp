#pragma once
// Flash images: raw binary, Intel HEX and Motorola S-record. HEX and S-record files are parsed
// into segments (contiguous records merge); a raw binary is one segment at a configured base
// address and is read from the file on demand, so a 256 MiB image never sits in memory.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

enum class ImageFormat { auto_detect, raw, ihex, srec };

const char* image_format_name(ImageFormat format);
// "auto" | "raw" | "bin" | "ihex" | "hex" | "srec" | "s19" | "s28" | "s37"; Errc::config otherwise.
Result<ImageFormat> parse_image_format(std::string_view name);

struct ImageSegment {
  std::uint32_t address = 0;
  Bytes data;
};

struct FlashImage {
  std::vector<ImageSegment> segments;
  std::uint64_t total_size() const;
};

// Loads a whole image into memory (HEX, S-record, or raw at `raw_base_address`). Errc::config
// names file:line and what was expected; Errc::io when the file cannot be read.
Result<FlashImage> load_image(const std::filesystem::path& path, ImageFormat format_or_auto,
                              std::uint32_t raw_base_address);
// Parses HEX or S-record text; `name` appears in error messages.
Result<FlashImage> parse_ihex(std::string_view text, const std::string& name);
Result<FlashImage> parse_srec(std::string_view text, const std::string& name);
// Sniffs the first non-blank character: ':' = HEX, 'S' + digit = S-record, else raw.
Result<ImageFormat> detect_image_format(const std::filesystem::path& path);

// Random access to an image's segments without holding a raw binary in memory.
class ImageSource {
 public:
  struct Segment {
    std::uint32_t address = 0;
    std::uint64_t size = 0;
  };

  static Result<ImageSource> open(const std::filesystem::path& path, ImageFormat format_or_auto,
                                  std::uint32_t raw_base_address);
  static ImageSource from_memory(FlashImage image);

  ImageFormat format() const { return m_format; }
  const std::vector<Segment>& segments() const { return m_segments; }
  std::uint64_t total_size() const;
  // Copies out.size() bytes of segment `index` starting at `offset`.
  Result<void> read(std::size_t index, std::uint64_t offset, std::span<std::uint8_t> out);

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { if (f) std::fclose(f); }
  };
  ImageFormat m_format = ImageFormat::raw;
  std::filesystem::path m_path;
  std::vector<Segment> m_segments;
  FlashImage m_memory;                            // HEX / S-record
  std::unique_ptr<std::FILE, FileCloser> m_file;  // raw
  std::uint64_t m_file_pos = 0;
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
