#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/image.hpp"
#include "util/sw_image.hpp"

using namespace ecuup;
using ecuup::test::TempDir;

namespace {

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 13 + salt);
  return b;
}

Result<void> put(const std::filesystem::path& p, const std::string& text) { return write_file_atomic(p, text); }

// One Intel HEX record with its checksum, and a newline.
std::string ihex(std::uint8_t type, std::uint16_t offset, const Bytes& data) {
  Bytes rec{static_cast<std::uint8_t>(data.size()), static_cast<std::uint8_t>(offset >> 8),
            static_cast<std::uint8_t>(offset), type};
  rec.insert(rec.end(), data.begin(), data.end());
  std::uint8_t sum = 0;
  for (auto b : rec) sum = static_cast<std::uint8_t>(sum + b);
  rec.push_back(static_cast<std::uint8_t>(0x100 - sum));
  return ":" + to_hex(rec) + "\n";
}

// One S-record of type `type` ('0'-'9') with an address as wide as the type says, and a newline.
std::string srec(char type, std::uint32_t address, const Bytes& data) {
  std::size_t addr_len = 4;
  if (type == '0' || type == '1' || type == '5' || type == '9') addr_len = 2;
  if (type == '2' || type == '6' || type == '8') addr_len = 3;
  Bytes rec{static_cast<std::uint8_t>(addr_len + data.size() + 1)};
  for (std::size_t i = addr_len; i-- > 0;) rec.push_back(static_cast<std::uint8_t>(address >> (8 * i)));
  rec.insert(rec.end(), data.begin(), data.end());
  std::uint8_t sum = 0;
  for (auto b : rec) sum = static_cast<std::uint8_t>(sum + b);
  rec.push_back(static_cast<std::uint8_t>(~sum));
  return std::string("S") + type + to_hex(rec) + "\n";
}

const std::string k_ihex_eof = ":00000001FF\n";

ImageSpec spec(ImageFormat format, std::uint32_t base = 0, std::optional<std::uint64_t> header_at = std::nullopt) {
  ImageSpec out;
  out.format = format;
  out.raw_base_address = base;
  out.required_header_offset = header_at;
  return out;
}

// A file with one defect, and where the parser must find it (column 0: not checked).
struct Malformed {
  std::string what;
  std::string text;
  ImageDefect defect;
  std::size_t line;
  std::size_t column;
};

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
      "  :00000001FF  \n"
      "\n",
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

  // Lower-case digits, records out of address order, start address records: all allowed.
  auto mixed = parse_ihex(ihex(0x00, 0x0010, {5, 6}) + ihex(0x05, 0, {0, 0, 1, 0}) + ":0401000001020304f1\n" +
                              ihex(0x00, 0x0000, {1}) + ihex(0x03, 0, {0, 0, 0, 0}) + k_ihex_eof,
                          "m.hex");
  REQUIRE(mixed);
  CHECK(mixed->segments.size() == 3);
  CHECK(mixed->segments[0].address == 0x0);

  auto spaced = parse_ihex(":0401000001020304F1\n:0100100077 78\n:00000001FF\n", "x.hex");
  REQUIRE_FALSE(spaced);
  CHECK_THAT(spaced.error().message, Catch::StartsWith("x.hex:2:"));
}

