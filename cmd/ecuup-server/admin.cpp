#include "admin.hpp"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "views.hpp"

namespace ecuup::server {

namespace {

using nlohmann::json;

Result<std::unique_ptr<Store>> open_store(const AdminContext& ctx) {
  if (ctx.data_dir.empty()) return make_error(Errc::usage, "--data DIR is required");
  return Store::open(ctx.data_dir);
}

void print_json(const json& j) { fmt::print("{}\n", j.dump(2)); }

}  // namespace

Result<void> admin_upload(const AdminContext& ctx, const std::string& part, const std::string& version,
                          const std::filesystem::path& file, const std::string& filename) {
  ECUUP_ASSIGN(auto store, open_store(ctx));
  ECUUP_ASSIGN(auto module, store->upload(part, version, file, filename));
  if (ctx.output == Output::json) {
    print_json(module_json(module));
    return success();
  }
  fmt::print("module {}: {} {}\n", module.id, module.part, module.version);
  for (const auto& a : module.artifacts) {
    fmt::print("  {} {} bytes sha256 {}\n", a.filename, a.size, a.sha256);
  }
  return success();
}

Result<void> admin_assign(const AdminContext& ctx, const std::string& part, const std::string& version,
                          const VehicleSelector& selector, const std::string& mode_text) {
  ECUUP_ASSIGN(UpdateMode mode, parse_update_mode(mode_text));
  ECUUP_ASSIGN(auto store, open_store(ctx));
  ECUUP_ASSIGN(auto outcomes, store->assign(part, version, selector, mode));
  if (ctx.output == Output::json) {
    json out = json::array();
    for (const auto& o : outcomes) {
      out.push_back({{"vehicle", o.vehicle_id}, {"action", o.action ? json(o.action) : json(nullptr)}});
    }
    print_json(out);
    return success();
  }
  if (outcomes.empty()) fmt::print("no vehicle matched\n");
  for (const auto& o : outcomes) {
    if (o.action) {
      fmt::print("{}: {} {} assigned; open action {}\n", o.vehicle_id, part, version, o.action);
    } else {
      fmt::print("{}: {} {} assigned; nothing to do until it reports a different version\n", o.vehicle_id,
                 part, version);
    }
  }
  return success();
}

Result<void> admin_vehicle_add(const AdminContext& ctx, const std::string& id, const std::string& token) {
  ECUUP_ASSIGN(auto store, open_store(ctx));
  ECUUP_ASSIGN(std::string t, store->add_vehicle(id, token));
  if (ctx.output == Output::json) {
    print_json({{"id", id}, {"token", t}});
  } else {
    fmt::print("vehicle {} token {}\n", id, t);
  }
  return success();
}

Result<void> admin_cancel(const AdminContext& ctx, const std::string& vehicle) {
  ECUUP_ASSIGN(auto store, open_store(ctx));
  ECUUP_ASSIGN(std::int64_t action, store->cancel(vehicle));
  if (ctx.output == Output::json) {
    print_json({{"vehicle", vehicle}, {"action", action}});
  } else {
    fmt::print("{}: cancel of action {} requested\n", vehicle, action);
  }
  return success();
}

Result<void> admin_list_vehicles(const AdminContext& ctx) {
  ECUUP_ASSIGN(auto store, open_store(ctx));
  ECUUP_ASSIGN(auto vehicles, store->vehicles());
  if (ctx.output == Output::json) {
    json out = json::array();
    for (const auto& v : vehicles) out.push_back(vehicle_json(v));
    print_json(out);
    return success();
  }
  fmt::print("{:<20} {:<21} {:<7} {}\n", "VEHICLE", "REPORTED", "ACTION", "PART REPORTED -> ASSIGNED");
  for (const auto& v : vehicles) {
    std::map<std::string, std::pair<std::string, std::string>> parts;
    for (const auto& [p, ver] : v.reported) parts[p].first = ver;
    for (const auto& [p, ver] : v.assigned) parts[p].second = ver;
    std::string cells;
    for (const auto& [p, versions] : parts) {
      if (!cells.empty()) cells += ", ";
      cells += p + " " + (versions.first.empty() ? "-" : versions.first);
      if (!versions.second.empty() && versions.second != versions.first) cells += " -> " + versions.second;
    }
    fmt::print("{:<20} {:<21} {:<7} {}\n", v.id, v.reported_at ? iso8601_utc(v.reported_at) : "never",
               v.open_action ? std::to_string(v.open_action) : "-", cells);
  }
  return success();
}

Result<void> admin_list_actions(const AdminContext& ctx, const std::optional<std::string>& vehicle) {
  ECUUP_ASSIGN(auto store, open_store(ctx));
  ECUUP_ASSIGN(auto actions, store->actions(vehicle));
  if (ctx.output == Output::json) {
    json out = json::array();
    for (const auto& a : actions) out.push_back(action_json(a));
    print_json(out);
    return success();
  }
  for (const auto& a : actions) {
    std::string chunks;
    for (const auto& m : a.chunks) chunks += (chunks.empty() ? "" : ", ") + m.part + " " + m.version;
    fmt::print("action {} {} {} {} {}: {}\n", a.id, a.vehicle_id, action_state_name(a.state), a.result,
               update_mode_name(a.mode), chunks);
    for (const auto& e : a.history) fmt::print("  {}\n", feedback_line(e));
  }
  return success();
}

Result<void> admin_list_modules(const AdminContext& ctx) {
  ECUUP_ASSIGN(auto store, open_store(ctx));
  ECUUP_ASSIGN(auto modules, store->modules());
  if (ctx.output == Output::json) {
    json out = json::array();
    for (const auto& m : modules) out.push_back(module_json(m));
    print_json(out);
    return success();
  }
  for (const auto& m : modules) {
    for (const auto& a : m.artifacts) {
      fmt::print("{} {} {} {} {} bytes sha256 {}\n", m.id, m.part, m.version, a.filename, a.size, a.sha256);
    }
  }
  return success();
}

}  // namespace ecuup::server
