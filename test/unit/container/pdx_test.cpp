// Designated initializers name only the fields a test is about; the rest keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <string>
#include <utility>
#include <vector>

#include "container/pdx.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"

using namespace ecuup;
using ecuup::test::TempDir;

namespace {

using Files = std::vector<std::pair<std::string, std::string>>;

// A zip written entry by entry, names as given (the reader's checks are what is under test).
void write_zip(const std::filesystem::path& path, const Files& files) {
  archive* a = archive_write_new();
  REQUIRE(archive_write_set_format_zip(a) == ARCHIVE_OK);
  REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const auto& [name, content] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    REQUIRE(archive_write_data(a, content.data(), content.size()) == static_cast<la_ssize_t>(content.size()));
    archive_entry_free(e);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
}

std::string index_xml(const std::vector<std::string>& files) {
  std::string x = "<?xml version=\"1.0\"?>\n<CATALOG F-DTD-VERSION=\"ODX-2.2.0\"><SHORT-NAME>t</SHORT-NAME><ABLOCKS>";
  for (const auto& f : files) x += "<ABLOCK><SHORT-NAME>b</SHORT-NAME><FILES><FILE>" + f + "</FILE></FILES></ABLOCK>";
  return x + "</ABLOCKS></CATALOG>\n";
}

// app.bin: bytes 00..0B; the segments take 00..03 and 08..0B, placed at 0x8000 by a POS-OFFSET.
std::string app_bin() {
  std::string s;
  for (int i = 0; i < 12; ++i) s += static_cast<char>(i);
  return s;
}

std::string crc_hex(const Bytes& data) {
  return fmt::format("{:08X}", crc32_z(0, data.data(), data.size()));
}

const Bytes k_seg1 = {0x00, 0x01, 0x02, 0x03};
const Bytes k_seg2 = {0x08, 0x09, 0x0A, 0x0B};

// Written by hand from the ODX 2.2 FLASH model, independent of write_pdx.
std::string odx_f() {
  Bytes both = k_seg1;
  both.insert(both.end(), k_seg2.begin(), k_seg2.end());
  return R"(<?xml version="1.0" encoding="UTF-8"?>
<ODX MODEL-VERSION="2.2.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <FLASH ID="F">
    <SHORT-NAME>F</SHORT-NAME>
    <ECU-MEMS>
      <ECU-MEM ID="M">
        <SHORT-NAME>bms</SHORT-NAME>
        <MEM>
          <SESSIONS>
            <SESSION ID="S">
              <SHORT-NAME>main</SHORT-NAME>
              <EXPECTED-IDENTS>
                <EXPECTED-IDENT ID="E1"><SHORT-NAME>HW</SHORT-NAME><IDENT-VALUES>
                  <IDENT-VALUE TYPE="A_ASCIISTRING">H1</IDENT-VALUE><IDENT-VALUE TYPE="A_ASCIISTRING">H2</IDENT-VALUE>
                </IDENT-VALUES></EXPECTED-IDENT>
              </EXPECTED-IDENTS>
              <DATABLOCK-REFS><DATABLOCK-REF ID-REF="DB1"/></DATABLOCK-REFS>
            </SESSION>
          </SESSIONS>
          <DATABLOCKS>
            <DATABLOCK ID="DB1" TYPE="CODE">
              <SHORT-NAME>app</SHORT-NAME>
              <FLASHDATA-REF ID-REF="FD1"/>
              <SEGMENTS>
                <SEGMENT ID="S1"><SHORT-NAME>s1</SHORT-NAME><SOURCE-START-ADDRESS>00</SOURCE-START-ADDRESS><SOURCE-END-ADDRESS>03</SOURCE-END-ADDRESS></SEGMENT>
                <SEGMENT ID="S2"><SHORT-NAME>s2</SHORT-NAME><SOURCE-START-ADDRESS>08</SOURCE-START-ADDRESS><UNCOMPRESSED-SIZE>4</UNCOMPRESSED-SIZE></SEGMENT>
              </SEGMENTS>
              <TARGET-ADDR-OFFSET xsi:type="POS-OFFSET"><POSITIVE-OFFSET>8000</POSITIVE-OFFSET></TARGET-ADDR-OFFSET>
              <OWN-IDENTS><OWN-IDENT ID="O1"><SHORT-NAME>VERSION</SHORT-NAME><IDENT-VALUE TYPE="A_ASCIISTRING">1.2.3</IDENT-VALUE></OWN-IDENT></OWN-IDENTS>
              <SECURITYS><SECURITY><SECURITY-METHOD TYPE="A_ASCIISTRING">CRC32</SECURITY-METHOD><FW-CHECKSUM TYPE="A_BYTEFIELD">)" +
         crc_hex(both) + R"(</FW-CHECKSUM></SECURITY></SECURITYS>
            </DATABLOCK>
          </DATABLOCKS>
          <FLASHDATAS>
            <FLASHDATA ID="FD1" xsi:type="EXTERN-FLASHDATA"><SHORT-NAME>fd</SHORT-NAME><DATAFORMAT SELECTION="BINARY"/><DATAFILE LATEBOUND-DATAFILE="false">app.bin</DATAFILE></FLASHDATA>
          </FLASHDATAS>
        </MEM>
      </ECU-MEM>
    </ECU-MEMS>
  </FLASH>
</ODX>
)";
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