TEST_CASE("Intel HEX: every malformation is refused with its kind, line and column", "[image]") {
  const std::string data = ihex(0x00, 0x0100, {1, 2, 3, 4});  // ":0401000001020304F1"
  auto c = GENERATE_COPY(
      Malformed{"bad record checksum", ":0401000001020304F2\n" + k_ihex_eof, ImageDefect::checksum, 1, 18},
      Malformed{"byte count larger than the data", ":0501000001020304F0\n" + k_ihex_eof, ImageDefect::byte_count, 1, 2},
      Malformed{"byte count smaller than the data", ":0301000001020304F2\n" + k_ihex_eof, ImageDefect::byte_count, 1, 2},
      Malformed{"record shorter than its fixed fields", ":00FF\n" + k_ihex_eof, ImageDefect::byte_count, 1, 2},
      Malformed{"odd number of digits", ":040100000102030\n" + k_ihex_eof, ImageDefect::byte_count, 1, 16},
      Malformed{"non-hex digit in the data", ":0401000001020G04F1\n" + k_ihex_eof, ImageDefect::hex_digit, 1, 15},
      Malformed{"non-hex digit in the checksum", ":0401000001020304FG\n" + k_ihex_eof, ImageDefect::hex_digit, 1, 19},
      Malformed{"non-hex digit first in the checksum", data.substr(0, 17) + "-1\n" + k_ihex_eof,
                ImageDefect::hex_digit, 1, 18},
      Malformed{"missing end-of-file record", data, ImageDefect::missing_end, 2, 0},
      Malformed{"data after the end-of-file record", data + k_ihex_eof + ihex(0x00, 0x0200, {9}),
                ImageDefect::after_end, 3, 1},
      Malformed{"anything after the end-of-file record", data + k_ihex_eof + "\n\nnot a record\n",
                ImageDefect::after_end, 5, 1},
      Malformed{"overlapping records", data + ihex(0x00, 0x0102, {5, 6}) + k_ihex_eof, ImageDefect::overlap, 2, 4},
      Malformed{"an overlapping record below an earlier one", data + ihex(0x00, 0x00FF, {5, 6}) + k_ihex_eof,
                ImageDefect::overlap, 2, 4},
      Malformed{"the same record twice", data + data + k_ihex_eof, ImageDefect::overlap, 2, 4},
      Malformed{"data past 4 GiB", ihex(0x04, 0, {0xFF, 0xFF}) + ihex(0x00, 0xFFF8, Bytes(16, 0xAA)) + k_ihex_eof,
                ImageDefect::address_range, 2, 4},
      Malformed{"data wrapping around its 64 KiB segment",
                ihex(0x02, 0, {0x10, 0x00}) + ihex(0x00, 0xFFFE, {1, 2, 3}) + k_ihex_eof, ImageDefect::address_range,
                2, 4},
      Malformed{"unknown record type", data + ihex(0x06, 0, {}) + k_ihex_eof, ImageDefect::record_type, 2, 8},
      Malformed{"end-of-file record with data", data + ihex(0x01, 0, {0}), ImageDefect::record_field, 2, 2},
      Malformed{"end-of-file record with a load offset", data + ihex(0x01, 0x0010, {}), ImageDefect::record_field, 2,
                4},
      Malformed{"extended linear address with 3 bytes", ihex(0x04, 0, {0, 1, 0}) + data + k_ihex_eof,
                ImageDefect::record_field, 1, 2},
      Malformed{"start address with 2 bytes", data + ihex(0x05, 0, {0, 1}) + k_ihex_eof, ImageDefect::record_field, 2,
                2},
      Malformed{"no ':' at the start", data.substr(1) + "\n" + k_ihex_eof, ImageDefect::syntax, 1, 1},
      Malformed{"a line longer than any record", ":" + std::string(600, '0') + "\n", ImageDefect::byte_count, 1, 2},
      Malformed{"a line too long to be read", ":" + std::string(2000, '0') + "\n", ImageDefect::syntax, 1, 1025},
      Malformed{"no data records", k_ihex_eof, ImageDefect::no_data, 0, 0});
  {
    INFO(c.what);
    ImageDiagnostic where;
    auto r = parse_ihex(c.text, "f.hex", &where);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(where.defect == c.defect);
    CHECK(where.line == c.line);
    if (c.column) CHECK(where.column == c.column);
    // The message leads with the place: f.hex:LINE:COL.
    if (c.line) CHECK_THAT(r.error().message, Catch::StartsWith(fmt::format("f.hex:{}:", c.line)));
    // The file parser (what flash uses) says the same as the text parser.
    TempDir dir;
    REQUIRE(put(dir / "f.hex", c.text));
    ImageDiagnostic from_file;
    auto loaded = load_image(dir / "f.hex", ImageFormat::ihex, 0, &from_file);
    REQUIRE_FALSE(loaded);
    CHECK(from_file.defect == c.defect);
    CHECK(from_file.line == c.line);
  }
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

  // The last byte of the address space is fine; S6 counts with 24 bits.
  auto top = parse_srec(srec('3', 0xFFFFFFFE, {1, 2}) + srec('6', 1, {}) + srec('7', 0, {}), "t.s37");
  REQUIRE(top);
  CHECK(top->segments.at(0).address == 0xFFFFFFFE);
}

