// `ecuup discover`: the DoIP entities that answer a vehicle identification request.
#include <fmt/format.h>

#include "api/api.hpp"
#include "transport/doip_discovery.hpp"

namespace ecuup::api {

nlohmann::json DiscoverReport::to_json() const {
  nlohmann::json j = {{"schema", k_json_schema}, {"target", target}, {"exit_code", static_cast<int>(exit_code())}};
  j["entities"] = nlohmann::json::array();
  for (const auto& e : entities) {
    nlohmann::json x = {{"vin", e.vin},
                        {"logical_address", fmt::format("0x{:04X}", e.logical_address)},
                        {"eid", e.eid},
                        {"gid", e.gid},
                        {"further_action", e.further_action},
                        {"address", e.address},
                        {"port", e.port}};
    x["sync_status"] = e.sync_status ? nlohmann::json(*e.sync_status) : nlohmann::json(nullptr);
    j["entities"].push_back(std::move(x));
  }
  return j;
}

Result<DiscoverReport> discover(const DiscoverOptions& options) {
  doip::DiscoverOptions request;
  if (!options.address.empty()) {
    ECUUP_ASSIGN(request.target, doip::parse_udp_endpoint(options.address).with_context("--address"));
  }
  if (!options.vin.empty()) {
    ECUUP_ASSIGN(request.vin, doip::parse_vin(options.vin).with_context("--vin"));
  }
  if (!options.eid.empty()) {
    ECUUP_ASSIGN(request.eid, doip::parse_eid(options.eid).with_context("--eid"));
  }
  request.timeout = options.timeout;
  ECUUP_ASSIGN(auto found, doip::discover_entities(request));
  DiscoverReport report;
  report.target = doip::endpoint_text(request.target);
  for (const auto& entity : found) {
    const auto& a = entity.announcement;
    report.entities.push_back(DiscoverReport::Entity{doip::vin_text(a.vin), a.logical_address, doip::eid_text(a.eid),
                                                     doip::eid_text(a.gid), a.further_action, a.sync_status,
                                                     entity.address, entity.port});
  }
  return report;
}

}  // namespace ecuup::api
