#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/image.hpp"

using namespace ecuup;
using ecuup::test::TempDir;

namespace {

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 13 + salt);
  return b;
}

Result<void> put(const std::filesystem::path& p, const std::string& text) { return write_file_atomic(p, text); }

}  // namespace

TEST_CASE("Intel HEX: data, extended linear and segment addresses, merging", "[image]") {
  // Two contiguous records at 0x100 (merged), one at 0x1_0000 via type 04, one at 0x1_0010 via type 02.
  auto image = parse_ihex(
      ":0401000001020304F1\n"
      ":020104000506EE\r\n"
      "\n"
      ":020000040001F9\n"
      ":03000000AABBCCCC\n"
      ":020000021000EC\n"
      ":010010007778\n"
      ":00000001FF\n"
      "garbage after the end record is ignored\n",
      "x.hex");
  REQUIRE(image);
  REQUIRE(image->segments.size() == 3);
  CHECK(image->segments[0].address == 0x100);
  CHECK(image->segments[0].data == Bytes{1, 2, 3, 4, 5, 6});
  CHECK(image->segments[1].address == 0x10000);
  CHECK(image->segments[1].data == Bytes{0xAA, 0xBB, 0xCC});
  CHECK(image->segments[2].address == 0x10010);
  CHECK(image->segments[2].data == Bytes{0x77});
  CHECK(image->total_size() == 10);

  auto spaced = parse_ihex(":0401000001020304F1\n:0100100077 78\n:00000001FF\n", "x.hex");
  REQUIRE_FALSE(spaced);
  CHECK_THAT(spaced.error().message, Catch::StartsWith("x.hex:2:"));
}

TEST_CASE("Intel HEX errors name the line and what was expected", "[image]") {
  struct Case {
    std::string text;
    std::string message;
  };
  auto c = GENERATE(
      Case{":0401000001020304F2\n:00000001FF\n", "f.hex:1: bad checksum 0xf2 (expected 0xf1)"},
      Case{":0401000001020304F1\n", "f.hex:2: expected an end-of-file record (:00000001FF) before the end of the file"},
      Case{"0401000001020304F1\n", "f.hex:1: expected ':' at the start of an Intel HEX record"},
      Case{":0501000001020304F0\n", "f.hex:1: record length says 5 data bytes but the line holds 4"},
      Case{":00000006FA\n", "f.hex:1: unknown record type 06 (expected 00, 01, 02, 03, 04 or 05)"},
      Case{":040100000102030\n", "f.hex:1: odd number of hex digits in record"},
      Case{":0401000001020G04F1\n", "f.hex:1: expected a hex digit at column 15"},
      Case{":00000001FF\n", "f.hex: image holds no data records"});
  auto r = parse_ihex(c.text, "f.hex");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::config);
  CHECK(r.error().message == c.message);
}

TEST_CASE("Intel HEX: overlapping records are rejected", "[image]") {
  auto r = parse_ihex(":0401000001020304F1\n:020102000506F0\n:00000001FF\n", "o.hex");
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("overlapping data at 0x00000102"));
}

TEST_CASE("S-records: S1/S2/S3 data, header, count and termination", "[image]") {
  // S0 header, S1 at 0x1000, S2 at 0x012000, S3 at 0x80000000 (+ contiguous S3), S5 count 4, S9.
  auto image = parse_srec(
      "S00600004844521B\n"
      "S1061000010203E3\n"
      "S2070120000102 03D1\n"
      "S9030000FC\n",
      "a.s19");
  REQUIRE_FALSE(image);  // space inside a record
  CHECK_THAT(image.error().message, Catch::StartsWith("a.s19:3:"));

  auto good = parse_srec(
      "S00600004844521B\n"
      "S1061000010203E3\n"
      "S207012000010203D1\n"
      "S30780000000AABB13\n"
      "S30780000002CCDDCD\n"
      "S5030004F8\n"
      "S70500000000FA\n",
      "a.s37");
  REQUIRE(good);
  REQUIRE(good->segments.size() == 3);
  CHECK(good->segments[0].address == 0x1000);
  CHECK(good->segments[0].data == Bytes{1, 2, 3});
  CHECK(good->segments[1].address == 0x012000);
  CHECK(good->segments[1].data == Bytes{1, 2, 3});
  CHECK(good->segments[2].address == 0x80000000);
  CHECK(good->segments[2].data == Bytes{0xAA, 0xBB, 0xCC, 0xDD});
}

TEST_CASE("S-record errors name the line and what was expected", "[image]") {
  struct Case {
    std::string text;
    std::string message;
  };
  auto c = GENERATE(Case{"S1061000010203E4\nS9030000FC\n", "b.srec:1: bad checksum 0xe4 (expected 0xe3)"},
                    Case{"S1061000010203E3\n", "b.srec:2: expected a termination record (S7, S8 or S9) before the "
                                               "end of the file"},
                    Case{"S1061000010203E3\nS5030002FA\nS9030000FC\n",
                         "b.srec:2: record count says 2 data records but 1 were read"},
                    Case{"S4061000010203E3\n", "b.srec:1: unknown record type S4 (expected S0-S3, S5-S9)"},
                    Case{"X1061000010203E3\n", "b.srec:1: expected 'S' and a record type digit at the start of an "
                                               "S-record"},
                    Case{"S1071000010203E3\n", "b.srec:1: byte count says 7 but the line holds 6"},
                    Case{"S10610000102x3E3\n", "b.srec:1: expected a hex digit at column 13"});
  auto r = parse_srec(c.text, "b.srec");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::config);
  CHECK(r.error().message == c.message);
}

