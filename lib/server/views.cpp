#include "server/views.hpp"

#include <fmt/core.h>

#include <ctime>

namespace ecuup::server {

std::string iso8601_utc(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return "";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json module_json(const ModuleInfo& module) {
  nlohmann::json artifacts = nlohmann::json::array();
  for (const auto& a : module.artifacts) {
    artifacts.push_back({{"filename", a.filename},
                         {"size", a.size},
                         {"sha256", a.sha256},
                         {"sha1", a.sha1},
                         {"md5", a.md5},
                         {"role", artifact_role_name(a.role)}});
  }
  nlohmann::json statement{{"state", statement_state_name(module.statement)}};
  if (module.statement != StatementState::none) {
    statement["hardware"] = module.facts.hardware;
    statement["security_version"] = module.facts.security_version;
    statement["expires"] = iso8601_utc(module.facts.expires_at);
  }
  return {{"id", module.id},
          {"part", module.part},
          {"version", module.version},
          {"created", iso8601_utc(module.created_at)},
          {"statement", statement},
          {"artifacts", artifacts}};
}

nlohmann::json vehicle_json(const VehicleInfo& vehicle) {
  nlohmann::json j{{"id", vehicle.id},
                   {"created", iso8601_utc(vehicle.created_at)},
                   {"reported", vehicle.reported_at ? nlohmann::json(iso8601_utc(vehicle.reported_at))
                                                    : nlohmann::json(nullptr)},
                   {"versions", vehicle.reported},
                   {"assigned", vehicle.assigned},
                   {"attributes", vehicle.attributes},
                   {"open_action", vehicle.open_action ? nlohmann::json(vehicle.open_action)
                                                       : nlohmann::json(nullptr)}};
  return j;
}

nlohmann::json feedback_json(const FeedbackEntry& e) {
  nlohmann::json j{{"at", iso8601_utc(e.at)},
                   {"kind", e.kind},
                   {"execution", e.execution},
                   {"finished", e.finished},
                   {"details", e.details}};
  if (e.progress_cnt) j["progress"]["cnt"] = *e.progress_cnt;
  if (e.progress_of) j["progress"]["of"] = *e.progress_of;
  return j;
}

nlohmann::json action_json(const ActionDetails& a) {
  nlohmann::json chunks = nlohmann::json::array();
  for (const auto& m : a.chunks) chunks.push_back(module_json(m));
  nlohmann::json history = nlohmann::json::array();
  for (const auto& e : a.history) history.push_back(feedback_json(e));
  return {{"id", a.id},
          {"vehicle", a.vehicle_id},
          {"state", action_state_name(a.state)},
          {"result", a.result},
          {"mode", update_mode_name(a.mode)},
          {"created", iso8601_utc(a.created_at)},
          {"closed", a.closed_at ? nlohmann::json(iso8601_utc(a.closed_at)) : nlohmann::json(nullptr)},
          {"chunks", chunks},
          {"history", history}};
}

std::string feedback_line(const FeedbackEntry& e) {
  std::string line = iso8601_utc(e.at) + " " + e.kind + " " + e.execution + "/" + e.finished;
  // fmt, not `"/" + std::to_string(..)`: GCC 12 -O3 reports a bogus -Wrestrict on the latter.
  if (e.progress_cnt && e.progress_of) {
    line += fmt::format(" ({}/{})", *e.progress_cnt, *e.progress_of);
  } else if (e.progress_cnt) {
    line += fmt::format(" ({})", *e.progress_cnt);
  }
  for (std::size_t i = 0; i < e.details.size(); ++i) {
    line += i == 0 ? ": " : "; ";
    line += e.details[i];
  }
  return line;
}

}  // namespace ecuup::server
