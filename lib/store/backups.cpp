#include "store/backups.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/sw_image.hpp"
#include "util/time.hpp"

namespace ecuup {

namespace fs = std::filesystem;

Result<BackupRecord> BackupStore::add(const std::string& ecu, const fs::path& source, const std::string& version,
                                      const std::string& origin, BackupSource how) const {
  fs::path dir = m_state_dir / "backups" / ecu;
  ECUUP_TRY(ensure_directory(dir));
  std::string sha;
  std::uint64_t size = 0;
  fs::path incoming = source;
  if (how == BackupSource::copy) {
    std::error_code ec;
    const auto bytes = fs::file_size(source, ec);
    if (ec) return make_error(Errc::io, fmt::format("cannot read {}: {}", source.string(), ec.message()));
    ECUUP_TRY(require_free_space(dir, bytes, fmt::format("{}'s backup", ecu)));
    incoming = dir / fmt::format(".incoming.{}", ::getpid());
    Sha256 hash;
    ECUUP_ASSIGN(size, copy_file_through(source, incoming, [&](std::string_view block) { hash.update(block); })
                           .with_context("cannot copy " + source.string() + " into the backup store"));
    sha = hash.hex_digest();
  } else {
    // A read-out already lies in the store's file system: it is renamed into place, not copied,
    // so a backup never needs twice its size on disk.
    ECUUP_ASSIGN(sha, sha256_file(source));
    std::error_code ec;
    size = fs::file_size(source, ec);
    if (ec) return make_error(Errc::io, fmt::format("cannot read {}: {}", source.string(), ec.message()));
  }
  fs::path final_path = dir / (sha + ".img");
  if (auto committed = commit_file_atomic(incoming, final_path); !committed) {
    if (how == BackupSource::copy) ::unlink(incoming.c_str());
    return std::move(committed).error();
  }
  return BackupRecord{version, sha, fs::relative(final_path, m_state_dir).string(), size, origin, now_iso8601(), {}};
}

Result<void> BackupStore::verify(const BackupRecord& record) const {
  // Only files of the store are backups: a hand-edited manifest must not point a restore elsewhere.
  const fs::path rel(record.path);
  bool inside = rel.is_relative() && !rel.empty() && *rel.begin() == "backups";
  for (const auto& part : rel) inside = inside && part != "..";
  if (!inside)
    return make_error(Errc::verify, fmt::format("backup path '{}' is not inside the state directory's backups/: refusing it",
                                                record.path));
  fs::path path = absolute(record);
  if (!fs::exists(path)) return make_error(Errc::verify, fmt::format("backup file {} is missing", path.string()));
  ECUUP_ASSIGN(std::string sha, sha256_file(path));
  if (sha != record.sha256)
    return make_error(Errc::verify, fmt::format("backup file {} is corrupt (sha256 {} != recorded {})", path.string(), sha, record.sha256));
  // Software that names its version in an ecuup image header must name the recorded one, and be
  // whole (its payload's length and CRC).
  Bytes head(k_sw_image_header_size);
  {
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  }
  if (head.size() == k_sw_image_header_size &&
      std::equal(k_sw_image_magic.begin(), k_sw_image_magic.end(), head.begin())) {
    auto info = verify_sw_image_file(path);
    if (!info) return make_error(Errc::verify, fmt::format("backup file {} is incomplete: {}", path.string(), info.error().message));
    if (info->version != record.version)
      return make_error(Errc::verify, fmt::format("backup file {} holds version {}, the manifest records {}", path.string(),
                                                  info->version, record.version));
  }
  return success();
}

void BackupStore::rotate(EcuState& state, BackupRecord record, int keep) const {
  if (state.backup && state.backup->sha256 != record.sha256) state.older_backups.insert(state.older_backups.begin(), *state.backup);
  // The same content must not appear twice in the history.
  std::erase_if(state.older_backups, [&](const BackupRecord& b) { return b.sha256 == record.sha256; });
  state.backup = std::move(record);
  std::size_t max_older = keep > 1 ? static_cast<std::size_t>(keep - 1) : 0;
  if (state.older_backups.size() > max_older) state.older_backups.resize(max_older);
}

void BackupStore::prune(const std::string& ecu, const EcuState& state) const {
  std::set<std::string> referenced;
  if (state.backup) referenced.insert(state.backup->path);
  for (const auto& b : state.older_backups) referenced.insert(b.path);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(m_state_dir / "backups" / ecu, ec)) {
    auto rel = fs::relative(entry.path(), m_state_dir).string();
    if (entry.path().extension() == ".img" && !referenced.count(rel)) fs::remove(entry.path(), ec);
  }
}

}  // namespace ecuup
