// The simulated ECU as a UDS server, driven request by request with the time passed in: no
// transport, no sleeping.
#include <catch2/catch.hpp>

#include "sim/ecu_model.hpp"
#include "sim/toy_key.hpp"
#include "support/temp_dir.hpp"
#include "util/sw_image.hpp"

using namespace ecuup;
using namespace ecuup::sim;
using namespace std::chrono_literals;

namespace {

EcuConfig bench_ecu() {
  EcuConfig c;
  c.name = "bms";
  c.doip_address = 0x0010;
  c.memory = {{.address = 0x0, .size = 0x10000}};
  c.initial_image = InitialImage{.version = "1.0.0", .size = 1000};
  c.timing.erase_time_ms = 10;
  c.timing.reset_time_ms = 50;
  c.max_block_length = 0x402;
  return c;
}

// Drives one EcuModel on a clock of its own.
struct Tester {
  explicit Tester(EcuModel& model) : ecu(model) {}

  EcuModel& ecu;
  Clock::time_point now = Clock::now();

  Reply ask(Bytes request) {
    Reply r = ecu.handle(request, now);
    now += r.work_time + 1ms;  // the answer comes after the modelled work
    return r;
  }
  Bytes answer(Bytes request) {
    Reply r = ask(std::move(request));
    return r.kind == ReplyKind::respond ? r.response : Bytes{};
  }
  bool unlock() {
    Bytes seed = answer({0x27, 0x01});
    if (seed.size() != 2 + k_seed_size || seed[0] != 0x67) return false;
    Bytes key = toy_key(0x01, ByteView(seed).subspan(2));
    Bytes req{0x27, 0x02};
    req.insert(req.end(), key.begin(), key.end());
    return answer(req) == Bytes{0x67, 0x02};
  }
  std::string version() {
    Bytes r = answer({0x22, 0xF1, 0x89});
    if (r.size() < 3) return "?";
    return std::string(r.begin() + 3, r.end());
  }
};

Bytes with(Bytes head, ByteView tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

}  // namespace

TEST_CASE("sim: a flash over UDS programs the image and the ECU runs it after the reset", "[sim]") {
  ecuup::test::TempDir dir;
  auto ecu = EcuModel::open(bench_ecu(), dir.path(), {});
  REQUIRE(ecu);
  Tester t{**ecu};
  CHECK(t.version() == "1.0.0");

  const Bytes image = make_sw_image("2.0.0", Bytes(3000, 0xA5));
  CHECK(t.answer({0x10, 0x03}).at(0) == 0x50);
  CHECK(t.answer({0x10, 0x02}).at(0) == 0x50);
  REQUIRE(t.unlock());
  Reply erase = t.ask({0x31, 0x01, 0xFF, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00});
  CHECK(erase.response.at(0) == 0x71);
  CHECK(erase.work_time == 10ms);
  const auto size = static_cast<std::uint8_t>(image.size() >> 8), size_lo = static_cast<std::uint8_t>(image.size());
  Bytes download = t.answer({0x34, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, size, size_lo});
  REQUIRE(download == Bytes{0x74, 0x20, 0x04, 0x02});  // maxNumberOfBlockLength 0x402
  std::uint8_t counter = 1;
  for (std::size_t at = 0; at < image.size(); at += 0x400, ++counter) {
    ByteView chunk = ByteView(image).subspan(at, std::min<std::size_t>(0x400, image.size() - at));
    CHECK(t.answer(with({0x36, counter}, chunk)) == Bytes{0x76, counter});
  }
  CHECK(t.answer({0x37}).at(0) == 0x77);
  CHECK(t.answer({0x31, 0x01, 0xFF, 0x01}) == Bytes{0x71, 0x01, 0xFF, 0x01, 0x00});
  CHECK(t.answer({0x11, 0x01}) == Bytes{0x51, 0x01});
  t.now += 50ms;
  CHECK(t.version() == "2.0.0");
  CHECK((*ecu)->session() == Session::default_session);
}

TEST_CASE("sim: after ECUReset the ECU is silent for reset_time_ms, then answers", "[sim]") {
  ecuup::test::TempDir dir;
  auto config = bench_ecu();
  SECTION("a fast ECU") { config.timing.reset_time_ms = 50; }
  SECTION("a slow ECU") { config.timing.reset_time_ms = 3000; }
  auto ecu = EcuModel::open(config, dir.path(), {});
  REQUIRE(ecu);
  const auto t0 = Clock::now();
  REQUIRE((*ecu)->handle(Bytes{0x10, 0x03}, t0).kind == ReplyKind::respond);
  Reply reset = (*ecu)->handle(Bytes{0x11, 0x01}, t0);
  REQUIRE(reset.kind == ReplyKind::respond);
  CHECK(reset.response == Bytes{0x51, 0x01});  // answered before it restarts
  const auto back = t0 + std::chrono::milliseconds(config.timing.reset_time_ms);
  CHECK((*ecu)->handle(Bytes{0x10, 0x01}, t0 + 1ms).kind == ReplyKind::silent);
  CHECK((*ecu)->handle(Bytes{0x10, 0x01}, back - 1ms).kind == ReplyKind::silent);
  CHECK((*ecu)->on_network(t0 + 1ms));  // reachable meanwhile (no boot_time_ms)
  CHECK((*ecu)->power_state(t0 + 1ms) == PowerState::booting);
  Reply up = (*ecu)->handle(Bytes{0x10, 0x01}, back);
  REQUIRE(up.kind == ReplyKind::respond);
  CHECK(up.response.at(0) == 0x50);
  CHECK((*ecu)->power_state(back) == PowerState::on);
}

TEST_CASE("sim: with boot_time_ms the ECU is off the network while it boots", "[sim]") {
  ecuup::test::TempDir dir;
  auto config = bench_ecu();
  config.timing.boot_time_ms = 400;
  auto ecu = EcuModel::open(config, dir.path(), {});
  REQUIRE(ecu);
  const auto t0 = Clock::now();
  REQUIRE((*ecu)->handle(Bytes{0x11, 0x01}, t0).kind == ReplyKind::respond);
  CHECK_FALSE((*ecu)->on_network(t0 + 399ms));
  CHECK((*ecu)->on_network(t0 + 400ms));
  CHECK((*ecu)->handle(Bytes{0x10, 0x01}, t0 + 400ms).kind == ReplyKind::respond);
}

TEST_CASE("sim: ECUReset sub-functions and a restart that ends the session", "[sim]") {
  ecuup::test::TempDir dir;
  auto ecu = EcuModel::open(bench_ecu(), dir.path(), {});
  REQUIRE(ecu);
  Tester t{**ecu};
  CHECK(t.answer({0x11, 0x07}) == Bytes{0x7F, 0x11, 0x12});  // subFunctionNotSupported
  CHECK(t.answer({0x11}) == Bytes{0x7F, 0x11, 0x13});
  t.answer({0x10, 0x03});
  const auto epoch = (*ecu)->power_epoch();
  CHECK(t.ask({0x11, 0x81}).kind == ReplyKind::silent);  // suppressed positive response
  CHECK((*ecu)->power_epoch() != epoch);
  t.now += 50ms;
  CHECK((*ecu)->session() == Session::default_session);
  CHECK(t.answer({0x27, 0x01}) == Bytes{0x7F, 0x27, 0x7F});  // security needs a non-default session
}

TEST_CASE("sim: TransferData counters: a repeat is acknowledged, a wrong one refused", "[sim]") {
  ecuup::test::TempDir dir;
  auto ecu = EcuModel::open(bench_ecu(), dir.path(), {});
  REQUIRE(ecu);
  Tester t{**ecu};
  t.answer({0x10, 0x03});
  t.answer({0x10, 0x02});
  REQUIRE(t.unlock());
  t.ask({0x31, 0x01, 0xFF, 0x00});
  REQUIRE(t.answer({0x34, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00}).at(0) == 0x74);
  const Bytes block(0x400, 0x11);
  CHECK(t.answer(with({0x36, 0x01}, block)) == Bytes{0x76, 0x01});
  CHECK(t.answer(with({0x36, 0x01}, block)) == Bytes{0x76, 0x01});
  CHECK(t.answer(with({0x36, 0x03}, block)) == Bytes{0x7F, 0x36, 0x73});
}

TEST_CASE("sim: a download needs security and an erase first", "[sim]") {
  ecuup::test::TempDir dir;
  auto ecu = EcuModel::open(bench_ecu(), dir.path(), {});
  REQUIRE(ecu);
  Tester t{**ecu};
  const Bytes request_download{0x34, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00};
  CHECK(t.answer(request_download) == Bytes{0x7F, 0x34, 0x7F});  // not in the programming session
  t.answer({0x10, 0x03});
  CHECK(t.answer({0x10, 0x02}).at(0) == 0x50);
  CHECK(t.answer(request_download) == Bytes{0x7F, 0x34, 0x33});  // securityAccessDenied
  REQUIRE(t.unlock());
  CHECK(t.answer(request_download) == Bytes{0x7F, 0x34, 0x70});  // not erased
}

TEST_CASE("sim: a power cut while a block is written leaves it half-written", "[sim]") {
  ecuup::test::TempDir dir;
  auto config = bench_ecu();
  config.timing.write_bytes_per_s = 1024 * 10;  // a 1 KiB block takes 100 ms
  auto ecu = EcuModel::open(config, dir.path(), {});
  REQUIRE(ecu);
  Tester t{**ecu};
  t.answer({0x10, 0x03});
  t.answer({0x10, 0x02});
  REQUIRE(t.unlock());
  t.ask({0x31, 0x01, 0xFF, 0x00});
  REQUIRE(t.answer({0x34, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00}).at(0) == 0x74);
  const auto start = t.now;
  Reply writing = (*ecu)->handle(with({0x36, 0x01}, Bytes(0x400, 0x22)), start);
  REQUIRE(writing.work_time == 100ms);
  CHECK(writing.pending);
  (*ecu)->power_cut(start + 10ms, 100ms);
  CHECK((*ecu)->power_state(start + 20ms) == PowerState::off);
  CHECK_FALSE((*ecu)->on_network(start + 20ms));
  CHECK_FALSE((*ecu)->wait_powered(start + 1ms, writing.power_epoch));  // the answer is never sent
  // Reopened from its files, as a restarted simulator would: the first half holds the block.
  ecu->reset();
  auto reopened = FlashStore::open(dir.path() / "bms", config.memory, config.initial_image);
  REQUIRE(reopened);
  ByteView memory = (*reopened)->read(0, 0x400);
  CHECK(memory[0] == 0x22);
  CHECK(memory[0x1FF] == 0x22);
  CHECK(memory[0x200] == k_erased_byte);
}
