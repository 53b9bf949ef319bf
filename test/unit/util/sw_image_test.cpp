#include <catch2/catch.hpp>

#include <fstream>

#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/sw_image.hpp"

using namespace ecuup;

TEST_CASE("crc32 matches the IEEE check value and is incremental", "[util][sw_image]") {
  std::string_view check = "123456789";
  ByteView all(reinterpret_cast<const std::uint8_t*>(check.data()), check.size());
  CHECK(crc32(all) == 0xCBF43926u);
  CHECK(crc32(all.subspan(4), crc32(all.first(4))) == 0xCBF43926u);
}

TEST_CASE("sw image round trip and corruption detection", "[util][sw_image]") {
  test::TempDir dir;
  Bytes payload(5000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
  Bytes image = make_sw_image("2.1.0", payload);
  REQUIRE(image.size() == payload.size() + k_sw_image_header_size);

  auto info = parse_sw_image_header(image);
  REQUIRE(info.ok());
  CHECK(info->version == "2.1.0");
  CHECK(info->payload_size == 5000);

  auto file = dir / "img.bin";
  REQUIRE(write_file_atomic(file, ByteView(image)).ok());
  CHECK(verify_sw_image_file(file).ok());

  image[k_sw_image_header_size + 100] ^= 1;
  REQUIRE(write_file_atomic(file, ByteView(image)).ok());
  auto bad = verify_sw_image_file(file);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::verify);

  image.resize(image.size() - 10);
  REQUIRE(write_file_atomic(file, ByteView(image)).ok());
  CHECK(verify_sw_image_file(file).error().code == Errc::verify);

  Bytes junk(64, 0);
  CHECK(parse_sw_image_header(junk).error().code == Errc::verify);
}
