#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace ecuup;

namespace {

// One uds ECU (or `driver`) whose entry ends with `preconditions` (indented list items).
std::string config_with(const std::string& preconditions, const std::string& driver = "uds") {
  std::string section = driver == "uds" ? "    uds: {transport: doip, doip: {host: 127.0.0.1, ecu_address: 0x10}}\n"
                                        : "    image: {memory: gw.flash}\n";
  return "vehicle: car-1\nstate_dir: st\nserver: {kind: dir, path: repo}\necus:\n  - name: gw\n    driver: " + driver +
         "\n" + section + "    preconditions:\n" + preconditions;
}

Error parse_error(const std::string& text) {
  auto r = parse_config(text, "/cfg/ecuup.yaml");
  REQUIRE_FALSE(r.ok());
  return r.error();
}

}  // namespace

TEST_CASE("preconditions parse: did with decoding and limits, routine, command", "[config][preconditions]") {
  auto r = parse_config(config_with(R"(      - name: battery
        did: 0xF442
        bytes: 2
        scale: 0.001
        unit: V
        decimals: 1
        min: 12.0
        hint: charge the battery
      - {name: engine, did: 0x0100, values: {0: "off", 2: running}, one_of: ["off", 1]}
      - {routine: 0x0203, expect: "00", codes: {0x02: vehicle moving}, option: "01 02"}
      - {command: "true", timeout_s: 5}
)"),
                        "/cfg/ecuup.yaml");
  REQUIRE(r.ok());
  const auto& p = r->ecus.at(0).preconditions;
  REQUIRE(p.size() == 4);
  CHECK(p[0].kind == PreconditionKind::did);
  CHECK(p[0].name == "battery");
  CHECK(p[0].did == 0xF442);
  CHECK(p[0].decoding.bytes == 2);
  CHECK(p[0].decoding.scale == Approx(0.001));
  CHECK(p[0].decoding.unit == "V");
  CHECK(p[0].limits.min == Approx(12.0));
  CHECK_FALSE(p[0].limits.max);
  CHECK(p[0].session == 0);  // a DID stays in the ECU's session unless told
  CHECK(p[0].hint == "charge the battery");
  CHECK(p[1].limits.one_of == std::vector<double>{0.0, 1.0});  // names resolve through values
  CHECK(p[1].limits.values.at(2) == "running");
  CHECK(p[2].kind == PreconditionKind::routine);
  CHECK(p[2].name == "routine 0x0203");
  CHECK(p[2].session == 0x03);  // extended by default
  CHECK(p[2].expect == std::vector<std::uint8_t>{0x00});
  CHECK(p[2].option_record == std::vector<std::uint8_t>{0x01, 0x02});
  CHECK(p[2].codes.at(0x02) == "vehicle moving");
  CHECK(p[3].kind == PreconditionKind::command);
  CHECK(p[3].name == "true");
  CHECK(p[3].timeout == std::chrono::seconds(5));
  CHECK(p[3].work_dir == "/cfg");
}

TEST_CASE("preconditions: bad items are config errors at their line", "[config][preconditions]") {
  SECTION("no limit") {
    auto e = parse_error(config_with("      - {did: 0xF442}\n"));
    CHECK(e.code == Errc::config);
    CHECK(e.message.find("/cfg/ecuup.yaml:9:9:") == 0);
    CHECK(e.message.find("needs 'min', 'max', 'equals' or 'one_of'") != std::string::npos);
  }
  SECTION("two kinds") {
    auto e = parse_error(config_with("      - {did: 0xF442, command: x, min: 1}\n"));
    CHECK(e.message.find("exactly one of") != std::string::npos);
  }
  SECTION("a limit that is no number") {
    auto e = parse_error(config_with("      - {did: 0xF442, min: twelve}\n"));
    CHECK(e.code == Errc::config);
    CHECK(e.message.find("/cfg/ecuup.yaml:9:") == 0);
  }
  SECTION("an unknown enumeration name") {
    auto e = parse_error(config_with("      - {did: 0x0100, values: {0: \"off\"}, equals: stalled}\n"));
    CHECK(e.message.find("'stalled' is neither a number nor a name under 'values'") != std::string::npos);
  }
  SECTION("the programming session") {
    auto e = parse_error(config_with("      - {routine: 0x0203, session: 2}\n"));
    CHECK(e.message.find("read-only") != std::string::npos);
  }
  SECTION("min above max") {
    CHECK(parse_error(config_with("      - {did: 1, min: 5, max: 4}\n")).code == Errc::config);
  }
  SECTION("too many bytes") {
    CHECK(parse_error(config_with("      - {did: 1, bytes: 9, max: 4}\n")).code == Errc::config);
  }
  SECTION("bad hex") {
    CHECK(parse_error(config_with("      - {routine: 0x0203, expect: \"0g\"}\n")).code == Errc::config);
  }
  SECTION("unknown key") {
    auto e = parse_error(config_with("      - {command: x, timeout: 5}\n"));
    CHECK(e.message.find("unknown key 'timeout'") != std::string::npos);
  }
  SECTION("duplicate names") {
    auto e = parse_error(config_with("      - {command: x}\n      - {command: x}\n"));
    CHECK(e.message.find("duplicate precondition name 'x'") != std::string::npos);
  }
  SECTION("not a list") {
    CHECK(parse_error(config_with("      {command: x}\n")).code == Errc::config);
  }
  SECTION("a DID check under a driver that cannot read one") {
    auto e = parse_error(config_with("      - {did: 0xF442, min: 12}\n", "image"));
    CHECK(e.message.find("needs driver 'uds'") != std::string::npos);
  }
}

TEST_CASE("preconditions: command checks are allowed under every driver", "[config][preconditions]") {
  auto r = parse_config(config_with("      - {name: bench, command: \"exit 0\"}\n", "image"), "/cfg/ecuup.yaml");
  REQUIRE(r.ok());
  CHECK(r->ecus.at(0).preconditions.at(0).name == "bench");
}
