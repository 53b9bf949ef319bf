#pragma once
// Shared by the libFuzzer targets: a parse from memory and the same bytes parsed from a file (the
// path flash takes, util/image.cpp's FileLines) must agree, and an accepted image must hold what
// the parser promises. A broken promise traps, which libFuzzer reports as a crash.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "util/image.hpp"

namespace ecuup::fuzz {

inline void check_image(const FlashImage& image, std::size_t input_size) {
  require(!image.segments.empty());
  std::uint64_t end = 0;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < image.segments.size(); ++i) {
    const auto& s = image.segments[i];
    require(!s.data.empty());
    // Ascending, and separated by a gap: touching segments would have been merged.
    if (i > 0) require(s.address > end);
    end = std::uint64_t{s.address} + s.data.size();
    require(end <= std::uint64_t{1} << 32);
    total += s.data.size();
  }
  // Every data byte took two hex digits of the input.
  require(total * 2 <= input_size);
}

// HEX or S-record text through parse_ihex/parse_srec and through load_image.
inline int parse_text(const std::uint8_t* data, std::size_t size, ImageFormat format) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ImageDiagnostic in_memory;
  auto parsed = format == ImageFormat::ihex ? parse_ihex(text, "fuzz", &in_memory) : parse_srec(text, "fuzz", &in_memory);
  if (parsed) {
    require(in_memory.defect == ImageDefect::none);
    check_image(*parsed, size);
  } else {
    require(parsed.error().code == Errc::config);
    require(in_memory.defect != ImageDefect::none);
  }
  ImageDiagnostic from_file;
  auto loaded = load_image(as_file(data, size), format, 0, &from_file);
  require(loaded.ok() == parsed.ok());
  if (parsed) {
    require(loaded->segments.size() == parsed->segments.size());
    for (std::size_t i = 0; i < parsed->segments.size(); ++i) {
      require(loaded->segments[i].address == parsed->segments[i].address);
      require(loaded->segments[i].data == parsed->segments[i].data);
    }
  } else {
    require(from_file.defect == in_memory.defect);
    require(from_file.line == in_memory.line);
    require(from_file.column == in_memory.column);
  }
  return 0;
}

}  // namespace ecuup::fuzz
