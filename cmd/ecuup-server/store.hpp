#pragma once
// ecuup-server's state: vehicles, their reported attributes, software modules (one per ECU part and
// version) with artifact files, per-vehicle assignments, actions and feedback. SQLite in WAL mode
// (DATA/ecuup-server.db) plus content-addressed artifact files (DATA/artifacts/<sha256>).
//
// The server rule: a vehicle's target ECUs are the parts whose reported version
// (`ecu.<part>.version` in its configData) differs from the version assigned to it; its open
// action carries chunks for exactly those parts, and there is none when nothing differs.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sqlite.hpp"
#include "util/result.hpp"

namespace ecuup::server {

// How a deployment is offered (DdiDeployment download/update handling).
enum class UpdateMode { forced, attempt, download_only };
const char* update_mode_name(UpdateMode mode);
Result<UpdateMode> parse_update_mode(const std::string& text);

enum class ActionState { open, canceling, closed };
const char* action_state_name(ActionState state);

struct ArtifactInfo {
  std::int64_t module_id = 0;
  std::string filename;
  std::int64_t size = 0;
  std::string sha1;
  std::string md5;
  std::string sha256;
};

struct ModuleInfo {
  std::int64_t id = 0;
  std::string part;
  std::string version;
  std::int64_t created_at = 0;
  std::vector<ArtifactInfo> artifacts;
};

struct FeedbackEntry {
  std::int64_t at = 0;
  std::string kind;  // deployment | cancel | server
  std::string execution;
  std::string finished;
  std::optional<std::int64_t> progress_cnt;
  std::optional<std::int64_t> progress_of;
  std::vector<std::string> details;
};

struct ActionDetails {
  std::int64_t id = 0;
  std::string vehicle_id;
  ActionState state = ActionState::open;
  std::string result;  // none | success | failure | canceled
  UpdateMode mode = UpdateMode::forced;
  std::int64_t created_at = 0;
  std::int64_t closed_at = 0;
  std::vector<ModuleInfo> chunks;  // one module per target part
  std::vector<FeedbackEntry> history;
};

// What a DDI base poll needs, read in one indexed lookup.
struct PollState {
  std::string token;
  bool attributes_wanted = false;
  std::int64_t open_action = 0;  // 0: none
  ActionState open_state = ActionState::open;
  std::int64_t installed_action = 0;  // last action closed with success, 0: none
};

struct VehicleInfo {
  std::string id;
  std::int64_t created_at = 0;
  std::int64_t reported_at = 0;  // 0: never reported
  std::map<std::string, std::string> attributes;
  std::map<std::string, std::string> reported;  // part -> version, from ecu.<part>.version
  std::map<std::string, std::string> assigned;  // part -> version
  std::int64_t open_action = 0;
};

enum class ConfigMode { merge, replace, remove };

struct FeedbackInput {
  std::string execution;  // DdiStatus.execution
  std::string finished;   // DdiResult.finished
  std::optional<std::int64_t> progress_cnt;
  std::optional<std::int64_t> progress_of;
  std::vector<std::string> details;
};

enum class FeedbackOutcome { recorded, not_found, gone, conflict };

// Which vehicles an assignment is for.
struct VehicleSelector {
  std::optional<std::string> vehicle;
  bool all = false;
  std::optional<std::pair<std::string, std::string>> match;  // attribute key, value
};

// Exactly one of: a vehicle id, all (true), an "ATTR=VALUE" match. Errc::usage otherwise.
Result<VehicleSelector> make_selector(const std::string& vehicle, bool all, const std::string& match);

struct AssignOutcome {
  std::string vehicle_id;
  std::int64_t action = 0;  // the vehicle's open action afterwards, 0: none
};

class Store {
 public:
  static constexpr const char* k_db_file = "ecuup-server.db";
  static constexpr const char* k_artifact_dir = "artifacts";

  enum class Schema { create, assume };
  // Opens the database in `data_dir`; Schema::create creates or upgrades the tables first (once per
  // process; worker threads' connections then use Schema::assume).
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& data_dir,
                                             Schema schema = Schema::create);

  std::filesystem::path artifact_file(const ArtifactInfo& artifact) const;

  // Device side.
  Result<std::optional<PollState>> poll_state(const std::string& vehicle);
  Result<void> register_vehicle_if_missing(const std::string& vehicle);
  Result<void> put_config_data(const std::string& vehicle, ConfigMode mode,
                               const std::map<std::string, std::string>& data);
  // The vehicle's action `action_id` (nullopt if it is not this vehicle's); history: the newest
  // `history_limit` entries (0: none, negative: all).
  Result<std::optional<ActionDetails>> action(const std::string& vehicle, std::int64_t action_id,
                                              int history_limit);
  Result<FeedbackOutcome> deployment_feedback(const std::string& vehicle, std::int64_t action_id,
                                              const FeedbackInput& feedback);
  Result<FeedbackOutcome> cancel_feedback(const std::string& vehicle, std::int64_t action_id,
                                          const FeedbackInput& feedback);
  // The artifact, if it exists and the vehicle may download it (it is assigned to the vehicle or
  // part of one of its actions); `any_vehicle` skips that check (gateway token).
  Result<std::optional<ArtifactInfo>> artifact_for(const std::string& vehicle, std::int64_t module_id,
                                                   const std::string& filename, bool any_vehicle);

  Result<std::vector<ArtifactInfo>> module_artifacts(std::int64_t module_id);

  // Management.
  // Copies `file` into the artifact store (hashing it on the way) as module part/version's
  // artifact `filename` (default: the file's name); replaces an artifact of the same name.
  Result<ModuleInfo> upload(const std::string& part, const std::string& version,
                            const std::filesystem::path& file, const std::string& filename);
  // Returns the vehicle's token (generated when `token` is empty).
  Result<std::string> add_vehicle(const std::string& id, const std::string& token);
  Result<std::vector<AssignOutcome>> assign(const std::string& part, const std::string& version,
                                            const VehicleSelector& selector, UpdateMode mode);
  // Asks the vehicle to cancel its open action; returns the action id.
  Result<std::int64_t> cancel(const std::string& vehicle);
  Result<std::vector<VehicleInfo>> vehicles();
  Result<std::vector<ActionDetails>> actions(const std::optional<std::string>& vehicle);
  Result<std::vector<ModuleInfo>> modules();

 private:
  enum class Trigger { report, assignment };
  Store(std::filesystem::path data_dir, std::unique_ptr<Connection> conn)
      : m_data_dir(std::move(data_dir)), m_conn(std::move(conn)) {}
  Result<void> migrate();
  Result<void> reconcile(const std::string& vehicle, Trigger trigger);
  Result<void> close_action(std::int64_t action_id, const std::string& result);
  Result<void> set_attribute(const std::string& vehicle, const std::string& key, const std::string& value);
  Result<void> add_feedback(std::int64_t action_id, const std::string& kind,
                            const FeedbackInput& feedback);
  Result<std::vector<ModuleInfo>> action_chunks(std::int64_t action_id);
  Result<std::vector<FeedbackEntry>> action_history(std::int64_t action_id, int limit);
  Result<std::optional<ActionDetails>> load_action(std::int64_t action_id, int history_limit);
  Result<std::optional<std::pair<std::int64_t, ActionState>>> open_action_of(const std::string& vehicle);
  Result<bool> vehicle_exists(const std::string& vehicle);

  std::filesystem::path m_data_dir;
  std::unique_ptr<Connection> m_conn;
};

std::int64_t unix_now();

}  // namespace ecuup::server