Files good_files(const std::string& odx = odx_f()) {
  return {{"index.xml", index_xml({"bms.odx-f", "app.bin"})}, {"bms.odx-f", odx}, {"app.bin", app_bin()}};
}

PdxDefect defect_of(const std::filesystem::path& path, const PdxOptions& options = {}) {
  PdxDiagnostic diag;
  auto c = load_pdx(path, options, &diag);
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::verify);
  CHECK(diag.defect != PdxDefect::none);
  return diag.defect;
}

}  // namespace

TEST_CASE("PDX: a hand-written ODX-F with two segments, an offset, expected idents and a CRC-32", "[pdx]") {
  TempDir dir;
  write_zip(dir / "a.pdx", good_files());
  CHECK(looks_like_pdx(dir / "a.pdx"));
  PdxDiagnostic diag;
  auto c = load_pdx(dir / "a.pdx", {}, &diag);
  REQUIRE(c);
  CHECK(c->format == ContainerFormat::pdx);
  CHECK(c->version == "1.2.3");
  REQUIRE(c->parts.size() == 1);
  const auto& part = c->parts[0];
  CHECK(part.name == "app");
  CHECK(part.kind == ContainerPartKind::exe);
  CHECK(part.version == "1.2.3");
  REQUIRE(part.blocks.size() == 2);
  CHECK(part.blocks[0].address == 0x8000);
  CHECK(part.blocks[0].data == k_seg1);
  CHECK(part.blocks[1].address == 0x8008);
  CHECK(part.blocks[1].data == k_seg2);
  CHECK(part.blocks[1].memory_size == 4);
  CHECK(part.erase == std::vector<MemoryRange>{{0x8000, 4}, {0x8008, 4}});
  REQUIRE(c->expected_idents.size() == 1);
  CHECK(c->expected_idents[0].name == "HW");
  CHECK(c->expected_idents[0].values == std::vector<std::string>{"H1", "H2"});
  CHECK(diag.session == "main");
  CHECK(diag.ecu_mem == "bms");
  REQUIRE(diag.checks.size() == 1);
  CHECK(diag.checks[0].verified);

  // Named: the ECU-MEM and SESSION that exist, then ones that do not.
  CHECK(load_pdx(dir / "a.pdx", PdxOptions{.ecu_mem = "bms", .session = "main"}));
  CHECK(defect_of(dir / "a.pdx", PdxOptions{.session = "other"}) == PdxDefect::no_flash);
  CHECK(defect_of(dir / "a.pdx", PdxOptions{.ecu_mem = "engine"}) == PdxDefect::no_flash);
}

TEST_CASE("PDX: NEG-OFFSET, an unknown checksum method kept unverified", "[pdx]") {
  TempDir dir;
  std::string odx = replaced(odx_f(), R"(xsi:type="POS-OFFSET"><POSITIVE-OFFSET>8000</POSITIVE-OFFSET>)",
                             R"(xsi:type="NEG-OFFSET"><NEGATIVE-OFFSET>0</NEGATIVE-OFFSET>)");
  odx = replaced(odx, ">CRC32<", ">VENDOR-HASH<");
  write_zip(dir / "a.pdx", good_files(odx));
  PdxDiagnostic diag;
  auto c = load_pdx(dir / "a.pdx", {}, &diag);
  REQUIRE(c);
  CHECK(c->parts[0].blocks[0].address == 0x0);
  CHECK(c->parts[0].blocks[1].address == 0x8);
  REQUIRE(diag.checks.size() == 1);
  CHECK_FALSE(diag.checks[0].verified);
  CHECK(diag.checks[0].method == "VENDOR-HASH");
}

