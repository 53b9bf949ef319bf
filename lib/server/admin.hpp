#pragma once
// `ecuup-server admin ...`: management commands that work directly on the data directory's
// database (safe next to a running server: SQLite WAL, short write transactions), or through a
// running server's management API (--url).
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "server/store.hpp"
#include "util/result.hpp"

namespace ecuup::server {

enum class Output { human, json };

struct AdminContext {
  std::filesystem::path data_dir;  // local mode; exactly one of data_dir and url is set
  std::string url;                 // management API base URL, e.g. http://127.0.0.1:8080
  std::string admin_token;         // Bearer token for url
  std::string ca_file;             // PEM CA bundle for an https url (empty: system default)
  Output output = Output::human;
};

// Where the admin commands' operations happen. Each answers the management API's JSON view of
// the result (views.hpp), so both backends print alike.
class AdminBackend {
 public:
  virtual ~AdminBackend() = default;
  virtual Result<nlohmann::json> upload(const std::string& part, const std::string& version,
                                        const std::filesystem::path& file, const std::string& filename,
                                        const std::optional<StatementFacts>& facts) = 0;
  virtual Result<nlohmann::json> set_statement_facts(const std::string& part, const std::string& version,
                                                     const StatementFacts& facts) = 0;
  // `statement` and `signature` are the files' bytes; `filename` the statement's name.
  virtual Result<nlohmann::json> upload_statement(const std::string& part, const std::string& version,
                                                  const std::string& filename, const std::string& statement,
                                                  const std::string& signature) = 0;
  // An array of {"vehicle", "action" (null: none)}.
  virtual Result<nlohmann::json> assign(const std::string& part, const std::string& version,
                                        const VehicleSelector& selector, UpdateMode mode) = 0;
  // {"id", "token"}.
  virtual Result<nlohmann::json> add_vehicle(const std::string& id, const std::string& token) = 0;
  // {"vehicle", "action"}.
  virtual Result<nlohmann::json> cancel(const std::string& vehicle) = 0;
  virtual Result<nlohmann::json> vehicles() = 0;
  virtual Result<nlohmann::json> actions(const std::optional<std::string>& vehicle) = 0;
  virtual Result<nlohmann::json> modules() = 0;
};

Result<std::unique_ptr<AdminBackend>> open_admin_backend(const AdminContext& ctx);

// `admin upload`: software (file), statement facts for the server to sign, a ready-made statement
// with its signature; at least one of them.
struct UploadRequest {
  std::string part;
  std::string version;
  std::filesystem::path file;  // empty: no software this time
  std::string filename;        // default: the file's name
  std::optional<StatementFacts> facts;
  std::filesystem::path statement_file;  // with signature_file
  std::filesystem::path signature_file;
};

Result<void> admin_upload(const AdminContext& ctx, const UploadRequest& request);
Result<void> admin_assign(const AdminContext& ctx, const std::string& part, const std::string& version,
                          const VehicleSelector& selector, const std::string& mode);
Result<void> admin_vehicle_add(const AdminContext& ctx, const std::string& id, const std::string& token);
Result<void> admin_cancel(const AdminContext& ctx, const std::string& vehicle);
Result<void> admin_list_vehicles(const AdminContext& ctx);
Result<void> admin_list_actions(const AdminContext& ctx, const std::optional<std::string>& vehicle);
Result<void> admin_list_modules(const AdminContext& ctx);

}  // namespace ecuup::server
