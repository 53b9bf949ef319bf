#include <catch2/catch.hpp>

#include "sim/fault.hpp"
#include "sim/sim_config.hpp"

using namespace ecuup;
using namespace ecuup::sim;

TEST_CASE("sim config: ECUs, transports, timing and faults", "[sim]") {
  auto config = parse_sim_config(R"(
bus: udp:0:0
doip: {port: 13500}
ecus:
  - name: bms
    doip_address: 0x0010
    can: {request_id: 0x7E0, response_id: 0x7E8, fd: true}
    memory: [{address: 0x8000, size: 0x10000}]
    timing: {reset_time_ms: 50, boot_time_ms: 0}
    faults: ["nrc:0x36:0x72:block=3"]
  - name: gw
    doip_address: 0x0020
)", "sim.yaml");
  REQUIRE(config);
  CHECK(config->bus == "udp:0:0");
  CHECK(config->doip_port == 13500);
  REQUIRE(config->ecus.size() == 2);
  const EcuConfig* bms = config->find("bms");
  REQUIRE(bms);
  CHECK(bms->doip_address == std::optional<std::uint16_t>{0x0010});
  REQUIRE(bms->can);
  CHECK(bms->can->fd);
  CHECK(bms->timing.reset_time_ms == 50);
  REQUIRE(bms->faults.size() == 1);
  CHECK(bms->faults[0].kind == FaultKind::nrc);
  CHECK(bms->faults[0].block == std::optional<std::uint32_t>{3});
  const EcuConfig* gw = config->find("gw");
  REQUIRE(gw);
  CHECK(gw->timing.reset_time_ms == EcuTiming{}.reset_time_ms);  // the default
  CHECK(config->find("nobody") == nullptr);
}

TEST_CASE("sim config: mistakes are config errors with their place", "[sim]") {
  const char* bad[] = {
      "ecus: [{name: bms, doip_address: 0x10, timing: {reset_tme_ms: 5}}]",  // unknown key
      "ecus: [{name: bms}]",                                                // no transport
      "ecus: [{name: 'b ms', doip_address: 0x10}]",                         // blank in the name
      "ecus: [{name: bms, doip_address: 0x10, memory: [{address: 0, size: 0}]}]",
      "ecus: [{name: bms, can: {request_id: 0x800, response_id: 0x7E8}}]",  // not an 11-bit id
      "surprise: 1",
  };
  for (const char* yaml : bad) {
    INFO(yaml);
    auto config = parse_sim_config(yaml, "sim.yaml");
    REQUIRE_FALSE(config);
    CHECK(config.error().code == Errc::config);
    CHECK_THAT(config.error().message, Catch::StartsWith("sim.yaml:1:"));
  }
}

TEST_CASE("sim faults: kinds, arguments and repetition", "[sim]") {
  auto nrc = parse_ecu_fault("bms:nrc:0x36:0x72:block=3:always");
  REQUIRE(nrc);
  CHECK(nrc->ecu == "bms");
  CHECK(nrc->fault.sid == 0x36);
  CHECK(nrc->fault.nrc == 0x72);
  CHECK(nrc->fault.repeat == FaultRepeat::always);
  CHECK(nrc->fault.matches(Bytes{0x36, 0x01}));
  CHECK_FALSE(nrc->fault.matches(Bytes{0x34, 0x00}));

  auto boot = parse_fault("slow_boot:ms=2500");
  REQUIRE(boot);
  CHECK(boot->kind == FaultKind::slow_boot);
  CHECK(boot->duration_ms == std::optional<std::uint32_t>{2500});
  CHECK(boot->repeat == FaultRepeat::once);

  for (const char* text : {"melt", "nrc:0x36", "nrc:0x36:0x72:block=x", "silence:ms=-1"}) {
    INFO(text);
    auto f = parse_fault(text);
    REQUIRE_FALSE(f);
    CHECK(f.error().code == Errc::usage);
  }
  CHECK_FALSE(parse_ecu_fault("nocolon"));
}

TEST_CASE("sim faults: a once fault fires once, an always fault every time", "[sim]") {
  FaultSet set({parse_fault("wrong_checksum").value(), parse_fault("nrc:0x31:0x22:always").value()});
  auto any = [](const FaultSpec&) { return true; };
  const FaultSpec* once = set.find(FaultKind::wrong_checksum, any);
  REQUIRE(once);
  set.fire(once);
  CHECK(set.find(FaultKind::wrong_checksum, any) == nullptr);
  for (int i = 0; i < 3; ++i) {
    const FaultSpec* always = set.find(FaultKind::nrc, any);
    REQUIRE(always);
    set.fire(always);
  }
}

TEST_CASE("sim: numbers are decimal or 0x hex", "[sim]") {
  CHECK(parse_number("54").value() == 54);
  CHECK(parse_number("0x36").value() == 0x36);
  CHECK_FALSE(parse_number("ff"));
  CHECK_FALSE(parse_number(""));
}
