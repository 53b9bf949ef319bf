#include <catch2/catch.hpp>

#include <zlib.h>

#include <fmt/format.h>

#include "container/vbf.hpp"
#include "container/vbf_pack.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/image.hpp"
#include "util/sw_image.hpp"

using namespace ecuup;
using ecuup::test::TempDir;

namespace {

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + salt);
  return b;
}

Bytes as_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

VbfHeader exe_header() {
  VbfHeader h;
  h.version_major = 2;
  h.version_minor = 6;
  h.description = {"ecuup test", "second line"};
  h.sw_part_numbers = {"32212345"};
  h.sw_versions = {"AB"};
  h.sw_part_type = "EXE";
  h.network = "CAN_HS";
  h.ecu_address = 0x7A1;
  h.frame_format = "CAN_STANDARD";
  h.erase = {MemoryRange{.address = 0x00020000, .size = 0x00020000}};
  return h;
}

ContainerBlock plain_block(std::uint32_t address, Bytes data) {
  const auto size = data.size();
  return ContainerBlock{.address = address, .memory_size = size, .data_format = 0x00, .data = std::move(data)};
}

VbfWriteSpec exe_spec() {
  VbfWriteSpec spec;
  spec.header = exe_header();
  spec.blocks = {plain_block(0x00020000, pattern(300, 1)), plain_block(0x00030000, pattern(64, 2))};
  return spec;
}

Bytes written(const VbfWriteSpec& spec) {
  auto bytes = write_vbf(spec);
  REQUIRE(bytes.ok());
  return std::move(bytes).value();
}

// The offset of the binary part: the byte after "\r\n}" that ends the written header.
std::size_t binary_start(const Bytes& file) {
  const std::string text(file.begin(), file.end());
  const auto at = text.find("\r\n}");
  REQUIRE(at != std::string::npos);
  return at + 3;
}

// A header written by hand (file_checksum fixed up over `bin`), then the binary part.
Bytes by_hand(const std::string& header_body, const Bytes& bin, const std::string& version = "2.4") {
  std::string text = "vbf_version = " + version + ";\nheader {\n" + header_body +
                     fmt::format("  file_checksum = 0x{:08X};\n}}", crc32(bin));
  Bytes out = as_bytes(text);
  out.insert(out.end(), bin.begin(), bin.end());
  return out;
}

Bytes block_bytes(std::uint32_t address, const Bytes& data, std::optional<std::uint16_t> crc = std::nullopt) {
  Bytes out;
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(address >> s));
  const auto len = static_cast<std::uint32_t>(data.size());
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(len >> s));
  out.insert(out.end(), data.begin(), data.end());
  const std::uint16_t c = crc.value_or(vbf_crc16(data));
  out.push_back(static_cast<std::uint8_t>(c >> 8));
  out.push_back(static_cast<std::uint8_t>(c));
  return out;
}

const std::string k_exe_fields =
    "  sw_part_number = \"32212345\";\n  sw_part_type = EXE;\n  ecu_address = 0x7A1;\n";

VbfDefect defect_of(const Bytes& file) {
  VbfDiagnostic diag;
  auto parsed = parse_vbf(file, "t.vbf", &diag);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == Errc::verify);
  CHECK(parsed.error().message.rfind("t.vbf", 0) == 0);
  return diag.defect;
}

}  // namespace

TEST_CASE("vbf: CRC-16/CCITT-FALSE has the catalogue's check value", "[vbf]") {
  CHECK(vbf_crc16(as_bytes("123456789")) == 0x29B1);
  CHECK(vbf_crc16(Bytes{0xFF, 0xFF, 0xFF, 0xFF}) == 0x1D0F);  // vbftool's test vector
  CHECK(vbf_crc16(as_bytes("56789"), vbf_crc16(as_bytes("1234"))) == 0x29B1);
}

