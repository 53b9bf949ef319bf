#include "store/backups.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/sw_image.hpp"
#include "util/time.hpp"

namespace ecuup {

namespace fs = std::filesystem;

Result<BackupRecord> BackupStore::add(const std::string& ecu, const fs::path& source, const std::string& version,
                                      const std::string& origin) const {
  fs::path dir = m_state_dir / "backups" / ecu;
  ECUUP_TRY(ensure_directory(dir));
  fs::path tmp = dir / fmt::format(".incoming.{}", ::getpid());
  std::ifstream in(source, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot open " + source.string());
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(Errc::io, "cannot create " + tmp.string());
  Sha256 hash;
  std::vector<char> buf(1 << 16);
  std::uint64_t size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto got = in.gcount();
    if (got <= 0) break;
    hash.update(std::string_view(buf.data(), static_cast<std::size_t>(got)));
    out.write(buf.data(), got);
    size += static_cast<std::uint64_t>(got);
  }
  out.close();
  if (in.bad() || !out) {
    fs::remove(tmp);
    return make_error(Errc::io, "cannot copy " + source.string() + " into the backup store");
  }
  std::string sha = hash.hex_digest();
  fs::path final_path = dir / (sha + ".img");
  ECUUP_TRY(commit_file_atomic(tmp, final_path));
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

void BackupStore::rotate(const std::string& ecu, EcuState& state, BackupRecord record, int keep) const {
  if (state.backup && state.backup->sha256 != record.sha256) state.older_backups.insert(state.older_backups.begin(), *state.backup);
  // The same content must not appear twice in the history.
  std::erase_if(state.older_backups, [&](const BackupRecord& b) { return b.sha256 == record.sha256; });
  state.backup = std::move(record);
  std::size_t max_older = keep > 1 ? static_cast<std::size_t>(keep - 1) : 0;
  if (state.older_backups.size() > max_older) state.older_backups.resize(max_older);

  std::set<std::string> referenced{state.backup->path};
  for (const auto& b : state.older_backups) referenced.insert(b.path);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(m_state_dir / "backups" / ecu, ec)) {
    auto rel = fs::relative(entry.path(), m_state_dir).string();
    if (entry.path().extension() == ".img" && !referenced.count(rel)) fs::remove(entry.path(), ec);
  }
}

}  // namespace ecuup
