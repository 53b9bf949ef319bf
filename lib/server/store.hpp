#pragma once
// ecuup-server's state: vehicles, their reported attributes, software modules (one per ECU part and
// version) with artifact files, per-vehicle assignments, actions and feedback. SQLite in WAL mode
// (DATA/ecuup-server.db) plus content-addressed artifact files (DATA/artifacts/<sha256>). The
// directories are made 0700 and the database files 0600, whatever the umask; vehicle tokens are
// stored only as hashes (token_hash.hpp).
//
// A module may carry a signed release statement (trust/statement.hpp) as two more artifacts,
// `<name>.release.json` and `<name>.release.json.p7s`: either written and signed by the server from
// the facts an admin gave (hardware, security version, expiry), or uploaded ready-made.
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

#include "server/sqlite.hpp"
#include "util/result.hpp"

namespace ecuup::server {

// How a deployment is offered (DdiDeployment download/update handling).
enum class UpdateMode { forced, attempt, download_only };
const char* update_mode_name(UpdateMode mode);
Result<UpdateMode> parse_update_mode(const std::string& text);

enum class ActionState { open, canceling, closed };
const char* action_state_name(ActionState state);

// What an artifact is to a client: software to flash, or the module's release statement and its
// CMS signature.
enum class ArtifactRole { software, statement, signature };
const char* artifact_role_name(ArtifactRole role);

struct ArtifactInfo {
  std::int64_t module_id = 0;
  std::string filename;
  std::int64_t size = 0;
  std::string sha1;
  std::string md5;
  std::string sha256;
  ArtifactRole role = ArtifactRole::software;
};

// none: no statement; pending: facts given, the server signs when it has a key (--sign-key);
// signed: the server signed the current artifacts; uploaded: a statement and signature uploaded
// ready-made, served unchanged.
enum class StatementState { none, pending, signed_by_server, uploaded };
const char* statement_state_name(StatementState state);

// The facts of a release statement that the artifacts themselves do not tell.
struct StatementFacts {
  std::vector<std::string> hardware;  // never empty
  std::uint64_t security_version = 0;
  std::int64_t expires_at = 0;  // unix seconds
};

// A statement the server signs expires this long after its facts were given, unless told when.
inline constexpr std::int64_t k_default_statement_lifetime_s = 365LL * 24 * 3600;

// Facts from their text forms (admin options, management API parameters): hardware part numbers
// (each may be a comma-separated list), a security version ("": 0), an RFC 3339 UTC expiry
// ("2027-06-30T00:00:00Z"; "": now + k_default_statement_lifetime_s). Errc::usage otherwise.
Result<StatementFacts> make_statement_facts(const std::vector<std::string>& hardware,
                                            const std::string& security_version, const std::string& expires);

// The server's signing certificate (PEM, chain may follow) and private key (PEM).
struct SigningKey {
  std::filesystem::path cert;
  std::filesystem::path key;
};

struct ModuleInfo {
  std::int64_t id = 0;
  std::string part;
  std::string version;
  std::int64_t created_at = 0;
  StatementState statement = StatementState::none;
  StatementFacts facts;  // when statement is not none
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
  std::string token_hash;  // token_hash.hpp
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

// A file in the artifact store (DATA/artifacts/<sha256>): its size and hashes.
struct StoredFile {
  std::int64_t size = 0;
  std::string sha1;
  std::string md5;
  std::string sha256;
};

class Store {
 public:
  static constexpr const char* k_db_file = "ecuup-server.db";
  static constexpr const char* k_artifact_dir = "artifacts";
  // What one vehicle may keep in configData (hawkBit has such quotas too): beyond them a report
  // is refused (Errc::usage), so a vehicle cannot grow the database without bound.
  static constexpr std::size_t k_max_attributes = 512;
  static constexpr std::size_t k_max_attribute_key_bytes = 128;
  static constexpr std::size_t k_max_attribute_value_bytes = 512;
  // Feedback kept per action; older entries give way to newer ones.
  static constexpr std::int64_t k_max_feedback_per_action = 256;

