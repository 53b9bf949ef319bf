#pragma once
// backups/<ecu>/<sha256>.img: content-addressed copies of software an ECU can be restored to.
// The manifest says which one is current; files no record points to are removed on rotation.
#include <filesystem>
#include <string>

#include "manifest/manifest.hpp"
#include "util/result.hpp"

namespace ecuup {

class BackupStore {
 public:
  explicit BackupStore(std::filesystem::path state_dir) : m_state_dir(std::move(state_dir)) {}

  // Copies `source` into the store (hashing while copying, fsync + rename) and returns the record.
  Result<BackupRecord> add(const std::string& ecu, const std::filesystem::path& source, const std::string& version,
                           const std::string& origin) const;
  // The file exists and its sha256 is the recorded one.
  Result<void> verify(const BackupRecord& record) const;
  // Makes `record` the ECU's current backup; the previous one moves to older_backups, which keeps
  // at most keep-1 entries. Files no longer referenced are deleted.
  void rotate(const std::string& ecu, EcuState& state, BackupRecord record, int keep) const;
  std::filesystem::path absolute(const BackupRecord& record) const { return m_state_dir / record.path; }

 private:
  std::filesystem::path m_state_dir;
};

}  // namespace ecuup