TEST_CASE("PDX: write_pdx round trip: SBL inline, application extern in two segments, CRC-32", "[pdx]") {
  TempDir dir;
  PdxWriteSpec spec;
  spec.ecu = "bms";
  spec.session = "update";
  spec.expected_idents = {{"HW", {"H1", "H2"}}, {"SW", {"0.9"}}};
  PdxBlockSpec sbl{.name = "sbl", .type = "BOOT", .version = "s1", .segments = {{0x20000000, Bytes(100, 0x5A)}}};
  PdxBlockSpec app{.name = "app", .type = "CODE", .version = "2.0.0", .part_number = "P-1",
                   .segments = {{0x8000, Bytes(300, 0x11)}, {0x9000, Bytes(77, 0x22)}}, .extern_file = true, .crc32 = true};
  spec.blocks = {sbl, app};
  REQUIRE(write_pdx(dir / "out.pdx", spec));
  PdxDiagnostic diag;
  auto c = load_pdx(dir / "out.pdx", {}, &diag);
  REQUIRE(c);
  CHECK(diag.session == "update");
  CHECK(c->version == "2.0.0");
  CHECK(c->expected_idents.size() == 2);
  CHECK(c->expected_idents[1].values == std::vector<std::string>{"0.9"});
  REQUIRE(c->parts.size() == 2);
  CHECK(c->parts[0].kind == ContainerPartKind::sbl);
  CHECK(c->parts[0].blocks.size() == 1);
  CHECK(c->parts[0].blocks[0].address == 0x20000000);
  CHECK(c->parts[0].blocks[0].data == Bytes(100, 0x5A));
  CHECK(c->parts[1].part_number == "P-1");
  REQUIRE(c->parts[1].blocks.size() == 2);
  CHECK(c->parts[1].blocks[1].address == 0x9000);
  CHECK(c->parts[1].blocks[1].data == Bytes(77, 0x22));
  CHECK(c->parts[1].blocks[1].memory_size == 77);
  REQUIRE(diag.checks.size() == 1);
  CHECK(diag.checks[0].verified);
}

TEST_CASE("PDX: inline Intel HEX and extern S-record flash data", "[pdx]") {
  TempDir dir;
  for (PdxDataFormat format : {PdxDataFormat::ihex, PdxDataFormat::srec}) {
    for (bool ext : {false, true}) {
      PdxWriteSpec spec;
      spec.blocks = {PdxBlockSpec{.name = "cal", .type = "DATA",
                                  .segments = {{0x10000, Bytes(40, 0xA1)}, {0x2FFF0, Bytes(33, 0xB2)}},
                                  .format = format, .extern_file = ext}};
      REQUIRE(write_pdx(dir / "h.pdx", spec));
      auto c = load_pdx(dir / "h.pdx");
      REQUIRE(c);
      REQUIRE(c->parts[0].blocks.size() == 2);
      CHECK(c->parts[0].kind == ContainerPartKind::data);
      CHECK(c->parts[0].blocks[0].address == 0x10000);
      CHECK(c->parts[0].blocks[1].address == 0x2FFF0);
      CHECK(c->parts[0].blocks[1].data == Bytes(33, 0xB2));
    }
  }
}

TEST_CASE("PDX: a zlib segment carries compressed bytes and its uncompressed size", "[pdx]") {
  TempDir dir;
  Bytes plain;
  for (int i = 0; i < 5000; ++i) plain.push_back(static_cast<std::uint8_t>(i % 7));
  PdxWriteSpec spec;
  spec.blocks = {PdxBlockSpec{.name = "app", .segments = {{0x4000, plain}, {0x10000, Bytes(64, 0)}}, .data_format = 0x10}};
  REQUIRE(write_pdx(dir / "z.pdx", spec));
  auto c = load_pdx(dir / "z.pdx");
  REQUIRE(c);
  const auto& b = c->parts[0].blocks[0];
  CHECK(b.data_format == 0x10);
  CHECK(b.memory_size == plain.size());
  CHECK(b.data.size() < plain.size());
  Bytes back(plain.size());
  uLongf size = back.size();
  REQUIRE(uncompress(back.data(), &size, b.data.data(), b.data.size()) == Z_OK);
  CHECK(back == plain);
  CHECK(c->parts[0].erase[0] == MemoryRange{0x4000, plain.size()});

  // Encrypted data is written as given, its format byte kept; zlib with encryption is refused.
  spec.blocks[0].data_format = 0x01;
  REQUIRE(write_pdx(dir / "e.pdx", spec));
  auto e = load_pdx(dir / "e.pdx");
  REQUIRE(e);
  CHECK(e->parts[0].blocks[0].data == plain);
  CHECK(e->parts[0].blocks[0].data_format == 0x01);
  spec.blocks[0].data_format = 0x11;
  auto refused = write_pdx(dir / "x.pdx", spec);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::usage);
}

