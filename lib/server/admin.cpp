#include "server/admin.hpp"

#include <fmt/core.h>

#include <ctime>
#include <map>

#include "server/admin_client.hpp"
#include "util/fs.hpp"
#include "server/views.hpp"

namespace ecuup::server {

namespace {

using nlohmann::json;

class LocalBackend : public AdminBackend {
 public:
  explicit LocalBackend(std::unique_ptr<Store> store) : m_store(std::move(store)) {}

  Result<json> upload(const std::string& part, const std::string& version, const std::filesystem::path& file,
                      const std::string& filename, const std::optional<StatementFacts>& facts) override {
    ECUUP_ASSIGN(auto module, m_store->upload(part, version, file, filename, facts));
    return module_json(module);
  }
  Result<json> set_statement_facts(const std::string& part, const std::string& version,
                                   const StatementFacts& facts) override {
    ECUUP_ASSIGN(auto module, m_store->set_statement_facts(part, version, facts));
    return module_json(module);
  }
  Result<json> upload_statement(const std::string& part, const std::string& version, const std::string& filename,
                                const std::string& statement, const std::string& signature) override {
    ECUUP_ASSIGN(auto module, m_store->upload_statement(part, version, filename, statement, signature));
    return module_json(module);
  }
  Result<json> assign(const std::string& part, const std::string& version, const VehicleSelector& selector,
                      UpdateMode mode) override {
    ECUUP_ASSIGN(auto outcomes, m_store->assign(part, version, selector, mode));
    json out = json::array();
    for (const auto& o : outcomes) {
      out.push_back({{"vehicle", o.vehicle_id}, {"action", o.action ? json(o.action) : json(nullptr)}});
    }
    return out;
  }
  Result<json> add_vehicle(const std::string& id, const std::string& token) override {
    ECUUP_ASSIGN(std::string t, m_store->add_vehicle(id, token));
    return json{{"id", id}, {"token", t}};
  }
  Result<json> cancel(const std::string& vehicle) override {
    ECUUP_ASSIGN(std::int64_t action, m_store->cancel(vehicle));
    return json{{"vehicle", vehicle}, {"action", action}};
  }
  Result<json> vehicles() override {
    ECUUP_ASSIGN(auto vehicles, m_store->vehicles());
    json out = json::array();
    for (const auto& v : vehicles) out.push_back(vehicle_json(v));
    return out;
  }
  Result<json> actions(const std::optional<std::string>& vehicle) override {
    ECUUP_ASSIGN(auto actions, m_store->actions(vehicle));
    json out = json::array();
    for (const auto& a : actions) out.push_back(action_json(a));
    return out;
  }
  Result<json> modules() override {
    ECUUP_ASSIGN(auto modules, m_store->modules());
    json out = json::array();
    for (const auto& m : modules) out.push_back(module_json(m));
    return out;
  }