TEST_CASE("vbf: a written 2.x file parses back to the same header and blocks", "[vbf]") {
  const VbfWriteSpec spec = exe_spec();
  const Bytes file = written(spec);
  VbfDiagnostic diag;
  auto parsed = parse_vbf(file, "app.vbf", &diag);
  REQUIRE(parsed.ok());
  CHECK(diag.defect == VbfDefect::none);
  VbfHeader expected = spec.header;
  expected.file_checksum = crc32(ByteView(file).subspan(binary_start(file)));
  CHECK(parsed->header == expected);
  CHECK(parsed->crcs_checked);
  const ContainerPart& part = parsed->part;
  CHECK(part.name == "app.vbf");
  CHECK(part.kind == ContainerPartKind::exe);
  CHECK(part.part_number == "32212345");
  CHECK(part.version == "AB");
  CHECK(part.erase == spec.header.erase);
  CHECK_FALSE(part.call_address);
  REQUIRE(part.blocks.size() == 2);
  CHECK(part.blocks[0].address == 0x00020000);
  CHECK(part.blocks[0].memory_size == 300);
  CHECK(part.blocks[0].data == pattern(300, 1));
  CHECK(part.blocks[1].data == pattern(64, 2));
  CHECK(parsed->block_crcs == std::vector<std::uint16_t>{vbf_crc16(pattern(300, 1)), vbf_crc16(pattern(64, 2))});
  // And once more: what parses writes the same bytes again.
  auto again = write_vbf(vbf_write_spec(*parsed));
  REQUIRE(again.ok());
  CHECK(*again == file);
}

TEST_CASE("vbf: a 3.0 SBL with signature fields and unknown keys round-trips", "[vbf]") {
  VbfWriteSpec spec;
  spec.header.version_major = 3;
  spec.header.version_minor = 0;
  spec.header.sw_part_numbers = {"YW4T-13B525-AB", "31808832"};
  spec.header.sw_versions = {"A", "B"};
  spec.header.sw_part_type = "SBL";
  spec.header.ecu_address = 0x1202;
  spec.header.call = 0x20001000;
  spec.header.verification_block_start = 0x20001F00;
  spec.header.verification_block_length = 0x2C;
  spec.header.verification_block_root_hash = pattern(32, 9);
  spec.header.sw_signature_dev = pattern(256, 3);
  spec.header.sw_signature = pattern(256, 4);
  spec.header.other = {{"sw_part_number_DID", "0xF188"}, {"vendor_note", "{\"a\", 0x01}"}};
  spec.blocks = {plain_block(0x20001000, pattern(0x100, 5))};
  const Bytes file = written(spec);
  auto parsed = parse_vbf(file, "sbl.vbf");
  REQUIRE(parsed.ok());
  spec.header.file_checksum = parsed->header.file_checksum;
  CHECK(parsed->header == spec.header);
  CHECK(parsed->part.kind == ContainerPartKind::sbl);
  CHECK(parsed->part.part_number == "YW4T-13B525-AB");
  CHECK(parsed->part.version == "A");
  CHECK(parsed->part.call_address == std::optional<std::uint32_t>(0x20001000));
}

TEST_CASE("vbf: compression method 1 is zlib; the CRC-16 covers the inflated data", "[vbf]") {
  const Bytes plain = pattern(5000, 7);
  auto block = make_vbf_block(0x8000, plain, 0x10);
  REQUIRE(block.ok());
  CHECK(block->data.size() < plain.size());
  CHECK(block->memory_size == plain.size());
  VbfWriteSpec spec = exe_spec();
  spec.header.data_format_identifier = 0x10;
  spec.blocks = {*block};
  const Bytes file = written(spec);
  auto parsed = parse_vbf(file, "z.vbf");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->part.blocks.size() == 1);
  CHECK(parsed->part.blocks[0].data_format == 0x10);
  CHECK(parsed->part.blocks[0].memory_size == 5000);
  CHECK(parsed->part.blocks[0].data == block->data);
  CHECK(parsed->block_crcs[0] == vbf_crc16(plain));

  SECTION("data that is no zlib stream is refused") {
    const Bytes bin = block_bytes(0x8000, pattern(40, 1));
    CHECK(defect_of(by_hand(k_exe_fields + "  data_format_identifier = 0x10;\n", bin)) == VbfDefect::decompress);
  }
  SECTION("formats ecuup cannot decode pass with their CRCs unchecked, memory_size = stored size") {
    const Bytes bin = block_bytes(0x8000, pattern(40, 1), 0x1234);
    auto other = parse_vbf(by_hand(k_exe_fields + "  data_format_identifier = 0x21;\n", bin), "enc.vbf");
    REQUIRE(other.ok());
    CHECK_FALSE(other->crcs_checked);
    CHECK(other->part.blocks[0].memory_size == 40);
    CHECK(make_vbf_block(0, plain, 0x01).error().code == Errc::unsupported);
  }
}

