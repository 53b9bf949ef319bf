#pragma once
// JSON views of the store's records, shared by the management API and `admin --json`.
#include <nlohmann/json.hpp>

#include "server/store.hpp"

namespace ecuup::server {

std::string iso8601_utc(std::int64_t unix_seconds);
nlohmann::json module_json(const ModuleInfo& module);
nlohmann::json vehicle_json(const VehicleInfo& vehicle);
nlohmann::json feedback_json(const FeedbackEntry& entry);
nlohmann::json action_json(const ActionDetails& action);
// One line per feedback entry: "2026-11-25T00:10:00Z deployment closed/success: flashed".
std::string feedback_line(const FeedbackEntry& entry);

}  // namespace ecuup::server
