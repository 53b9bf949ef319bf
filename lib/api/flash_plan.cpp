#include "api/flash_plan.hpp"

#include <algorithm>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "ecu/driver.hpp"
#include "ecu/uds_driver.hpp"
#include "transport/doip.hpp"

namespace ecuup::api {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_udp_prefix = "udp:";
constexpr std::string_view k_socketcan_prefix = "socketcan:";
// ISO 15765-2 normal fixed addressing, physical: 29-bit id 0x18DA<TA><SA>.
constexpr std::uint32_t k_normal_fixed_physical_base = 0x18DA0000;

std::string setting(const EcuConfig& ecu, const std::string& key) {
  if (!ecu.settings || !ecu.settings.IsMap()) return {};
  const YAML::Node node = ecu.settings[key];
  if (!node || !node.IsScalar()) return {};
  return node.as<std::string>();
}

fs::path resolve(const fs::path& base, const std::string& v) {
  fs::path p(v);
  p = p.is_absolute() ? p : base / p;
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : canonical;
}

// The CAN bus a link joins, as far as frames on it can collide: the interface, or for the UDP
// virtual bus the peer it sends to (one simulator bus).
std::string can_scope(const std::string& bus) {
  if (bus.rfind(k_udp_prefix, 0) == 0) {
    auto colon = bus.find(':', k_udp_prefix.size());
    return colon == std::string::npos ? bus : "udp-bus:" + bus.substr(colon + 1);
  }
  return bus;
}

void add_uds_resources(const UdsTransportSettings& t, std::vector<std::string>& out) {
  if (t.kind == UdsTransportKind::doip) {
    // A DoIP entity accepts one socket per tester address; two testers programming one ECU collide too.
    // The entity is known by its addresses, so that "localhost" and "127.0.0.1" are one gateway.
    std::vector<std::string> hosts = doip_host_addresses(t.doip.host);
    if (hosts.empty()) hosts.push_back(t.doip.host);
    for (const std::string& host : hosts) {
      std::string entity = fmt::format("doip:{}:{}", host, t.doip.port);
      out.push_back(fmt::format("{}/tester:{:04X}", entity, t.doip.tester_address));
      out.push_back(fmt::format("{}/ecu:{:04X}", entity, t.doip.ecu_address));
    }
    return;
  }
  const UdsCanSettings& can = t.can;
  if (can.bus.rfind(k_udp_prefix, 0) == 0) {
    // The local port is bound by one socket only.
    auto colon = can.bus.find(':', k_udp_prefix.size());
    out.push_back("udp-local:" + can.bus.substr(k_udp_prefix.size(), colon - k_udp_prefix.size()));
  }
  std::uint32_t tx = can.tx_id, rx = can.rx_id;
  bool extended = can.extended_ids;
  if (can.normal_fixed) {
    tx = k_normal_fixed_physical_base | (std::uint32_t{can.target_address} << 8) | can.source_address;
    rx = k_normal_fixed_physical_base | (std::uint32_t{can.source_address} << 8) | can.target_address;
    extended = true;
  }
  std::string scope = can_scope(can.bus);
  for (std::uint32_t id : {tx, rx}) out.push_back(fmt::format("can:{}/{}:{:X}", scope, extended ? "ext" : "std", id));
}

}  // namespace

std::vector<std::string> transport_resources(const EcuConfig& ecu, const fs::path& base_dir) {
  std::vector<std::string> out;
  if (ecu.driver == "image") {
    std::string memory = setting(ecu, "memory");
    if (!memory.empty()) out.push_back("image:" + resolve(base_dir, memory).string());
  } else if (ecu.driver == "command") {
    // ecuup cannot know whether a bench tool can drive two ECUs at once: the same program runs one at a time.
    std::string flash = setting(ecu, "flash");
    auto start = flash.find_first_not_of(" \t");
    if (start != std::string::npos) {
      auto end = flash.find_first_of(" \t", start);
      out.push_back("command:" + flash.substr(start, end == std::string::npos ? end : end - start));
    }
  } else if (ecu.driver == "uds") {
    DriverContext context{base_dir, {}, 0};
    auto settings = parse_uds_settings(ecu, context);
    if (settings) add_uds_resources(settings->transport, out);
  }
  return out;
}

std::vector<std::size_t> lanes_longest_first(const FlashGroup& group) {
  std::vector<std::size_t> order(group.lanes.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&group](std::size_t a, std::size_t b) {
    return group.lanes[a].ecus.size() > group.lanes[b].ecus.size();
  });
  return order;
}

std::vector<FlashGroup> plan_flash(const std::vector<const EcuConfig*>& ecus, const ResourcesOf& resources) {
  std::vector<const EcuConfig*> sorted = ecus;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const EcuConfig* a, const EcuConfig* b) { return a->order < b->order; });
  std::vector<FlashGroup> groups;
  for (std::size_t begin = 0; begin < sorted.size();) {
    std::size_t end = begin;
    while (end < sorted.size() && sorted[end]->order == sorted[begin]->order) ++end;
    // Union-find over the group's members: sharing any key joins two ECUs' lanes.
    std::size_t n = end - begin;
    std::vector<std::size_t> parent(n);
    std::iota(parent.begin(), parent.end(), std::size_t{0});
    auto find = [&parent](std::size_t i) {
      while (parent[i] != i) i = parent[i] = parent[parent[i]];
      return i;
    };
    std::map<std::string, std::size_t> owner;
    for (std::size_t i = 0; i < n; ++i)
      for (const auto& key : resources(*sorted[begin + i])) {
        auto [it, inserted] = owner.emplace(key, i);
        if (!inserted) {
          std::size_t a = find(it->second), b = find(i);
          if (a != b) parent[std::max(a, b)] = std::min(a, b);
        }
      }
    FlashGroup group;
    group.order = sorted[begin]->order;
    std::map<std::size_t, std::size_t> lane_of_root;
    for (std::size_t i = 0; i < n; ++i) {
      auto [it, inserted] = lane_of_root.emplace(find(i), group.lanes.size());
      if (inserted) group.lanes.emplace_back();
      group.lanes[it->second].ecus.push_back(sorted[begin + i]);
    }
    groups.push_back(std::move(group));
    begin = end;
  }
  return groups;
}

}  // namespace ecuup::api