TEST_CASE("vbf: comments, lists, CRLF and keys in any order", "[vbf]") {
  const Bytes bin = block_bytes(0x1000, pattern(16, 0));
  const std::string body =
      "  // a line comment with { braces } and \"quotes\"\r\n"
      "  /* a block comment\r\n spanning lines; = */ sw_part_number = {\"A1\" /* inline */, \"B2\"};\r\n"
      "  sw_version = \"1.2.3\";\r\n"
      "  ecu_address = { 0x723, 0x00, 0xff };\r\n"
      "  sw_part_type = DATA; can_frame_format = CAN_EXTENDED;\r\n"
      "  erase = { { 0x1000, 0x800 }, {0x2000,0x10} };\r\n"
      "  description = { \"with \\\"escaped\\\" quotes\" };\r\n";
  auto parsed = parse_vbf(by_hand(body, bin), "d.vbf");
  REQUIRE(parsed.ok());
  CHECK(parsed->header.sw_part_numbers == std::vector<std::string>{"A1", "B2"});
  CHECK(parsed->header.ecu_address == 0x723);
  CHECK(parsed->header.frame_format == "CAN_EXTENDED");
  CHECK(parsed->header.description == std::vector<std::string>{"with \"escaped\" quotes"});
  CHECK(parsed->part.kind == ContainerPartKind::data);
  CHECK(parsed->part.version == "1.2.3");
  CHECK(parsed->part.erase == std::vector<MemoryRange>{{0x1000, 0x800}, {0x2000, 0x10}});
}