TEST_CASE("PDX: each defect is refused with its kind", "[pdx]") {
  TempDir dir;
  const auto pdx = dir / "d.pdx";
  SECTION("not a zip") {
    REQUIRE(write_file_atomic(pdx, std::string_view("just text")));
    CHECK(defect_of(pdx) == PdxDefect::not_zip);
    CHECK_FALSE(looks_like_pdx(pdx));
  }
  SECTION("a zip without index.xml") {
    write_zip(pdx, {{"bms.odx-f", odx_f()}, {"app.bin", app_bin()}});
    CHECK(defect_of(pdx) == PdxDefect::no_index);
    CHECK_FALSE(looks_like_pdx(pdx));
  }
  SECTION("malformed XML, with its line") {
    write_zip(pdx, good_files(replaced(odx_f(), "</DATABLOCKS>", "</DATABLOCK>")));
    PdxDiagnostic diag;
    REQUIRE_FALSE(load_pdx(pdx, {}, &diag));
    CHECK(diag.defect == PdxDefect::xml);
    CHECK(diag.line > 20);
  }
  SECTION("a DOCTYPE with entities") {
    std::string odx = replaced(odx_f(), "<ODX ", "<!DOCTYPE ODX [<!ENTITY a \"aaaa\">]>\n<ODX ");
    write_zip(pdx, good_files(replaced(odx, "<SHORT-NAME>F</SHORT-NAME>", "<SHORT-NAME>&a;</SHORT-NAME>")));
    CHECK(defect_of(pdx) == PdxDefect::xml);
  }
  SECTION("a DATAFILE the PDX does not hold") {
    write_zip(pdx, good_files(replaced(odx_f(), ">app.bin<", ">gone.bin<")));
    CHECK(defect_of(pdx) == PdxDefect::missing_file);
  }
  SECTION("index.xml lists a file the PDX does not hold") {
    write_zip(pdx, {{"index.xml", index_xml({"bms.odx-f", "other.bin"})}, {"bms.odx-f", odx_f()}, {"app.bin", app_bin()}});
    CHECK(defect_of(pdx) == PdxDefect::missing_file);
  }
  SECTION("an ID-REF to nothing") {
    write_zip(pdx, good_files(replaced(odx_f(), R"(FLASHDATA-REF ID-REF="FD1")", R"(FLASHDATA-REF ID-REF="FD9")")));
    CHECK(defect_of(pdx) == PdxDefect::bad_reference);
  }
  SECTION("an ID-REF to the wrong kind of element") {
    write_zip(pdx, good_files(replaced(odx_f(), R"(DATABLOCK-REF ID-REF="DB1")", R"(DATABLOCK-REF ID-REF="FD1")")));
    CHECK(defect_of(pdx) == PdxDefect::bad_reference);
  }
  SECTION("a segment outside its data") {
    write_zip(pdx, good_files(replaced(odx_f(), "<UNCOMPRESSED-SIZE>4<", "<UNCOMPRESSED-SIZE>5<")));
    CHECK(defect_of(pdx) == PdxDefect::segment_range);
  }
  SECTION("a segment past 4 GiB") {
    write_zip(pdx, good_files(replaced(odx_f(), "<POSITIVE-OFFSET>8000<", "<POSITIVE-OFFSET>FFFFFFFE<")));
    CHECK(defect_of(pdx) == PdxDefect::segment_range);
  }
  SECTION("overlapping segments") {
    write_zip(pdx, good_files(replaced(odx_f(), "<SOURCE-START-ADDRESS>08<", "<SOURCE-START-ADDRESS>02<")));
    CHECK(defect_of(pdx) == PdxDefect::overlap);
  }
  SECTION("a checksum mismatch") {
    std::string odx = odx_f();
    auto at = odx.find("</FW-CHECKSUM>");
    odx[at - 1] = odx[at - 1] == '0' ? '1' : '0';
    write_zip(pdx, good_files(odx));
    CHECK(defect_of(pdx) == PdxDefect::checksum);
  }
  SECTION("a malformed address") {
    write_zip(pdx, good_files(replaced(odx_f(), "<SOURCE-START-ADDRESS>08<", "<SOURCE-START-ADDRESS>1G<")));
    CHECK(defect_of(pdx) == PdxDefect::value);
  }
  SECTION("a zip entry escaping with ..") {
    Files files = good_files();
    files.emplace_back("../escape.bin", "x");
    write_zip(pdx, files);
    CHECK(defect_of(pdx) == PdxDefect::path);
  }
  SECTION("an absolute zip entry") {
    Files files = good_files();
    files.emplace_back("/etc/evil", "x");
    write_zip(pdx, files);
    CHECK(defect_of(pdx) == PdxDefect::path);
  }
  SECTION("too many entries, too many bytes") {
    Files files = good_files();
    for (int i = 0; i < 5; ++i) files.emplace_back(fmt::format("extra{}.txt", i), "x");
    write_zip(pdx, files);
    CHECK(defect_of(pdx, PdxOptions{.max_entries = 6}) == PdxDefect::limits);
    CHECK(load_pdx(pdx, PdxOptions{.max_entries = 8}));
    CHECK(defect_of(pdx, PdxOptions{.max_total_bytes = 100}) == PdxDefect::limits);
  }
  SECTION("a zlib segment that does not inflate to its size") {
    PdxWriteSpec spec;
    spec.blocks = {PdxBlockSpec{.name = "app", .segments = {{0x4000, Bytes(500, 1)}}, .data_format = 0x10}};
    REQUIRE(write_pdx(dir / "z.pdx", spec));
    auto good = load_pdx(dir / "z.pdx");
    REQUIRE(good);
    // Rebuild the same document by hand with a wrong UNCOMPRESSED-SIZE.
    const auto& b = good->parts[0].blocks[0];
    std::string odx = replaced(odx_f(), "<UNCOMPRESSED-SIZE>4<", "<COMPRESSED-SIZE>4</COMPRESSED-SIZE><UNCOMPRESSED-SIZE>9<");
    odx = replaced(odx, R"(<DATAFORMAT SELECTION="BINARY"/>)",
                   R"(<DATAFORMAT SELECTION="BINARY"/><ENCRYPT-COMPRESS-METHOD TYPE="A_BYTEFIELD">10</ENCRYPT-COMPRESS-METHOD>)");
    CHECK(b.data_format == 0x10);
    write_zip(pdx, good_files(odx));
    CHECK(defect_of(pdx) == PdxDefect::compression);
  }
}

