#pragma once
// libecuup's facade: one function per subcommand. The CLI parses options into these structs,
// calls one function, and renders what comes back (table or JSON). Nothing here prints.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "manifest/manifest.hpp"
#include "util/exit_code.hpp"
#include "util/lock.hpp"
#include "util/progress.hpp"
#include "util/result.hpp"

namespace ecuup::api {

class LiveLog;

// The version of every --json output's layout (ecuup-json(7)): raised only when a field is removed
// or changes meaning; new fields do not raise it.
inline constexpr int k_json_schema = 1;

struct Common {
  std::vector<std::string> ecus;  // --ecu: empty = all ECUs of the config
  bool dry_run = false;
  std::optional<std::chrono::milliseconds> lock_wait;  // --wait
  std::filesystem::path trace_file;                    // --trace
  int verbosity = 0;
  Progress* progress = nullptr;  // never null when set by the CLI; null = discard
  // Set by a caller that already holds the manifest lock for several steps (update), so that no
  // other ecuup can slip in between them; the steps then do not take it again.
  bool lock_held = false;
  // update --dry-run: the steps plan on this one in-memory manifest instead of the file, each
  // seeing what the steps before it would have done (and none of them writes it).
  Manifest* plan = nullptr;
  // A dry run that found the lock held by another ecuup (update --dry-run passes it to its steps):
  // says who. The run plans from the last committed manifest and asks no ECU, which the other
  // ecuup may be programming.
  std::string writer_busy;
  // The live progress log (api/live_log.hpp): started by whichever step takes the writer's lock.
  LiveLog* live = nullptr;
};

// Takes the manifest lock of `config`'s state dir (waiting as `common.lock_wait` says); held until
// the returned value is destroyed.
Result<FileLock> lock_manifest(const Config& config, const Common& common);

// The process's ECU work time so far (api/work_clock.hpp).
std::chrono::nanoseconds work_clock_now();

// What happened to one ECU in one step.
struct EcuOutcome {
  EcuOutcome() = default;
  EcuOutcome(std::string ecu_name, std::string result_word, std::string detail_text,
             std::optional<Error> failure = std::nullopt, nlohmann::json typed_facts = nlohmann::json::object())
      : ecu(std::move(ecu_name)), result(std::move(result_word)), detail(std::move(detail_text)),
        error(std::move(failure)), facts(std::move(typed_facts)) {}
  std::string ecu;
  std::string result;  // a word a script can match: read, up-to-date, task, downloaded, flashed, ...
  std::string detail;  // for people
  std::optional<Error> error;
  // The outcome's facts as typed JSON fields (versions, bytes, seconds, hashes): `facts`.
  nlohmann::json facts = nlohmann::json::object();
  // The ECU's state in the manifest after the step (Session::finish): `state`. Null: none.
  nlohmann::json state;
};

struct StepReport {
  std::string step;
  bool dry_run = false;
  std::vector<EcuOutcome> ecus;
  std::vector<std::string> notes;  // step-level remarks (feedback delivered, cancel accepted, ...)
  // Time spent in ECU work (drivers, downloads, server round trips, backup copies): `work_seconds`.
  // Counted from the report's creation; done() stops the count.
  std::chrono::nanoseconds work_from = work_clock_now();
  std::chrono::nanoseconds work{};
  ExitCode exit_code() const;  // worst outcome
  nlohmann::json to_json() const;
  StepReport&& done() {
    work = work_clock_now() - work_from;
    return std::move(*this);
  }
};

Result<StepReport> inventory(const Config& config, const Common& common);
Result<StepReport> report(const Config& config, const Common& common);
Result<StepReport> fetch(const Config& config, const Common& common);

enum class BackupPolicy { required, not_required };
enum class PreconditionPolicy { enforce, force };

struct FlashOptions {
  BackupPolicy backup = BackupPolicy::required;  // --no-backup relaxes it
  int jobs = 4;  // --jobs: most ECUs of one flash order programmed at the same time (1 = one after another)
  std::optional<Rollback> rollback;  // --rollback; unset = the config's `rollback:` (default ecu)
  // --force-preconditions: the checks still run and are reported, but one not met is overridden
  // (an event in the manifest, `preconditions_overridden` in the JSON facts) instead of refusing.
  PreconditionPolicy preconditions = PreconditionPolicy::enforce;
};
Result<StepReport> flash(const Config& config, const Common& common, const FlashOptions& options);

struct BackupOptions {
  enum class Mode { commit, import, read, list } mode = Mode::commit;
  std::string import_ecu;  // --import ECU=FILE
  std::filesystem::path import_file;
  std::string import_version;  // --version
};
Result<StepReport> backup(const Config& config, const Common& common, const BackupOptions& options);

Result<StepReport> restore(const Config& config, const Common& common);

struct StatusOptions {
  bool sync = true;  // deliver queued feedback to the server (--no-sync to skip)
};
struct StatusReport {
  nlohmann::json json;  // the documented schema (ecuup-status JSON in ecuup-status(1))
  std::vector<std::vector<std::string>> rows;  // table rows, header first
  std::vector<std::string> notes;
  ExitCode exit_code = ExitCode::ok;
};
Result<StatusReport> status(const Config& config, const Common& common, const StatusOptions& options);

// update: inventory, report, fetch, flash, backup, status in order; stops at the first step that
// fails. `steps` collects each step's report.
struct UpdateResult {
  std::vector<StepReport> steps;
  StatusReport status;
  ExitCode exit_code = ExitCode::ok;
};
Result<UpdateResult> update(const Config& config, const Common& common, const FlashOptions& options);

// discover: DoIP vehicle identification on UDP (ISO 13400-2); needs no config and no manifest.
struct DiscoverOptions {
  std::string address;  // "HOST[:PORT]"; empty: the limited broadcast 255.255.255.255:13400
  std::string vin;      // only the entity of this VIN (identification request with VIN)
  std::string eid;      // only the entity of this EID (identification request with EID)
  std::chrono::milliseconds timeout{600};
};
struct DiscoverReport {
  std::string target;  // where the request went, "HOST:PORT"
  struct Entity {
    std::string vin;  // "" when the entity has none yet
    std::uint16_t logical_address = 0;
    std::string eid, gid;  // "00:1A:2B:3C:4D:5E"
    std::uint8_t further_action = 0;
    std::optional<std::uint8_t> sync_status;
    std::string address;  // the IPv4 address it answered from
    std::uint16_t port = 0;
  };
  std::vector<Entity> entities;
  // ok when an entity answered; failure (1) when none did.
  ExitCode exit_code() const { return entities.empty() ? ExitCode::failure : ExitCode::ok; }
  nlohmann::json to_json() const;
};
Result<DiscoverReport> discover(const DiscoverOptions& options);

}  // namespace ecuup::api
