// container/load.hpp: a container checked against an ECU's memory and turned into the plan a
// flash runs. The PDX files are made by the project's own writer (pdx.hpp).
#include <catch2/catch.hpp>

#include "container/load.hpp"
#include "container/pdx.hpp"
#include "support/temp_dir.hpp"

using namespace ecuup;
using ecuup::test::TempDir;

namespace {

PdxWriteSpec one_block(std::uint8_t data_format, std::uint32_t address) {
  PdxBlockSpec block;
  block.name = "app";
  block.data_format = data_format;
  block.segments.push_back(PdxSegmentSpec{address, Bytes(300, 0xA5)});
  PdxWriteSpec spec;
  spec.blocks.push_back(std::move(block));
  return spec;
}

}  // namespace

TEST_CASE("check_container: blocks inside the ECU's memory, encrypted data passed through", "[container]") {
  TempDir dir;
  const std::vector<MemoryRange> memory{{0x0, 0x10000}};
  // Compression 1 with encryption 1 (no writer here makes that: the OEM's tool does): the bytes
  // cannot be inflated by ecuup, only handed to the ECU with their data format.
  Container enc;
  ContainerPart part;
  part.name = "app";
  ContainerBlock block;
  block.address = 0x100;
  block.memory_size = 1000;
  block.data_format = 0x11;
  block.data = Bytes(300, 0xA5);
  part.blocks.push_back(block);
  enc.parts.push_back(part);
  CHECK(check_container(enc, memory, "enc"));
  ImageSource image = ImageSource::from_plan(plan_container(enc, "enc"));
  REQUIRE(image.segments().size() == 1);
  CHECK(image.segments()[0].data_format == std::optional<std::uint8_t>(0x11));
  CHECK(image.segments()[0].size == 1000);
  CHECK(image.segments()[0].transfer_size == 300);

  REQUIRE(write_pdx(dir / "far.pdx", one_block(0x00, 0xFFC0)));
  auto far = load_container(dir / "far.pdx");
  REQUIRE(far);
  auto refused = check_container(*far, memory, "far.pdx");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::verify);
  CHECK(refused.error().message.find("lies outside the ECU's memory") != std::string::npos);
  CHECK(check_container(*far, {}, "far.pdx"));  // no memory.ranges: not checked
}
