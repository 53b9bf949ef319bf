#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "api/flash_plan.hpp"

using namespace ecuup;
using namespace ecuup::api;

namespace {

Config parse(const std::string& ecus) {
  auto r = parse_config("vehicle: car-1\nstate_dir: st\nserver: {kind: dir, path: repo}\necus:\n" + ecus, "/cfg/ecuup.yaml");
  if (!r) FAIL(r.error().message);
  return std::move(r).value();
}

std::vector<const EcuConfig*> all(const Config& c) {
  std::vector<const EcuConfig*> out;
  for (const auto& e : c.ecus) out.push_back(&e);
  return out;
}

// "a,b|c" per group: lanes separated by '|', ECUs of a lane by ','.
std::vector<std::string> shape(const std::vector<FlashGroup>& groups) {
  std::vector<std::string> out;
  for (const auto& g : groups) {
    std::string s;
    for (const auto& lane : g.lanes) {
      if (!s.empty()) s += "|";
      for (std::size_t i = 0; i < lane.ecus.size(); ++i) s += (i ? "," : "") + lane.ecus[i]->name;
    }
    out.push_back(s);
  }
  return out;
}

bool conflict(const Config& c, const std::string& a, const std::string& b) {
  auto ra = transport_resources(*c.find_ecu(a), c.base_dir);
  auto rb = transport_resources(*c.find_ecu(b), c.base_dir);
  return std::any_of(ra.begin(), ra.end(), [&rb](const std::string& k) { return std::find(rb.begin(), rb.end(), k) != rb.end(); });
}

std::string doip_ecu(const std::string& name, int order, const std::string& doip) {
  return "  - name: " + name + "\n    driver: uds\n    order: " + std::to_string(order) +
         "\n    uds:\n      transport: doip\n      doip: " + doip + "\n";
}

std::string can_ecu(const std::string& name, const std::string& can) {
  return "  - name: " + name + "\n    driver: uds\n    uds:\n      transport: can\n      can: " + can + "\n";
}

}  // namespace

TEST_CASE("plan: orders run ascending, ties keep config order, free ECUs get a lane each", "[flash_plan]") {
  Config c = parse(
      "  - {name: a, driver: image, order: 2, image: {memory: a.flash}}\n"
      "  - {name: b, driver: image, order: 1, image: {memory: b.flash}}\n"
      "  - {name: c, driver: image, order: 2, image: {memory: c.flash}}\n"
      "  - {name: d, driver: image, order: 1, image: {memory: d.flash}}\n");
  auto groups = plan_flash(all(c), [&c](const EcuConfig& e) { return transport_resources(e, c.base_dir); });
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].order == 1);
  CHECK(groups[1].order == 2);
  CHECK(shape(groups) == std::vector<std::string>{"b|d", "a|c"});
}

TEST_CASE("plan: a shared resource joins a lane, transitively, and lanes keep config order", "[flash_plan]") {
  Config c = parse(
      "  - {name: a, driver: image, image: {memory: m}}\n"
      "  - {name: b, driver: image, image: {memory: m}}\n"
      "  - {name: c, driver: image, image: {memory: m}}\n"
      "  - {name: d, driver: image, image: {memory: m}}\n"
      "  - {name: e, driver: image, image: {memory: m}}\n");
  std::map<std::string, std::vector<std::string>> keys = {
      {"a", {"x"}}, {"b", {"y"}}, {"c", {"z", "y"}}, {"d", {"x", "w"}}, {"e", {}}};
  auto groups = plan_flash(all(c), [&keys](const EcuConfig& e) { return keys[e.name]; });
  CHECK(shape(groups) == std::vector<std::string>{"a,d|b,c|e"});

  keys["e"] = {"w", "z"};  // e links a's lane and b's lane
  groups = plan_flash(all(c), [&keys](const EcuConfig& e) { return keys[e.name]; });
  CHECK(shape(groups) == std::vector<std::string>{"a,b,c,d,e"});
}

