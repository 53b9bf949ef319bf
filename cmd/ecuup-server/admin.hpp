#pragma once
// `ecuup-server admin ...`: management commands that work directly on the data directory's
// database (safe next to a running server: SQLite WAL, short write transactions).
#include <filesystem>
#include <optional>
#include <string>

#include "store.hpp"
#include "util/result.hpp"

namespace ecuup::server {

enum class Output { human, json };

struct AdminContext {
  std::filesystem::path data_dir;
  Output output = Output::human;
};

Result<void> admin_upload(const AdminContext& ctx, const std::string& part, const std::string& version,
                          const std::filesystem::path& file, const std::string& filename);
Result<void> admin_assign(const AdminContext& ctx, const std::string& part, const std::string& version,
                          const VehicleSelector& selector, const std::string& mode);
Result<void> admin_vehicle_add(const AdminContext& ctx, const std::string& id, const std::string& token);
Result<void> admin_cancel(const AdminContext& ctx, const std::string& vehicle);
Result<void> admin_list_vehicles(const AdminContext& ctx);
Result<void> admin_list_actions(const AdminContext& ctx, const std::optional<std::string>& vehicle);
Result<void> admin_list_modules(const AdminContext& ctx);

}  // namespace ecuup::server
