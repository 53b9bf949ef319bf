#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "support/can_frame.hpp"
#include "support/temp_dir.hpp"
#include "transport/trace.hpp"

using namespace ecuup;
using namespace std::chrono;

namespace {

using test::frame_of;

const system_clock::time_point k_when{seconds(1436509052) + microseconds(249713)};

}  // namespace

TEST_CASE("candump lines: timestamp, iface, 3-digit and 8-digit ids, upper-case data", "[transport][trace]") {
  CHECK(candump_line(frame_of(0x44, {0x2A, 0x36, 0x6C, 0x2B, 0xBA}), k_when, "vcan0") ==
        "(1436509052.249713) vcan0 044#2A366C2BBA");
  CHECK(candump_line(frame_of(0x18DA10F1, {0x02, 0x3e}, false, true), k_when, "can1") ==
        "(1436509052.249713) can1 18DA10F1#023E");
  CHECK(candump_line(frame_of(0x7E0, {}), k_when, "can0") == "(1436509052.249713) can0 7E0#");
  // Seconds are zero-padded to 10 digits, microseconds to 6.
  CHECK(candump_line(frame_of(0x1, {0xff}), system_clock::time_point{seconds(5) + microseconds(7)}, "c") ==
        "(0000000005.000007) c 001#FF");
}

TEST_CASE("candump lines for CAN FD carry ## and the flags digit", "[transport][trace]") {
  CHECK(candump_line(frame_of(0x123, {0x11, 0x22}, true, false, true), k_when, "can0") ==
        "(1436509052.249713) can0 123##51122");
  CHECK(candump_line(frame_of(0x123, {0x11}, true, false, false), k_when, "can0") == "(1436509052.249713) can0 123##411");
  CanFrame big = frame_of(0x1FFFFFFF, {}, true, true, true);
  big.len = 64;
  big.data.fill(0xAB);
  const std::string line = candump_line(big, k_when, "can0");
  std::string data;
  for (int i = 0; i < 64; ++i) data += "AB";
  CHECK(line == "(1436509052.249713) can0 1FFFFFFF##5" + data);
  // Exactly three space-separated fields: no direction token.
  CHECK(std::count(line.begin(), line.end(), ' ') == 2);
}

TEST_CASE("the trace writer appends one line per frame and flushes on close", "[transport][trace]") {
  test::TempDir dir;
  {
    auto writer = TraceWriter::open(dir / "t.log", "vcan0");
    REQUIRE(writer.ok());
    (*writer)->write(frame_of(0x7E0, {0x01}), k_when);
    (*writer)->write(frame_of(0x7E8, {0x02}), k_when);
  }
  std::ifstream in(dir / "t.log");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == "(1436509052.249713) vcan0 7E0#01\n(1436509052.249713) vcan0 7E8#02\n");
  CHECK(TraceWriter::open(dir / "no" / "such" / "dir.log", "x").error().code == Errc::io);
}

TEST_CASE("trace writers append: links opened one after another share the file", "[transport][trace]") {
  test::TempDir dir;
  for (std::uint32_t id : {0x7E0u, 0x7E8u}) {
    auto writer = TraceWriter::open(dir / "t.log", "vcan0");
    REQUIRE(writer.ok());
    (*writer)->write(frame_of(id, {0x01}), k_when);
  }
  {
    auto a = TraceWriter::open(dir / "t.log", "vcan0");
    auto b = TraceWriter::open(dir / "t.log", "vcan0");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    for (int i = 0; i < 2000; ++i) {
      (*a)->write(frame_of(0x100, {0xAA, 0xBB}), k_when);
      (*b)->write(frame_of(0x200, {0xCC}), k_when);
    }
  }
  std::ifstream in(dir / "t.log");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 4002);
  CHECK(lines[0] == "(1436509052.249713) vcan0 7E0#01");
  CHECK(lines[1] == "(1436509052.249713) vcan0 7E8#01");
  // Two writers on one file never tear a line.
  for (const std::string& line : lines)
    CHECK((line.ends_with(" 100#AABB") || line.ends_with(" 200#CC") || line.ends_with("#01")));
}
