#include <catch2/catch.hpp>

#include "sim/vehicle_state.hpp"

using namespace ecuup;
using namespace ecuup::sim;

namespace {

FaultSet faults(std::initializer_list<const char*> texts) {
  FaultSet set;
  for (const char* t : texts) {
    auto f = parse_fault(t);
    REQUIRE(f);
    set.add(*f);
  }
  return set;
}

}  // namespace

TEST_CASE("vehicle state: a healthy vehicle at rest meets every programming condition", "[sim]") {
  const VehicleState s = vehicle_state(faults({}));
  CHECK(*vehicle_did(s, k_did_module_voltage) == Bytes{0x31, 0x38});  // 12600 mV
  CHECK(*vehicle_did(s, k_did_vehicle_speed) == Bytes{0x00});
  CHECK(*vehicle_did(s, k_did_engine_state) == Bytes{0x00});
  CHECK_FALSE(vehicle_did(s, 0xF190));
  CHECK(programming_preconditions_status(s).empty());
}

TEST_CASE("vehicle state: faults make a weak battery, a moving vehicle, a running engine", "[sim]") {
  const VehicleState low = vehicle_state(faults({"low_battery"}));
  CHECK(*vehicle_did(low, k_did_module_voltage) == Bytes{0x2A, 0x94});  // 10900 mV
  CHECK(programming_preconditions_status(low) == Bytes{k_condition_voltage_low});
  const VehicleState all = vehicle_state(faults({"low_battery:mv=11500", "moving:kmh=12", "engine_running"}));
  CHECK(all.battery_mv == 11500);
  CHECK(*vehicle_did(all, k_did_vehicle_speed) == Bytes{12});
  CHECK(*vehicle_did(all, k_did_engine_state) == Bytes{0x02});
  CHECK(programming_preconditions_status(all) ==
        Bytes{k_condition_engine_running, k_condition_vehicle_moving, k_condition_voltage_low});
  CHECK_FALSE(parse_fault("moving:mv=3"));  // mv= belongs to low_battery
}
