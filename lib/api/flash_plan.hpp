#pragma once
// Which ECUs `flash` may program at the same time: equal `order`, and no shared transport endpoint
// (the rule is documented with `order` in ecuup-config(5)).
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace ecuup::api {

// The endpoints `ecu` occupies while it is programmed, as comparable keys ("doip:127.0.0.1:13400/tester:0E00";
// a DoIP host gives a key per address it resolves to).
// Two ECUs that share a key must not run at once. Settings that do not parse give no keys: the driver
// reports the error when the ECU's turn comes.
std::vector<std::string> transport_resources(const EcuConfig& ecu, const std::filesystem::path& base_dir);

// ECUs programmed one after another, in config order.
struct FlashLane {
  std::vector<const EcuConfig*> ecus;
};
// One flash order: its lanes may run at the same time.
struct FlashGroup {
  int order = 0;
  std::vector<FlashLane> lanes;
};

using ResourcesOf = std::function<std::vector<std::string>(const EcuConfig&)>;

// Groups `ecus` by ascending order (ties keep the given order); within a group, ECUs linked by shared
// resources (directly or through others) form one lane.
std::vector<FlashGroup> plan_flash(const std::vector<const EcuConfig*>& ecus, const ResourcesOf& resources);

// The order in which `flash --jobs N` threads take a group's lanes: the longest (most ECUs) first,
// ties in config order. A group then takes about as long as its busiest bus, not that bus plus
// whatever lanes happened to come before it.
std::vector<std::size_t> lanes_longest_first(const FlashGroup& group);

}  // namespace ecuup::api