TEST_CASE("vbf: each defect is found and named", "[vbf]") {
  const Bytes good = written(exe_spec());
  const std::size_t bin = binary_start(good);
  const Bytes one_block = block_bytes(0x1000, pattern(16, 0));

  SECTION("a block CRC that does not match") {
    Bytes bad = good;
    bad[bin + 8 + 10] ^= 0x01;  // a data byte of block 1; file_checksum fixed below
    const Bytes binary(bad.begin() + static_cast<std::ptrdiff_t>(bin), bad.end());
    std::string text(bad.begin(), bad.begin() + static_cast<std::ptrdiff_t>(bin));
    const auto at = text.find("file_checksum = 0x");
    text.replace(at + 18, 8, fmt::format("{:08X}", crc32(binary)));
    Bytes fixed = as_bytes(text);
    fixed.insert(fixed.end(), binary.begin(), binary.end());
    VbfDiagnostic diag;
    auto parsed = parse_vbf(fixed, "app.vbf", &diag);
    REQUIRE_FALSE(parsed.ok());
    CHECK(diag.defect == VbfDefect::block_crc);
    CHECK(diag.block_index == 1);
    CHECK(parsed.error().message.find("block 1 at 0x00020000") != std::string::npos);
  }
  SECTION("a file checksum that does not match") {
    std::string text(good.begin(), good.end());
    const auto at = text.find("file_checksum = 0x");
    text[at + 18] = text[at + 18] == '0' ? '1' : '0';
    CHECK(defect_of(as_bytes(text)) == VbfDefect::file_checksum);
    // A block's own CRC-16 changed: the block is found wrong before the file checksum.
    Bytes bad = good;
    bad.back() ^= 0xFF;
    CHECK(defect_of(bad) == VbfDefect::block_crc);
  }
  SECTION("truncation") {
    for (std::size_t cut : {std::size_t{1}, std::size_t{2}, std::size_t{40}}) {
      Bytes bad(good.begin(), good.end() - static_cast<std::ptrdiff_t>(cut));
      CHECK(defect_of(bad) == VbfDefect::truncated);
    }
    CHECK(defect_of(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(bin) - 1)) == VbfDefect::syntax);
  }
  SECTION("bytes after the last block") {
    Bytes bin_part = one_block;
    bin_part.insert(bin_part.end(), {0x00, 0x01, 0x02});
    CHECK(defect_of(by_hand(k_exe_fields, bin_part)) == VbfDefect::trailing_data);
  }
  SECTION("missing required fields") {
    CHECK(defect_of(by_hand("  sw_part_type = EXE;\n  ecu_address = 0x7A1;\n", one_block)) == VbfDefect::missing_field);
    CHECK(defect_of(by_hand("  sw_part_number = \"1\";\n  ecu_address = 0x7A1;\n", one_block)) ==
          VbfDefect::missing_field);
    CHECK(defect_of(by_hand("  sw_part_number = \"1\";\n  sw_part_type = EXE;\n", one_block)) ==
          VbfDefect::missing_field);
    Bytes no_checksum = as_bytes("vbf_version = 2.4;\nheader {\n" + k_exe_fields + "}");
    no_checksum.insert(no_checksum.end(), one_block.begin(), one_block.end());
    CHECK(defect_of(no_checksum) == VbfDefect::missing_field);
  }
  SECTION("an SBL without call") {
    const std::string sbl = "  sw_part_number = \"1\";\n  sw_part_type = SBL;\n  ecu_address = 0x7A1;\n";
    CHECK(defect_of(by_hand(sbl, one_block)) == VbfDefect::missing_field);
    CHECK(parse_vbf(by_hand(sbl + "  call = 0x1000;\n", one_block), "t.vbf").ok());
  }
  SECTION("overlapping blocks") {
    Bytes two = one_block;
    const Bytes second = block_bytes(0x100F, pattern(4, 1));
    two.insert(two.end(), second.begin(), second.end());
    CHECK(defect_of(by_hand(k_exe_fields, two)) == VbfDefect::overlap);
    Bytes adjacent = one_block;
    const Bytes next = block_bytes(0x1010, pattern(4, 1));
    adjacent.insert(adjacent.end(), next.begin(), next.end());
    CHECK(parse_vbf(by_hand(k_exe_fields, adjacent), "t.vbf").ok());
  }
  SECTION("a block past 4 GiB, an empty block, no blocks") {
    CHECK(defect_of(by_hand(k_exe_fields, block_bytes(0xFFFFFFF0, pattern(17, 0)))) == VbfDefect::address_range);
    CHECK(parse_vbf(by_hand(k_exe_fields, block_bytes(0xFFFFFFF0, pattern(16, 0))), "t.vbf").ok());
    CHECK(defect_of(by_hand(k_exe_fields, block_bytes(0x1000, Bytes{}))) == VbfDefect::empty_block);
    CHECK(defect_of(by_hand(k_exe_fields, Bytes{})) == VbfDefect::no_blocks);
  }
  SECTION("header syntax, version, duplicates, values") {
    CHECK(defect_of(by_hand(k_exe_fields, one_block, "1.0")) == VbfDefect::version);
    CHECK(defect_of(by_hand(k_exe_fields, one_block, "JLR3.0")) == VbfDefect::version);
    CHECK(defect_of(by_hand(k_exe_fields + "  network = CAN_HS\n", one_block)) == VbfDefect::syntax);
    CHECK(defect_of(by_hand(k_exe_fields + "  /* open\n", one_block)) == VbfDefect::syntax);
    CHECK(defect_of(by_hand(k_exe_fields + "  description = \"open;\n", one_block)) == VbfDefect::syntax);
    CHECK(defect_of(by_hand(k_exe_fields + "  ecu_address = 0x7A2;\n", one_block)) == VbfDefect::duplicate_field);
    CHECK(defect_of(by_hand(k_exe_fields + "  frame_format = A;\n  can_frame_format = A;\n", one_block)) ==
          VbfDefect::duplicate_field);
    CHECK(defect_of(by_hand(k_exe_fields + "  call = 0x100000000;\n", one_block)) == VbfDefect::field_value);
    CHECK(defect_of(by_hand(k_exe_fields + "  call = \"0x10\";\n", one_block)) == VbfDefect::field_value);
    CHECK(defect_of(by_hand(k_exe_fields + "  erase = {{0x1000, 0}};\n", one_block)) == VbfDefect::field_value);
    CHECK(defect_of(by_hand(k_exe_fields + "  erase = {{0xFFFFFF00, 0x101}};\n", one_block)) == VbfDefect::field_value);
    CHECK(defect_of(by_hand(k_exe_fields + "  sw_signature = 0xABC;\n", one_block)) == VbfDefect::field_value);
    CHECK(defect_of(by_hand(k_exe_fields + "  data_format_identifier = 0x100;\n", one_block)) ==
          VbfDefect::field_value);
    const std::string odd_type = "  sw_part_number = \"1\";\n  sw_part_type = FIRMWARE;\n  ecu_address = 1;\n";
    CHECK(defect_of(by_hand(odd_type, one_block)) == VbfDefect::field_value);
    std::string deep = k_exe_fields + "  nested = ";
    for (int i = 0; i < 20; ++i) deep += "{";
    CHECK(defect_of(by_hand(deep + "\n", one_block)) == VbfDefect::syntax);
  }
}

