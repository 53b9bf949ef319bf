#pragma once
// backups/<ecu>/<sha256>.img: content-addressed copies of software an ECU can be restored to.
// The manifest says which one is current; files no record points to are removed on rotation.
#include <filesystem>
#include <string>

#include "manifest/manifest.hpp"
#include "util/result.hpp"

namespace ecuup {

// How a file becomes a backup: copied (an import, a download that stays in downloads/), or moved
// (a read-out written inside the state directory for this purpose).
enum class BackupSource { copy, move };

class BackupStore {
 public:
  explicit BackupStore(std::filesystem::path state_dir) : m_state_dir(std::move(state_dir)) {}

  // Puts `source` into the store (fsync + rename) and returns the record. A copy first makes sure
  // the state directory keeps room for the manifest (require_free_space), and hashes as it copies.
  // A move hashes `source` and renames it: it must lie in the state directory's file system.
  Result<BackupRecord> add(const std::string& ecu, const std::filesystem::path& source, const std::string& version,
                           const std::string& origin, BackupSource how = BackupSource::copy) const;
  // The file exists and its sha256 is the recorded one.
  Result<void> verify(const BackupRecord& record) const;
  // Makes `record` the ECU's current backup; the previous one moves to older_backups, which keeps
  // at most keep-1 entries. Only the state changes: no file is deleted before the manifest that
  // no longer needs it is saved (a kill or a full disk in between would leave the saved manifest
  // pointing at a deleted way back).
  void rotate(EcuState& state, BackupRecord record, int keep) const;
  // Deletes the ECU's backup files `state` no longer refers to. Call it after saving `state`.
  void prune(const std::string& ecu, const EcuState& state) const;
  std::filesystem::path absolute(const BackupRecord& record) const { return m_state_dir / record.path; }

 private:
  std::filesystem::path m_state_dir;
};

}  // namespace ecuup