  enum class Schema { create, assume };
  // Opens the database in `data_dir`; Schema::create creates or upgrades the tables first (once per
  // process; the pool's other connections then use Schema::assume). A read_only store fails
  // every write (Errc::io).
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& data_dir,
                                             Schema schema = Schema::create,
                                             Access access = Access::read_write);

  std::filesystem::path artifact_file(const ArtifactInfo& artifact) const;

  // The key this store signs pending statements with (nullptr: none; they stay pending).
  void set_signing_key(const SigningKey* key) { m_signing_key = key; }

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
  // artifact `filename` (default: the file's name); replaces an artifact of the same name. The
  // module's statement no longer covers its artifacts then: a server-signed one is signed again
  // (pending without a key), an uploaded one is dropped. With `facts`, as set_statement_facts().
  Result<ModuleInfo> upload(const std::string& part, const std::string& version,
                            const std::filesystem::path& file, const std::string& filename,
                            const std::optional<StatementFacts>& facts = std::nullopt);
  // upload() in two steps, so a server copies and hashes a large file without holding its one
  // writer: stage_upload() checks the name and puts the file into the artifact store (no database
  // access); commit_upload() records it.
  struct StagedUpload {
    std::string filename;
    StoredFile file;
  };
  static Result<StagedUpload> stage_upload(const std::filesystem::path& data_dir, const std::filesystem::path& file,
                                           const std::string& filename);
  Result<ModuleInfo> commit_upload(const std::string& part, const std::string& version, const StagedUpload& staged,
                                   const std::optional<StatementFacts>& facts = std::nullopt);
  // Gives module part/version statement facts: the server writes the statement over the
  // module's software artifacts and signs it, now if this store has a key, else when the server
  // next sees the module. Errc::not_found without the module; Errc::usage for facts a client
  // would refuse (no hardware, an expiry in the past, a version statements cannot carry).
  Result<ModuleInfo> set_statement_facts(const std::string& part, const std::string& version,
                                         const StatementFacts& facts);
  // Stores a ready-made statement and its detached CMS signature (DER or PEM) for module
  // part/version, replacing the module's statement. The statement must parse, name this part and
  // version and list exactly the module's software artifacts (Errc::verify otherwise);
  // `filename` must end in .release.json; the signature is stored as filename + ".p7s".
  Result<ModuleInfo> upload_statement(const std::string& part, const std::string& version,
                                      const std::string& filename, const std::string& statement,
                                      const std::string& signature);
  // Signs module `module_id`'s statement if it is pending and this store has a key; no-op
  // otherwise. Returns whether it signed.
  Result<bool> sign_pending(std::int64_t module_id);
  // Ids of the modules whose statement waits for a key.
  Result<std::vector<std::int64_t>> pending_statements();
  Result<ModuleInfo> module(std::int64_t module_id);
  // Returns the vehicle's token (generated when `token` is empty). Only its hash is stored: this
  // is the one time it can be shown.
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
  Result<void> migrate_from_1();
  Result<std::optional<ModuleInfo>> find_module(const std::string& part, const std::string& version);
  Result<void> load_module_row(ModuleInfo& module);
  Result<void> set_statement_state(std::int64_t module_id, StatementState state,
                                   const std::optional<StatementFacts>& facts);
  Result<void> drop_statement_artifacts(std::int64_t module_id);
  // The module's statement no longer covers its artifacts (they changed): see upload().
  Result<void> invalidate_statement(std::int64_t module_id);
  Result<bool> sign_in_transaction(std::int64_t module_id);
  Result<void> put_artifact(std::int64_t module_id, const std::string& filename, const StoredFile& file,
                            ArtifactRole role);
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
  const SigningKey* m_signing_key = nullptr;
};

std::int64_t unix_now();

}  // namespace ecuup::server
