#pragma once
// state/manifest.yaml: what ecuup knows about each ECU between steps (ecuup-manifest(5)).
// Written by ecuup only, atomically, under the lock. Keys this version does not know are kept.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "util/result.hpp"

namespace ecuup {

inline constexpr int k_manifest_schema = 1;
inline constexpr std::size_t k_manifest_max_events = 200;

enum class FlashState {
  none,               // nothing to flash, or not yet
  in_progress,        // programming started and has not been resolved: never assume how it ended
  succeeded,          // new version programmed and read back
  failed_restored,    // failed; backup programmed back and its version verified
  failed_unrestored,  // failed and the restore failed: needs a person
};
const char* flash_state_name(FlashState s);
std::optional<FlashState> parse_flash_state(const std::string& s);

struct ManifestArtifact {
  std::string name;
  std::string url;
  std::uint64_t size = 0;
  std::string sha256;
  std::string sha1;
  bool operator==(const ManifestArtifact&) const = default;
};

struct InstalledState {
  std::string version;
  std::string read_at;
  std::map<std::string, std::string> extra;  // "hardware": the part number, UDS DID F191 by default
  bool operator==(const InstalledState&) const = default;
};

struct TaskState {
  std::string action_id;
  std::string target_version;
  std::vector<ManifestArtifact> artifacts;
  bool download_only = false;
  bool maintenance_window_open = true;
  std::string received_at;
  // With `trust:`: the signed release statement, kept under statements/ (relative to the state
  // dir; its signature beside it, + ".p7s"), and the security version it signs.
  std::string statement;
  std::optional<std::uint64_t> security_version;
  bool operator==(const TaskState&) const = default;
};

struct DownloadState {
  std::string artifact;  // downloads/<sha256>: the verified artifact, relative to the state dir
  std::string sha256;
  std::uint64_t size = 0;
  bool verified = false;
  std::string image;          // what gets flashed (the artifact, or a file unpacked from it)
  std::string image_sha256;
  std::string image_version;  // from package.yaml or the image header, when known
  std::string at;
  bool operator==(const DownloadState&) const = default;
};

struct FlashRecord {
  FlashState state = FlashState::none;
  int attempts = 0;
  std::string from_version;
  std::string to_version;
  std::string image_sha256;
  std::string started_at;
  std::string finished_at;
  std::string last_error;
  bool operator==(const FlashRecord&) const = default;
};

struct BackupRecord {
  std::string version;
  std::string sha256;
  std::string path;  // backups/<ecu>/<sha256>.img, relative to the state dir
  std::uint64_t size = 0;
  std::string source;  // flash | import | read
  std::string at;
  std::string layout;  // read-outs: how the file is laid out ("raw@0x00010000", "srec"); restores use it
  bool operator==(const BackupRecord&) const = default;
};

// Keys this ecuup does not know, kept as read: their text, ready to be written back in its place.
struct KeptKeys {
  std::string ecu;  // beside installed, task, ...
  std::string installed;
  std::string task;
  std::string download;
  std::string flash;
  bool operator==(const KeptKeys&) const = default;
};

struct EcuState {
  std::optional<InstalledState> installed;
  std::optional<TaskState> task;
  std::optional<DownloadState> download;
  FlashRecord flash;
  std::optional<BackupRecord> backup;      // the current backup: what a failed flash restores
  std::vector<BackupRecord> older_backups; // newest first, kept up to backups.keep - 1
  // The highest signed security version flashed into this ECU: anti-rollback refuses anything lower.
  std::optional<std::uint64_t> security_version;
  KeptKeys kept;
  bool operator==(const EcuState&) const = default;
};

struct QueuedFeedback {
  std::string action_id;
  std::string ecu;
  std::string execution;  // DDI execution value
  std::string finished;   // none | success | failure
  int progress_cnt = -1;
  int progress_of = -1;
  std::vector<std::string> details;
  bool for_cancel = false;
  std::string queued_at;
};

struct ManifestEvent {
  std::string at;
  std::string ecu;
  std::string step;
  std::string message;
};

class Manifest {
 public:
  // A missing file is an empty manifest; a malformed one is Errc::config with file:line:col.
  static Result<Manifest> load(const std::filesystem::path& path);
  static Result<Manifest> parse(const std::string& text, const std::filesystem::path& path);
  // Writes the manifest atomically (and durably), unless nothing but updated_at changed since it
  // was loaded or last saved: then the file is left as it is. Each ECU's entry is read back when
  // it changed, and nothing is written that could not be (Errc::internal).
  Result<void> save(const std::filesystem::path& path) const;
  std::string to_yaml() const;

  EcuState& ecu(const std::string& name);  // created on first use
  const EcuState* find(const std::string& name) const;
  const std::vector<std::pair<std::string, EcuState>>& ecus() const { return m_ecus; }
  void add_event(const std::string& ecu, const std::string& step, const std::string& message);

  std::string vehicle;
  std::string updated_at;
  std::vector<QueuedFeedback> feedback_queue;
  std::vector<ManifestEvent> events;

 private:
  // Appends the text without updated_at (ECU entries from ecu_text when given); the text with it.
  void render(std::string& out, const std::vector<std::string>* ecu_text) const;
  void with_updated_at(std::string& out, const std::string& body) const;

  std::vector<std::pair<std::string, EcuState>> m_ecus;  // keeps the order ECUs were added in
  std::unordered_map<std::string, std::size_t> m_index;  // name -> place in m_ecus
  std::string m_kept;  // top-level keys this ecuup does not know, as text
  // Each ECU's entry as the last save wrote it (read back then): only a changed entry is read back.
  mutable std::vector<std::string> m_written;
  // Each ECU's state when m_written was made from it: an ECU equal to it is not written again.
  // Empty for an entry not (yet) known to read back.
  mutable std::vector<std::optional<EcuState>> m_written_from;
  // The file as loaded or last saved, without updated_at: a save that would write it again skips.
  mutable std::optional<std::string> m_saved_body;
  // Buffers a save reuses, so that it does not map and fault in fresh pages for a large manifest.
  mutable std::string m_body;
  mutable std::string m_file;
};

}  // namespace ecuup