TEST_CASE("S-records: every malformation is refused with its kind, line and column", "[image]") {
  const std::string data = srec('1', 0x1000, {1, 2, 3});  // "S1061000010203E3"
  const std::string end = srec('9', 0, {});            // "S9030000FC"
  auto c = GENERATE_COPY(
      Malformed{"bad record checksum", "S1061000010203E4\n" + end, ImageDefect::checksum, 1, 15},
      Malformed{"byte count larger than the record", "S1071000010203E2\n" + end, ImageDefect::byte_count, 1, 3},
      Malformed{"byte count smaller than the record", "S1051000010203E4\n" + end, ImageDefect::byte_count, 1, 3},
      Malformed{"byte count below the address size", "S3030000FC\n" + end,
                ImageDefect::byte_count, 1, 3},
      Malformed{"non-hex digit in the data", "S10610000102x3E3\n" + end, ImageDefect::hex_digit, 1, 13},
      Malformed{"non-hex digit in the checksum", "S1061000010203EZ\n" + end, ImageDefect::hex_digit, 1, 16},
      Malformed{"non-hex digit first in the checksum", "S1061000010203 3\n" + end, ImageDefect::hex_digit, 1, 15},
      Malformed{"missing termination record", data, ImageDefect::missing_end, 2, 0},
      Malformed{"data after the termination record", data + end + srec('1', 0x2000, {9}), ImageDefect::after_end, 3,
                1},
      Malformed{"overlapping records", data + srec('1', 0x1002, {7, 8}) + end, ImageDefect::overlap, 2, 5},
      Malformed{"the same record twice", data + data + end, ImageDefect::overlap, 2, 5},
      Malformed{"data past 4 GiB", srec('3', 0xFFFFFFFE, {1, 2, 3}) + srec('7', 0, {}), ImageDefect::address_range, 1,
                5},
      Malformed{"unknown record type S4", "S4061000010203E3\n" + end, ImageDefect::record_type, 1, 2},
      Malformed{"a wrong S5 record count", data + srec('5', 2, {}) + end, ImageDefect::record_count, 2, 5},
      Malformed{"a termination record with data", data + srec('9', 0, {1}), ImageDefect::record_field, 2, 9},
      Malformed{"an S5 record with data", data + srec('5', 1, {1}) + end, ImageDefect::record_field, 2, 9},
      Malformed{"an S0 header with an address", srec('0', 1, {}) + data + end, ImageDefect::record_field, 1, 5},
      Malformed{"an S0 header after data", data + srec('0', 0, {}) + end, ImageDefect::record_order, 2, 1},
      Malformed{"no 'S' at the start", "X1061000010203E3\n" + end, ImageDefect::syntax, 1, 1},
      Malformed{"lower-case 's'", "s1061000010203E3\n" + end, ImageDefect::syntax, 1, 1},
      Malformed{"no data records", srec('0', 0, {}) + end, ImageDefect::no_data, 0, 0});
  {
    INFO(c.what);
    ImageDiagnostic where;
    auto r = parse_srec(c.text, "b.srec", &where);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(where.defect == c.defect);
    CHECK(where.line == c.line);
    if (c.column) CHECK(where.column == c.column);
    if (c.line) CHECK_THAT(r.error().message, Catch::StartsWith(fmt::format("b.srec:{}:", c.line)));
    TempDir dir;
    REQUIRE(put(dir / "b.srec", c.text));
    ImageDiagnostic from_file;
    auto loaded = load_image(dir / "b.srec", ImageFormat::srec, 0, &from_file);
    REQUIRE_FALSE(loaded);
    CHECK(from_file.defect == c.defect);
    CHECK(from_file.line == c.line);
  }
}