TEST_CASE("formats are detected from the content", "[image]") {
  TempDir dir;
  REQUIRE(put(dir / "a.hex", "\n:0401000001020304F1\n:00000001FF\n"));
  REQUIRE(put(dir / "a.s19", "S1061000010203E3\nS9030000FC\n"));
  REQUIRE(write_file_atomic(dir / "a.bin", Bytes{':', 0x00, 0x01, 0xFF}));
  REQUIRE(write_file_atomic(dir / "b.bin", Bytes{'S', '1', 0x00}));
  CHECK(detect_image_format(dir / "a.hex").value() == ImageFormat::ihex);
  CHECK(detect_image_format(dir / "a.s19").value() == ImageFormat::srec);
  CHECK(detect_image_format(dir / "a.bin").value() == ImageFormat::raw);
  CHECK(detect_image_format(dir / "b.bin").value() == ImageFormat::raw);

  auto hex = load_image(dir / "a.hex", ImageFormat::auto_detect, 0);
  REQUIRE(hex);
  CHECK(hex->segments.at(0).address == 0x100);
  auto raw = load_image(dir / "a.bin", ImageFormat::auto_detect, 0x8000);
  REQUIRE(raw);
  CHECK(raw->segments.at(0).address == 0x8000);
  CHECK(raw->segments.at(0).data.size() == 4);
  // Forcing a format wins over detection.
  auto forced = load_image(dir / "a.hex", ImageFormat::raw, 0);
  REQUIRE(forced);
  CHECK(forced->segments.at(0).data.front() == '\n');

  auto missing = load_image(dir / "nope.hex", ImageFormat::auto_detect, 0);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  REQUIRE(put(dir / "empty.bin", ""));
  auto empty = load_image(dir / "empty.bin", ImageFormat::raw, 0);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == Errc::config);
  auto bad = load_image(dir / "a.hex", ImageFormat::srec, 0);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("a.hex:2:"));
}

TEST_CASE("a raw image source reads slices from the file", "[image]") {
  TempDir dir;
  Bytes content = pattern(10000, 1);
  REQUIRE(write_file_atomic(dir / "app.bin", content));
  auto source = ImageSource::open(dir / "app.bin", ImageFormat::raw, 0x1000);
  REQUIRE(source);
  REQUIRE(source->segments().size() == 1);
  CHECK(source->segments()[0].address == 0x1000);
  CHECK(source->total_size() == 10000);
  Bytes slice(100);
  REQUIRE(source->read(0, 9900, slice));
  CHECK(slice == Bytes(content.begin() + 9900, content.end()));
  CHECK_FALSE(source->read(0, 9950, slice));
  auto too_high = ImageSource::open(dir / "app.bin", ImageFormat::raw, 0xFFFFF000);
  REQUIRE_FALSE(too_high);
  CHECK(too_high.error().code == Errc::config);
}

TEST_CASE("images written as HEX and S-record read back identically", "[image]") {
  TempDir dir;
  FlashImage image;
  image.segments.push_back({0x0000FFF0, pattern(100, 3)});  // crosses a 64 KiB boundary
  image.segments.push_back({0x80000000, pattern(33, 4)});
  auto format = GENERATE(ImageFormat::ihex, ImageFormat::srec);
  auto path = dir / "out.img";
  REQUIRE(write_image(path, image, format));
  CHECK(detect_image_format(path).value() == format);
  auto back = load_image(path, ImageFormat::auto_detect, 0);
  REQUIRE(back);
  REQUIRE(back->segments.size() == 2);
  CHECK(back->segments[0].address == 0x0000FFF0);
  CHECK(back->segments[0].data == image.segments[0].data);
  CHECK(back->segments[1].address == 0x80000000);
  CHECK(back->segments[1].data == image.segments[1].data);
}

TEST_CASE("a raw image writer refuses gaps and leaves no file behind", "[image]") {
  TempDir dir;
  {
    auto writer = ImageWriter::create(dir / "r.bin", ImageFormat::raw);
    REQUIRE(writer);
    REQUIRE(writer->write(0x100, Bytes{1, 2}));
    REQUIRE(writer->write(0x102, Bytes{3}));
    auto gap = writer->write(0x200, Bytes{4});
    REQUIRE_FALSE(gap);
    CHECK(gap.error().code == Errc::config);
  }
  CHECK_FALSE(std::filesystem::exists(dir / "r.bin"));
  CHECK(std::filesystem::is_empty(dir.path()));

  auto writer = ImageWriter::create(dir / "r.bin", ImageFormat::raw);
  REQUIRE(writer);
  REQUIRE(writer->write(0x100, Bytes{1, 2}));
  REQUIRE(writer->finish());
  CHECK(read_binary_file(dir / "r.bin").value() == Bytes{1, 2});
}

TEST_CASE("image format names", "[image]") {
  CHECK(parse_image_format("hex").value() == ImageFormat::ihex);
  CHECK(parse_image_format("s19").value() == ImageFormat::srec);
  CHECK(parse_image_format("bin").value() == ImageFormat::raw);
  CHECK(parse_image_format("auto").value() == ImageFormat::auto_detect);
  CHECK_FALSE(parse_image_format("elf"));
  CHECK(std::string(image_format_name(ImageFormat::srec)) == "srec");
}
