#include <catch2/catch.hpp>

#include "sim/flash_store.hpp"
#include "sim/tools.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/sw_image.hpp"

using namespace ecuup;
using namespace ecuup::sim;

namespace {
const std::vector<MemoryRegion> k_regions{{.address = 0x1000, .size = 0x2000}, {.address = 0x8000, .size = 0x100}};
}

TEST_CASE("sim flash: a fresh ECU holds its initial image, and what is written persists", "[sim]") {
  ecuup::test::TempDir dir;
  const auto ecu_dir = dir.path() / "bms";
  {
    auto store = FlashStore::open(ecu_dir, k_regions, InitialImage{.version = "1.0.0", .size = 100});
    REQUIRE(store);
    CHECK((*store)->valid());
    auto info = parse_sw_image_header((*store)->primary().first(k_sw_image_header_size));
    REQUIRE(info);
    CHECK(info->version == "1.0.0");
    CHECK((*store)->region_of(0x8000, 0x100) == std::optional<std::size_t>{1});
    CHECK_FALSE((*store)->region_of(0x80FF, 2));
    REQUIRE((*store)->erase(0x8000, 0x100));
    REQUIRE((*store)->write(0x8010, Bytes{1, 2, 3}));
    REQUIRE((*store)->set_valid(false));
  }
  auto again = FlashStore::open(ecu_dir, k_regions, InitialImage{.version = "9.9.9", .size = 100});
  REQUIRE(again);
  CHECK_FALSE((*again)->valid());  // the state on disk wins over the initial image
  ByteView bytes = (*again)->read(0x800F, 5);
  CHECK(Bytes(bytes.begin(), bytes.end()) == Bytes{k_erased_byte, 1, 2, 3, k_erased_byte});

  SECTION("ecuup-sim dump writes a region, or only its image") {
    DumpOptions dump;
    dump.state_dir = dir.path().string();
    dump.ecu = "bms";
    dump.output = (dir / "all.bin").string();
    REQUIRE(dump_flash(dump));
    auto all = read_binary_file(dir / "all.bin");
    REQUIRE(all);
    CHECK(all->size() == 0x2000);
    dump.output = (dir / "img.bin").string();
    dump.image_only = true;
    REQUIRE(dump_flash(dump));
    auto image = read_binary_file(dir / "img.bin");
    REQUIRE(image);
    CHECK(image->size() == k_sw_image_header_size + 100);
    dump.address = 0x4000;
    auto missing = dump_flash(dump);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == Errc::not_found);
  }
}

TEST_CASE("sim tools: mkimage, the toy key, and power-cut without a simulator", "[sim]") {
  ecuup::test::TempDir dir;
  MkimageOptions mk;
  mk.version = "2.1.0";
  mk.size = 500;
  mk.output = (dir / "a.img").string();
  REQUIRE(make_image(mk));
  auto image = read_binary_file(dir / "a.img");
  REQUIRE(image);
  CHECK(image->size() == k_sw_image_header_size + 500);
  CHECK(parse_sw_image_header(ByteView(*image).first(k_sw_image_header_size))->version == "2.1.0");
  CHECK(pattern_bytes(64, 1) == pattern_bytes(64, 1));
  CHECK(pattern_bytes(64, 1) != pattern_bytes(64, 2));

  mk.payload = "x";  // and --size: one of them
  auto both = make_image(mk);
  REQUIRE_FALSE(both);
  CHECK(both.error().code == Errc::usage);

  // key[i] = ((seed[i] XOR 0x5A) + level + i) mod 256
  CHECK(toy_key_hex("1", "00000000").value() == "5b5c5d5e");
  CHECK(toy_key_hex("0x300", "00").error().code == Errc::usage);

  PowerCutOptions cut;
  cut.state_dir = dir.path().string();
  auto none = power_cut(cut);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::usage);  // neither --ecu nor --all
  cut.ecus = {"bms"};
  auto nobody = power_cut(cut);
  REQUIRE_FALSE(nobody);
  CHECK(nobody.error().code == Errc::not_found);  // no simulator runs there
}