 private:
  std::unique_ptr<Store> m_store;
};

void print_json(const json& j) { fmt::print("{}\n", j.dump(2)); }

std::string text(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

std::int64_t number(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number_integer() ? j[key].get<std::int64_t>() : 0;
}

// Inverse of iso8601_utc(): "" (never) is 0.
std::int64_t unix_seconds(const std::string& iso) {
  std::tm tm{};
  if (iso.empty() || !strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

// The management API's history entry back as the record feedback_line() formats.
FeedbackEntry feedback_entry(const json& j) {
  FeedbackEntry e;
  e.at = unix_seconds(text(j, "at"));
  e.kind = text(j, "kind");
  e.execution = text(j, "execution");
  e.finished = text(j, "finished");
  if (j.contains("progress") && j["progress"].is_object()) {
    const auto& p = j["progress"];
    if (p.contains("cnt") && p["cnt"].is_number_integer()) e.progress_cnt = p["cnt"].get<std::int64_t>();
    if (p.contains("of") && p["of"].is_number_integer()) e.progress_of = p["of"].get<std::int64_t>();
  }
  if (j.contains("details") && j["details"].is_array()) {
    for (const auto& d : j["details"]) {
      if (d.is_string()) e.details.push_back(d.get<std::string>());
    }
  }
  return e;
}

std::map<std::string, std::string> string_map(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  if (!j.contains(key) || !j[key].is_object()) return out;
  for (const auto& [k, v] : j[key].items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

const json& array_of(const json& j, const char* key) {
  static const json empty = json::array();
  return j.contains(key) && j[key].is_array() ? j[key] : empty;
}

}  // namespace

Result<std::unique_ptr<AdminBackend>> open_admin_backend(const AdminContext& ctx) {
  if (!ctx.url.empty()) return make_remote_admin_backend(ctx);
  if (ctx.data_dir.empty()) return make_error(Errc::usage, "--data DIR or --url URL is required");
  ECUUP_ASSIGN(auto store, Store::open(ctx.data_dir));
  return std::unique_ptr<AdminBackend>(std::make_unique<LocalBackend>(std::move(store)));
}

Result<void> admin_upload(const AdminContext& ctx, const UploadRequest& request) {
  const std::string& part = request.part;
  const std::string& version = request.version;
  if (request.file.empty() && !request.facts && request.statement_file.empty()) {
    return make_error(Errc::usage, "upload needs FILE, statement facts (--hardware) or --statement");
  }
  if (request.statement_file.empty() != request.signature_file.empty()) {
    return make_error(Errc::usage, "--statement and --signature go together");
  }
  std::string statement, signature;
  if (!request.statement_file.empty()) {
    ECUUP_ASSIGN(statement, read_text_file(request.statement_file));
    ECUUP_ASSIGN(signature, read_text_file(request.signature_file));
  }
  ECUUP_ASSIGN(auto backend, open_admin_backend(ctx));
  json module;
  if (!request.file.empty()) {
    ECUUP_ASSIGN(module, backend->upload(part, version, request.file, request.filename, request.facts));
  } else if (request.facts) {
    ECUUP_ASSIGN(module, backend->set_statement_facts(part, version, *request.facts));
  }
  if (!request.statement_file.empty()) {
    ECUUP_ASSIGN(module, backend->upload_statement(part, version, request.statement_file.filename().string(),
                                                   statement, signature));
  }
  if (ctx.output == Output::json) {
    print_json(module);
    return success();
  }
  fmt::print("module {}: {} {}\n", number(module, "id"), text(module, "part"), text(module, "version"));
  for (const auto& a : array_of(module, "artifacts")) {
    fmt::print("  {} {} bytes sha256 {}\n", text(a, "filename"), number(a, "size"), text(a, "sha256"));
  }
  if (module.contains("statement") && module["statement"].is_object()) {
    const json& s = module["statement"];
    std::string state = text(s, "state");
    if (state != "none") {
      std::string hardware;
      for (const auto& h : array_of(s, "hardware")) {
        if (h.is_string()) hardware += (hardware.empty() ? "" : ", ") + h.get<std::string>();
      }
      fmt::print("  release statement {}: hardware {}; security version {}; expires {}\n", state, hardware,
                 number(s, "security_version"), text(s, "expires"));
      if (state == "pending") {
        fmt::print("  (the server signs it when it runs with --sign-cert and --sign-key)\n");
      }
    }
  }
  return success();
}

Result<void> admin_assign(const AdminContext& ctx, const std::string& part, const std::string& version,
                          const VehicleSelector& selector, const std::string& mode_text) {
  ECUUP_ASSIGN(UpdateMode mode, parse_update_mode(mode_text));
  ECUUP_ASSIGN(auto backend, open_admin_backend(ctx));
  ECUUP_ASSIGN(json outcomes, backend->assign(part, version, selector, mode));
  if (ctx.output == Output::json) {
    print_json(outcomes);
    return success();
  }
  if (outcomes.empty()) fmt::print("no vehicle matched\n");
  for (const auto& o : outcomes) {
    if (std::int64_t action = number(o, "action")) {
      fmt::print("{}: {} {} assigned; open action {}\n", text(o, "vehicle"), part, version, action);
    } else {
      fmt::print("{}: {} {} assigned; nothing to do until it reports a different version\n", text(o, "vehicle"),
                 part, version);
    }
  }
  return success();
}

Result<void> admin_vehicle_add(const AdminContext& ctx, const std::string& id, const std::string& token) {
  ECUUP_ASSIGN(auto backend, open_admin_backend(ctx));
  ECUUP_ASSIGN(json added, backend->add_vehicle(id, token));
  if (ctx.output == Output::json) {
    print_json(added);
  } else {
    fmt::print("vehicle {} token {}\n", text(added, "id"), text(added, "token"));
  }
  return success();
}

Result<void> admin_cancel(const AdminContext& ctx, const std::string& vehicle) {
  ECUUP_ASSIGN(auto backend, open_admin_backend(ctx));
  ECUUP_ASSIGN(json canceled, backend->cancel(vehicle));
  if (ctx.output == Output::json) {
    print_json(canceled);
  } else {
    fmt::print("{}: cancel of action {} requested\n", text(canceled, "vehicle"), number(canceled, "action"));
  }
  return success();
}

Result<void> admin_list_vehicles(const AdminContext& ctx) {
  ECUUP_ASSIGN(auto backend, open_admin_backend(ctx));
  ECUUP_ASSIGN(json vehicles, backend->vehicles());
  if (ctx.output == Output::json) {
    print_json(vehicles);
    return success();
  }
  fmt::print("{:<20} {:<21} {:<7} {}\n", "VEHICLE", "REPORTED", "ACTION", "PART REPORTED -> ASSIGNED");
  for (const auto& v : vehicles) {
    std::map<std::string, std::pair<std::string, std::string>> parts;
    for (const auto& [p, ver] : string_map(v, "versions")) parts[p].first = ver;
    for (const auto& [p, ver] : string_map(v, "assigned")) parts[p].second = ver;
    std::string cells;
    for (const auto& [p, versions] : parts) {
      if (!cells.empty()) cells += ", ";
      cells += p + " " + (versions.first.empty() ? "-" : versions.first);
      if (!versions.second.empty() && versions.second != versions.first) cells += " -> " + versions.second;
    }
    std::string reported = text(v, "reported");
    std::int64_t action = number(v, "open_action");
    fmt::print("{:<20} {:<21} {:<7} {}\n", text(v, "id"), reported.empty() ? "never" : reported,
               action ? std::to_string(action) : "-", cells);
  }
  return success();
}

Result<void> admin_list_actions(const AdminContext& ctx, const std::optional<std::string>& vehicle) {
  ECUUP_ASSIGN(auto backend, open_admin_backend(ctx));
  ECUUP_ASSIGN(json actions, backend->actions(vehicle));
  if (ctx.output == Output::json) {
    print_json(actions);
    return success();
  }
  for (const auto& a : actions) {
    std::string chunks;
    for (const auto& m : array_of(a, "chunks")) {
      chunks += (chunks.empty() ? "" : ", ") + text(m, "part") + " " + text(m, "version");
    }
    fmt::print("action {} {} {} {} {}: {}\n", number(a, "id"), text(a, "vehicle"), text(a, "state"),
               text(a, "result"), text(a, "mode"), chunks);
    for (const auto& e : array_of(a, "history")) fmt::print("  {}\n", feedback_line(feedback_entry(e)));
  }
  return success();
}

Result<void> admin_list_modules(const AdminContext& ctx) {
  ECUUP_ASSIGN(auto backend, open_admin_backend(ctx));
  ECUUP_ASSIGN(json modules, backend->modules());
  if (ctx.output == Output::json) {
    print_json(modules);
    return success();
  }
  for (const auto& m : modules) {
    for (const auto& a : array_of(m, "artifacts")) {
      fmt::print("{} {} {} {} {} bytes sha256 {}\n", number(m, "id"), text(m, "part"), text(m, "version"),
                 text(a, "filename"), number(a, "size"), text(a, "sha256"));
    }
  }
  return success();
}

}  // namespace ecuup::server