TEST_CASE("plan: --jobs threads take the longest lanes first, ties in config order", "[flash_plan]") {
  Config c = parse(
      "  - {name: a, driver: image, image: {memory: m}}\n"
      "  - {name: b, driver: image, image: {memory: m}}\n"
      "  - {name: c, driver: image, image: {memory: m}}\n"
      "  - {name: d, driver: image, image: {memory: m}}\n"
      "  - {name: e, driver: image, image: {memory: m}}\n"
      "  - {name: f, driver: image, image: {memory: m}}\n");
  // Lanes: a | b,d,f (one bus) | c,e (another bus).
  std::map<std::string, std::vector<std::string>> keys = {{"a", {}},      {"b", {"bus1"}}, {"c", {"bus2"}},
                                                          {"d", {"bus1"}}, {"e", {"bus2"}}, {"f", {"bus1"}}};
  auto groups = plan_flash(all(c), [&keys](const EcuConfig& e) { return keys[e.name]; });
  REQUIRE(shape(groups) == std::vector<std::string>{"a|b,d,f|c,e"});
  CHECK(lanes_longest_first(groups[0]) == std::vector<std::size_t>{1, 2, 0});
  keys = {{"a", {}}, {"b", {}}, {"c", {}}, {"d", {}}, {"e", {}}, {"f", {}}};
  groups = plan_flash(all(c), [&keys](const EcuConfig& e) { return keys[e.name]; });
  CHECK(lanes_longest_first(groups[0]) == std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
  CHECK(lanes_longest_first(FlashGroup{}).empty());
}

TEST_CASE("plan: conflicts never cross flash orders, and an empty selection plans nothing", "[flash_plan]") {
  Config c = parse(
      "  - {name: a, driver: image, order: 1, image: {memory: m}}\n"
      "  - {name: b, driver: image, order: 2, image: {memory: m}}\n");
  auto groups = plan_flash(all(c), [&c](const EcuConfig& e) { return transport_resources(e, c.base_dir); });
  CHECK(shape(groups) == std::vector<std::string>{"a", "b"});
  CHECK(plan_flash({}, [](const EcuConfig&) { return std::vector<std::string>{}; }).empty());
}

TEST_CASE("conflicts: image ECUs share a memory file only when the resolved path is the same", "[flash_plan]") {
  Config c = parse(
      "  - {name: a, driver: image, image: {memory: ecus/a.flash}}\n"
      "  - {name: b, driver: image, image: {memory: ./ecus/../ecus/a.flash}}\n"
      "  - {name: c, driver: image, image: {memory: /cfg/ecus/a.flash}}\n"
      "  - {name: d, driver: image, image: {memory: ecus/d.flash}}\n");
  CHECK(conflict(c, "a", "b"));
  CHECK(conflict(c, "a", "c"));
  CHECK_FALSE(conflict(c, "a", "d"));
}

TEST_CASE("conflicts: command ECUs conflict when their flash commands run the same program", "[flash_plan]") {
  Config c = parse(
      "  - {name: a, driver: command, command: {version: v, flash: 'tools/flasher --ecu a {image}'}}\n"
      "  - {name: b, driver: command, command: {version: v, flash: '  tools/flasher --ecu b {image}'}}\n"
      "  - {name: c, driver: command, command: {version: v, flash: 'other-tool {image}'}}\n");
  CHECK(conflict(c, "a", "b"));
  CHECK_FALSE(conflict(c, "a", "c"));
}

TEST_CASE("conflicts: DoIP ECUs collide on one gateway's tester address or ECU address", "[flash_plan]") {
  Config c = parse(doip_ecu("a", 0, "{port: 13400, ecu_address: 0x10}") +
                   doip_ecu("b", 0, "{port: 13400, ecu_address: 0x11}") +
                   doip_ecu("c", 0, "{port: 13400, ecu_address: 0x11, tester_address: 0x0E01}") +
                   doip_ecu("d", 0, "{port: 13401, ecu_address: 0x10}") +
                   doip_ecu("e", 0, "{host: 10.0.0.2, ecu_address: 0x10}") +
                   doip_ecu("f", 0, "{port: 13400, ecu_address: 0x12, tester_address: 0x0E02}"));
  CHECK(conflict(c, "a", "b"));        // same gateway, same tester address
  CHECK(conflict(c, "b", "c"));        // two testers programming one ECU
  CHECK_FALSE(conflict(c, "a", "c"));  // distinct tester and ECU addresses
  CHECK_FALSE(conflict(c, "a", "d"));  // another port is another entity
  CHECK_FALSE(conflict(c, "a", "e"));  // another host too
  auto groups = plan_flash(all(c), [&c](const EcuConfig& e) { return transport_resources(e, c.base_dir); });
  CHECK(shape(groups) == std::vector<std::string>{"a,b,c|d|e|f"});
}

TEST_CASE("conflicts: a DoIP gateway is one entity however its host is written", "[flash_plan]") {
  Config c = parse(doip_ecu("a", 0, "{host: localhost, ecu_address: 0x10}") +
                   doip_ecu("b", 0, "{host: 127.0.0.1, ecu_address: 0x11}") +
                   doip_ecu("c", 0, "{host: 127.0.0.2, ecu_address: 0x10}") +
                   doip_ecu("d", 0, "{host: no-such-gateway.invalid, ecu_address: 0x10}") +
                   doip_ecu("e", 0, "{host: no-such-gateway.invalid, ecu_address: 0x11}"));
  CHECK(conflict(c, "a", "b"));        // localhost resolves to 127.0.0.1: same tester address on one gateway
  CHECK_FALSE(conflict(c, "b", "c"));  // another address is another entity
  CHECK(conflict(c, "d", "e"));        // a name that does not resolve compares as written
  CHECK_FALSE(conflict(c, "a", "d"));
}

TEST_CASE("conflicts: CAN ECUs collide on a UDP local port or on a CAN id of the same bus", "[flash_plan]") {
  Config c = parse(can_ecu("a", "{bus: 'udp:7001:7000', tx_id: 0x7E0, rx_id: 0x7E8}") +
                   can_ecu("b", "{bus: 'udp:7001:7000', tx_id: 0x7E1, rx_id: 0x7E9}") +
                   can_ecu("c", "{bus: 'udp:7002:7000', tx_id: 0x7E1, rx_id: 0x7E9}") +
                   can_ecu("d", "{bus: 'udp:7003:7000', tx_id: 0x7E8, rx_id: 0x7F0}") +
                   can_ecu("e", "{bus: 'udp:7004:7100', tx_id: 0x7E0, rx_id: 0x7E8}") +
                   can_ecu("f", "{bus: 'socketcan:can0', tx_id: 0x7E0, rx_id: 0x7E8}") +
                   can_ecu("g", "{bus: 'socketcan:can0', tx_id: 0x7E2, rx_id: 0x7EA}") +
                   can_ecu("h", "{bus: 'socketcan:can1', tx_id: 0x7E0, rx_id: 0x7E8}") +
                   can_ecu("i", "{bus: 'socketcan:can0', tx_id: 0x7E0, rx_id: 0x7E8, extended_ids: true}"));
  CHECK(conflict(c, "a", "b"));        // one local port binds once
  CHECK_FALSE(conflict(c, "a", "c"));  // same bus, other port, other ids
  CHECK(conflict(c, "a", "d"));        // d sends on a's response id
  CHECK_FALSE(conflict(c, "a", "e"));  // another virtual bus
  CHECK(conflict(c, "f", "f"));
  CHECK_FALSE(conflict(c, "f", "g"));  // one interface, distinct ids
  CHECK_FALSE(conflict(c, "f", "h"));  // another interface
  CHECK_FALSE(conflict(c, "f", "i"));  // 29-bit 0x7E0 is not 11-bit 0x7E0
}

TEST_CASE("conflicts: normal-fixed addressing compares the derived 29-bit ids", "[flash_plan]") {
  Config c = parse(
      can_ecu("a", "{bus: 'socketcan:can0', addressing: normal_fixed, target_address: 0x10}") +
      can_ecu("b", "{bus: 'socketcan:can0', addressing: normal_fixed, target_address: 0x11}") +
      can_ecu("c", "{bus: 'socketcan:can0', extended_ids: true, tx_id: 0x18DA10F1, rx_id: 0x18DAF110}"));
  CHECK_FALSE(conflict(c, "a", "b"));
  CHECK(conflict(c, "a", "c"));
}

TEST_CASE("conflicts: settings that do not parse give no resources", "[flash_plan]") {
  Config c = parse("  - {name: a, driver: uds, uds: {transport: can}}\n");
  CHECK(transport_resources(*c.find_ecu("a"), c.base_dir).empty());
}