TEST_CASE("check_image_file parses the whole image as flashing will, and finds its ecuup header", "[image]") {
  TempDir dir;
  const Bytes app = make_sw_image("2.4.0", pattern(1000, 7));
  const Bytes cal = make_sw_image("cal-7", pattern(200, 8));

  SECTION("a sound multi-segment HEX: version from the first segment's header") {
    FlashImage image;
    image.segments.push_back({0x0, app});
    image.segments.push_back({0x80000, cal});
    REQUIRE(write_image(dir / "a.hex", image, ImageFormat::ihex));
    auto r = check_image_file(dir / "a.hex", ImageSpec{});
    REQUIRE(r);
    CHECK(r->format == ImageFormat::ihex);
    CHECK(r->segments == 2);
    CHECK(r->data_bytes == app.size() + cal.size());
    CHECK(r->version == "2.4.0");
  }
  SECTION("a malformed HEX or S-record is a failed verification, with its place") {
    auto format = GENERATE(ImageFormat::ihex, ImageFormat::srec);
    FlashImage image;
    image.segments.push_back({0x1000, pattern(100, 1)});
    REQUIRE(write_image(dir / "a.img", image, format));
    std::string text = read_text_file(dir / "a.img").value();
    text += format == ImageFormat::ihex ? ihex(0x00, 0x2000, {1}) : srec('1', 0x2000, {1});  // after the end
    REQUIRE(put(dir / "a.img", text));
    ImageDiagnostic where;
    auto r = check_image_file(dir / "a.img", spec(ImageFormat::auto_detect), &where);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::verify);
    CHECK(where.defect == ImageDefect::after_end);
    CHECK(where.line > 1);
  }
  SECTION("a segment whose header announces more payload than it holds") {
    FlashImage image;
    image.segments.push_back({0x0, app});
    image.segments.push_back({0x80000, Bytes(cal.begin(), cal.end() - 1)});
    REQUIRE(write_image(dir / "a.s37", image, ImageFormat::srec));
    ImageDiagnostic where;
    auto r = check_image_file(dir / "a.s37", ImageSpec{}, &where);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::verify);
    CHECK(where.defect == ImageDefect::sw_header);
  }
  SECTION("a raw image: header optional, required where the ECU insists, inside the file") {
    REQUIRE(write_file_atomic(dir / "app.bin", app));
    auto plain = check_image_file(dir / "app.bin", spec(ImageFormat::raw));
    REQUIRE(plain);
    CHECK(plain->version == "2.4.0");
    CHECK(plain->data_bytes == app.size());

    Bytes shifted(16, 0xEE);
    shifted.insert(shifted.end(), app.begin(), app.end());
    REQUIRE(write_file_atomic(dir / "shifted.bin", shifted));
    auto at16 = check_image_file(dir / "shifted.bin", spec(ImageFormat::raw, 0, 16));
    REQUIRE(at16);
    CHECK(at16->version == "2.4.0");

    REQUIRE(write_file_atomic(dir / "none.bin", pattern(5000, 2)));
    CHECK(check_image_file(dir / "none.bin", spec(ImageFormat::raw)));
    auto missing = check_image_file(dir / "none.bin", spec(ImageFormat::raw, 0, 0));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == Errc::verify);

    REQUIRE(write_file_atomic(dir / "cut.bin", ByteView(app).first(app.size() - 10)));
    ImageDiagnostic where;
    auto cut = check_image_file(dir / "cut.bin", spec(ImageFormat::auto_detect), &where);
    REQUIRE_FALSE(cut);
    CHECK(cut.error().code == Errc::verify);
    CHECK(where.defect == ImageDefect::sw_header);

    auto high = check_image_file(dir / "app.bin", spec(ImageFormat::raw, 0xFFFFFF00));
    REQUIRE_FALSE(high);
    CHECK(high.error().code == Errc::verify);
  }
  SECTION("an unreadable file is no verification failure") {
    auto r = check_image_file(dir / "nope.hex", ImageSpec{});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::not_found);
  }
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
