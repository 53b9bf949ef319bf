#include "util/sw_image.hpp"

#include <array>
#include <cstring>
#include <fstream>
#include <vector>

#include <zlib.h>

namespace ecuup {

namespace {

void put_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t get_be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

}  // namespace

std::uint32_t crc32(ByteView data, std::uint32_t previous) {
  return static_cast<std::uint32_t>(::crc32_z(previous, data.data(), data.size()));
}

Bytes make_sw_image(std::string_view version, ByteView payload) {
  Bytes out(k_sw_image_header_size + payload.size(), 0);
  std::memcpy(out.data(), k_sw_image_magic.data(), k_sw_image_magic.size());
  std::memcpy(out.data() + 8, version.data(), std::min(version.size(), k_sw_image_version_max));
  put_be32(out.data() + 40, static_cast<std::uint32_t>(payload.size()));
  put_be32(out.data() + 44, crc32(payload));
  if (!payload.empty()) std::memcpy(out.data() + k_sw_image_header_size, payload.data(), payload.size());
  return out;
}

Result<SwImageInfo> parse_sw_image_header(ByteView first_bytes) {
  if (first_bytes.size() < k_sw_image_header_size ||
      std::memcmp(first_bytes.data(), k_sw_image_magic.data(), k_sw_image_magic.size()) != 0)
    return make_error(Errc::verify, "no ecuup image header (magic ECUUPIMG) found");
  SwImageInfo info;
  const auto* v = reinterpret_cast<const char*>(first_bytes.data() + 8);
  info.version.assign(v, strnlen(v, k_sw_image_version_max));
  for (char c : info.version)
    if (c < 0x21 || c > 0x7e) return make_error(Errc::verify, "image header has a malformed version field");
  if (info.version.empty()) return make_error(Errc::verify, "image header has an empty version");
  info.payload_size = get_be32(first_bytes.data() + 40);
  info.crc32 = get_be32(first_bytes.data() + 44);
  return info;
}

Result<SwImageInfo> verify_sw_image_file(const std::filesystem::path& path, std::uint64_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot open " + path.string());
  in.seekg(static_cast<std::streamoff>(offset));
  std::array<std::uint8_t, k_sw_image_header_size> header{};
  in.read(reinterpret_cast<char*>(header.data()), header.size());
  if (in.gcount() != static_cast<std::streamsize>(header.size()))
    return make_error(Errc::verify, path.string() + ": too short for an image header");
  ECUUP_ASSIGN(SwImageInfo info, parse_sw_image_header(header).with_context(path.string()));
  std::vector<std::uint8_t> buf(1 << 16);
  std::uint64_t left = info.payload_size;
  std::uint32_t crc = 0;
  while (left) {
    auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(left, buf.size()));
    in.read(reinterpret_cast<char*>(buf.data()), want);
    if (in.gcount() != want)
      return make_error(Errc::verify, path.string() + ": image payload is shorter than its header says");
    crc = crc32(ByteView(buf.data(), static_cast<std::size_t>(want)), crc);
    left -= static_cast<std::uint64_t>(want);
  }
  if (crc != info.crc32) return make_error(Errc::verify, path.string() + ": image payload CRC mismatch");
  return info;
}

}  // namespace ecuup