TEST_CASE("PDX: the ODX-F parser alone, with its data files from a function", "[pdx]") {
  int opened = 0;
  PdxFileOpener open = [&](const std::string& file) -> Result<Bytes> {
    ++opened;
    if (file != "app.bin") return make_error(Errc::not_found, file);
    std::string s = app_bin();
    return Bytes(s.begin(), s.end());
  };
  auto c = parse_odx_f(odx_f(), "bms.odx-f", open);
  REQUIRE(c);
  CHECK(opened == 1);
  CHECK(c->parts[0].blocks.size() == 2);
  PdxDiagnostic diag;
  auto bad = parse_odx_f("<NOT-ODX/>", "x.odx", open, {}, &diag);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::verify);
  CHECK(diag.defect == PdxDefect::xml);
}

TEST_CASE("PDX: write_pdx refuses specs it cannot write", "[pdx]") {
  TempDir dir;
  PdxWriteSpec spec;
  CHECK(write_pdx(dir / "a.pdx", spec).error().code == Errc::usage);
  spec.blocks = {PdxBlockSpec{.name = "app", .segments = {{0x100, Bytes(16, 1)}, {0x108, Bytes(16, 2)}}}};
  CHECK(write_pdx(dir / "a.pdx", spec).error().code == Errc::usage);
  spec.blocks = {PdxBlockSpec{.name = "app", .segments = {}}};
  CHECK(write_pdx(dir / "a.pdx", spec).error().code == Errc::usage);
}