TEST_CASE("vbf: write_vbf refuses what parse_vbf would refuse", "[vbf]") {
  VbfWriteSpec spec = exe_spec();
  spec.blocks.push_back(plain_block(0x00020010, pattern(4, 0)));
  CHECK(write_vbf(spec).error().code == Errc::usage);
  spec = exe_spec();
  spec.header.sw_part_type = "SBL";
  CHECK(write_vbf(spec).error().code == Errc::usage);
  spec.header.call = 0x00020000;
  CHECK(write_vbf(spec).ok());
  spec.blocks.clear();
  CHECK(write_vbf(spec).error().code == Errc::usage);
}

TEST_CASE("vbf: load_vbf_set puts the SBL first and takes the EXE's version", "[vbf]") {
  TempDir dir;
  auto save = [&](const std::string& name, const std::string& type, const std::string& version, std::uint32_t address) {
    VbfWriteSpec spec = exe_spec();
    spec.header.sw_part_type = type;
    spec.header.sw_versions = {version};
    if (type == "SBL") spec.header.call = address;
    spec.blocks = {plain_block(address, pattern(32, 1))};
    REQUIRE(write_file_atomic(dir / name, ByteView(written(spec))).ok());
    return dir / name;
  };
  const auto data = save("data.vbf", "DATA", "D1", 0x40000);
  const auto exe = save("exe.vbf", "EXE", "E7", 0x20000);
  const auto sbl = save("sbl.vbf", "SBL", "S1", 0x1000);
  const auto sbl2 = save("sbl2.vbf", "SBL", "S2", 0x2000);

  auto set = load_vbf_set({data, exe, sbl});
  REQUIRE(set.ok());
  CHECK(set->format == ContainerFormat::vbf);
  REQUIRE(set->parts.size() == 3);
  CHECK(set->parts[0].name == "sbl.vbf");
  CHECK(set->parts[0].call_address == std::optional<std::uint32_t>(0x1000));
  CHECK(set->parts[1].name == "data.vbf");
  CHECK(set->parts[2].name == "exe.vbf");
  CHECK(set->version == "E7");

  auto only_data = load_vbf_set({sbl, data});
  REQUIRE(only_data.ok());
  CHECK(only_data->version == "D1");

  CHECK(load_vbf_set({sbl, exe, sbl2}).error().code == Errc::verify);
  CHECK(load_vbf_set({sbl}).error().code == Errc::verify);
  CHECK(load_vbf_set({}).error().code == Errc::verify);
  CHECK_FALSE(load_vbf_set({dir / "missing.vbf"}).ok());
}

TEST_CASE("vbf: pack_vbf writes one block per image segment", "[vbf]") {
  TempDir dir;
  FlashImage image;
  image.segments = {ImageSegment{.address = 0x10000, .data = pattern(100, 1)},
                    ImageSegment{.address = 0x20000, .data = pattern(50, 2)}};
  REQUIRE(write_image(dir / "app.s19", image, ImageFormat::srec).ok());
  REQUIRE(write_file_atomic(dir / "cal.bin", ByteView(pattern(4000, 3))).ok());

  VbfPackRequest request;
  request.images = {dir / "app.s19", dir / "cal.bin"};
  request.raw_base_address = 0x30000;
  request.out = dir / "out.vbf";
  request.part_number = "PN1";
  request.version = "V1";
  request.data_format = 0x10;
  request.ecu_address = 0x7E0;
  auto summary = pack_vbf(request);
  REQUIRE(summary.ok());
  CHECK(summary->blocks == 3);
  CHECK(summary->memory_bytes == 4150);
  auto file = load_vbf(dir / "out.vbf");
  REQUIRE(file.ok());
  CHECK(file->header.file_checksum == summary->file_checksum);
  REQUIRE(file->part.blocks.size() == 3);
  CHECK(file->part.blocks[2].address == 0x30000);
  CHECK(file->part.blocks[2].memory_size == 4000);

  request.raw_base_address.reset();
  CHECK(pack_vbf(request).error().code == Errc::usage);
  request.raw_base_address = 0x10010;  // cal.bin over app.s19's first segment
  CHECK(pack_vbf(request).error().code == Errc::usage);
}
